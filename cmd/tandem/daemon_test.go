package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tandem/internal/loopback"
)

const daemonSecret = "hs-app-client-secret"

// daemon is `tandem run` as a real subprocess.
type daemon struct {
	cmd  *exec.Cmd
	url  string
	out  *syncBuffer
	done chan error
}

// daemonWorld is the end-to-end world with the daemon's keys in its config:
// a listen address, HubSpot's webhook secret, and the given schedule lines
// in place of the entity's schedule.
func daemonWorld(t *testing.T, schedule string) (*world, string) {
	t.Helper()
	w := newWorld(t)
	addr := loopback.Addr(t)
	w.editConfig(t, "\nsystems:\n", "\nlisten: "+addr+"\nsystems:\n")
	w.editConfig(t, "    token: ${E2E_HS_TOKEN}\n", "    token: ${E2E_HS_TOKEN}\n    webhook_secret: "+daemonSecret+"\n")
	w.editConfig(t, `    schedule: "*/5 * * * *"`+"\n", schedule)
	return w, "http://" + addr
}

func startDaemon(t *testing.T, w *world, url string) *daemon {
	t.Helper()
	d := &daemon{url: url, out: &syncBuffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command(os.Args[0], "run", "--config", w.config, "--log-level", "info", "--grace", "5s")
	d.cmd.Env = append(os.Environ(), "TANDEM_TEST_MAIN=1")
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			<-d.done
		}
	})
	waitFor(t, 10*time.Second, "the daemon's /healthz", func() bool {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return d
}

// stop sends SIGTERM and waits for the exit, which must be 0 and quick.
func (d *daemon) stop(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("tandem run after SIGTERM: %v\n%s", err, d.out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("tandem run still up 15 s after SIGTERM\n%s", d.out.String())
	}
	return time.Since(start)
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hubspotDelivery is a delivery as HubSpot sends it: v3-signed over the
// method, the full URI, the body and the timestamp.
func hubspotDelivery(t *testing.T, url, secret string, at time.Time, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(http.MethodPost + url + string(body) + ts))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-HubSpot-Request-Timestamp", ts)
	req.Header.Set("X-HubSpot-Signature-v3", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return req
}

func changeEvent(eventID int64, objectID, property, value string) []byte {
	b, _ := json.Marshal([]map[string]any{{
		"eventId": eventID, "subscriptionId": 4711, "portalId": 62515, "appId": 1160452,
		"occurredAt": time.Now().UnixMilli(), "subscriptionType": "contact.propertyChange", "attemptNumber": 0,
		"objectId": mustInt(objectID), "propertyName": property, "propertyValue": value, "changeSource": "CRM_UI",
	}})
	return b
}

func mustInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// send posts a request (again, when it is a replay) and returns the status.
func send(t *testing.T, req *http.Request, body []byte) int {
	t.Helper()
	r := req.Clone(req.Context())
	r.Body = nopCloser{bytes.NewReader(body)}
	r.ContentLength = int64(len(body))
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func inboxRows(t *testing.T, statePath string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+statePath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM inbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDaemonWebhooks(t *testing.T) {
	w, url := daemonWorld(t, "")
	w.sync(t)
	d := startDaemon(t, w, url)

	// A second daemon on the same state file is refused, saying who has it.
	var out, errb bytes.Buffer
	if code := execute([]string{"run", "--config", w.config}, &out, &errb); code != exitFailed || !strings.Contains(errb.String(), "in use by tandem run (pid") {
		t.Fatalf("a second daemon: exit %d, %s", code, errb.String())
	}

	hs := w.hsByEmail(t, "ada.lovelace.0@example.com")
	if err := w.hs.Update("contacts", hs.ID, map[string]any{"firstname": "Augusta"}); err != nil {
		t.Fatal(err)
	}
	hookURL := url + "/webhooks/hubspot"
	body := changeEvent(1001, hs.ID, "firstname", "Augusta")
	good := hubspotDelivery(t, hookURL, daemonSecret, time.Now(), body)
	if got := send(t, good, body); got != http.StatusOK {
		t.Fatalf("signed delivery: %d\n%s", got, d.out.String())
	}
	waitFor(t, 10*time.Second, "the webhook's change in Salesforce", func() bool {
		return str(w.sfByEmail(t, "ada.lovelace.0@example.com").Fields["FirstName"]) == "Augusta"
	})
	if n := inboxRows(t, w.state); n != 1 {
		t.Fatalf("inbox holds %d events after one delivery, want 1", n)
	}

	other := changeEvent(1002, hs.ID, "firstname", "Mallory")
	for _, c := range []struct {
		name string
		req  *http.Request
		body []byte
		want int
	}{
		{"forged", hubspotDelivery(t, hookURL, "not-the-secret", time.Now(), other), other, http.StatusUnauthorized},
		{"stale", hubspotDelivery(t, hookURL, daemonSecret, time.Now().Add(-6*time.Minute), other), other, http.StatusUnauthorized},
		{"replayed", good, body, http.StatusConflict},
		{"oversized", hubspotDelivery(t, hookURL, daemonSecret, time.Now(), bytes.Repeat([]byte(" "), 1<<20+1)), bytes.Repeat([]byte(" "), 1<<20+1), http.StatusRequestEntityTooLarge},
		{"unsigned", func() *http.Request { r, _ := http.NewRequest(http.MethodPost, hookURL, nil); return r }(), other, http.StatusUnauthorized},
	} {
		if got := send(t, c.req, c.body); got != c.want {
			t.Errorf("%s delivery: %d, want %d", c.name, got, c.want)
		}
	}
	if n := inboxRows(t, w.state); n != 1 {
		t.Fatalf("inbox holds %d events after the refused deliveries, want 1", n)
	}
	// A sender's retry (signed anew) of an event already taken: 200, stored once.
	retry := hubspotDelivery(t, hookURL, daemonSecret, time.Now().Add(time.Second), body)
	if got := send(t, retry, body); got != http.StatusOK {
		t.Errorf("a retried delivery: %d, want 200", got)
	}
	if n := inboxRows(t, w.state); n != 1 {
		t.Errorf("inbox holds %d events after a retry, want 1", n)
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics := new(bytes.Buffer)
	metrics.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`tandem_webhook_deliveries_total{result="accepted",system="hubspot"} 1`,
		`tandem_webhook_deliveries_total{result="unverified",system="hubspot"} 3`,
		`tandem_webhook_deliveries_total{result="replay",system="hubspot"} 1`,
		`tandem_webhook_deliveries_total{result="too_large",system="hubspot"} 1`,
		`tandem_webhook_deliveries_total{result="duplicate",system="hubspot"} 1`,
		`tandem_records_written_total{entity="contact",kind="webhook",system="salesforce"} 1`,
		`tandem_outbox_depth{object="Contact",system="salesforce"} 0`,
		`tandem_circuit_state{system="hubspot"} 0`,
		`tandem_http_requests_total{method="POST",status="200",system="hubspot"}`,
	} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}

	took := d.stop(t)
	t.Logf("exited 0 %v after SIGTERM", took.Round(time.Millisecond))
	var st []struct {
		Systems []struct {
			System string `json:"system"`
			Outbox int    `json:"outbox_depth"`
			Inbox  int    `json:"inbox_depth"`
		} `json:"systems"`
	}
	out.Reset()
	if code := execute([]string{"status", "--config", w.config, "--format", "json"}, &out, &errb); code != 0 {
		t.Fatalf("status: %s", errb.String())
	}
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	for _, s := range st[0].Systems {
		if s.Outbox != 0 || s.Inbox != 0 {
			t.Errorf("%s: %d writes and %d events left in flight after the stop", s.System, s.Outbox, s.Inbox)
		}
	}
	if !strings.Contains(d.out.String(), `"delivery"`) || !strings.Contains(d.out.String(), `"corr"`) && !strings.Contains(d.out.String(), `"pass"`) {
		t.Errorf("log lines carry no delivery or pass id:\n%s", d.out.String())
	}
}

func TestDaemonReconcileRepairsMissedWebhook(t *testing.T) {
	w, url := daemonWorld(t, `    reconcile: "@every 1s"`+"\n")
	w.sync(t)
	// A change nobody announces: no webhook, and the daemon runs no
	// incremental pass (the entity has no schedule).
	w.tick()
	hs := w.hsByEmail(t, "edsger.knuth.3@example.com")
	if err := w.hs.Update("contacts", hs.ID, map[string]any{"lastname": "Dijkstra-Knuth"}); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, w, url)
	waitFor(t, 15*time.Second, "the sweep's repair in Salesforce", func() bool {
		return str(w.sfByEmail(t, "edsger.knuth.3@example.com").Fields["LastName"]) == "Dijkstra-Knuth"
	})
	d.stop(t)
	db, err := sql.Open("sqlite3", "file:"+w.state+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT system, drift FROM runs WHERE kind = 'reconcile' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	drift := map[string][]int{}
	for rows.Next() {
		var sys string
		var n int
		rows.Scan(&sys, &n)
		drift[sys] = append(drift[sys], n)
	}
	if len(drift["hubspot"]) == 0 || drift["hubspot"][0] != 1 {
		t.Fatalf("HubSpot's sweeps found drift %v, want 1 first", drift["hubspot"])
	}
	for sys, ds := range drift {
		for i, n := range ds {
			if (sys != "hubspot" || i > 0) && n != 0 {
				t.Errorf("%s sweep %d found drift %d after the repair, want 0", sys, i, n)
			}
		}
	}
	t.Logf("sweeps: %v", drift)
}

// TestBackfillBesideTheDaemon: with `tandem run` holding the state file,
// `tandem backfill` hands the backfill to it and follows it to the end;
// --dry-run beside it writes nothing and lists what a backfill would.
func TestBackfillBesideTheDaemon(t *testing.T) {
	w, url := daemonWorld(t, "")
	w.sync(t)
	w.tick()
	hs := w.hsByEmail(t, "ada.lovelace.0@example.com")
	if err := w.hs.Update("contacts", hs.ID, map[string]any{"lastname": "King"}); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, w, url)

	writes := w.writes()
	var out, errb bytes.Buffer
	if code := execute([]string{"backfill", "--config", w.config, "--entity", "contact", "--system", "hubspot", "--dry-run"}, &out, &errb); code != exitChanges {
		t.Fatalf("backfill --dry-run: exit %d, want 2\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), `"King"`) || w.writes() != writes {
		t.Fatalf("backfill --dry-run listed:\n%s\nand wrote %d times", out.String(), w.writes()-writes)
	}

	out.Reset()
	errb.Reset()
	if code := execute([]string{"backfill", "--config", w.config, "--entity", "contact", "--system", "hubspot"}, &out, &errb); code != 0 {
		t.Fatalf("backfill beside the daemon: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "handed to it") || !strings.Contains(out.String(), "done") {
		t.Errorf("backfill did not go through the daemon:\n%s%s", out.String(), errb.String())
	}
	if got := str(w.sfByEmail(t, "ada.lovelace.0@example.com").Fields["LastName"]); got != "King" {
		t.Errorf("Salesforce last name %q after the backfill, want King", got)
	}
	d.stop(t)
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"72h":                  now.Add(-72 * time.Hour),
		"2026-11-01":           time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		"2026-11-01T08:00:00Z": time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-5h", "2026-13-01"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) accepted", bad)
		}
	}
}
