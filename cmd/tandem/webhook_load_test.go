package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWebhookLoadHostileBesideValid is issue 17's load test: the daemon's
// public listener takes 1,000 hostile deliveries (forged, stale, replayed,
// re-encoded, oversized, random paths, and slow senders that stop half
// way) beside 500 valid ones, sent concurrently. Nothing hostile is
// stored, every valid delivery is merged (each is a HubSpot edit that must
// reach Salesforce), the metric series stay bounded, and the daemon's open
// files and memory come back once the senders are gone. The figures are
// logged (go test -run WebhookLoad -v ./cmd/tandem).
func TestWebhookLoadHostileBesideValid(t *testing.T) {
	if testing.Short() {
		t.Skip("a load test: 1,500 deliveries")
	}
	w, url := daemonWorld(t, "")
	w.sync(t)
	d := startDaemon(t, w, url)
	pid := d.cmd.Process.Pid
	hookURL := url + "/webhooks/hubspot"
	fds0, rss0 := openFiles(t, pid), rssKB(t, pid)

	// The valid deliveries: 500 edits of HubSpot records, each announced
	// by a signed delivery of its own.
	contacts := w.hs.List("contacts")
	type valid struct {
		req  *http.Request
		body []byte
	}
	var valids []valid
	want := map[string]string{} // HubSpot id -> its last first name
	for i := range 500 {
		o := contacts[i%len(contacts)]
		name := fmt.Sprintf("Load%03d", i)
		if err := w.hs.Update("contacts", o.ID, map[string]any{"firstname": name}); err != nil {
			t.Fatal(err)
		}
		want[o.ID] = name
		body := changeEvent(int64(10_000+i), o.ID, "firstname", name)
		valids = append(valids, valid{hubspotDelivery(t, hookURL, daemonSecret, time.Now(), body), body})
	}

	// The hostile ones, 1,000 in all, 125 of each kind but the slow.
	type hostile struct {
		kind string
		do   func() int // the status, or 0 for a slow sender
	}
	var hostiles []hostile
	other := changeEvent(99_999, contacts[0].ID, "firstname", "Mallory")
	post := func(req *http.Request, body []byte) func() int { return func() int { return sendQuiet(req, body) } }
	big := bytes.Repeat([]byte(" "), 1<<20+1)
	for i := range 125 {
		v := valids[i]
		sig := v.req.Header.Get("X-HubSpot-Signature-v3")
		raw, _ := base64.StdEncoding.DecodeString(sig)
		reenc := v.req.Clone(v.req.Context())
		reenc.Header.Set("X-HubSpot-Signature-v3", base64.RawStdEncoding.EncodeToString(raw)) // the same bytes, unpadded
		stale := hubspotDelivery(t, hookURL, daemonSecret, time.Now().Add(-6*time.Minute), other)
		random, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/webhooks/x%08x", url, rand.Uint32()), bytes.NewReader(other))
		hostiles = append(hostiles,
			hostile{"forged", post(hubspotDelivery(t, hookURL, "not-the-secret", time.Now(), other), other)},
			hostile{"stale", post(stale, other)},
			hostile{"replayed", post(v.req, v.body)},
			hostile{"re-encoded", post(reenc, v.body)},
			hostile{"oversized", post(hubspotDelivery(t, hookURL, daemonSecret, time.Now(), big), big)},
			hostile{"random path", post(random, other)},
			hostile{"unsigned", post(func() *http.Request { r, _ := http.NewRequest(http.MethodPost, hookURL, nil); return r }(), other)},
		)
	}
	var slow []net.Conn
	var slowMu sync.Mutex
	for range 1000 - len(hostiles) {
		hostiles = append(hostiles, hostile{"slow", func() int {
			// Headers and one byte of the body, then nothing.
			c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
			if err != nil {
				return -1
			}
			fmt.Fprintf(c, "POST /webhooks/hubspot HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[")
			slowMu.Lock()
			slow = append(slow, c)
			slowMu.Unlock()
			return 0
		}})
	}

	// Two rounds: the valid deliveries with every hostile kind but the
	// replays, then the replays (of deliveries taken by then).
	var round1, round2 []func() (string, int)
	for i := range valids {
		v := valids[i]
		round1 = append(round1, func() (string, int) { return "valid", sendQuiet(v.req, v.body) })
	}
	for _, h := range hostiles {
		job := func() (string, int) { return h.kind, h.do() }
		if h.kind == "replayed" || h.kind == "re-encoded" {
			round2 = append(round2, job)
		} else {
			round1 = append(round1, job)
		}
	}
	rand.Shuffle(len(round1), func(i, j int) { round1[i], round1[j] = round1[j], round1[i] })
	statuses := map[string]map[int]int{}
	var mu sync.Mutex
	run := func(jobs []func() (string, int)) {
		work := make(chan func() (string, int))
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for job := range work {
					kind, code := job()
					mu.Lock()
					if statuses[kind] == nil {
						statuses[kind] = map[int]int{}
					}
					statuses[kind][code]++
					mu.Unlock()
				}
			}()
		}
		for _, j := range jobs {
			work <- j
		}
		close(work)
		wg.Wait()
	}
	start := time.Now()
	run(round1)
	run(round2)
	sent := time.Since(start)
	fdsPeak, rssPeak := openFiles(t, pid), rssKB(t, pid)
	t.Logf("1,500 deliveries sent in %v by 16 senders; statuses %v", sent.Round(time.Millisecond), statuses)

	if n := statuses["valid"][http.StatusOK]; n != 500 {
		t.Errorf("%d of 500 valid deliveries answered 200: %v", n, statuses["valid"])
	}
	for kind, by := range statuses {
		if kind == "valid" || kind == "slow" {
			continue
		}
		for code, n := range by {
			// An oversized body may be cut off by a closed connection
			// before its 413 is read: refused all the same.
			if (code < 400 || code > 499) && !(code == -1 && kind == "oversized") {
				t.Errorf("%s deliveries: %d answered %d (all: %v); want every one refused with a 4xx", kind, n, code, by)
			}
		}
	}
	// Every valid delivery merged: each record's last edit is in Salesforce.
	waitFor(t, 60*time.Second, "the valid deliveries' edits in Salesforce", func() bool {
		for id, name := range want {
			email := ""
			for _, o := range contacts {
				if o.ID == id {
					email = o.Properties["email"]
				}
			}
			if str(w.sfByEmail(t, email).Fields["FirstName"]) != name {
				return false
			}
		}
		return true
	})
	if n := inboxRows(t, w.state); n != 500 {
		t.Errorf("inbox holds %d events, want the 500 valid ones and nothing hostile", n)
	}

	// Series: one per configured system and result, the random paths under
	// one label.
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "tandem_webhook_deliveries_total{") {
			series++
		}
	}
	resp.Body.Close()
	if series > 10 {
		t.Errorf("%d series of tandem_webhook_deliveries_total after 125 random paths, want a handful", series)
	}

	// The slow senders give up; the daemon's files and memory come back.
	slowMu.Lock()
	for _, c := range slow {
		c.Close()
	}
	slowMu.Unlock()
	http.DefaultClient.CloseIdleConnections()
	var fds int
	waitFor(t, 30*time.Second, "the daemon's open files back to where they were", func() bool {
		fds = openFiles(t, pid)
		return fds <= fds0+4
	})
	rss := rssKB(t, pid)
	t.Logf("daemon: open files %d before, %d at the peak, %d after; RSS %d KB before, %d KB at the peak, %d KB after; %d delivery series",
		fds0, fdsPeak, fds, rss0, rssPeak, rss, series)
	if rss > rss0+64*1024 {
		t.Errorf("daemon RSS %d KB after the load, %d KB before: more than 64 MB kept", rss, rss0)
	}
	d.stop(t)
}

// sendQuiet is send without the test's Fatal (for senders in goroutines):
// the status, or -1 when there was no answer.
func sendQuiet(req *http.Request, body []byte) int {
	r := req.Clone(req.Context())
	r.Body = nopCloser{bytes.NewReader(body)}
	r.ContentLength = int64(len(body))
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return -1
	}
	resp.Body.Close()
	return resp.StatusCode
}

func openFiles(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	return len(ents)
}

func rssKB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return 0
}
