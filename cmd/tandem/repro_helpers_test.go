package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"tandem/mapping"
)

// Helpers the deterministic reproductions share (chaos_repro_test.go,
// echo_test.go, gap_test.go, delete_time_test.go, precision_test.go).

// testClock is a clock both emulators share, moved by the test only: the
// order of the edits is the order of the test's lines, never a race.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// tick moves the clock a second on.
func (c *testClock) tick() { c.set(c.Now().Add(time.Second)) }

// set moves the clock to t.
func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// openRepro opens the app of a reproduction's config, its log discarded,
// and returns it with its only entity; it is closed when the test ends.
func openRepro(t *testing.T, config string) (*app, *mapping.Entity) {
	t.Helper()
	g := &globals{config: config, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a, err := g.open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, a.cfg.Entities[0]
}

// lostAnswers serves emu, except that once armed, the first request cut
// selects is applied and its answer lost (the connection is closed
// without one); after it, requests cut selects (given applied: true) get
// no answer either. It stands for a write that lands while Tandem never
// learns it did, as when it crashes.
type lostAnswers struct {
	mu      sync.Mutex
	armed   bool
	applied bool
}

func (l *lostAnswers) arm()    { l.set(true) }
func (l *lostAnswers) disarm() { l.set(false) }
func (l *lostAnswers) set(armed bool) {
	l.mu.Lock()
	l.armed = armed
	l.mu.Unlock()
}

// dropped reports whether a request was applied with its answer lost.
func (l *lostAnswers) dropped() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.applied
}

func (l *lostAnswers) server(t *testing.T, emu http.Handler, cut func(r *http.Request, applied bool) bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		drop := l.armed && cut(r, l.applied)
		first := drop && !l.applied
		if first {
			l.applied = true
		}
		l.mu.Unlock()
		if !drop {
			emu.ServeHTTP(w, r)
			return
		}
		if first {
			emu.ServeHTTP(httptest.NewRecorder(), r) // applied; the answer is lost
		}
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}
