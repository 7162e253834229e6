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
// though their HTTP status says otherwise.
var retryableCodes = map[string]bool{
	"UNABLE_TO_LOCK_ROW": true, // another transaction holds the record
	"SERVER_UNAVAILABLE": true,
	// The record itself was fine; another one of an allOrNone call was not.
	"ALL_OR_NONE_OPERATION_ROLLED_BACK": true,
	// The org's rolling 24-hour API allowance, or its concurrent long
	// requests, are used up: both free up with time. Setting the writes
	// aside as permanent failures would lose them for a quota.
	"REQUEST_LIMIT_EXCEEDED": true,
}

// call sends one API request with the org's session. If Salesforce says
// the session is over (401 INVALID_SESSION_ID: expired, revoked, or the
// org's session timeout), the token is dropped and the call made once more
// with a new one. A status of 300 or more comes back as a *tandem.Error.
func (c *Client) call(ctx context.Context, op, method, url string, body []byte) (*connectors.Response, error) {
	header := http.Header{"Accept": {"application/json"}}
	for attempt := 0; ; attempt++ {
		tok, err := c.tokens.token(ctx)
		if err != nil {
			return nil, c.tokenError(ctx, err)
		}
		resp, err := c.http.Do(ctx, op, method, url, header, body)
		if err != nil {
			return nil, err
		}
		if resp.Status == http.StatusUnauthorized && attempt == 0 {
			c.tokens.invalidate(tok.AccessToken)
			continue
		}
		if resp.Status >= 300 {
			return nil, c.apiError(op, resp)
		}
		return resp, nil
	}
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
	e.Retryable = resp.Status == http.StatusTooManyRequests || resp.Status >= 500 || retryableCodes[e.Code]
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
	e.Retryable = retryableCodes[e.Code]
	return e
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
