package schedules

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/conflict"
	"tandem/connectors"
	"tandem/mapping/config"
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
	cfg, err := config.Parse("t.yaml", []byte(strings.Replace(testConfig, "%s", path, 1)), func(string) (string, bool) { return "", false })
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
	setSync(d, "@every 1h")
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
	setSync(d, "@every 1s")
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

// TestWebhookMetricsBounded: a delivery to a system that is not configured
// is counted under one label, so unauthenticated requests to random paths
// cannot grow /metrics without bound.
func TestWebhookMetricsBounded(t *testing.T) {
	d := newDaemon(t)
	h := d.Handler()
	for i := range 200 {
		post(t, h, fmt.Sprintf("/webhooks/x%d", i), "ok:1", map[string]string{"X-Sig": fmt.Sprint("s", i)})
	}
	post(t, h, "/webhooks/crm", "ok:1", map[string]string{"X-Sig": "good"})
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var series []string
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "tandem_webhook_deliveries_total{") {
			series = append(series, line)
		}
	}
	if !strings.Contains(rec.Body.String(), `tandem_build_info{commit="`) {
		t.Error("/metrics has no tandem_build_info")
	}
	want := []string{
		`tandem_webhook_deliveries_total{result="accepted",system="crm"} 1`,
		`tandem_webhook_deliveries_total{result="unknown_system",system="(unknown)"} 200`,
	}
	if !slices.Equal(series, want) {
		t.Errorf("delivery series:\n%s\nwant:\n%s", strings.Join(series, "\n"), strings.Join(want, "\n"))
	}
}

// TestListenerSheds: senders that open a request and never finish it are
// cut off after the read timeout, and no more than MaxConns of them are
// served at once, so a flood of them neither holds file descriptors
// forever nor starves /healthz for good.
func TestListenerSheds(t *testing.T) {
	d := newDaemon(t)
	d.MaxConns = 3
	d.ReadTimeout = 300 * time.Millisecond
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.Listener = l
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Six senders: headers and one byte of a 100-byte body, then nothing.
	var slow []net.Conn
	for range 6 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /webhooks/crm HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n1")
		slow = append(slow, c)
	}
	// Each is closed by the server: a read ends (EOF or a 4xx/5xx answer
	// then EOF) well before this test's own deadline.
	for i, c := range slow {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("slow sender %d: the server never closed it: %v", i, err)
		}
	}
	cl := &http.Client{Timeout: 20 * time.Second}
	resp, err := cl.Get("http://" + l.Addr().String() + "/healthz")
	if err != nil {
		t.Fatalf("/healthz after the flood: %v", err)
	}
	resp.Body.Close()
}

// TestAdminListener: with an admin listener, /healthz and /metrics move
// there, beside the console, and the public listener keeps the webhooks
// only; both are served by Run and stopped with it.
func TestAdminListener(t *testing.T) {
	d := newDaemon(t)
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adm, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pub.Close()
		t.Fatal(err)
	}
	d.Listener, d.Admin = pub, adm
	d.Console = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "console at "+r.URL.Path) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	get := func(base net.Listener, path string) (int, string) {
		resp, err := http.Get("http://" + base.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		name string
		l    net.Listener
		path string
		want int
		body string
	}{
		{"public: no health", pub, "/healthz", 404, ""},
		{"public: no metrics", pub, "/metrics", 404, ""},
		{"public: no console", pub, "/conflicts", 404, ""},
		{"admin: health", adm, "/healthz", 200, `"status": "ok"`},
		{"admin: metrics", adm, "/metrics", 200, "tandem_outbox_depth"},
		{"admin: console", adm, "/conflicts", 200, "console at /conflicts"},
	} {
		code, body := get(c.l, c.path)
		if code != c.want || !strings.Contains(body, c.body) {
			t.Errorf("%s: %d %.200s, want %d with %q", c.name, code, body, c.want, c.body)
		}
	}
	if rec := post(t, d.Handler(), "/webhooks/crm", "ok:1", map[string]string{"X-Sig": "a1"}); rec.Code != 200 {
		t.Errorf("public webhook: %d", rec.Code)
	}
}

// setSync sets the first entity's incremental schedule.
func setSync(d *Daemon, spec string) {
	name := d.Config.Entities[0].Name
	s := d.Config.Schedules[name]
	s.Sync = spec
	d.Config.Schedules[name] = s
}
