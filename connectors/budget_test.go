package connectors

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// windowServer is a strict rolling-window rate limiter: a request is
// refused with 429 when limit requests were accepted in the closed window
// [now-window, now]. When headers is set it tells its limit, what
// remains and the window in X-Test-* headers (read by testHeaders).
type windowServer struct {
	*httptest.Server
	limit   int
	window  time.Duration
	headers bool

	mu       sync.Mutex
	accepted []time.Time
	served   atomic.Int32
	refused  atomic.Int32
}

func newWindowServer(t *testing.T, limit int, window time.Duration, headers bool) *windowServer {
	s := &windowServer{limit: limit, window: window, headers: headers}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		s.mu.Lock()
		keep := s.accepted[:0]
		for _, a := range s.accepted {
			if now.Sub(a) <= s.window {
				keep = append(keep, a)
			}
		}
		s.accepted = keep
		ok := len(s.accepted) < s.limit
		if ok {
			s.accepted = append(s.accepted, now)
		}
		remaining := s.limit - len(s.accepted)
		s.mu.Unlock()
		if s.headers {
			w.Header().Set("X-Test-Limit", strconv.Itoa(s.limit))
			w.Header().Set("X-Test-Remaining", strconv.Itoa(remaining))
			w.Header().Set("X-Test-Window-Ms", strconv.Itoa(int(s.window/time.Millisecond)))
		}
		if !ok {
			s.refused.Add(1)
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		s.served.Add(1)
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(s.Close)
	return s
}

// testHeaders reads the X-Test-* rate headers of the test servers.
func testHeaders(h http.Header) RateInfo {
	ri := RateInfo{Remaining: -1, DailyRemaining: -1}
	ri.Limit, _ = strconv.Atoi(h.Get("X-Test-Limit"))
	if v, err := strconv.Atoi(h.Get("X-Test-Remaining")); err == nil {
		ri.Remaining = v
	}
	ms, _ := strconv.Atoi(h.Get("X-Test-Window-Ms"))
	ri.Window = time.Duration(ms) * time.Millisecond
	ri.DailyLimit, _ = strconv.Atoi(h.Get("X-Test-Daily"))
	if v, err := strconv.Atoi(h.Get("X-Test-Daily-Remaining")); err == nil {
		ri.DailyRemaining = v
	}
	return ri
}

// run makes n calls from workers goroutines sharing h.
func run(h *HTTP, url string, n, workers int) {
	var next atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int32(n) {
				h.Do(context.Background(), "pull", "GET", url, nil, nil)
			}
		}()
	}
	wg.Wait()
}

// The budget's window, whatever the limit, never lets more than limit-1
// requests into any closed window of the limit's, and its sustained rate
// stays within 5% of the limit for the limits Tandem meets (HubSpot's 100
// or 190 per 10s).
func TestPace(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, l := range []RateLimit{{1, time.Second}, {2, time.Second}, {20, 200 * time.Millisecond}, {100, 10 * time.Second}, {190, 10 * time.Second}, {500, time.Minute}} {
		var w window
		w.n, w.per = pace(l)
		// Requests asking at every millisecond for five windows: each
		// leaves at the slot booked for it.
		var slots []time.Time
		for now := t0; len(slots) < 5*l.Requests; now = now.Add(time.Millisecond) {
			slots = append(slots, w.book(now))
		}
		slices.SortFunc(slots, time.Time.Compare)
		for i, s := range slots {
			// The most slots in the closed window [s, s+Per].
			j, _ := slices.BinarySearchFunc(slots, s.Add(l.Per+1), time.Time.Compare)
			if most, want := j-i, max(l.Requests-1, 1); most > want {
				t.Fatalf("%d per %v: %d slots in the window from %v, want at most %d", l.Requests, l.Per, most, s.Sub(t0), want)
			}
		}
		// A short pass goes at once: the first window is a burst.
		if first := slots[max(l.Requests-2, 0)]; l.Requests > 2 && first.Sub(t0) > time.Duration(l.Requests)*time.Millisecond {
			t.Errorf("%d per %v: the %dth request waited until %v", l.Requests, l.Per, l.Requests-1, first.Sub(t0))
		}
		if l.Requests >= 100 {
			if got, limit := w.rate(), float64(l.Requests)/l.Per.Seconds(); got < limit/1.05 {
				t.Errorf("%d per %v: paced at %.2f/s, more than 5%% under the limit %.2f/s", l.Requests, l.Per, got, limit)
			}
		}
	}
}

