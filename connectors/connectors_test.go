package connectors

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"tandem"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"3":                             3 * time.Second,
		"0":                             0,
		"Sat, 21 Nov 2026 12:00:10 GMT": 10 * time.Second,
		"Sat, 21 Nov 2026 11:00:00 GMT": 0, // in the past: go now
	} {
		if got, ok := RetryAfter(v, now); !ok || got != want {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "soon", "-1"} {
		if _, ok := RetryAfter(v, now); ok {
			t.Errorf("RetryAfter(%q) accepted", v)
		}
	}
}

func TestHTTPRetriesOnlyWhatIsWorthIt(t *testing.T) {
	for _, tc := range []struct {
		status   []int // the server's answers, in order
		want     int   // final status seen by the caller
		requests int32
	}{
		{[]int{503, 429, 200}, 200, 3},
		{[]int{400}, 400, 1},
		{[]int{401}, 401, 1},
		{[]int{404}, 404, 1},
		{[]int{409}, 409, 1},
		{[]int{500, 500, 500}, 500, 3}, // retries run out: the last response is kept
	} {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			i := int(n.Add(1)) - 1
			if i >= len(tc.status) {
				i = len(tc.status) - 1
			}
			if tc.status[i] == 429 {
				w.Header().Set("Retry-After", "0")
			}
			w.WriteHeader(tc.status[i])
			w.Write([]byte(`{}`))
		}))
		h := NewHTTP(HTTPOptions{System: "x", RetryMax: 2, WaitMin: time.Millisecond, WaitMax: 5 * time.Millisecond})
		resp, err := h.Do(context.Background(), "test", "POST", srv.URL, nil, []byte(`{}`))
		srv.Close()
		if err != nil {
			t.Fatalf("%v: %v", tc.status, err)
		}
		if resp.Status != tc.want || n.Load() != tc.requests {
			t.Errorf("%v: got %d after %d requests; want %d after %d", tc.status, resp.Status, n.Load(), tc.want, tc.requests)
		}
	}
}

func TestHTTPNetworkFailureIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	h := NewHTTP(HTTPOptions{System: "x", RetryMax: 1, WaitMin: time.Millisecond, WaitMax: time.Millisecond})
	_, err := h.Do(context.Background(), "pull", "GET", url, nil, nil)
	if err == nil || !tandem.IsRetryable(err) {
		t.Fatalf("want a retryable error, got %v", err)
	}
}

type opts struct {
	Token   string `yaml:"token"`
	BaseURL string `yaml:"base_url"`
}

func TestConfigDecode(t *testing.T) {
	var doc yaml.Node
	yaml.Unmarshal([]byte("type: x\ntoken: abc\nbase_url: http://h\n"), &doc)
	cfg := Config{Name: "sys", Type: "x", File: "t.yaml", Node: doc.Content[0]}
	var o opts
	if err := cfg.Decode(&o, "token"); err != nil || o.Token != "abc" || o.BaseURL != "http://h" {
		t.Fatalf("decode = %+v, %v", o, err)
	}
	yaml.Unmarshal([]byte("type: x\ntokn: abc\n"), &doc)
	cfg.Node = doc.Content[0]
	if err := cfg.Decode(&o); err == nil || err.Error() != "t.yaml:2: systems.sys.tokn: unknown key" {
		t.Errorf("unknown key: %v", err)
	}
	yaml.Unmarshal([]byte("type: x\nbase_url: h\n"), &doc)
	cfg.Node = doc.Content[0]
	o = opts{}
	if err := cfg.Decode(&o, "token"); err == nil || !strings.Contains(err.Error(), "systems.sys.token: required") {
		t.Errorf("missing required: %v", err)
	}
	if _, err := Open(Config{Name: "s", Type: "nope", File: "t.yaml", Node: doc.Content[0]}); err == nil ||
		!strings.Contains(err.Error(), `unknown connector type "nope"`) {
		t.Errorf("unknown type: %v", err)
	}
}
