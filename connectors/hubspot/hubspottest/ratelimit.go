package hubspottest

import (
	"fmt"
	"net/http"
	"time"
)

// RateLimit is a request rate: Requests per rolling Per. It has the fields
// of connectors.RateLimit, so a test can convert one into the other and
// give the client and the emulator the same limit.
type RateLimit struct {
	Requests int
	Per      time.Duration
}

// What a private app on a paid portal gets, and what the headers show when
// no limit is set.
const (
	defaultRateMax  = 190
	defaultInterval = 10 * time.Second
	defaultDailyMax = 1_000_000
	defaultSearch   = time.Second // the search limit is per second
)

// limits is the portal's rate-limit state, kept under the emulator's lock
// and measured on Options.LimitClock.
type limits struct {
	burst      RateLimit // the app's rolling window (TEN_SECONDLY_ROLLING)
	enforce    bool      // burst is enforced, not only reported
	search     RateLimit // the search endpoints' own limit; zero: none
	daily      int       // requests per day; 0: reported, not enforced
	tz         *time.Location
	retryAfter bool

	window   []time.Time // requests accepted in the burst window, oldest first
	searches []time.Time // searches accepted in the search window
	day      time.Time   // the midnight that began the day counted in today
	today    int
}

func newLimits(o Options) *limits {
	l := &limits{burst: o.RateLimit, enforce: o.RateLimit.Requests > 0, search: o.SearchLimit,
		daily: o.DailyLimit, tz: o.TimeZone, retryAfter: o.RetryAfter}
	if l.burst.Requests <= 0 {
		l.burst.Requests = defaultRateMax
	}
	if l.burst.Per <= 0 {
		l.burst.Per = defaultInterval
	}
	if l.search.Requests > 0 && l.search.Per <= 0 {
		l.search.Per = defaultSearch
	}
	if l.tz == nil {
		l.tz = time.UTC
	}
	return l
}

// within drops the times that left the window ending at now.
func within(ts []time.Time, now time.Time, per time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= per {
		i++
	}
	return ts[i:]
}

// admit counts one authenticated request against the daily allowance, the
// app's rolling window and, for a search, the search limit. It returns the
// headers HubSpot sends with the answer and, when a limit is spent, the
// 429 to answer with. HubSpot documents that search responses carry none
// of the rate-limit headers, so a search gets none.
func (l *limits) admit(now time.Time, search bool) (*reply, http.Header) {
	y, m, d := now.In(l.tz).Date()
	if midnight := time.Date(y, m, d, 0, 0, 0, 0, l.tz); !midnight.Equal(l.day) {
		// HubSpot resets the daily count at midnight in the portal's zone.
		l.day, l.today = midnight, 0
	}
	l.window = within(l.window, now, l.burst.Per)
	if search && l.search.Requests > 0 {
		l.searches = within(l.searches, now, l.search.Per)
	}

	var rep *reply
	var wait time.Duration
	switch {
	case l.daily > 0 && l.today >= l.daily:
		rep = rateLimited("DAILY", "You have reached your daily limit.")
		wait = l.day.AddDate(0, 0, 1).Sub(now)
	case l.enforce && len(l.window) >= l.burst.Requests:
		rep = rateLimited("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")
		wait = l.burst.Per - now.Sub(l.window[0])
	case search && l.search.Requests > 0 && len(l.searches) >= l.search.Requests:
		// What HubSpot's own client recognises as the search limit.
		rep = rateLimited("SECONDLY", "You have reached your secondly limit.")
		wait = l.search.Per - now.Sub(l.searches[0])
	default:
		l.window = append(l.window, now)
		if search && l.search.Requests > 0 {
			l.searches = append(l.searches, now)
		}
		l.today++
	}

	h := http.Header{}
	if !search {
		dailyMax := l.daily
		if dailyMax <= 0 {
			dailyMax = defaultDailyMax
		}
		h.Set("X-HubSpot-RateLimit-Daily", fmt.Sprint(dailyMax))
		h.Set("X-HubSpot-RateLimit-Daily-Remaining", fmt.Sprint(max(0, dailyMax-l.today)))
		h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", fmt.Sprint(l.burst.Per.Milliseconds()))
		h.Set("X-HubSpot-RateLimit-Max", fmt.Sprint(l.burst.Requests))
		h.Set("X-HubSpot-RateLimit-Remaining", fmt.Sprint(max(0, l.burst.Requests-len(l.window))))
		// The per-second pair is deprecated and no longer enforced, but
		// HubSpot still sends it: the window's limit scaled to a second.
		secondly := max(1, int(int64(l.burst.Requests)*int64(time.Second)/int64(l.burst.Per)))
		h.Set("X-HubSpot-RateLimit-Secondly", fmt.Sprint(secondly))
		h.Set("X-HubSpot-RateLimit-Secondly-Remaining", fmt.Sprint(max(0, secondly-len(within(l.window, now, time.Second)))))
	}
	if rep != nil && l.retryAfter {
		rep.header = http.Header{"Retry-After": {fmt.Sprint(int((max(wait, 0) + time.Second - 1) / time.Second))}}
	}
	return rep, h
}

// rateLimited is HubSpot's 429 body. Recorded ones carry errorType and
// policyName and no category; this one keeps the category the published
// spec requires of every error, so the spec check passes.
func rateLimited(policy, message string) *reply {
	rep := fail(http.StatusTooManyRequests, "RATE_LIMITS", "%s", message)
	body := rep.body.(*apiError)
	body.ErrorType, body.PolicyName = "RATE_LIMIT", policy
	return rep
}
