package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// delivery is one webhook sent, and when its write reached Salesforce.
type delivery struct {
	value   string // the first name it carries
	sent    time.Time
	arrived time.Time // zero until it does
}

// webhook measures the daemon's latency from a HubSpot webhook to the
// write in Salesforce. After an initial sync (not measured), tandem run
// starts with a listen address and HubSpot's webhook secret and no
// schedule; at --rate a second for --duration, one HubSpot contact gets a
// new first name in the emulator and a v3-signed delivery naming it (one
// event, a unique eventId) is posted to /webhooks/hubspot, open-loop (a
// slow answer does not delay the next). The Salesforce emulator's OnChange
// hook gives the time the write of that name to the linked contact lands.
// A delivery whose write has not landed 10 s after the last was sent is
// lost. Then SIGTERM: the daemon must exit 0. records = deliveries sent;
// seconds from the first send to the last arrival.
func (b *bench) webhook(ctx context.Context, r *result) error {
	w, err := b.newWorld("webhook", b.records, daemon)
	if err != nil {
		return err
	}
	defer w.close()
	if err := b.sync(ctx, w, "webhook initial"); err != nil {
		return err
	}
	hsIDs, sfIDs := w.idsByEmail()

	var mu sync.Mutex
	var sent []*delivery
	latest := map[string]*delivery{} // Salesforce id -> the last delivery for it
	w.sf.OnChange(func(object, id string, _ time.Time) {
		now := time.Now()
		rec, ok := w.sf.Get(object, id)
		if !ok {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if d := latest[id]; d != nil && d.arrived.IsZero() && rec.Fields["FirstName"] == d.value {
			d.arrived = now
		}
	})
	defer w.sf.OnChange(nil)

	cmd, err := b.measure(ctx, nil, b.tandem, "run", "--config", w.config, "--grace", "5s")
	if err != nil {
		return err
	}
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill() // the launcher; tandem dies with it
			<-exited
			cmd.report.Close()
		}
	}()
	base := "http://" + w.listen
	if err := waitHealthy(ctx, base+"/healthz", exited, 30*time.Second); err != nil {
		return fmt.Errorf("tandem run: %v\n%s", err, tail(logs.String()))
	}

	w.reset()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	hook := base + "/webhooks/hubspot"
	interval := time.Second / time.Duration(b.rate)
	total := int(b.duration / interval)
	var rejected, sendErrs int
	var firstErr string
	var wg sync.WaitGroup
	start := time.Now()
	for seq := range total {
		if d := time.Until(start.Add(time.Duration(seq) * interval)); d > 0 {
			time.Sleep(d)
		}
		p := personOf(seq % w.union)
		hsID, sfID := hsIDs[p.email], sfIDs[p.email]
		value := "W" + strconv.Itoa(seq)
		if err := w.hs.Update("contacts", hsID, map[string]any{"firstname": value}); err != nil {
			return fmt.Errorf("editing HubSpot: %w", err)
		}
		d := &delivery{value: value}
		mu.Lock()
		sent = append(sent, d)
		latest[sfID] = d
		mu.Unlock()
		body := changeEvent(int64(seq)+1, hsID, "firstname", value)
		wg.Add(1)
		go func() {
			defer wg.Done()
			now := time.Now()
			mu.Lock()
			d.sent = now
			mu.Unlock()
			status, err := post(client, hook, body, now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				sendErrs++
				if firstErr == "" {
					firstErr = err.Error()
				}
			case status != http.StatusOK:
				rejected++
				if firstErr == "" {
					firstErr = "delivery answered " + strconv.Itoa(status)
				}
			}
		}()
	}
	wg.Wait()
	sendEnd := time.Now()
	pending := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, d := range sent {
			if d.arrived.IsZero() {
				n++
			}
		}
		return n
	}
	for pending() > 0 && time.Since(sendEnd) < 10*time.Second {
		time.Sleep(10 * time.Millisecond)
	}

	mu.Lock()
	var lat []float64
	last := start
	for _, d := range sent {
		if !d.arrived.IsZero() {
			lat = append(lat, float64(d.arrived.Sub(d.sent).Microseconds())/1000)
			if d.arrived.After(last) {
				last = d.arrived
			}
		}
	}
	mu.Unlock()
	lost := len(sent) - len(lat)
	calls, writes := w.calls(), w.written()

	// SIGTERM: the daemon must finish what is in flight and exit 0.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			r.fail("tandem run after SIGTERM: %v\n%s", err, tail(logs.String()))
		}
	case <-time.After(30 * time.Second):
		r.fail("tandem run still up 30 s after SIGTERM")
	}
	if stopped {
		r.set("peak_rss_mb", cmd.peakMB())
	}

	r.throughput(len(sent), last.Sub(start).Seconds(), calls)
	if secs := last.Sub(start).Seconds(); secs > 0 {
		r.set("records_per_s", float64(len(lat))/secs) // arrived a second
	}
	r.set("writes", float64(writes))
	r.set("deliveries", float64(len(sent)))
	r.set("lost", float64(lost))
	if len(lat) > 0 {
		slices.Sort(lat)
		r.set("p50_ms", percentile(lat, 50))
		r.set("p95_ms", percentile(lat, 95))
		r.set("p99_ms", percentile(lat, 99))
	}
	if lost > 0 {
		r.fail("%d of %d deliveries never reached Salesforce", lost, len(sent))
	}
	if rejected+sendErrs > 0 {
		r.fail("%d deliveries refused and %d not sent (first: %s)", rejected, sendErrs, firstErr)
	}
	return nil
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// waitHealthy waits for /healthz to answer 200, or the daemon to exit.
func waitHealthy(ctx context.Context, url string, exited chan error, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("exited before it was healthy: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/healthz not 200 after %v", limit)
		}
	}
}

// changeEvent is HubSpot's body for one property change of a contact.
func changeEvent(eventID int64, objectID, property, value string) []byte {
	id, _ := strconv.ParseInt(objectID, 10, 64)
	b, _ := json.Marshal([]map[string]any{{
		"eventId": eventID, "subscriptionId": 4711, "portalId": 62515, "appId": 1160452,
		"occurredAt": time.Now().UnixMilli(), "subscriptionType": "contact.propertyChange", "attemptNumber": 0,
		"objectId": id, "propertyName": property, "propertyValue": value, "changeSource": "CRM_UI",
	}})
	return b
}

// post sends a delivery as HubSpot does: v3-signed over the method, the
// full URI, the body and the timestamp.
func post(client *http.Client, url string, body []byte, at time.Time) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write([]byte(http.MethodPost + url + string(body) + ts))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-HubSpot-Request-Timestamp", ts)
	req.Header.Set("X-HubSpot-Signature-v3", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// syncBuffer is a buffer that a child's stdout and stderr share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func tail(s string) string {
	if len(s) > 1500 {
		return "…" + s[len(s)-1500:]
	}
	return s
}
