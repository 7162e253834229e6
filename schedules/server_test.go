package schedules

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/conflict"
	"tandem/connectors"
	"tandem/mapping"
	"tandem/state"
)

// fakeSystem takes webhooks whose body is "ok:ID,ID", "bad" (not
// verified) or anything else (cannot be parsed); the replay key is the
// X-Sig header.
type fakeSystem struct{}

func (fakeSystem) Pull(context.Context, tandem.Query, func(tandem.Page) error) error { return nil }
func (fakeSystem) Apply(_ context.Context, _ string, ws []tandem.Write) ([]tandem.Result, error) {
	return make([]tandem.Result, len(ws)), nil
}
func (fakeSystem) ReplayKey(h http.Header) string { return h.Get("X-Sig") }
func (fakeSystem) Receive(_, _ string, _ http.Header, body []byte, _ time.Time) ([]connectors.Event, error) {
	s := string(body)
	switch {
	case s == "bad":
		return nil, &connectors.WebhookRejected{System: "crm", Reason: "bad signature"}
	case strings.HasPrefix(s, "ok:"):
		var evs []connectors.Event
		for _, id := range strings.Split(s[3:], ",") {
			evs = append(evs, connectors.Event{ID: "e" + id, Object: "people", RecordID: id})
		}
		evs = append(evs, connectors.Event{ID: "x", Object: "invoices", RecordID: "9"}) // not synced
		return evs, nil
	}
	return nil, errors.New("event 0: no id")
}

const testConfig = `
state: %s
systems:
  crm: { type: fake }
  other: { type: fake }
entities:
  person:
    match: [email]
    fields: { email: email }
    systems:
      crm: { object: people, fields: { email: email } }
      other: { object: folks, fields: { email: mail } }
`

func newDaemon(t *testing.T) *Daemon {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "t.db")
	cfg, err := mapping.Parse("t.yaml", []byte(strings.Replace(testConfig, "%s", path, 1)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	systems := map[string]connectors.Connector{"crm": fakeSystem{}, "other": fakeSystem{}}
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	d := &Daemon{Config: cfg, Store: store, Log: log, Engine: &conflict.Engine{Store: store, Systems: systems, Log: log},
		Metrics: NewMetrics(cfg, store, systems)}
	d.defaults()
	return d
}

func post(t *testing.T, h http.Handler, path, body string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestWebhookAnswers(t *testing.T) {
	d := newDaemon(t)
	h := d.Handler()
	depth := func() int {
		n, err := d.Store.InboxDepth(context.Background(), "crm", "people")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct {
		name, path, body, sig string
		want, depth           int
	}{
		{"verified", "/webhooks/crm", "ok:1,2", "s1", 200, 2},
		{"a retry of the same events, signed anew", "/webhooks/crm", "ok:1,2", "s2", 200, 2},
		{"the same signed request again", "/webhooks/crm", "ok:3", "s1", 409, 2},
		{"not verified", "/webhooks/crm", "bad", "s3", 401, 2},
		{"verified but unreadable", "/webhooks/crm", "junk", "s4", 400, 2},
		{"too large", "/webhooks/crm", strings.Repeat("x", MaxDelivery+1), "s5", 413, 2},
		{"unknown system", "/webhooks/nope", "ok:4", "s6", 404, 2},
		{"a new event", "/webhooks/crm", "ok:2,5", "s7", 200, 3},
	} {
		rec := post(t, h, c.path, c.body, map[string]string{"X-Sig": c.sig})
		if rec.Code != c.want || depth() != c.depth {
			t.Errorf("%s: %d with %d events in the inbox, want %d with %d\n%s", c.name, rec.Code, depth(), c.want, c.depth, rec.Body)
		}
	}
	d.stopping.Store(true)
	if rec := post(t, h, "/webhooks/crm", "ok:6", map[string]string{"X-Sig": "s8"}); rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("while stopping: %d, want 503 with Retry-After", rec.Code)
	}
}

func TestHealthz(t *testing.T) {
	d := newDaemon(t)
	get := func() (int, Healthz) {
		rec := httptest.NewRecorder()
		d.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		var h Healthz
		if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
			t.Fatal(err)
		}
		return rec.Code, h
	}
	d.cron = nil
	d.Config.Entities[0].Schedule = "@every 1h"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.cronInit()
	if err := d.schedule(ctx); err != nil {
		t.Fatal(err)
	}
	if code, h := get(); code != 200 || h.Status != "ok" || len(h.Systems) != 2 || len(h.Schedules) != 1 {
		t.Fatalf("healthy daemon: %d %+v", code, h)
	}
	js := d.jobs["person/sync"]
	d.locked(func() { js.err = "crm: circuit open" })
	if code, h := get(); code != 503 || len(h.Reasons) != 1 || !strings.Contains(h.Reasons[0], "circuit open") {
		t.Fatalf("a failed pass: %d %+v", code, h)
	}
	d.locked(func() { js.err = "" })
	d.Store.Close()
	if code, h := get(); code != 503 || !strings.Contains(strings.Join(h.Reasons, ";"), "state file") {
		t.Fatalf("state file closed: %d %+v", code, h)
	}
}

// blockingSystem's Pull waits until its context ends.
type blockingSystem struct {
	fakeSystem
	started chan struct{}
}

func (b blockingSystem) Pull(ctx context.Context, _ tandem.Query, _ func(tandem.Page) error) error {
	close(b.started)
	<-ctx.Done()
	return ctx.Err()
}

// TestShutdownIsBounded stops a daemon whose pass never ends by itself:
// Run returns nil soon after the grace period, the pass cancelled.
func TestShutdownIsBounded(t *testing.T) {
	d := newDaemon(t)
	started := make(chan struct{})
	d.Engine.Systems["crm"] = blockingSystem{started: started}
	d.Config.Entities[0].Schedule = "@every 1s"
	d.Grace = 300 * time.Millisecond
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.Listener = l
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the scheduled pass did not start")
	}
	stop := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		t.Logf("stopped %v after the signal, grace %v", time.Since(stop).Round(time.Millisecond), d.Grace)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the grace period")
	}
}
