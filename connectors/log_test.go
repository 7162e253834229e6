package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// logLines decodes a JSON slog buffer.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// One Debug line per attempt, with what a person tracing a call needs; a
// Warn for a retry and for a call that failed in the end.
func TestLogLines(t *testing.T) {
	srv := newScripted(t, reply(503, "Retry-After", "0", "X-HubSpot-Correlation-Id", "corr-1"), reply(500, "X-Request-Id", "req-2"))
	var buf bytes.Buffer
	h := NewHTTP(fast(HTTPOptions{System: "hub", RetryMax: 1, Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}))
	h.Do(context.Background(), "pull contacts", "GET", srv.URL+"/crm/v3/objects/contacts?limit=100", nil, nil)

	var attempts, retries, failures int
	for _, l := range logLines(t, &buf) {
		switch l["msg"] {
		case "http attempt":
			attempts++
			want := map[string]any{"level": "DEBUG", "system": "hub", "op": "pull contacts", "kind": "read", "method": "GET",
				"path": "/crm/v3/objects/contacts", "attempt": float64(attempts), "status": []float64{503, 500}[attempts-1],
				"correlation_id": []string{"corr-1", "req-2"}[attempts-1]}
			for k, v := range want {
				if l[k] != v {
					t.Errorf("attempt %d: %s = %v, want %v", attempts, k, l[k], v)
				}
			}
			if _, ok := l["duration"]; !ok {
				t.Errorf("attempt %d: no duration", attempts)
			}
		case "http retry":
			retries++
			if l["level"] != "WARN" || l["status"] != float64(503) || l["path"] != "/crm/v3/objects/contacts" {
				t.Errorf("retry line: %v", l)
			}
		case "http call failed":
			failures++
			if l["level"] != "WARN" || l["status"] != float64(500) || l["attempts"] != float64(2) {
				t.Errorf("failure line: %v", l)
			}
		}
	}
	if attempts != 2 || retries != 1 || failures != 1 {
		t.Errorf("%d attempt, %d retry, %d failure lines; want 2, 1, 1:\n%s", attempts, retries, failures, buf.String())
	}
}

// No token, client secret, password or Authorization header used in a
// request appears in any log line or error string, whatever happens to
// the call.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	const token, clientSecret, password, cookie = "pat-na1-SECRET-TOKEN-1", "SECRET-CLIENT-2", "SECRET-PASSWORD-3", "SECRET-COOKIE-4"
	secrets := []string{token, clientSecret, password, cookie}

	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	header := http.Header{"Authorization": {"Bearer " + token}, "X-Client-Secret": {clientSecret}}
	query := "?client_secret=" + clientSecret + "&hapikey=" + token
	// The server echoes secrets back in headers a careless client would log.
	echo := func(status int) answer {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Set-Cookie", "sid="+cookie)
			w.Header().Set("WWW-Authenticate", r.Header.Get("Authorization"))
			w.Header().Set("Location", r.URL.String())
			w.Header().Set("X-HubSpot-Correlation-Id", "corr-ok")
			w.WriteHeader(status)
		}
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	var errs []error
	do := func(h *HTTP, kind Kind, method, url string) {
		_, err := h.DoKind(context.Background(), kind, "op", method, url, header, []byte(`{"token":"`+token+`"}`))
		if err != nil {
			errs = append(errs, err)
		}
	}
	withAuth := func(url string) string { return strings.Replace(url, "http://", "http://user:"+password+"@", 1) }

	// Answers of every kind: server errors, rate limits, resets, hangs.
	srv := newScripted(t, echo(500), echo(429), reset, echo(200), echo(401), reply(429, "Retry-After", "3600"))
	h := NewHTTP(fast(HTTPOptions{RetryMax: 3, Logger: logger, Base: &http.Client{Timeout: time.Second}, BreakerFailures: 2}))
	do(h, Read, "GET", withAuth(srv.URL)+"/a"+query)   // 500, 429, reset, 200
	do(h, Write, "POST", withAuth(srv.URL)+"/b"+query) // 401
	do(h, Read, "GET", withAuth(closedURL)+"/c"+query) // refused, retries run out
	do(h, Read, "GET", srv.URL+"/d"+query)             // Retry-After past what a call waits: the circuit opens
	do(h, Read, "GET", srv.URL+"/e"+query)             // circuit open
	do(h, Read, "GET", "http://127.0.0.1:1/%zz"+query) // a URL that does not parse

	hang := newScripted(t, hang)
	h = NewHTTP(fast(HTTPOptions{Logger: logger, ReadTimeout: 100 * time.Millisecond}))
	do(h, Read, "POST", withAuth(hang.URL)+"/f"+query) // deadline

	daily := newDailyServer(t)
	daily.remaining.Store(1)
	h = NewHTTP(fast(HTTPOptions{Logger: logger, RateHeaders: testHeaders}))
	do(h, Read, "GET", daily.URL+"/g"+query)
	do(h, Write, "POST", daily.URL+"/h"+query) // daily quota

	if len(errs) < 6 {
		t.Fatalf("only %d errors: the test did not reach its cases: %v", len(errs), errs)
	}
	for _, want := range []string{"/a", "/f", "http retry", "http call failed", "corr-ok", "circuit breaker"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("logs lack %q: the test did not reach its cases", want)
		}
	}
	for _, s := range secrets {
		if strings.Contains(buf.String(), s) {
			t.Errorf("secret %q in the logs:\n%s", s, buf.String())
		}
		for _, err := range errs {
			if strings.Contains(err.Error(), s) {
				t.Errorf("secret %q in error %q", s, err)
			}
		}
	}
	for _, err := range errs {
		if strings.Contains(err.Error(), "hapikey") || strings.Contains(err.Error(), "client_secret") {
			t.Errorf("query string in error %q", err)
		}
	}
}
