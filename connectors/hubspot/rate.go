package hubspot

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"tandem/connectors"
)

// defaultRate is what HubSpot allows a private app on a Free or Starter
// portal, the lowest tier: 100 requests per 10 seconds (Professional and
// Enterprise allow 190). A portal with more sets rate_limit, or is sped up
// by the X-HubSpot-RateLimit-* headers of its own responses.
var defaultRate = connectors.RateLimit{Requests: 100, Per: 10 * time.Second}

// defaultSearchRate is the search endpoints' own limit, on top of the
// portal's: HubSpot documents five requests a second per account (it was
// four per token before). Search responses carry no rate-limit headers, so
// the connector keeps to it by itself.
var defaultSearchRate = connectors.RateLimit{Requests: 5, Per: time.Second}

// searchPace is the pace, with a burst of 1, that lets at most l.Requests
// searches into any window of l.Per wherever the window is placed (a
// strict rolling window). A search waits for this pace and then for the
// portal's budget, which can hold one search back while the next goes
// straight through: so searches are spaced as for one fewer than allowed,
// (Per + slack) / (Requests - 1), and a delayed one still cannot bring a
// window over. For the default that is 3.9 a second.
func searchPace(l connectors.RateLimit) rate.Limit {
	slack := max(l.Per/50, 5*time.Millisecond)
	return rate.Every((l.Per + slack) / time.Duration(max(1, l.Requests-1)))
}

// maxIntervalMS bounds X-HubSpot-RateLimit-Interval-Milliseconds: a day.
const maxIntervalMS = 24 * 60 * 60 * 1000

// defaultDailyReserve is the share of the daily quota kept back for
// everything else that uses the portal's API: below it, writes stop.
const defaultDailyReserve = 0.05

// rateHeaders reads HubSpot's rate-limit headers:
//
//	X-HubSpot-RateLimit-Max                    requests per interval
//	X-HubSpot-RateLimit-Remaining              left in the current interval
//	X-HubSpot-RateLimit-Interval-Milliseconds  the interval (10000)
//	X-HubSpot-RateLimit-Daily                  requests per day
//	X-HubSpot-RateLimit-Daily-Remaining        left today
//
// Older responses carry X-HubSpot-RateLimit-Secondly and
// -Secondly-Remaining instead of the first three; they are read as a
// one-second interval. A header that is absent or not a count is "not
// given": Limit and Window only ever come as a pair, since a ceiling
// without its interval says nothing about a rate. OAuth apps get no daily
// headers (they have no daily limit), and the search endpoints' responses
// may carry none at all; both read as "not given".
//
// An interval past a day is not given either: HubSpot's is ten seconds,
// and the daily quota has headers of its own. Without the bound a huge
// value overflows time.Duration into a negative window, and a merely
// large one would hold every call for that long on "Remaining: 0".
func rateHeaders(h http.Header) connectors.RateInfo {
	ri := connectors.RateInfo{Remaining: -1, DailyRemaining: -1}
	count := func(name string) (int, bool) {
		v := strings.TrimSpace(h.Get(name))
		n, err := strconv.Atoi(v)
		return n, err == nil && n >= 0
	}
	max, okMax := count("X-HubSpot-RateLimit-Max")
	ms, okMS := count("X-HubSpot-RateLimit-Interval-Milliseconds")
	if okMax && max > 0 && okMS && ms > 0 && ms <= maxIntervalMS {
		ri.Limit, ri.Window = max, time.Duration(ms)*time.Millisecond
	}
	if n, ok := count("X-HubSpot-RateLimit-Remaining"); ok {
		ri.Remaining = n
	}
	if ri.Limit == 0 && ri.Remaining < 0 {
		if n, ok := count("X-HubSpot-RateLimit-Secondly"); ok && n > 0 {
			ri.Limit, ri.Window = n, time.Second
			if r, ok := count("X-HubSpot-RateLimit-Secondly-Remaining"); ok {
				ri.Remaining = r
			}
		}
	}
	if n, ok := count("X-HubSpot-RateLimit-Daily"); ok && n > 0 {
		ri.DailyLimit = n
	}
	if n, ok := count("X-HubSpot-RateLimit-Daily-Remaining"); ok {
		ri.DailyRemaining = n
	}
	return ri
}
