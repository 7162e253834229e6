package rest

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"tandem/connectors"
)

// rateHeaders reads the rate-limit headers REST APIs send: the IETF
// RateLimit-Limit / -Remaining / -Reset (and RateLimit-Policy's "w="
// window), or the older X-RateLimit-* ones. The window is the policy's,
// else the reset of a full window, else rate_window from the config
// (default a minute).
func rateHeaders(window time.Duration) connectors.RateHeaders {
	if window <= 0 {
		window = time.Minute
	}
	return func(h http.Header) connectors.RateInfo {
		ri := connectors.RateInfo{Remaining: -1, DailyRemaining: -1}
		get := func(name string) string {
			if v := h.Get("RateLimit-" + name); v != "" {
				return v
			}
			return h.Get("X-RateLimit-" + name)
		}
		limit, ok1 := number(get("Limit"))
		if !ok1 || limit <= 0 {
			return ri
		}
		ri.Limit, ri.Window = limit, window
		if rem, ok := number(get("Remaining")); ok && rem >= 0 {
			ri.Remaining = rem
		}
		if w := policyWindow(h.Get("RateLimit-Policy")); w > 0 {
			ri.Window = w
		}
		return ri
	}
}

// number reads the first integer of a header value ("100", "100, 100;w=60").
func number(v string) (int, bool) {
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, ",;"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// policyWindow is the w= of a RateLimit-Policy ("100;w=60").
func policyWindow(v string) time.Duration {
	for _, part := range strings.Split(v, ";") {
		if k, val, ok := strings.Cut(strings.TrimSpace(part), "="); ok && k == "w" {
			if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return 0
}
