package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// switchable answers with whatever status the test sets, and can hold a
// request until released.
type switchable struct {
	*httptest.Server
	status atomic.Int32
	n      atomic.Int32
	// When set, each request says it arrived and waits for its release.
	hold atomic.Pointer[gate]
}

type gate struct{ arrived, release chan struct{} }

func newSwitchable(t *testing.T, status int) *switchable {
	s := &switchable{}
	s.status.Store(int32(status))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.n.Add(1)
		if g := s.hold.Load(); g != nil {
			g.arrived <- struct{}{}
			<-g.release
		}
		w.WriteHeader(int(s.status.Load()))
	}))
	t.Cleanup(s.Close)
	return s
}

// waitState polls the breaker's state until it is want; the open state
// turns half-open on its own after BreakerTimeout.
func waitState(t *testing.T, h *HTTP, want string) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if h.Health().Breaker == want {
			return
		}
	}
	t.Fatalf("breaker %q, want %q", h.Health().Breaker, want)
}

func TestBreaker(t *testing.T) {
	srv := newSwitchable(t, 500)
	var logs bytes.Buffer
	h := NewHTTP(fast(HTTPOptions{RetryMax: 1, BreakerFailures: 3, BreakerTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))}))
	get := func() (*Response, error) { return h.Do(context.Background(), "pull", "GET", srv.URL, nil, nil) }

	// Three failed calls (two attempts each) open the circuit.
	for i := range 3 {
		if resp, err := get(); err != nil || resp.Status != 500 {
			t.Fatalf("call %d: %v %v", i, resp, err)
		}
	}
	if srv.n.Load() != 6 {
		t.Fatalf("%d requests, want 6", srv.n.Load())
	}
	// Open: calls fail at once, retryable, and nothing is sent.
	_, err := get()
	if e := asError(t, err); e.Code != "CIRCUIT_OPEN" || !e.Retryable || !strings.Contains(e.Message, "3 failed calls in a row") {
		t.Errorf("open: %v", err)
	}
	if srv.n.Load() != 6 {
		t.Errorf("open circuit sent a request")
	}
	if hl := h.Health(); hl.Breaker != "open" && hl.Breaker != "half-open" || hl.BreakerSince.IsZero() {
		t.Errorf("health: %+v", hl)
	}

	// Half-open: one probe, which fails, opens it again.
	waitState(t, h, "half-open")
	if resp, err := get(); err != nil || resp.Status != 500 || srv.n.Load() != 8 {
		t.Errorf("failed probe: %v %v after %d requests, want 500 after 8", resp, err, srv.n.Load())
	}
	if _, err := get(); asError(t, err).Code != "CIRCUIT_OPEN" {
		t.Errorf("after a failed probe: %v", err)
	}

	// Half-open again: while the probe is out, other calls are refused;
	// its success closes the circuit.
	waitState(t, h, "half-open")
	srv.status.Store(200)
	g := &gate{make(chan struct{}), make(chan struct{})}
	srv.hold.Store(g)
	probe := make(chan error)
	go func() { _, err := get(); probe <- err }()
	<-g.arrived
	before := srv.n.Load()
	_, err = get()
	if e := asError(t, err); e.Code != "CIRCUIT_OPEN" || !strings.Contains(e.Message, "probe") {
		t.Errorf("during the probe: %v", err)
	}
	if srv.n.Load() != before {
		t.Errorf("a call went out beside the probe")
	}
	srv.hold.Store(nil)
	close(g.release)
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if hl := h.Health(); hl.Breaker != "closed" || hl.Failures != 0 {
		t.Errorf("after the probe: %+v", hl)
	}
	if resp, err := get(); err != nil || resp.Status != 200 {
		t.Errorf("closed: %v %v", resp, err)
	}

	// Every change was logged as a warning, naming the system.
	var changes []string
	for _, line := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
		var l struct{ Level, Msg, System, From, To string }
		json.Unmarshal(line, &l)
		if l.Msg == "circuit breaker" && l.Level == "WARN" && l.System == "x" {
			changes = append(changes, l.From+">"+l.To)
		}
	}
	want := "closed>open half-open>open half-open>closed"
	if got := strings.Join(changes, " "); !strings.Contains(strings.ReplaceAll(got, "open>half-open ", ""), want) {
		t.Errorf("logged changes %q, want %q (with open>half-open between)", got, want)
	}
}

// A 4xx is the caller's problem: it does not open the circuit.
func TestBreakerIgnoresClientErrors(t *testing.T) {
	srv := newSwitchable(t, 404)
	h := NewHTTP(fast(HTTPOptions{BreakerFailures: 2}))
	for range 5 {
		if resp, err := h.Do(context.Background(), "pull", "GET", srv.URL, nil, nil); err != nil || resp.Status != 404 {
			t.Fatalf("%v %v", resp, err)
		}
	}
	if hl := h.Health(); hl.Breaker != "closed" || hl.Failures != 0 {
		t.Errorf("health: %+v", hl)
	}
	// A success between failures starts the count again.
	srv.status.Store(503)
	h.Do(context.Background(), "pull", "GET", srv.URL, nil, nil)
	srv.status.Store(200)
	h.Do(context.Background(), "pull", "GET", srv.URL, nil, nil)
	srv.status.Store(503)
	h.Do(context.Background(), "pull", "GET", srv.URL, nil, nil)
	if hl := h.Health(); hl.Breaker != "closed" || hl.Failures != 1 {
		t.Errorf("health: %+v", hl)
	}
}
