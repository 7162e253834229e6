package salesforce

import (
	"net/http"
	"strconv"
	"strings"

	"tandem/connectors"
)

// limitInfo reads Salesforce's Sforce-Limit-Info header, sent on every
// REST call, into the shared client's terms:
//
//	Sforce-Limit-Info: api-usage=18/5000
//	Sforce-Limit-Info: api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)
//
// api-usage is the org's calls used / allowed in the rolling 24 hours;
// per-app-api-usage, when the org sets the connected app a quota, is the
// app's own, and the tighter of the two is the one that counts. Other
// entries (api-bursts=…) are left alone. Salesforce has no per-second or
// per-minute limit for REST calls, so Limit and Window stay unset: a rate
// to keep to comes from the config, if any.
//
// Usage can pass the allowance (Salesforce lets an org run a little over
// before it refuses calls); the remainder is then 0, not negative.
func limitInfo(h http.Header) connectors.RateInfo {
	info := connectors.RateInfo{Remaining: -1, DailyRemaining: -1}
	for _, v := range h.Values("Sforce-Limit-Info") {
		for _, part := range strings.Split(v, ";") {
			name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || name != "api-usage" && name != "per-app-api-usage" {
				continue
			}
			val, _, _ = strings.Cut(val, "(") // (appName=…)
			used, limit, ok := usage(val)
			if !ok {
				continue
			}
			left := max(limit-used, 0)
			if info.DailyRemaining < 0 || left < info.DailyRemaining {
				info.DailyLimit, info.DailyRemaining = limit, left
			}
		}
	}
	return info
}

// usage parses "used/limit".
func usage(s string) (used, limit int, ok bool) {
	u, l, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, 0, false
	}
	used, err1 := strconv.Atoi(u)
	limit, err2 := strconv.Atoi(l)
	if err1 != nil || err2 != nil || used < 0 || limit <= 0 {
		return 0, 0, false
	}
	return used, limit, true
}
