package hubspottest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// clock is a settable test clock that moves by step on every reading.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func newClock(step time.Duration) *clock {
	return &clock{t: time.Date(2024, 1, 2, 3, 4, 5, 678_000_000, time.UTC), step: step}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// call is a finished request: status, headers and the parsed body.
type call struct {
	status int
	header http.Header
	body   gjson.Result
	raw    string
}

// do sends one request straight to the handler with the default token.
func do(t *testing.T, e *Emulator, method, path string, body any) call {
	t.Helper()
	return doAuth(t, e, "Bearer test-token", method, path, body)
}

func doAuth(t *testing.T, e *Emulator, auth, method, path string, body any) call {
	t.Helper()
	var rd *strings.Reader
	switch b := body.(type) {
	case nil:
		rd = strings.NewReader("")
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(j))
	}
	req := httptest.NewRequest(method, path, rd)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	raw := w.Body.String()
	if raw != "" && !gjson.Valid(raw) {
		t.Fatalf("%s %s: response is not JSON: %s", method, path, raw)
	}
	return call{status: w.Code, header: w.Header(), body: gjson.Parse(raw), raw: raw}
}

// mustCreate creates a record through the test API.
func mustCreate(t *testing.T, e *Emulator, object string, fields map[string]any) string {
	t.Helper()
	id, err := e.Create(object, fields)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// ids lists the ids of results[] in order.
func ids(r gjson.Result) []string {
	var out []string
	for _, v := range r.Get("results.#.id").Array() {
		out = append(out, v.String())
	}
	return out
}

// wantError checks HubSpot's error body.
func wantError(t *testing.T, c call, status int, category, msgPart string) {
	t.Helper()
	if c.status != status {
		t.Fatalf("status %d, want %d: %s", c.status, status, c.raw)
	}
	if got := c.body.Get("category").String(); got != category {
		t.Errorf("category %q, want %q: %s", got, category, c.raw)
	}
	if c.body.Get("status").String() != "error" || c.body.Get("correlationId").String() == "" {
		t.Errorf("not a HubSpot error body: %s", c.raw)
	}
	if !strings.Contains(c.body.Get("message").String(), msgPart) {
		t.Errorf("message %q does not contain %q", c.body.Get("message").String(), msgPart)
	}
}
