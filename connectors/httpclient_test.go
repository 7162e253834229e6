package connectors

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tandem"
)

// answer is one scripted reply of a test server.
type answer func(w http.ResponseWriter, r *http.Request)

// reply answers status with the given header pairs and an empty JSON body.
func reply(status int, header ...string) answer {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		w.Write([]byte(`{}`))
	}
}

// reset drops the connection with a TCP reset, before any answer.
func reset(w http.ResponseWriter, r *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// hang never answers: the client must give up. (The body is read first:
// net/http watches for the client leaving only once it is.)
func hang(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

// scripted is a server that gives its answers in order, the last one for
// every later request, and counts the requests.
type scripted struct {
	*httptest.Server
	n atomic.Int32
}

func newScripted(t *testing.T, answers ...answer) *scripted {
	t.Helper()
	s := &scripted{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(s.n.Add(1)) - 1
		answers[min(i, len(answers)-1)](w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

var quiet = slog.New(slog.DiscardHandler)

// fast are options for tests: tiny backoffs, no logs.
func fast(o HTTPOptions) HTTPOptions {
	if o.System == "" {
		o.System = "x"
	}
	if o.WaitMin == 0 {
		o.WaitMin = time.Millisecond
	}
	if o.WaitMax == 0 {
		o.WaitMax = 5 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = quiet
	}
	return o
}

func asError(t *testing.T, err error) *tandem.Error {
	t.Helper()
	var e *tandem.Error
	if !errors.As(err, &e) {
		t.Fatalf("want a *tandem.Error, got %T %v", err, err)
	}
	return e
}

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

// The retry policy: the API's own refusals (4xx) and 501 are final; rate
// limits, server errors and transport failures are tried again.
func TestRetryMatrix(t *testing.T) {
	for _, tc := range []struct {
		name    string
		first   answer
		retried bool
	}{
		{"400", reply(400), false},
		{"401", reply(401), false},
		{"403", reply(403), false},
		{"404", reply(404), false},
		{"409", reply(409), false},
		{"422", reply(422), false},
		{"501", reply(501), false},
		{"429", reply(429, "Retry-After", "0"), true},
		{"429 without Retry-After", reply(429), true},
		{"500", reply(500), true},
		{"502", reply(502), true},
		{"503", reply(503, "Retry-After", "0"), true},
		{"504", reply(504), true},
		{"connection reset", reset, true},
		{"timeout", hang, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScripted(t, tc.first, reply(200))
			// The base client's own timeout bounds one attempt.
			h := NewHTTP(fast(HTTPOptions{RetryMax: 2, Base: &http.Client{Timeout: 250 * time.Millisecond}}))
			resp, err := h.Do(context.Background(), "test", "POST", srv.URL+"/x", nil, []byte(`{}`))
			want, wantN := 200, int32(2)
			if !tc.retried {
				wantN = 1
				want, _ = atoiStatus(tc.name)
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if resp.Status != want || srv.n.Load() != wantN {
				t.Errorf("got %d after %d requests; want %d after %d", resp.Status, srv.n.Load(), want, wantN)
			}
		})
	}
}

func atoiStatus(s string) (int, bool) {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}

func TestRetriesRunOut(t *testing.T) {
	srv := newScripted(t, reply(500))
	h := NewHTTP(fast(HTTPOptions{RetryMax: 2}))
	resp, err := h.Do(context.Background(), "test", "GET", srv.URL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Retries run out: the last response is kept for the connector to judge.
	if resp.Status != 500 || srv.n.Load() != 3 {
		t.Errorf("got %d after %d requests; want 500 after 3", resp.Status, srv.n.Load())
	}

	srv = newScripted(t, reply(200))
	h = NewHTTP(fast(HTTPOptions{RetryMax: -1}))
	if resp, err := h.Do(context.Background(), "test", "GET", srv.URL, nil, nil); err != nil || resp.Status != 200 {
		t.Fatalf("RetryMax -1: %v %v", resp, err)
	}
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { srv.n.Add(1); w.WriteHeader(503) })
	h.Do(context.Background(), "test", "GET", srv.URL, nil, nil)
	if srv.n.Load() != 2 {
		t.Errorf("RetryMax -1 sent %d requests for a 503, want 1", srv.n.Load()-1)
	}
}

func TestNetworkFailureIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	h := NewHTTP(fast(HTTPOptions{RetryMax: 1}))
	_, err := h.Do(context.Background(), "pull", "GET", url, nil, nil)
	if err == nil || !tandem.IsRetryable(err) {
		t.Fatalf("want a retryable error, got %v", err)
	}
}

func TestBackoff(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	h := NewHTTP(HTTPOptions{WaitMin: 100 * time.Millisecond, WaitMax: 10 * time.Second, Logger: quiet})
	resp := func(status int, retryAfter string) *http.Response {
		r := &http.Response{StatusCode: status, Header: http.Header{}}
		if retryAfter != "" {
			r.Header.Set("Retry-After", retryAfter)
		}
		return r
	}
	for _, tc := range []struct {
		name    string
		attempt int
		resp    *http.Response
		asked   bool
		want    time.Duration // exact when asked, else the ceiling of the jitter
	}{
		{"429 seconds", 1, resp(429, "7"), true, 7 * time.Second},
		{"503 HTTP date", 1, resp(503, "Sat, 21 Nov 2026 12:00:10 GMT"), true, 10 * time.Second},
		{"429 beyond WaitMax is still told", 1, resp(429, "3600"), true, time.Hour},
		{"500 ignores Retry-After", 1, resp(500, "7"), false, 100 * time.Millisecond},
		{"429 unreadable Retry-After", 1, resp(429, "soon"), false, 100 * time.Millisecond},
		{"transport error", 1, nil, false, 100 * time.Millisecond},
		{"third attempt", 3, nil, false, 400 * time.Millisecond},
		{"capped", 40, nil, false, 10 * time.Second},
	} {
		for range 20 {
			got, asked := h.backoff(tc.attempt, tc.resp, now)
			if asked != tc.asked || asked && got != tc.want || !asked && (got < 0 || got > tc.want) {
				t.Errorf("%s: backoff = %v, %v; want %v, %v", tc.name, got, asked, tc.want, tc.asked)
				break
			}
		}
	}
}

// A Retry-After that the call cannot wait for ends the call at once, with a
// retryable error that says when to come back, instead of sleeping into
// the deadline.
func TestRetryAfterBeyondWhatACallWaits(t *testing.T) {
	date := time.Now().Add(2 * time.Hour).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name       string
		retryAfter string
		o          HTTPOptions
		says       string
	}{
		{"past the deadline, seconds", "3600", HTTPOptions{ReadTimeout: 30 * time.Second, WaitMax: 2 * time.Hour}, "past the 30s deadline of a read"},
		{"past the deadline, HTTP date", date, HTTPOptions{ReadTimeout: 30 * time.Second, WaitMax: 3 * time.Hour}, "past the 30s deadline of a read"},
		{"longer than WaitMax", "10", HTTPOptions{WaitMax: time.Second}, "more than the 1s a call waits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScripted(t, reply(429, "Retry-After", tc.retryAfter))
			o := tc.o
			o.Logger = quiet
			h := NewHTTP(o)
			_, err := h.Do(context.Background(), "pull", "GET", srv.URL, nil, nil)
			e := asError(t, err)
			if e.Code != "RETRY_LATER" || !e.Retryable || e.Status != 429 || !strings.Contains(e.Message, tc.says) || !strings.Contains(e.Message, "retry after 20") {
				t.Errorf("err = %v", err)
			}
			if srv.n.Load() != 1 {
				t.Errorf("%d requests, want 1", srv.n.Load())
			}
		})
	}
}

// deadlineRT answers 200 and remembers the deadline its request carried.
type deadlineRT struct {
	dl time.Time
	ok bool
}

func (d *deadlineRT) RoundTrip(r *http.Request) (*http.Response, error) {
	d.dl, d.ok = r.Context().Deadline()
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
}

func TestDeadlinePerKind(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    HTTPOptions
		want [3]time.Duration // read, write, bulk
	}{
		{"defaults", HTTPOptions{}, [3]time.Duration{time.Minute, time.Minute, 5 * time.Minute}},
		{"Timeout sets each", HTTPOptions{Timeout: 10 * time.Second}, [3]time.Duration{10 * time.Second, 10 * time.Second, 10 * time.Second}},
		{"a kind's own wins", HTTPOptions{Timeout: 10 * time.Second, BulkTimeout: time.Hour}, [3]time.Duration{10 * time.Second, 10 * time.Second, time.Hour}},
		{"each its own", HTTPOptions{ReadTimeout: time.Second, WriteTimeout: 2 * time.Second, BulkTimeout: 3 * time.Second},
			[3]time.Duration{time.Second, 2 * time.Second, 3 * time.Second}},
	} {
		rt := &deadlineRT{}
		o := tc.o
		o.Base, o.Logger = &http.Client{Transport: rt}, quiet
		h := NewHTTP(o)
		for kind, want := range tc.want {
			before := time.Now()
			if _, err := h.DoKind(context.Background(), Kind(kind), "op", "POST", "http://example.test/", nil, nil); err != nil {
				t.Fatal(err)
			}
			after := time.Now()
			// The deadline is the call's start plus its kind's timeout.
			if !rt.ok || rt.dl.Before(before.Add(want)) || rt.dl.After(after.Add(want)) {
				t.Errorf("%s: %v deadline %v after the call, want %v", tc.name, Kind(kind), rt.dl.Sub(before), want)
			}
		}
	}
	// Do tells the kind by the method.
	rt := &deadlineRT{}
	h := NewHTTP(HTTPOptions{ReadTimeout: time.Hour, WriteTimeout: time.Minute, Base: &http.Client{Transport: rt}, Logger: quiet})
	for method, want := range map[string]time.Duration{"GET": time.Hour, "HEAD": time.Hour, "POST": time.Minute, "PATCH": time.Minute, "DELETE": time.Minute} {
		before := time.Now()
		h.Do(context.Background(), "op", method, "http://example.test/", nil, nil)
		if rt.dl.Before(before.Add(want)) || rt.dl.After(time.Now().Add(want)) {
			t.Errorf("Do %s: deadline %v after the call, want %v", method, rt.dl.Sub(before), want)
		}
	}
}

func TestDeadlineEndsACall(t *testing.T) {
	srv := newScripted(t, hang)
	h := NewHTTP(fast(HTTPOptions{ReadTimeout: 50 * time.Millisecond, WriteTimeout: time.Hour}))
	_, err := h.DoKind(context.Background(), Read, "pull", "POST", srv.URL, nil, []byte(`{}`))
	e := asError(t, err)
	if !e.Retryable || !strings.Contains(e.Message, "deadline of a read") {
		t.Errorf("err = %v", err)
	}
	// The caller's own cancellation is not worth retrying, nor a failure of
	// the system.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = h.Do(ctx, "pull", "GET", srv.URL, nil, nil)
	if e := asError(t, err); e.Retryable || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if s := h.Health(); s.Failures != 1 {
		t.Errorf("breaker counted %d failures, want 1 (the deadline, not the cancel)", s.Failures)
	}
}