// A slot given back is free for the next request.
func TestWindowCancel(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	w := window{n: 2, per: time.Second}
	w.book(t0)
	w.book(t0)
	third := w.book(t0)
	if want := t0.Add(time.Second); !third.Equal(want) {
		t.Fatalf("third slot %v, want a window later", third.Sub(t0))
	}
	w.cancel(third)
	if again := w.book(t0); !again.Equal(third) {
		t.Errorf("after the cancel: %v, want the slot given back (%v)", again.Sub(t0), third.Sub(t0))
	}
	if none := (&window{}).book(t0); !none.Equal(t0) {
		t.Errorf("unlimited: %v", none)
	}
}

// Zero 429s from a strict rolling window over three windows, with four
// goroutines sharing the budget. The same load without a budget is refused,
// which shows the server is strict.
func TestBudgetKeepsUnderRollingWindow(t *testing.T) {
	const limit, window = 20, 500 * time.Millisecond
	// The server counts its window from when requests arrive, the budget
	// from when they leave: on a loaded machine (go test runs packages side
	// by side) a request held up by the scheduler arrives just before the
	// next. The server's window is a fifth shorter to leave room for that,
	// still far under what an unpaced client sends (refused below).
	srv := newWindowServer(t, limit, window*4/5, false)
	h := NewHTTP(fast(HTTPOptions{RetryMax: -1, Rate: RateLimit{Requests: limit, Per: window}}))
	run(h, srv.URL, 3*limit, 4)
	if srv.refused.Load() != 0 || srv.served.Load() != 3*limit {
		t.Errorf("with a budget: %d served, %d refused; want %d served, none refused", srv.served.Load(), srv.refused.Load(), 3*limit)
	}
	if hl := h.Health(); hl.RateSource != "config" || hl.Rate != paceRate(RateLimit{limit, window}) {
		t.Errorf("health = %+v", hl)
	}

	srv = newWindowServer(t, limit, window, false)
	run(NewHTTP(fast(HTTPOptions{RetryMax: -1})), srv.URL, 3*limit, 4)
	if srv.refused.Load() == 0 {
		t.Errorf("without a budget nothing was refused: the server is not strict")
	}
}

// A server whose headers say a lower limit than configured: the budget
// follows the headers from the first response on.
func TestBudgetCorrectedFromHeaders(t *testing.T) {
	const limit, window = 10, 200 * time.Millisecond
	srv := newWindowServer(t, limit, window, true)
	h := NewHTTP(fast(HTTPOptions{RetryMax: -1, Rate: RateLimit{Requests: 1000, Per: time.Second}, RateHeaders: testHeaders}))
	if hl := h.Health(); hl.RateSource != "config" || hl.Rate <= 900 {
		t.Fatalf("before any response: %+v", hl)
	}
	run(h, srv.URL, 4*limit, 1)
	if srv.refused.Load() != 0 {
		t.Errorf("%d refused, want none", srv.refused.Load())
	}
	hl := h.Health()
	if hl.RateSource != "headers" || hl.Rate != paceRate(RateLimit{limit, window}) || hl.RateSince.IsZero() {
		t.Errorf("after: %+v", hl)
	}
	if hl.Limits == nil || hl.Limits.Limit != limit || hl.Limits.WindowSeconds != 0.2 || hl.Limits.Remaining < 0 {
		t.Errorf("limits seen: %+v", hl.Limits)
	}
}

