package conformance

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Proxy stands in front of an emulator to break it on demand, the same way
// for every connector: the next requests fail with a 503, a write is
// applied but its response lost, or responses are rewritten (to serve a
// record the connector cannot parse).
type Proxy struct {
	next http.Handler

	mu       sync.Mutex
	failNext int
	loseNext bool
	rewrite  func(r *http.Request, body []byte) []byte
}

// NewProxy wraps an emulator's handler.
func NewProxy(next http.Handler) *Proxy { return &Proxy{next: next} }

// FailNext makes the next n requests fail with a 503 before they reach
// the emulator.
func (p *Proxy) FailNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failNext = n
}

// LoseNextResponse lets the next request other than a GET reach the
// emulator (which applies it), then drops the connection unanswered.
func (p *Proxy) LoseNextResponse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loseNext = true
}

// Rewrite sets a function every response body passes through (nil: none).
func (p *Proxy) Rewrite(fn func(r *http.Request, body []byte) []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rewrite = fn
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	fail := p.failNext > 0
	if fail {
		p.failNext--
	}
	lose := p.loseNext && r.Method != http.MethodGet
	if lose {
		p.loseNext = false
	}
	rewrite := p.rewrite
	p.mu.Unlock()
	if fail {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"error","message":"injected by the conformance proxy"}`))
		return
	}
	rec := httptest.NewRecorder()
	p.next.ServeHTTP(rec, r)
	if lose {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	body := rec.Body.Bytes()
	if rewrite != nil {
		body = rewrite(r, body)
	}
	for k, vs := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// HoldClock is the wall clock for an emulator, or one instant while held:
// the records a Backend.Seed creates while it is held share a modified time.
type HoldClock struct {
	mu   sync.Mutex
	held time.Time
}

// Now is the held instant, or the time now.
func (c *HoldClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held.IsZero() {
		return c.held
	}
	return time.Now()
}

// Hold stops the clock at the time now (on) or lets it run again.
func (c *HoldClock) Hold(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = time.Time{}
	if on {
		c.held = time.Now()
	}
}
