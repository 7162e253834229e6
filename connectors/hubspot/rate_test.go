package hubspot

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/connectors"
	"tandem/connectors/hubspot/hubspottest"
)

func TestRateHeaders(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    connectors.RateInfo
	}{
		{"private app", map[string]string{
			"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "97", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
			"X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": "249990",
		}, connectors.RateInfo{Limit: 100, Remaining: 97, Window: 10 * time.Second, DailyLimit: 250000, DailyRemaining: 249990}},
		{"OAuth app: no daily limit", map[string]string{
			"X-HubSpot-RateLimit-Max": "110", "X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
		}, connectors.RateInfo{Limit: 110, Remaining: 0, Window: 10 * time.Second, DailyRemaining: -1}},
		{"none (a search response may carry none)", nil, connectors.RateInfo{Remaining: -1, DailyRemaining: -1}},
		{"older secondly headers", map[string]string{
			"X-HubSpot-RateLimit-Secondly": "10", "X-HubSpot-RateLimit-Secondly-Remaining": "9",
		}, connectors.RateInfo{Limit: 10, Remaining: 9, Window: time.Second, DailyRemaining: -1}},
		{"a ceiling without its interval is no rate", map[string]string{
			"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "5",
		}, connectors.RateInfo{Remaining: 5, DailyRemaining: -1}},
		{"garbage", map[string]string{
			"X-HubSpot-RateLimit-Max": "lots", "X-HubSpot-RateLimit-Remaining": "-3", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
			"X-HubSpot-RateLimit-Daily": "0", "X-HubSpot-RateLimit-Daily-Remaining": " 12 ",
		}, connectors.RateInfo{Remaining: -1, DailyRemaining: 12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			if got := rateHeaders(h); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestRateConfig: rate_limit and daily_reserve tune the shared client;
// without them it gets HubSpot's lowest private-app tier and a 5% reserve.
func TestRateConfig(t *testing.T) {
	opts := func(section string) (connectors.HTTPOptions, error) {
		cfg := config(t, "type: hubspot\ntoken: t\n"+section)
		var o options
		if err := cfg.Decode(&o); err != nil {
			return connectors.HTTPOptions{}, err
		}
		return httpOptions(cfg, o, connectors.HTTPOptions{})
	}
	ho, err := opts("")
	if err != nil {
		t.Fatal(err)
	}
	if ho.Rate != (connectors.RateLimit{Requests: 100, Per: 10 * time.Second}) || ho.DailyReserve != 0.05 || ho.RateHeaders == nil || ho.System != "hs" {
		t.Errorf("defaults: %+v", ho)
	}
	ho, err = opts("rate_limit: {requests: 190, per: 10s}\ndaily_reserve: 0.2\ntimeout: 5s\n")
	if err != nil {
		t.Fatal(err)
	}
	if ho.Rate != (connectors.RateLimit{Requests: 190, Per: 10 * time.Second}) || ho.DailyReserve != 0.2 || ho.Timeout != 5*time.Second {
		t.Errorf("configured: %+v", ho)
	}
	// 0 keeps no reserve: the shared client's "none" is negative, as its
	// zero is its default.
	if ho, err = opts("daily_reserve: 0\n"); err != nil || ho.DailyReserve >= 0 {
		t.Errorf("daily_reserve 0: %v, %v", ho.DailyReserve, err)
	}
	c, err := newClient(config(t, "type: hubspot\ntoken: t\n"), connectors.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.searchPace.Limit(); got != searchPace(connectors.RateLimit{Requests: 5, Per: time.Second}) || got > 4 || got < 3.9 { // one fewer than allowed, with slack
		t.Errorf("default search pace %v a second", got)
	}
	c, err = newClient(config(t, "type: hubspot\ntoken: t\nsearch_rate_limit: {requests: 20, per: 2s}\n"), connectors.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.searchPace.Limit(); got > 9.5 || got < 9.2 { // 19 per 2s, with slack
		t.Errorf("search pace %v a second for 20 per 2s", got)
	}
	if _, err := newClient(config(t, "type: hubspot\ntoken: t\nsearch_rate_limit: {requests: 5}\n"), connectors.HTTPOptions{}); err == nil ||
		!strings.Contains(err.Error(), "tandem.yaml:3: systems.hs.search_rate_limit.per: must be a positive duration") {
		t.Errorf("search_rate_limit without per: %v", err)
	}
	for _, tc := range []struct{ section, want string }{
		{"rate_limit: 100\n", "tandem.yaml:3: systems.hs.rate_limit: must be a mapping"},
		{"rate_limit: {requests: 100}\n", `systems.hs.rate_limit.per: must be a positive duration like 10s, got ""`},
		{"rate_limit: {requests: 0, per: 10s}\n", "systems.hs.rate_limit.requests: must be a positive number of requests"},
		{"rate_limit: {requests: 100, per: 10}\n", `systems.hs.rate_limit.per: must be a positive duration like 10s, got "10"`},
		{"rate_limit: {requests: 100, per: 10s, burst: 5}\n", "tandem.yaml:3: systems.hs.rate_limit.burst: unknown key (known: requests, per)"},
		{"rate_limit: {requests: many, per: 10s}\n", "systems.hs.rate_limit: must be like"},
		{"daily_reserve: 1\n", "tandem.yaml:3: systems.hs.daily_reserve: must be a share of the daily quota from 0 (none) to below 1"},
		{"daily_reserve: -0.1\n", "systems.hs.daily_reserve"},
	} {
		if _, err := opts(tc.section); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.section, err, tc.want)
		}
	}
}

// TestRatePacing runs a pull and an Apply against an emulator that
// enforces a small rate limit, HubSpot's search limit and its headers:
// the connector keeps within both, so no request is refused for rate.
// Its rate budget comes from the headers of HubSpot's own answers.
func TestRatePacing(t *testing.T) {
	if testing.Short() {
		t.Skip("paced in real time: a few seconds")
	}
	srv := hubspottest.NewServer(hubspottest.Options{
		RateLimit:   hubspottest.RateLimit{Requests: 10, Per: 2 * time.Second},
		SearchLimit: hubspottest.RateLimit{Requests: 3, Per: time.Second},
	})
	defer srv.Close()
	var ids []string
	for i := 0; i < 9; i++ {
		id, _ := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@x.com", i)})
		ids = append(ids, id)
	}
	ho := connectors.HTTPOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	// The configured rate is HubSpot's default, too fast for this portal:
	// the headers correct it. The search limit has no headers; it is
	// configured.
	c, err := newClient(config(t, "type: hubspot\ntoken: test-token\nbase_url: "+srv.URL+"\npage_size: 3\nsearch_rate_limit: {requests: 3, per: 1s}\n"), ho)
	if err != nil {
		t.Fatal(err)
	}
	pages := pullAll(t, c, "contacts", "")
	if got := pageIDs(pages); len(got) != len(ids) {
		t.Errorf("pulled %d of %d", len(got), len(ids))
	}
	var writes []tandem.Write
	for _, id := range ids[:4] {
		writes = append(writes, update(id, `{"properties":{"firstname":"P"}}`))
		writes = append(writes, tandem.Write{Op: tandem.OpDelete, ID: id}) // one batch call each
	}
	for _, r := range apply(t, c, "contacts", writes...) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if n := srv.RateLimited(); n != 0 {
		t.Errorf("%d requests refused for rate", n)
	}
	if n := len(srv.Requests()); n <= 10 {
		t.Errorf("only %d requests: the test wants more than the limit allows in one window", n)
	}
	h := c.Health()
	if h.RateSource != "headers" || h.Limits == nil || h.Limits.Limit != 10 || h.Limits.WindowSeconds != 2 {
		t.Errorf("health %+v %+v, want the budget from HubSpot's headers (10 per 2s)", h, h.Limits)
	}
}
