package hubspot

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/time/rate"

	"tandem"
	"tandem/connectors"
	"tandem/connectors/hubspot/hubspottest"
)

// config parses a system section as the config loader hands it over.
func config(t testing.TB, section string) connectors.Config {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(section), &doc); err != nil {
		t.Fatal(err)
	}
	return connectors.Config{Name: "hs", Type: "hubspot", File: "tandem.yaml", Node: doc.Content[0]}
}

// connectorsTestHTTP retries fast, for tests, and neither paces requests
// nor reads the emulator's rate headers: these tests are about what the
// connector sends and reads, and must not depend on time. TestRatePacing
// runs with HubSpot's pace.
var connectorsTestHTTP = connectors.HTTPOptions{WaitMin: time.Millisecond, WaitMax: 5 * time.Millisecond,
	Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	Rate:        connectors.RateLimit{Requests: 1_000_000, Per: time.Second},
	RateHeaders: func(http.Header) connectors.RateInfo { return connectors.RateInfo{Remaining: -1, DailyRemaining: -1} }}

// testClient opens a client with connectorsTestHTTP, and searches
// unpaced too.
func testClient(t testing.TB, section string) (*Client, error) {
	t.Helper()
	c, err := newClient(config(t, section), connectorsTestHTTP)
	if err == nil {
		c.searchPace.SetLimit(rate.Inf)
	}
	return c, err
}

// open connects to an emulator with fast retries.
func open(t testing.TB, srv *hubspottest.Server, extra string) *Client {
	t.Helper()
	c, err := testClient(t, "type: hubspot\nbase_url: "+srv.URL+"\ntoken: test-token\n"+extra)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stepClock moves one millisecond on every reading: each record the
// emulator stamps gets its own time.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func newStepClock() *stepClock {
	return &stepClock{t: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// fixedClock returns whatever it was last set to.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func TestConfig(t *testing.T) {
	c, err := newClient(config(t, "type: hubspot\ntoken: pat-na1-xyz\n"), connectors.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.base != defaultBaseURL || c.pageSize != 100 || len(c.idProp) != 0 || c.keyProp != DefaultKeyProperty || c.lookback != defaultLookback || c.history {
		t.Errorf("defaults: %+v", c)
	}
	c, err = newClient(config(t, "type: hubspot\ntoken: t\nbase_url: http://127.0.0.1:9/\npage_size: 200\ntimeout: 5s\nid_property: {companies: tandem_key, contacts: ''}\nkey_property: tid\nproperty_history: true\n"), connectors.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.base != "http://127.0.0.1:9" || c.pageSize != 200 || c.idProp["companies"] != "tandem_key" || c.idProp["contacts"] != "" || c.keyProp != "tid" || !c.history {
		t.Errorf("overrides: %+v", c)
	}
	if conn, err := connectors.Open(config(t, "type: hubspot\ntoken: t\n")); err != nil {
		t.Errorf("registered type: %v", err)
	} else if _, ok := conn.(*Client); !ok {
		t.Errorf("Open gave %T", conn)
	}

	for _, tc := range []struct{ section, want string }{
		{"type: hubspot\n", "tandem.yaml:1: systems.hs.token: required"},
		{"type: hubspot\ntoken: ''\n", "systems.hs.token: required"},
		{"type: hubspot\ntoken: t\npagesize: 10\n", "tandem.yaml:3: systems.hs.pagesize: unknown key"},
		{"type: hubspot\ntoken: t\npage_size: 201\n", "tandem.yaml:3: systems.hs.page_size: must be between 1 and 200"},
		{"type: hubspot\ntoken: t\npage_size: 0\n", "systems.hs.page_size: must be between 1 and 200"},
		{"type: hubspot\ntoken: t\nlookback: a minute\n", `tandem.yaml:3: systems.hs.lookback: "a minute" is not a duration from 0s to 24h like 1m`},
		{"type: hubspot\ntoken: t\nlookback: -5s\n", `tandem.yaml:3: systems.hs.lookback: "-5s" is not a duration`},
		{"type: hubspot\ntoken: t\ntimeout: soon\n", "systems.hs.timeout"},
		{"type: hubspot\ntoken: t\ntimeout: -1s\n", "systems.hs.timeout"},
		{"type: hubspot\ntoken: t\nbase_url: api.hubapi.com\n", "systems.hs.base_url"},
		{"type: hubspot\ntoken: t\nid_property: email\n", "systems.hs"},
		{"type: hubspot\ntoken: \"pat-secret value\"\n", "systems.hs.token: contains whitespace"},
		{"type: hubspot\ntoken: t\nproperty_history: sometimes\n", "systems.hs"},
		{"type: hubspot\ntoken: t\nkey_property: tandem.id\n", "systems.hs.key_property: \"tandem.id\" is not a HubSpot property name"},
	} {
		_, err := newClient(config(t, tc.section), connectors.HTTPOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.section, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("config error shows the token: %v", err)
		}
	}
}

// TestBadToken: HubSpot's 401 is permanent, ends an Apply early, and the
// token appears in no error.
func TestBadToken(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Token: "the-right-token"})
	defer srv.Close()
	c, err := newClient(config(t, "type: hubspot\nbase_url: "+srv.URL+"\ntoken: pat-na1-WRONG-TOKEN\n"), connectors.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error) {
		t.Helper()
		var te *tandem.Error
		if !errors.As(err, &te) || te.Status != 401 || te.Code != "INVALID_AUTHENTICATION" || tandem.IsRetryable(err) {
			t.Errorf("%s: %#v, want a permanent 401 INVALID_AUTHENTICATION", what, err)
		}
		if err != nil && strings.Contains(err.Error(), "WRONG-TOKEN") {
			t.Errorf("%s: the token is in the error: %v", what, err)
		}
	}
	pullErr := c.Pull(context.Background(), tandem.Query{Object: "contacts"}, func(tandem.Page) error { return nil })
	check("pull", pullErr)

	writes := []tandem.Write{
		{Op: tandem.OpUpdate, ID: "1", Payload: []byte(`{"properties":{"firstname":"a"}}`)},
		{Op: tandem.OpDelete, ID: "2"},
	}
	res, err := c.Apply(context.Background(), "contacts", writes)
	check("apply", err)
	for i, r := range res {
		check("apply result "+string(writes[i].Op), r.Err)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("%d requests; after a 401 the rest of an Apply should not be sent", n)
	}
}
