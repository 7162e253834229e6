package salesforce

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// FuzzLimitInfo: limitInfo never panics; it reads a daily quota only (no
// rate, no window), as a pair: a limit above 0 and a remainder from 0 to
// the limit, both written in a header value; a second value can only
// make the remainder tighter; and a well-formed "api-usage=U/L" reads as
// L and L-U (0 when over). Seeds: the f.Add calls; CI runs it for a
// bounded count (.ci/run).
func FuzzLimitInfo(f *testing.F) {
	for _, s := range [][2]string{
		{"api-usage=18/5000", ""},
		{"api-usage=10018/100000; api-bursts=1/750", ""},
		{"api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)", ""},
		{"per-app-api-usage=249/250(appName=x); api-usage=4000/5000", "api-usage=1/100"},
		{"api-usage=15120/15000", ""},
		{" api-usage = 5/10 ", "api-usage=5/0"},
		{"api-usage=x/10;api-usage=-1/10;api-usage=5", "something-else=1/2"},
		{"api-usage=+5/+10", "api-usage=9223372036854775807/9223372036854775807"},
		{"api-usage=0/9223372036854775808", "per-app-api-usage=1/2(appName=a;b)"},
		{";;=;api-usage=/;per-app-api-usage=(", "api-usage=1/2/3"},
		{"api-usage=1/010", "api-usage=\t2/10\u00a0"},
	} {
		f.Add(s[0], s[1], 18, 5000)
	}
	f.Fuzz(func(t *testing.T, v1, v2 string, used, limit int) {
		h := http.Header{}
		h.Add("Sforce-Limit-Info", v1)
		one := limitInfo(h)
		h.Add("Sforce-Limit-Info", v2)
		two := limitInfo(h)
		for _, ri := range []struct {
			got   int
			left  int
			rate  int
			avail int
			text  string
		}{{one.DailyLimit, one.DailyRemaining, one.Limit + int(one.Window), one.Remaining, v1}, {two.DailyLimit, two.DailyRemaining, two.Limit + int(two.Window), two.Remaining, v1 + "\n" + v2}} {
			switch {
			case ri.rate != 0 || ri.avail != -1:
				t.Fatalf("%q: a rate or a remainder in a window (%d, %d): Salesforce gives neither", ri.text, ri.rate, ri.avail)
			case (ri.got > 0) != (ri.left >= 0) || ri.got < 0 || ri.left < -1:
				t.Fatalf("%q: daily limit %d and remainder %d are not a pair", ri.text, ri.got, ri.left)
			case ri.left > ri.got:
				t.Fatalf("%q: remainder %d over the limit %d", ri.text, ri.left, ri.got)
			case ri.got > 0 && !strings.Contains(ri.text, strconv.Itoa(ri.got)): // leading zeros and a + sign aside
				t.Fatalf("%q: a limit %d the header does not give", ri.text, ri.got)
			}
		}
		if one.DailyRemaining >= 0 && (two.DailyRemaining < 0 || two.DailyRemaining > one.DailyRemaining) {
			t.Fatalf("%q then %q: remainder %d, then %d: a second value made it looser", v1, v2, one.DailyRemaining, two.DailyRemaining)
		}
		if used < 0 || limit <= 0 {
			return
		}
		h = http.Header{"Sforce-Limit-Info": {fmt.Sprintf("api-usage=%d/%d", used, limit)}}
		if ri := limitInfo(h); ri.DailyLimit != limit || ri.DailyRemaining != max(limit-used, 0) {
			t.Fatalf("%q read as %+v", h.Get("Sforce-Limit-Info"), ri)
		}
	})
}
