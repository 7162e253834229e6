package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// budget is one system's request budget, taken by every attempt of every
// call of the system (passes, backfills and writers alike), so Tandem slows
// down before the API says 429 rather than after:
//
//   - a token bucket (burst 1) paced just under the API's window, from the
//     configured Rate until the API's own headers tell the real one;
//   - a hold on every call when the API says its window is spent
//     (Remaining 0, or a 429 with Retry-After): someone else is using it;
//   - the daily quota's reserve: writes stop when little is left, so the
//     reads that tell when the quota is back can still go on.
type budget struct {
	lim        *rate.Limiter
	headers    RateHeaders
	reserve    float64
	probeEvery time.Duration // how often a refused call may go anyway to look at the quota
	log        *slog.Logger

	mu        sync.Mutex
	limit     RateLimit // what lim is paced for; zero: unlimited
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
	b := &budget{lim: rate.NewLimiter(rate.Inf, 1), headers: o.RateHeaders, reserve: o.DailyReserve,
		probeEvery: defaultProbe, log: log, source: "none"}
	if b.reserve == 0 {
		b.reserve = 0.05
	}
	if o.Rate.Requests > 0 && o.Rate.Per > 0 {
		b.setRate(o.Rate, "config", time.Now())
	}
	return b
}

// pace is the token rate, with burst 1, that never lets more than
// l.Requests through in any window of l.Per, however the window is placed
// and whether its ends count (a strict rolling window); it is also safe
// against a fixed window or a bucket of that size.
//
// With burst 1, two tokens are at least s = 1/rate apart, so a closed
// window of length W holds at most floor(W/s)+1 of them. With
// s = (W+slack)/(N-1), W/s < N-1, so a window holds at most N-1 of ours:
// one below the limit, and Remaining 0 means another client shares the
// budget (see observe). The slack covers the jitter between taking a token
// and the request reaching the API: W/50, at least 5ms. For HubSpot's 100
// per 10s that is 9.7 requests/s, 97% of the limit.
func pace(l RateLimit) rate.Limit {
	slack := max(l.Per/50, 5*time.Millisecond)
	n := l.Requests - 1
	if n < 1 {
		n = 1 // one request per window: one per window and slack
	}
	return rate.Every((l.Per + slack) / time.Duration(n))
}

// setRate paces the limiter for l; b.mu held or b not yet shared.
func (b *budget) setRate(l RateLimit, source string, now time.Time) {
	b.lim.SetLimitAt(now, pace(l))
	if b.limit != l || b.source != source {
		b.log.Info("rate budget", "source", source, "requests", l.Requests, "per", l.Per, "rate", float64(pace(l)))
	}
	b.limit, b.source, b.rateSince = l, source, now
}

// wait blocks until an attempt may leave: after any hold, with a token.
// It returns at once with a *waitError when that is later than ctx's
// deadline, rather than sleep into it.
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
		r := b.lim.ReserveN(now, 1) // burst 1: always possible
		if d := r.DelayFrom(now); d > 0 {
			if err := sleepUntil(ctx, now, now.Add(d), "no slot in the rate budget"); err != nil {
				r.CancelAt(time.Now())
				return err
			}
		}
		// A hold may have begun while we waited for the token: wait it
		// out and take a fresh token, or all held calls would leave at
		// once when it ends.
		if until, _ := b.held(); !time.Now().Before(until) {
			return nil
		}
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
