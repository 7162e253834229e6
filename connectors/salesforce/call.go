package salesforce

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
)

// retryableCodes are Salesforce error codes worth trying again later even
// though their HTTP status says otherwise. Every other code is permanent:
// a write that fails with it is set aside with Salesforce's message
// (REQUIRED_FIELD_MISSING, FIELD_CUSTOM_VALIDATION_EXCEPTION,
// INVALID_FIELD, DUPLICATE_VALUE, STRING_TOO_LONG…), since sending it
// again unchanged fails again.
var retryableCodes = map[string]bool{
	"UNABLE_TO_LOCK_ROW": true, // another transaction holds the record
	"SERVER_UNAVAILABLE": true,
	// The call ran past Salesforce's time limit for a request; it runs
	// again once the org is less busy.
	"REQUEST_RUNNING_TOO_LONG": true,
	// The record itself was fine; another one of an allOrNone call was not.
	"ALL_OR_NONE_OPERATION_ROLLED_BACK": true,
	// The org's rolling 24-hour API allowance, or its concurrent long
	// requests, are used up (403): both free up with time. Setting the
	// writes aside as permanent failures would lose them for a quota.
	"REQUEST_LIMIT_EXCEEDED": true,
}

// retryableMessage tells a failure a trigger or flow reported under its
// own code (CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY,
// CANNOT_EXECUTE_FLOW_TRIGGER) whose cause, written in the message, is one
// of the retryable codes: "…caused by: … UNABLE_TO_LOCK_ROW, unable to
// obtain exclusive access to this record".
func retryableMessage(msg string) bool {
	for code := range retryableCodes {
		if strings.Contains(msg, code) {
			return true
		}
	}
	return false
}

// call sends one API request with the org's session. If Salesforce says
// the session is over (401 INVALID_SESSION_ID: expired, revoked, or the
// org's session timeout), the token is dropped and the call made once more
// with a new one; a second 401 is an error. A status of 300 or more comes
// back as a *tandem.Error.
//
// kind is the shared client's: Read for queries, retrieves and describes
// (a retrieve POST included), Write for DML, whose calls stop when the
// daily allowance is down to its reserve.
func (c *Client) call(ctx context.Context, kind connectors.Kind, op, method, url string, body []byte) (*connectors.Response, error) {
	return c.callWith(ctx, kind, op, method, url, nil, body)
}

// callWith is call with extra request headers (If-Unmodified-Since).
func (c *Client) callWith(ctx context.Context, kind connectors.Kind, op, method, url string, extra http.Header, body []byte) (*connectors.Response, error) {
	resp, used, err := c.send(ctx, kind, op, method, url, extra, body)
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusUnauthorized {
		c.tokens.invalidate(used)
		if resp, _, err = c.send(ctx, kind, op, method, url, extra, body); err != nil {
			return nil, err
		}
	}
	if resp.Status >= 300 {
		return nil, c.apiError(op, resp)
	}
	return resp, nil
}

// send makes one call with the current session, and says which session
// it used, so a refusal drops that one and not a newer one.
func (c *Client) send(ctx context.Context, kind connectors.Kind, op, method, url string, extra http.Header, body []byte) (*connectors.Response, string, error) {
	tok, err := c.tokens.token(ctx)
	if err != nil {
		return nil, "", c.tokenError(ctx, err)
	}
	header := http.Header{
		"Accept":        {"application/json"},
		"Authorization": {"Bearer " + tok.AccessToken},
	}
	for k, v := range extra {
		header[k] = v
	}
	resp, err := c.http.DoKind(ctx, kind, op, method, url, header, body)
	return resp, tok.AccessToken, err
}

// apiError reads Salesforce's error body, [{"message","errorCode","fields"}],
// into a *tandem.Error whose Code is the errorCode.
func (c *Client) apiError(op string, resp *connectors.Response) error {
	e := &tandem.Error{Op: op, System: c.system, Status: resp.Status}
	first := gjson.ParseBytes(resp.Body)
	if first.IsArray() {
		first = first.Get("0")
	}
	switch {
	case gjson.ValidBytes(resp.Body) && first.Get("errorCode").Exists():
		e.Code = first.Get("errorCode").String()
		e.Message = withFields(strings.TrimSpace(first.Get("message").String()), first.Get("fields"))
	default:
		// Not Salesforce's JSON: a proxy, a load balancer, a maintenance page.
		e.Message = http.StatusText(resp.Status)
		if s := strings.TrimSpace(string(resp.Body)); s != "" {
			e.Message += ": " + clip(s, 200)
		}
	}
	e.Retryable = resp.Status == http.StatusTooManyRequests || resp.Status >= 500 || retryableCodes[e.Code] || retryableMessage(e.Message)
	e.Message = text(e.Message) // after the message was read for a cause
	if e.Code == "INVALID_SESSION_ID" {
		e.Err = errAuth // a new session was refused too
	}
	return e
}

// recordError turns one failed record of a collection result into a
// *tandem.Error. Several errors for one record are joined.
func (c *Client) recordError(op string, res gjson.Result) *tandem.Error {
	errs := res.Get("errors").Array()
	if len(errs) == 0 {
		return &tandem.Error{Op: op, System: c.system, Code: "UNKNOWN", Message: "Salesforce reported a failure without an error", Retryable: true}
	}
	e := &tandem.Error{Op: op, System: c.system, Code: errs[0].Get("statusCode").String()}
	var msgs []string
	for _, x := range errs {
		m := withFields(x.Get("message").String(), x.Get("fields"))
		if code := x.Get("statusCode").String(); code != e.Code {
			m = code + ": " + m
		}
		msgs = append(msgs, m)
	}
	e.Message = strings.Join(msgs, "; ")
	e.Retryable = retryableCodes[e.Code] || retryableMessage(e.Message)
	e.Message = text(e.Message)
	return e
}

// maxErrorMessage bounds what of Salesforce's error messages an error
// keeps: a record's errors are a sentence or a few; anything longer is not
// a message, and would fill logs and dead letters.
const maxErrorMessage = 1000

// text is a message of a response fit for an error: valid UTF-8, cut to
// maxErrorMessage bytes.
func text(s string) string {
	return clip(strings.ToValidUTF8(s, "\uFFFD"), maxErrorMessage)
}

// withFields appends the fields an error names, when its message does not
// already say them.
func withFields(msg string, fields gjson.Result) string {
	var names []string
	for _, f := range fields.Array() {
		if !strings.Contains(msg, f.String()) {
			names = append(names, f.String())
		}
	}
	if len(names) > 0 {
		msg += " (fields: " + strings.Join(names, ", ") + ")"
	}
	return msg
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