// Remaining 0 means someone else spends the window too: every call waits
// until it has passed.
func TestBudgetHoldsWhenWindowSpent(t *testing.T) {
	const window = 300 * time.Millisecond
	var mu sync.Mutex
	var spentUntil time.Time
	var served, refused atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		w.Header().Set("X-Test-Limit", "1000")
		w.Header().Set("X-Test-Window-Ms", strconv.Itoa(int(window/time.Millisecond)))
		if now.Before(spentUntil) {
			refused.Add(1)
			w.Header().Set("X-Test-Remaining", "0")
			w.WriteHeader(429)
			return
		}
		remaining := "500"
		if served.Add(1) == 1 {
			// Another client has spent the window.
			spentUntil, remaining = now.Add(window), "0"
		}
		w.Header().Set("X-Test-Remaining", remaining)
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	h := NewHTTP(fast(HTTPOptions{RetryMax: -1, RateHeaders: testHeaders}))
	if _, err := h.Do(context.Background(), "pull", "GET", srv.URL, nil, nil); err != nil {
		t.Fatal(err)
	}
	if hl := h.Health(); hl.HeldUntil.IsZero() || !strings.Contains(hl.HeldWhy, "window is spent") {
		t.Errorf("not held: %+v", hl)
	}
	run(h, srv.URL, 5, 2)
	if refused.Load() != 0 || served.Load() != 6 {
		t.Errorf("%d served, %d refused; want 6 served, none refused", served.Load(), refused.Load())
	}
}

// A 429's Retry-After holds every call of the system, not only the one
// that met it; a call that cannot wait that long fails at once.
func TestBudgetHeldByRetryAfter(t *testing.T) {
	srv := newScripted(t, reply(429, "Retry-After", "30"), reply(200))
	h := NewHTTP(fast(HTTPOptions{RetryMax: -1, ReadTimeout: 5 * time.Second}))
	resp, err := h.Do(context.Background(), "pull", "GET", srv.URL, nil, nil)
	if err != nil || resp.Status != 429 {
		t.Fatalf("first call: %v %v", resp, err)
	}
	_, err = h.Do(context.Background(), "pull", "GET", srv.URL, nil, nil)
	e := asError(t, err)
	if e.Code != "RETRY_LATER" || !e.Retryable || !strings.Contains(e.Message, "asked to wait 30s") {
		t.Errorf("second call: %v", err)
	}
	if srv.n.Load() != 1 {
		t.Errorf("%d requests, want 1", srv.n.Load())
	}
	// Never sent: the breaker learnt nothing from it.
	if hl := h.Health(); hl.Failures != 1 {
		t.Errorf("failures = %d, want 1 (the 429 only)", hl.Failures)
	}
}

// A budget slot later than the call's deadline fails at once.
func TestBudgetSlotPastDeadline(t *testing.T) {
	srv := newScripted(t, reply(200))
	h := NewHTTP(fast(HTTPOptions{Rate: RateLimit{Requests: 2, Per: time.Hour}, ReadTimeout: time.Second}))
	if _, err := h.Do(context.Background(), "pull", "GET", srv.URL, nil, nil); err != nil {
		t.Fatal(err)
	}
	_, err := h.Do(context.Background(), "pull", "GET", srv.URL, nil, nil)
	if e := asError(t, err); e.Code != "RETRY_LATER" || !e.Retryable || !strings.Contains(e.Message, "no slot in the rate budget") {
		t.Errorf("err = %v", err)
	}
	if srv.n.Load() != 1 {
		t.Errorf("%d requests, want 1", srv.n.Load())
	}
}

// dailyServer tells a daily quota of 100 with what the test leaves of it,
// and counts requests by method.
type dailyServer struct {
	*httptest.Server
	remaining    atomic.Int32
	reads, posts atomic.Int32
}

func newDailyServer(t *testing.T) *dailyServer {
	s := &dailyServer{}
	s.remaining.Store(50)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			s.reads.Add(1)
		} else {
			s.posts.Add(1)
		}
		w.Header().Set("X-Test-Daily", "100")
		w.Header().Set("X-Test-Daily-Remaining", fmt.Sprint(s.remaining.Load()))
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(s.Close)
	return s
}

