package salesforcetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2024, 3, 1, 9, 30, 0, 123_456_789, time.UTC)}
}

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

// client talks to a Server the way an integration would.
type client struct {
	t     *testing.T
	s     *Server
	token string
	hdr   http.Header // extra headers for every call
}

func newClient(t *testing.T, o Options) (*client, *clock) {
	t.Helper()
	c := newClock()
	if o.Now == nil {
		o.Now = c.Now
	}
	s := NewServer(o)
	t.Cleanup(s.Close)
	cl := &client{t: t, s: s, hdr: http.Header{}}
	cl.token = cl.login()
	return cl, c
}

func (c *client) login() string {
	c.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"test-client-id"}, "client_secret": {"test-client-secret"}}
	resp, err := http.PostForm(c.s.URL+"/services/oauth2/token", form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		c.t.Fatalf("token: %d %s", resp.StatusCode, b)
	}
	return gjson.GetBytes(b, "access_token").String()
}

// do sends a call with the session and returns status, parsed body and
// headers. body may be nil, a string (sent as is) or a value to encode.
func (c *client) do(method, path string, body any) (int, gjson.Result, http.Header) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.s.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, vs := range c.hdr {
		req.Header[k] = vs
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 && !gjson.ValidBytes(b) {
		c.t.Fatalf("%s %s: invalid JSON response: %s", method, path, b)
	}
	return resp.StatusCode, gjson.ParseBytes(b), resp.Header
}

// query runs SOQL through GET query.
func (c *client) query(soql string) (int, gjson.Result) {
	c.t.Helper()
	st, res, _ := c.do("GET", dataPrefix+"query?q="+url.QueryEscape(soql), nil)
	return st, res
}

// errorCode is the errorCode of a whole-request error body.
func errorCode(res gjson.Result) string { return res.Get("0.errorCode").String() }

func mustCreate(t *testing.T, e *Emulator, object string, fields map[string]any) string {
	t.Helper()
	id, err := e.Create(object, fields)
	if err != nil {
		t.Fatalf("create %s %v: %v", object, fields, err)
	}
	return id
}
