package salesforce

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
)

// FuzzErrorBody: apiError and recordError read any error body, from
// Salesforce or from a proxy before it, into a *tandem.Error without
// panicking: the status kept; the errorCode (statusCode of a record) as
// Code; retryable for 429, 5xx and the codes worth trying again, and
// only then; an expired session still an auth error; and a message of
// valid UTF-8 bounded in length, whatever the body holds (it goes to
// logs, the console and dead letters). Seeds: the f.Add calls; CI runs it
// for a bounded count (.ci/run).
func FuzzErrorBody(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{400, `[{"message":"Email: invalid email address: x","errorCode":"INVALID_EMAIL_ADDRESS","fields":["Email"]}]`},
		{401, `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`},
		{403, `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`},
		{400, `[{"message":"caused by: UNABLE_TO_LOCK_ROW, unable to obtain exclusive access to this record","errorCode":"CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY","fields":[]}]`},
		{503, `<html>Service Unavailable</html>`}, {500, ``}, {404, `[]`}, {400, `{"errorCode":"X","message":{"a":1},"fields":"Email"}`},
		{400, `[{"errorCode":"\xff","message":"\xfe","fields":["\xff",1,null]}]`},
	} {
		f.Add(s.status, []byte(s.body))
	}
	f.Add(400, []byte(`[{"message":"`+strings.Repeat("Required fields are missing. ", 300)+`","errorCode":"REQUIRED_FIELD_MISSING","fields":["`+strings.Repeat("A__c\",\"", 500)+`B__c"]}]`))
	f.Add(200, []byte(`{"success":false,"errors":[`+strings.Repeat(`{"statusCode":"DUPLICATE_VALUE","message":"duplicate value found: Email__c duplicates value on record with id: 003000000000001","fields":["Email__c"]},`, 100)+`{"statusCode":"X","message":"y"}]}`))
	f.Add(200, []byte(`{"success":false,"errors":[]}`))
	c := &Client{system: "sf"}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		check := func(e *tandem.Error) {
			t.Helper()
			if e.System != "sf" || e.Op != "op" {
				t.Fatalf("%+v: system or op not kept", e)
			}
			if !utf8.ValidString(e.Message) || len(e.Message) > 4096 {
				t.Fatalf("message of %d bytes, or not UTF-8: %q", len(e.Message), e.Message)
			}
		}
		err := c.apiError("op", &connectors.Response{Status: status, Body: body})
		var e *tandem.Error
		if !errors.As(err, &e) {
			t.Fatalf("%T %v: not a *tandem.Error", err, err)
		}
		check(e)
		// Retryable for the status or code, or for a cause in the message
		// (which may lie past the part kept).
		must := status == http.StatusTooManyRequests || status >= 500 || retryableCodes[e.Code] || retryableMessage(e.Message)
		may := must || retryableMessage(string(body))
		if e.Status != status || must && !e.Retryable || e.Retryable && !may {
			t.Fatalf("%+v: status %d, retryable %v", e, status, e.Retryable)
		}
		if e.Code == "INVALID_SESSION_ID" && !errors.Is(err, errAuth) {
			t.Fatalf("%+v: an expired session is not an auth error", e)
		}
		if gjson.ValidBytes(body) {
			check(c.recordError("op", gjson.ParseBytes(body)))
		}
	})
}
