package salesforcetest

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
	// Fault500 answers 500 UNKNOWN_EXCEPTION, Salesforce's answer to an
	// internal error, with an ErrorId to quote to support.
	Fault500 Fault = "500"
	// Fault502 answers 502 with the HTML page of the proxy in front of
	// the API.
	Fault502 Fault = "502"
	// Fault503 answers 503 SERVER_UNAVAILABLE "Server too busy".
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

// defaultKinds are the faults a failing request meets when Faults.Kinds is
// empty: all of those that leave the data untouched.
var defaultKinds = []Fault{Fault500, Fault502, Fault503, FaultReset, FaultTimeout}

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

// faults is the running state of Faults. Its own lock keeps latency and
// held requests from holding the emulator's.
type faults struct {
	mu   sync.Mutex
	f    Faults
	rng  *rand.Rand
	quit chan struct{} // closed by Close: held requests let go
	once sync.Once
}

func newFaults(f Faults) *faults {
	fs := &faults{quit: make(chan struct{})}
	fs.set(f)
	return fs
}

func (fs *faults) set(f Faults) {
	if f.Rate < 0 || f.Rate > 1 {
		panic(fmt.Sprintf("salesforcetest: Faults.Rate %v is not between 0 and 1", f.Rate))
	}
	if len(f.Kinds) == 0 {
		f.Kinds = defaultKinds
	}
	for _, k := range f.Kinds {
		switch k {
		case Fault500, Fault502, Fault503, FaultReset, FaultTimeout, FaultResetAfterCommit:
		default:
			panic(fmt.Sprintf("salesforcetest: unknown fault kind %q", k))
		}
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.f = f
	fs.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
}

// decide draws the fate of the request that just arrived: "" for none.
func (fs *faults) decide() (Fault, time.Duration, time.Duration) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.f.Rate == 0 || fs.rng.Float64() >= fs.f.Rate {
		return "", fs.f.Latency, fs.f.Hold
	}
	return fs.f.Kinds[fs.rng.IntN(len(fs.f.Kinds))], fs.f.Latency, fs.f.Hold
}

// wait blocks for d (forever when d < 0) or until the client gives up or
// the emulator closes. It reports whether the whole d passed.
func (fs *faults) wait(ctx context.Context, d time.Duration) bool {
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

func (fs *faults) close() { fs.once.Do(func() { close(fs.quit) }) }

// status is what an early fault answers: 0 for a dropped connection.
func (f Fault) status() int {
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

// fail answers a request that met an early fault.
func (fs *faults) fail(w http.ResponseWriter, r *http.Request, f Fault, hold time.Duration) {
	switch status := f.status(); f {
	case Fault500:
		fs.mu.Lock()
		id := fmt.Sprintf("%d-%d (%d)", fs.rng.Int32(), fs.rng.IntN(1_000_000), -fs.rng.Int32())
		fs.mu.Unlock()
		writeError(w, status, apiErr("UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you contact support: "+id))
		return
	case Fault503:
		writeError(w, status, apiErr("SERVER_UNAVAILABLE", "Server too busy"))
		return
	case Fault502:
		// The page of the proxy in front of the API, not the API's JSON.
		text := fmt.Sprintf("%d %s", status, http.StatusText(status))
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n</body>\r\n</html>\r\n", text, text)
		return
	case FaultTimeout:
		if hold == 0 {
			hold = -1 // until the client gives up or Close
		}
		fs.wait(r.Context(), hold)
	}
	abort(w)
}

// abort drops the connection without an answer. The connection is closed
// with SO_LINGER 0, so the client reads a TCP reset, as when a load
// balancer drops it; where it cannot be hijacked (HTTP/2, a recorder), the
// handler aborts the way net/http provides.
func abort(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
