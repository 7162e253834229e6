package hubspottest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

const searchBody = `{"filterGroups":[],"sorts":[],"properties":["email"],"limit":10,"after":"0"}`

// rateHeaders is every X-HubSpot-RateLimit-* header of a response.
func rateHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for k, vs := range h {
		if strings.HasPrefix(k, "X-Hubspot-Ratelimit-") {
			out[k] = vs[0]
		}
	}
	return out
}

func TestRateLimitHeaders(t *testing.T) {
	tests := []struct {
		name         string
		opts         Options
		method, path string
		body         any
		want         map[string]string // nil: none at all
	}{
		{"defaults, nothing enforced", Options{}, "GET", "/crm/v3/objects/contacts", nil, map[string]string{
			"X-Hubspot-Ratelimit-Max": "190", "X-Hubspot-Ratelimit-Remaining": "189",
			"X-Hubspot-Ratelimit-Interval-Milliseconds": "10000",
			"X-Hubspot-Ratelimit-Daily":                 "1000000", "X-Hubspot-Ratelimit-Daily-Remaining": "999999",
			"X-Hubspot-Ratelimit-Secondly": "19", "X-Hubspot-Ratelimit-Secondly-Remaining": "18",
		}},
		{"a starter portal's limits", Options{RateLimit: RateLimit{Requests: 100}, DailyLimit: 250_000}, "POST", "/crm/v3/objects/contacts/batch/read",
			`{"inputs":[],"properties":[]}`, map[string]string{
				"X-Hubspot-Ratelimit-Max": "100", "X-Hubspot-Ratelimit-Remaining": "99",
				"X-Hubspot-Ratelimit-Interval-Milliseconds": "10000",
				"X-Hubspot-Ratelimit-Daily":                 "250000", "X-Hubspot-Ratelimit-Daily-Remaining": "249999",
				"X-Hubspot-Ratelimit-Secondly": "10", "X-Hubspot-Ratelimit-Secondly-Remaining": "9",
			}},
		{"another window", Options{RateLimit: RateLimit{Requests: 5, Per: time.Second}}, "GET", "/crm/v3/properties/contacts", nil, map[string]string{
			"X-Hubspot-Ratelimit-Max": "5", "X-Hubspot-Ratelimit-Remaining": "4",
			"X-Hubspot-Ratelimit-Interval-Milliseconds": "1000",
			"X-Hubspot-Ratelimit-Daily":                 "1000000", "X-Hubspot-Ratelimit-Daily-Remaining": "999999",
			"X-Hubspot-Ratelimit-Secondly": "5", "X-Hubspot-Ratelimit-Secondly-Remaining": "4",
		}},
		// HubSpot documents that search responses carry none of them.
		{"search", Options{RateLimit: RateLimit{Requests: 100}, DailyLimit: 10}, "POST", "/crm/v3/objects/contacts/search", searchBody, nil},
		{"search, defaults", Options{}, "POST", "/crm/v3/objects/companies/search", searchBody, nil},
		{"unauthenticated", Options{Token: "other"}, "GET", "/crm/v3/objects/contacts", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := do(t, New(tt.opts), tt.method, tt.path, tt.body)
			if tt.opts.Token == "" && c.status >= 300 {
				t.Fatalf("%d %s", c.status, c.raw)
			}
			got := rateHeaders(c.header)
			if len(got) != len(tt.want) {
				t.Errorf("headers %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// want429 checks HubSpot's 429 body for a policy.
func want429(t *testing.T, c call, policy, message string) {
	t.Helper()
	if c.status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", c.status, c.raw)
	}
	b := c.body
	if b.Get("status").String() != "error" || b.Get("errorType").String() != "RATE_LIMIT" ||
		b.Get("policyName").String() != policy || b.Get("message").String() != message {
		t.Errorf("429 body: %s", c.raw)
	}
	if _, err := uuid.Parse(b.Get("correlationId").String()); err != nil {
		t.Errorf("correlationId: %s", c.raw)
	}
}

func TestRollingWindow(t *testing.T) {
	clk := newClock(0)
	t0 := clk.Now()
	// Now stands still: the window follows LimitClock alone.
	e := New(Options{Now: newClock(0).Now, LimitClock: clk.Now, RateLimit: RateLimit{Requests: 2, Per: 10 * time.Second}})
	steps := []struct {
		at        time.Duration
		status    int
		remaining string
	}{
		{0, 200, "1"},
		{time.Second, 200, "0"},
		{2 * time.Second, 429, "0"},
		{9999 * time.Millisecond, 429, "0"},
		{10 * time.Second, 200, "0"}, // the first left the window
		{10500 * time.Millisecond, 429, "0"},
		{11 * time.Second, 200, "0"},
		{30 * time.Second, 200, "1"},
	}
	for _, s := range steps {
		clk.Set(t0.Add(s.at))
		c := do(t, e, "GET", "/crm/v3/objects/contacts", nil)
		if c.status != s.status || c.header.Get("X-HubSpot-RateLimit-Remaining") != s.remaining {
			t.Fatalf("at %v: %d, remaining %q; want %d, %q", s.at, c.status, c.header.Get("X-HubSpot-RateLimit-Remaining"), s.status, s.remaining)
		}
		if c.status == 429 {
			want429(t, c, "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")
			if c.header.Get("X-HubSpot-RateLimit-Max") != "2" {
				t.Errorf("a 429 without the window's headers: %v", c.header)
			}
			if ra := c.header.Get("Retry-After"); ra != "" {
				t.Errorf("Retry-After %q: HubSpot documents none", ra)
			}
		}
	}
	if e.RateLimited() != 3 || e.Served() != 5 {
		t.Errorf("RateLimited %d, Served %d; want 3, 5", e.RateLimited(), e.Served())
	}
	e.ResetRequests()
	if e.RateLimited() != 0 || e.Served() != 0 || len(e.Requests()) != 0 {
		t.Errorf("ResetRequests left counts")
	}
}

func TestDailyLimit(t *testing.T) {
	portal := time.FixedZone("portal", -5*3600)
	clk := newClock(0)
	// 23:59 UTC is 18:59 at the portal: HubSpot's day ends at the portal's
	// midnight, not UTC's.
	clk.Set(time.Date(2024, 1, 2, 23, 59, 0, 0, time.UTC))
	e := New(Options{LimitClock: clk.Now, DailyLimit: 2, TimeZone: portal})
	for i, want := range []string{"1", "0"} {
		c := do(t, e, "GET", "/crm/v3/objects/contacts", nil)
		if c.status != 200 || c.header.Get("X-HubSpot-RateLimit-Daily-Remaining") != want || c.header.Get("X-HubSpot-RateLimit-Daily") != "2" {
			t.Fatalf("request %d: %d, daily headers %v", i, c.status, rateHeaders(c.header))
		}
	}
	steps := []struct {
		name   string
		at     time.Time
		status int
	}{
		{"spent", time.Date(2024, 1, 2, 23, 59, 30, 0, time.UTC), 429},
		{"past UTC midnight", time.Date(2024, 1, 3, 0, 1, 0, 0, time.UTC), 429},
		{"a second before the portal's midnight", time.Date(2024, 1, 3, 4, 59, 59, 0, time.UTC), 429},
		{"the portal's midnight", time.Date(2024, 1, 3, 5, 0, 0, 0, time.UTC), 200},
	}
	for _, s := range steps {
		clk.Set(s.at)
		c := do(t, e, "POST", "/crm/v3/objects/contacts/search", searchBody) // searches count too
		if c.status != s.status {
			t.Fatalf("%s: %d %s", s.name, c.status, c.raw)
		}
		if c.status == 429 {
			want429(t, c, "DAILY", "You have reached your daily limit.")
		}
	}
	if c := do(t, e, "GET", "/crm/v3/objects/contacts", nil); c.header.Get("X-HubSpot-RateLimit-Daily-Remaining") != "0" {
		t.Errorf("new day: Daily-Remaining %q after the search and this, want 0", c.header.Get("X-HubSpot-RateLimit-Daily-Remaining"))
	}
}

func TestSearchLimit(t *testing.T) {
	clk := newClock(0)
	t0 := clk.Now()
	e := New(Options{LimitClock: clk.Now, SearchLimit: RateLimit{Requests: 2}, RateLimit: RateLimit{Requests: 4}})
	search := func() call { return do(t, e, "POST", "/crm/v3/objects/contacts/search", searchBody) }
	for i := 0; i < 2; i++ {
		if c := search(); c.status != 200 {
			t.Fatalf("search %d: %d %s", i, c.status, c.raw)
		}
	}
	c := search()
	want429(t, c, "SECONDLY", "You have reached your secondly limit.")
	if h := rateHeaders(c.header); len(h) != 0 {
		t.Errorf("a search 429 with rate headers: %v", h)
	}
	// Other endpoints are not held by the search limit...
	if c := do(t, e, "GET", "/crm/v3/objects/contacts", nil); c.status != 200 || c.header.Get("X-HubSpot-RateLimit-Remaining") != "1" {
		t.Fatalf("list beside a full search window: %d, remaining %q (the searches count in the app's window)", c.status, c.header.Get("X-HubSpot-RateLimit-Remaining"))
	}
	// ...and searches come back a second later, while the app's window
	// still holds them.
	clk.Set(t0.Add(time.Second))
	if c := search(); c.status != 200 {
		t.Fatalf("search a second later: %d %s", c.status, c.raw)
	}
	want429(t, search(), "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")
	if e.RateLimited() != 2 {
		t.Errorf("RateLimited %d, want 2", e.RateLimited())
	}
}

func TestRetryAfter(t *testing.T) {
	at := time.Date(2024, 1, 2, 23, 59, 50, 250_000_000, time.UTC)
	tests := []struct {
		name  string
		opts  Options
		path  string
		after string
	}{
		{"window", Options{RateLimit: RateLimit{Requests: 1}}, "/crm/v3/objects/contacts", "10"},
		{"search", Options{SearchLimit: RateLimit{Requests: 1}}, "/crm/v3/objects/contacts/search", "1"},
		{"daily", Options{DailyLimit: 1}, "/crm/v3/objects/contacts", "10"}, // 9.75 s to midnight, rounded up
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(0)
			clk.Set(at)
			tt.opts.LimitClock, tt.opts.RetryAfter = clk.Now, true
			e := New(tt.opts)
			method, body := "GET", any(nil)
			if strings.HasSuffix(tt.path, "/search") {
				method, body = "POST", searchBody
			}
			if c := do(t, e, method, tt.path, body); c.status != 200 || c.header.Get("Retry-After") != "" {
				t.Fatalf("first: %d, Retry-After %q", c.status, c.header.Get("Retry-After"))
			}
			if c := do(t, e, method, tt.path, body); c.status != 429 || c.header.Get("Retry-After") != tt.after {
				t.Fatalf("second: %d, Retry-After %q, want %s", c.status, c.header.Get("Retry-After"), tt.after)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	e := New(Options{Token: "old", Tokens: []string{"new"}})
	check := func(token string, want int) {
		t.Helper()
		c := doAuth(t, e, "Bearer "+token, "GET", "/crm/v3/objects/contacts", nil)
		if c.status != want {
			t.Fatalf("token %q: %d, want %d", token, c.status, want)
		}
		if want == 401 {
			wantError(t, c, 401, "INVALID_AUTHENTICATION", "Authentication credentials not found")
		}
	}
	check("old", 200)
	check("new", 200)
	check("test-token", 401)
	check("", 401)
	e.SetTokens("new") // the old token is revoked
	check("old", 401)
	check("new", 200)
	e.SetTokens()
	check("test-token", 200)
	check("new", 401)
}
