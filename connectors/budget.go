package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"
)

// budget is one system's request budget, taken by every attempt of every
// call of the system (passes, backfills and writers alike), so Tandem slows
// down before the API says 429 rather than after:
//
//   - a rolling window of the API's size (paced), from the configured Rate
//     until the API's own headers tell the real one: a short pass spends
//     the window at once, a long one goes at the window's rate;
//   - a hold on every call when the API says its window is spent
//     (Remaining 0, or a 429 with Retry-After): someone else is using it;
//   - the daily quota's reserve: writes stop when little is left, so the
//     reads that tell when the quota is back can still go on.
type budget struct {
	headers    RateHeaders
	reserve    float64
	probeEvery time.Duration // how often a refused call may go anyway to look at the quota
	log        *slog.Logger

	mu        sync.Mutex
	win       window    // the slots booked
	limit     RateLimit // what win is paced for; zero: unlimited
	source    string    // of limit: "none", "config" or "headers"
	rateSince time.Time
	seen      RateInfo // the last RateInfo read from a response
	seenAt    time.Time
	holdUntil time.Time // no attempt leaves before
	holdWhy   string
	// The daily quota: the last DailyRemaining of DailyLimit read, and
	// whether writes (at the reserve) or every call (spent) wait.
	dailyLimit, dailyRemaining int
	dailyAt                    time.Time // when a response last told them
	writesPaused, readsPaused  bool
	quotaSince                 time.Time // when the pause last changed
}

// defaultProbe is how long a quota pause lasts without news before one
// call goes anyway, to find out whether the quota is back (a new day):
// without it a client that only writes would never learn.
const defaultProbe = time.Minute

func newBudget(o HTTPOptions, log *slog.Logger) *budget {
	b := &budget{headers: o.RateHeaders, reserve: o.DailyReserve, probeEvery: defaultProbe, log: log, source: "none"}
	if b.reserve == 0 {
		b.reserve = 0.05
	}
	if o.Rate.Requests > 0 && o.Rate.Per > 0 {
		b.setRate(o.Rate, "config", time.Now())
	}
	return b
}

// pace is the window the budget keeps to for a limit of l.Requests per
// l.Per: at most n requests leave in any span of per. It never lets more
// than l.Requests through in any window of l.Per, however the window is
// placed and whether its ends count (a strict rolling window); so it is
// also safe against a fixed window or a bucket of that size.
//
// n is one below the limit, so Remaining 0 means another client shares the
// budget (see observe); per is the window and a slack that covers the
// jitter between booking a slot and the request reaching the API: W/50, at
// least 5ms. For HubSpot's 100 per 10s that is 99 per 10.2s: the first 99
// calls at once, then 9.7 a second.
func pace(l RateLimit) (n int, per time.Duration) {
	return max(l.Requests-1, 1), l.Per + max(l.Per/50, 5*time.Millisecond)
}

// window books the times requests leave so that no span of per holds
// more than n of them. A token bucket (x/time/rate) cannot do this
// without giving up half the rate: a burst b and a rate r let b + r·per
// through one window, so a burst costs as much rate. n of 0: unlimited.
type window struct {
	n    int
	per  time.Duration
	left []time.Time // the slots booked, ascending, from a window before the last booking's time on
}

// book books the earliest slot at or after now and returns it.
func (w *window) book(now time.Time) time.Time {
	if w.n <= 0 {
		return now
	}
	t := now
	if len(w.left) >= w.n {
		// The slot n back must be a whole window behind.
		t = later(t, w.left[len(w.left)-w.n].Add(w.per))
	}
	i, _ := slices.BinarySearchFunc(w.left, t, time.Time.Compare)
	w.left = slices.Insert(w.left, i, t)
	// A slot a whole window before now bounds no later one.
	old := 0
	for old < len(w.left)-w.n && !w.left[old].Add(w.per).After(now) {
		old++
	}
	w.left = slices.Delete(w.left, 0, old)
	return t
}

// cancel gives back a slot booked and not used.
func (w *window) cancel(t time.Time) {
	if i, ok := slices.BinarySearchFunc(w.left, t, time.Time.Compare); ok {
		w.left = slices.Delete(w.left, i, i+1)
	}
}

// rate is the window's sustained rate in requests a second; 0: unlimited.
func (w *window) rate() float64 {
	if w.n <= 0 {
		return 0
	}
	return float64(w.n) / w.per.Seconds()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// setRate paces the window for l; b.mu held or b not yet shared.
func (b *budget) setRate(l RateLimit, source string, now time.Time) {
	b.win.n, b.win.per = pace(l)
	if b.limit != l || b.source != source {
		b.log.Info("rate budget", "source", source, "requests", l.Requests, "per", l.Per, "window", b.win.n, "of", b.win.per, "rate", b.win.rate())
	}
	b.limit, b.source, b.rateSince = l, source, now
}

// wait blocks until an attempt may leave: after any hold, in a slot of
// the window. It returns at once with a *waitError when that is later than
// ctx's deadline, rather than sleep into it.
func (b *budget) wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := time.Now()
		until, why := b.held()
		if now.Before(until) {
			if err := sleepUntil(ctx, now, until, why); err != nil {
				return err
			}
			continue
		}
		b.mu.Lock()
		slot := b.win.book(now)
		b.mu.Unlock()
		if slot.After(now) {
			if err := sleepUntil(ctx, now, slot, "no slot in the rate budget"); err != nil {
				b.mu.Lock()
				b.win.cancel(slot)
				b.mu.Unlock()
				return err
			}
		}
		// A hold may have begun while we waited for the slot: wait it
		// out and book a fresh one, or all held calls would leave at
		// once when it ends.
		if until, _ := b.held(); !time.Now().Before(until) {
			return nil
		}
		b.mu.Lock()
		b.win.cancel(slot)
		b.mu.Unlock()
	}
}

