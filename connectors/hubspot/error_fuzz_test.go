package hubspot

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"tandem"
	"tandem/connectors"
)

// FuzzErrorBody: httpError and notAPage read any body a failed or odd
// response carries, from HubSpot or from a proxy before it, into a
// *tandem.Error without panicking: the status kept, retryable exactly for
// 429 and 5xx (notAPage: for a body cut short), the sentinels set by
// category and status, and a message of valid UTF-8 bounded in length,
// whatever the body holds (it goes to logs, the console and dead
// letters). Seeds: the f.Add calls; CI runs it for a bounded count
// (.ci/run).
func FuzzErrorBody(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{400, `{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"x was not one of the allowed options\",\"error\":\"INVALID_OPTION\",\"name\":\"lifecyclestage\"}]","correlationId":"aeb5f871-7f07-4993-9211-075dc63e7cbf","category":"VALIDATION_ERROR"}`},
		{404, `{"status":"error","message":"resource not found","correlationId":"x","category":"OBJECT_NOT_FOUND"}`},
		{409, `{"status":"error","message":"Contact already exists. Existing ID: 51","category":"CONFLICT"}`},
		{429, `{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT","correlationId":"c","policyName":"SECONDLY"}`},
		{502, `<html><body>502 Bad Gateway</body></html>`},
		{200, `{"results":[{"id":"1"`}, {200, ``}, {200, `{"results":null}`}, {500, `{"message":null}`},
		{400, `{"message":"\ud800\udc00 \xff"}`}, {503, "\xff\xfe"},
	} {
		f.Add(s.status, []byte(s.body))
	}
	f.Add(400, []byte(`{"message":"`+strings.Repeat("Property values were not valid. ", 200)+`","correlationId":"`+strings.Repeat("é", 3000)+`"}`))
	c := fuzzClient(f, "")
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		resp := &connectors.Response{Status: status, Body: body}
		e := c.httpError("op", resp)
		check := func(e *tandem.Error) {
			t.Helper()
			if e.Status != status || e.System != c.name || e.Op != "op" {
				t.Fatalf("%+v: status, system or op not kept", e)
			}
			if !utf8.ValidString(e.Message) || len(e.Message) > 4096 {
				t.Fatalf("message of %d bytes, or not UTF-8: %q", len(e.Message), e.Message)
			}
		}
		check(e)
		if e.Retryable != (status == http.StatusTooManyRequests || status >= 500) {
			t.Fatalf("status %d: retryable %v", status, e.Retryable)
		}
		if errors.Is(e, tandem.ErrNotFound) != (e.Code == "OBJECT_NOT_FOUND") {
			t.Fatalf("code %q: not found %v", e.Code, errors.Is(e, tandem.ErrNotFound))
		}
		if errors.Is(e, tandem.ErrConflict) != (status == http.StatusConflict && e.Code != "OBJECT_NOT_FOUND") {
			t.Fatalf("status %d, code %q: conflict %v", status, e.Code, errors.Is(e, tandem.ErrConflict))
		}
		p := c.notAPage("op", "not a page", resp)
		check(p)
		if p.Retryable != truncated(body) {
			t.Fatalf("body %q: retryable %v", body, p.Retryable)
		}
	})
}
