// Package faults is the fault injection both emulators share: a seeded
// share of requests that fail with a 5xx, a reset connection or a request
// held until the client gives up, decided on arrival so that a write that
// meets one is never applied; and a reset after the write was applied, when
// asked for. Each emulator answers a fault in its own vendor's words (see
// State.Fail's api argument).
package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// Fault is what an injected failure does to a request.
type Fault string

// The faults a request can meet. All but FaultResetAfterCommit are decided
// when the request arrives and happen before the API does anything with it,
// so a write that meets one is never applied, not even in part.
const (
	// Fault500 answers 500 with the API's body for an internal error.
	Fault500 Fault = "500"
	// Fault502 answers 502 with the HTML page of the proxy in front of
	// the API, as an edge does when the service behind it fails.
	Fault502 Fault = "502"
	// Fault503 answers 503: the API's "unavailable" body where it has one,
	// else the proxy's HTML page.
	Fault503 Fault = "503"
	// FaultReset drops the connection without an answer: the client
	// reads a TCP reset.
	FaultReset Fault = "reset"
	// FaultTimeout holds the request without answering until the client
	// gives up, Faults.Hold passes or the server closes, then drops the
	// connection.
	FaultTimeout Fault = "timeout"
	// FaultResetAfterCommit serves the request in full, so a write is
	// applied, and then drops the connection instead of answering: the
	// client cannot tell whether its write happened. That is the case an
	// idempotent write exists for. It is never chosen unless Kinds names
	// it.
	FaultResetAfterCommit Fault = "reset-after-commit"
)

// DefaultKinds are the faults a failing request meets when Faults.Kinds is
// empty: all of those that leave the data untouched.
var DefaultKinds = []Fault{Fault500, Fault502, Fault503, FaultReset, FaultTimeout}

// Faults make a share of requests fail as a real API sometimes does. Which
// requests fail is decided in arrival order by a generator seeded with
// Seed, so a run of sequential requests fails the same way every time.
type Faults struct {
	// Rate is the share of requests that fail, from 0 (none) to 1 (all).
	Rate float64
	// Seed seeds the choice of the failing requests and of their Kind.
	Seed uint64
	// Kinds are the faults to choose from, evenly; default Fault500,
	// Fault502, Fault503, FaultReset and FaultTimeout.
	Kinds []Fault
	// Latency delays every request, failing or not, before anything else
	// happens to it. A client that gives up meanwhile finds nothing done.
	Latency time.Duration
	// Hold is how long FaultTimeout holds a request before dropping it;
	// zero holds it until the client gives up or the server closes.
	Hold time.Duration
}

// State is the running state of Faults. Its own lock keeps latency and
// held requests from holding the emulator's.
type State struct {
	name string // the emulator's package, for its panics
	mu   sync.Mutex
	f    Faults
	rng  *rand.Rand
	quit chan struct{} // closed by Close: held requests let go
	once sync.Once
}

// New starts injecting f; name is the emulator's package.
func New(name string, f Faults) *State {
	fs := &State{name: name, quit: make(chan struct{})}
	fs.Set(f)
	return fs
}

// Set replaces the faults injected from now on; the generator starts over
// from f.Seed. A rate outside 0..1 or an unknown kind is a mistake in the
// test: it panics.
func (fs *State) Set(f Faults) {
	if f.Rate < 0 || f.Rate > 1 {
		panic(fmt.Sprintf("%s: Faults.Rate %v is not between 0 and 1", fs.name, f.Rate))
	}
	if len(f.Kinds) == 0 {
		f.Kinds = DefaultKinds
	}
	for _, k := range f.Kinds {
		switch k {
		case Fault500, Fault502, Fault503, FaultReset, FaultTimeout, FaultResetAfterCommit:
		default:
			panic(fmt.Sprintf("%s: unknown fault kind %q", fs.name, k))
		}
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.f = f
	fs.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
}

// Decide draws the fate of the request that just arrived ("" for none),
// with the latency every request waits and the hold of a timeout.
func (fs *State) Decide() (Fault, time.Duration, time.Duration) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.f.Rate == 0 || fs.rng.Float64() >= fs.f.Rate {
		return "", fs.f.Latency, fs.f.Hold
	}
	return fs.f.Kinds[fs.rng.IntN(len(fs.f.Kinds))], fs.f.Latency, fs.f.Hold
}

// Wait blocks for d (forever when d < 0) or until the client gives up or
// the emulator closes. It reports whether the whole d passed.
func (fs *State) Wait(ctx context.Context, d time.Duration) bool {
	if d == 0 {
		return true
	}
	var elapsed <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		elapsed = t.C
	}
	select {
	case <-elapsed:
		return true
	case <-ctx.Done():
	case <-fs.quit:
	}
	return false
}

// Close lets every held request go.
func (fs *State) Close() { fs.once.Do(func() { close(fs.quit) }) }

// Rand runs fn with the generator, for a body that quotes a random id.
func (fs *State) Rand(fn func(*rand.Rand)) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fn(fs.rng)
}

// Status is what an early fault answers: 0 for a dropped connection.
func (f Fault) Status() int {
	switch f {
	case Fault500:
		return http.StatusInternalServerError
	case Fault502:
		return http.StatusBadGateway
	case Fault503:
		return http.StatusServiceUnavailable
	}
	return 0
}

// Fail answers a request that met an early fault. api writes the
// vendor's own answer to a 5xx and reports whether it has one; without,
// a 5xx gets the HTML page of the proxy in front of the API.
func (fs *State) Fail(w http.ResponseWriter, r *http.Request, f Fault, hold time.Duration, api func(w http.ResponseWriter, status int) bool) {
	switch status := f.Status(); f {
	case Fault500, Fault502, Fault503:
		if api(w, status) {
			return
		}
		text := fmt.Sprintf("%d %s", status, http.StatusText(status))
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n</body>\r\n</html>\r\n", text, text)
		return
	case FaultTimeout:
		if hold == 0 {
			hold = -1 // until the client gives up or Close
		}
		fs.Wait(r.Context(), hold)
	}
	Abort(w)
}

// Abort drops the connection without an answer. The connection is closed
// with SO_LINGER 0, so the client reads a TCP reset, as when a load
// balancer drops it; where it cannot be hijacked (HTTP/2, a recorder), the
// handler aborts the way net/http provides.
func Abort(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