func TestDailyReserve(t *testing.T) {
	srv := newDailyServer(t)
	h := NewHTTP(fast(HTTPOptions{RateHeaders: testHeaders}))
	ctx := context.Background()
	read := func() error { _, err := h.Do(ctx, "pull", "GET", srv.URL, nil, nil); return err }
	write := func() error { _, err := h.Do(ctx, "apply", "POST", srv.URL, nil, []byte(`{}`)); return err }
	bulk := func() error { _, err := h.DoKind(ctx, Bulk, "bulk", "PUT", srv.URL, nil, []byte(`{}`)); return err }
	refused := func(err error, says string) bool {
		var e = asError(t, err)
		return e.Code == "DAILY_QUOTA" && e.Retryable && strings.Contains(e.Message, says)
	}

	if err := write(); err != nil || h.Health().WritesPaused {
		t.Fatalf("write with 50 of 100 left: %v", err)
	}
	srv.remaining.Store(5) // 5% of 100: the reserve
	if err := read(); err != nil {
		t.Fatal(err)
	}
	if err := write(); err == nil || !refused(err, "5 of 100 left") {
		t.Errorf("write at the reserve: %v", err)
	}
	if err := bulk(); err == nil || !refused(err, "writes resume") {
		t.Errorf("bulk at the reserve: %v", err)
	}
	if srv.posts.Load() != 1 {
		t.Errorf("%d writes reached the server, want 1", srv.posts.Load())
	}
	if hl := h.Health(); !hl.WritesPaused || hl.ReadsPaused || hl.QuotaSince.IsZero() {
		t.Errorf("health at the reserve: %+v", hl)
	}
	// Reads go on until nothing is left.
	srv.remaining.Store(0)
	if err := read(); err != nil {
		t.Fatalf("read at the reserve: %v", err)
	}
	if err := read(); err == nil || !refused(err, "spent") {
		t.Errorf("read with none left: %v", err)
	}
	if srv.reads.Load() != 2 || !h.Health().ReadsPaused {
		t.Errorf("%d reads reached the server, want 2; %+v", srv.reads.Load(), h.Health())
	}
	// A new day: once the pause has gone a while without news, one call
	// goes to look, and finds the quota back.
	srv.remaining.Store(100)
	h.budget.mu.Lock()
	h.budget.dailyAt = time.Now().Add(-2 * defaultProbe)
	h.budget.mu.Unlock()
	if err := read(); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if err := write(); err != nil {
		t.Errorf("write with the quota back: %v", err)
	}
	if hl := h.Health(); hl.WritesPaused || hl.ReadsPaused || hl.Limits == nil || hl.Limits.DailyRemaining != 100 {
		t.Errorf("health with the quota back: %+v", hl)
	}
}

// A writer alone, at the reserve, learns the quota is back through its one
// probe per interval.
func TestDailyReserveProbe(t *testing.T) {
	srv := newDailyServer(t)
	srv.remaining.Store(2)
	h := NewHTTP(fast(HTTPOptions{RateHeaders: testHeaders}))
	h.Do(context.Background(), "apply", "POST", srv.URL, nil, []byte(`{}`))
	srv.remaining.Store(100)
	if _, err := h.Do(context.Background(), "apply", "POST", srv.URL, nil, []byte(`{}`)); err == nil {
		t.Fatal("write at the reserve was sent")
	}
	h.budget.mu.Lock()
	h.budget.dailyAt = time.Now().Add(-2 * defaultProbe)
	h.budget.mu.Unlock()
	for i := range 2 {
		if _, err := h.Do(context.Background(), "apply", "POST", srv.URL, nil, []byte(`{}`)); err != nil {
			t.Fatalf("write %d after the probe interval: %v", i, err)
		}
	}
	if srv.posts.Load() != 3 {
		t.Errorf("%d writes sent, want 3", srv.posts.Load())
	}
}

func paceRate(l RateLimit) float64 {
	n, per := pace(l)
	return float64(n) / per.Seconds()
}