func (b *budget) held() (time.Time, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.holdUntil, b.holdWhy
}

// sleepUntil sleeps until t, or fails at once if ctx's deadline comes first.
func sleepUntil(ctx context.Context, now, t time.Time, why string) error {
	if dl, ok := ctx.Deadline(); ok && t.After(dl) {
		return &waitError{until: t, why: why + ", past the call's deadline"}
	}
	timer := time.NewTimer(t.Sub(now))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// observe corrects the budget from one response: its rate-limit headers,
// and a 429's Retry-After.
func (b *budget) observe(resp *http.Response, now time.Time) {
	info := RateInfo{Remaining: -1, DailyRemaining: -1}
	if b.headers != nil {
		info = b.headers(resp.Header)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.headers != nil && (info.Limit > 0 || info.Remaining >= 0 || info.DailyLimit > 0 || info.DailyRemaining >= 0) {
		b.seen, b.seenAt = info, now
	}
	if info.Limit > 0 && info.Window > 0 {
		if l := (RateLimit{Requests: info.Limit, Per: info.Window}); l != b.limit || b.source != "headers" {
			b.setRate(l, "headers", now)
		}
	}
	window := info.Window
	if window <= 0 {
		window = b.limit.Per
	}
	if info.Remaining == 0 && window > 0 {
		// Our own pace leaves one request of every window unused, so the
		// window is spent by someone else too: wait until it has passed.
		b.hold(now.Add(window), fmt.Sprintf("the API says its %v window is spent", window))
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		if d, ok := RetryAfter(resp.Header.Get("Retry-After"), now); ok && d > 0 {
			b.hold(now.Add(d), fmt.Sprintf("the API answered 429 and asked to wait %v", d))
		}
	}
	if info.DailyLimit > 0 && info.DailyRemaining >= 0 {
		b.dailyLimit, b.dailyRemaining, b.dailyAt = info.DailyLimit, info.DailyRemaining, now
		writes := float64(info.DailyRemaining) <= b.reserve*float64(info.DailyLimit)
		reads := info.DailyRemaining <= 0
		if writes != b.writesPaused || reads != b.readsPaused {
			b.writesPaused, b.readsPaused, b.quotaSince = writes, reads, now
			switch {
			case reads:
				b.log.Warn("daily API quota spent: calls stop until it is back", "daily_limit", info.DailyLimit)
			case writes:
				b.log.Warn("daily API quota at its reserve: writes stop until it is back", "daily_remaining", info.DailyRemaining, "daily_limit", info.DailyLimit)
			default:
				b.log.Warn("daily API quota back: writes resume", "daily_remaining", info.DailyRemaining, "daily_limit", info.DailyLimit)
			}
		}
	}
}

// hold keeps every attempt back until t; b.mu held.
func (b *budget) hold(t time.Time, why string) {
	if t.After(b.holdUntil) {
		b.holdUntil, b.holdWhy = t, why
		b.log.Warn("rate budget held", "until", t, "reason", why)
	}
}

// admit says why a call of kind may not be sent for the daily quota, or ""
// when it may. Once per probeEvery without news of the quota, one call
// goes anyway, to find out whether it is back.
func (b *budget) admit(kind Kind, now time.Time) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.readsPaused && (!b.writesPaused || kind == Read) {
		return ""
	}
	if now.Sub(b.dailyAt) >= b.probeEvery {
		b.dailyAt = now
		return ""
	}
	if b.readsPaused {
		return fmt.Sprintf("daily API quota spent (%d of %d left): calls resume when it is back", b.dailyRemaining, b.dailyLimit)
	}
	return fmt.Sprintf("daily API quota at its reserve (%d of %d left, %g%% kept for reads): writes resume when it is back",
		b.dailyRemaining, b.dailyLimit, b.reserve*100)
}

// budgetTransport makes every attempt, redirects included, take its turn
// in the budget, and reads the budget's corrections off every response.
type budgetTransport struct {
	next http.RoundTripper
	b    *budget
}

func (t *budgetTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, _ := req.Context().Value(callKey{}).(*call)
	if c != nil {
		c.sent = time.Time{}
	}
	if err := t.b.wait(req.Context()); err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip always closes the body
		}
		return nil, err
	}
	if c != nil {
		c.sent = time.Now()
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		t.b.observe(resp, time.Now())
	}
	return resp, err
}
