package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"tandem"
	"tandem/connectors"
	"tandem/connectors/salesforce/salesforcetest"
)

// clock is a settable clock for the emulator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2024, 5, 6, 7, 8, 9, 250_000_000, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// config parses a system section as the config loader would hand it over.
func config(t testing.TB, text string) connectors.Config {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	return connectors.Config{Name: "sf", Type: "salesforce", File: "tandem.yaml", Node: doc.Content[0]}
}

// fixture is a connector wired to an emulator with a test clock.
type fixture struct {
	sf  *salesforcetest.Server
	clk *clock
	c   *Client
}

func newFixture(t *testing.T, o salesforcetest.Options) *fixture {
	t.Helper()
	clk := newClock()
	if o.Now == nil {
		o.Now = clk.Now
	}
	sf := salesforcetest.NewServer(o)
	t.Cleanup(sf.Close)
	conn, err := New(config(t, fmt.Sprintf("type: salesforce\ninstance_url: %s\nclient_id: test-client-id\nclient_secret: test-client-secret\ntimeout: 10s\n", sf.URL)))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{sf: sf, clk: clk, c: conn.(*Client)}
}

func (f *fixture) create(t *testing.T, object string, fields map[string]any) string {
	t.Helper()
	id, err := f.sf.Create(object, fields)
	if err != nil {
		t.Fatalf("create %s: %v", object, err)
	}
	return id
}

// pulled is what one Pull produced.
type pulled struct {
	pages []tandem.Page
}

func (p pulled) ids() []string {
	var ids []string
	for _, pg := range p.pages {
		for _, r := range pg.Records {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

func (p pulled) last() tandem.Cursor {
	if len(p.pages) == 0 {
		return ""
	}
	return p.pages[len(p.pages)-1].Cursor
}

func (f *fixture) pull(t *testing.T, object string, after tandem.Cursor, fields ...string) pulled {
	t.Helper()
	var p pulled
	err := f.c.Pull(context.Background(), tandem.Query{Object: object, Fields: fields, After: after}, func(pg tandem.Page) error {
		p.pages = append(p.pages, pg)
		return nil
	})
	if err != nil {
		t.Fatalf("pull %s after %q: %v", object, after, err)
	}
	return p
}

func payload(v map[string]any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func sameIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// rewrite passes requests to h and lets edit change the answer of those
// it matches: a stand-in for the faults the emulator does not make (a
// malformed record, a record-level failure).
func rewrite(h http.Handler, edit func(r *http.Request, status int, body []byte) (int, []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		status, body := edit(r, rec.Code, rec.Body.Bytes())
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(status)
		w.Write(body)
	})
}

// serve starts h on a loopback port for the test, and a client on it.
func serve(t *testing.T, h http.Handler, o Options) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	o.InstanceURL = srv.URL
	if o.ClientID == "" {
		o.ClientID = "test-client-id"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "test-client-secret"
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	c, err := NewClient("sf", o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// logBuffer collects log output, for tests that read it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
