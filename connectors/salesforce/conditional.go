package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors"
)

// The write gap (issue 11, case 13). The engine re-reads a record just
// before writing it and merges any edit found; an edit made between that
// re-read and the write would still be overwritten, since sObject
// Collections (200 records a call) has no condition. sObject Rows (one
// record a call) takes If-Unmodified-Since, compared with the record's
// LastModifiedDate: a record modified after it is left alone, 412. So an
// update of a record modified within the conditional window before the
// write (a record someone is editing now, the likely one to be edited
// again in the gap) goes with that header as an sObject Rows subrequest of
// a Composite call: 25 records a call (which counts as one toward the API
// limits) instead of 200. The others go in collections, unguarded.
//
// What remains: an edit made in the same second as the record's change
// that the re-read saw (HTTP dates have whole seconds, and Salesforce's
// stamps too), and edits in the gap of records not modified within the
// window.

// conditional reports whether an update goes with If-Unmodified-Since.
func (c *Client) conditional(w tandem.Write) bool {
	return w.Op == tandem.OpUpdate && c.condWindow > 0 && !w.Unmodified.IsZero() && c.now().Sub(w.Unmodified) < c.condWindow
}

// maxSubrequests is the most subrequests one Composite call takes.
const maxSubrequests = 25

// applyConditional sends up to 25 updates as sObject Rows subrequests of
// one Composite call (one call toward the API limits), each conditional
// on its record not being modified after its Write.Unmodified, and sets
// their results. A failure of the call itself (no session, the org
// unreachable) is returned, as for a batch; a record's own failure goes in
// out.
func (c *Client) applyConditional(ctx context.Context, object string, writes []tandem.Write, out []tandem.Result) error {
	op := "apply " + object + " update"
	type subrequest struct {
		Method      string            `json:"method"`
		URL         string            `json:"url"`
		ReferenceID string            `json:"referenceId"`
		HTTPHeaders map[string]string `json:"httpHeaders"`
		Body        json.RawMessage   `json:"body"`
	}
	var subs []subrequest
	byRef := map[string]int{}
	base := strings.TrimPrefix(c.data, c.instance) + "/sobjects/" + object + "/"
	for i, w := range writes {
		rec, err := c.record(object, w)
		var body []byte
		if err == nil {
			body, err = rowBody(rec) // sObject Rows takes the fields alone: no attributes, no id
		}
		if err != nil {
			out[i] = tandem.Result{ID: w.ID, Err: &tandem.Error{Op: op, System: c.system, Message: err.Error()}}
			continue
		}
		ref := "w" + strconv.Itoa(i)
		byRef[ref] = i
		subs = append(subs, subrequest{Method: http.MethodPatch, URL: base + w.ID, ReferenceID: ref,
			HTTPHeaders: map[string]string{"If-Unmodified-Since": w.Unmodified.UTC().Format(http.TimeFormat)}, Body: body})
	}
	if len(subs) == 0 {
		return nil
	}
	body, _ := json.Marshal(map[string]any{"allOrNone": false, "compositeRequest": subs})
	resp, err := c.call(ctx, connectors.Write, op, http.MethodPost, c.data+"/composite", body)
	if err != nil {
		return err
	}
	answered := map[int]bool{}
	for _, r := range gjson.GetBytes(resp.Body, "compositeResponse").Array() {
		i, ok := byRef[r.Get("referenceId").String()]
		if !ok || answered[i] {
			continue
		}
		answered[i] = true
		out[i] = c.subresult(op, writes[i], r)
	}
	for _, i := range byRef {
		if !answered[i] {
			// The outcome is unknown; the update is idempotent.
			out[i] = tandem.Result{ID: writes[i].ID, Err: &tandem.Error{Op: op, System: c.system, Status: resp.Status, Retryable: true,
				Message: "missing from the composite response: " + clip(string(resp.Body), 200)}}
		}
	}
	return nil
}

// subresult reads one subrequest's outcome.
func (c *Client) subresult(op string, w tandem.Write, r gjson.Result) tandem.Result {
	status := int(r.Get("httpStatusCode").Int())
	if status/100 == 2 {
		return tandem.Result{ID: w.ID}
	}
	first := r.Get("body")
	if first.IsArray() {
		first = first.Get("0")
	}
	e := &tandem.Error{Op: op, System: c.system, Status: status, Code: first.Get("errorCode").String(),
		Message: withFields(strings.TrimSpace(first.Get("message").String()), first.Get("fields"))}
	e.Retryable = status == http.StatusTooManyRequests || status >= 500 || retryableCodes[e.Code] || retryableMessage(e.Message)
	switch {
	case status == http.StatusPreconditionFailed:
		// Edited since the re-read: not written. Retryable, so the intent
		// waits; the next re-read merges the edit before writing again.
		e.Retryable, e.Err = true, tandem.ErrConflict
		e.Message = fmt.Sprintf("modified after %s, since Tandem read it: not overwritten (%s)", w.Unmodified.UTC().Format(time.RFC3339), e.Message)
	case status == http.StatusNotFound:
		e.Err = tandem.ErrNotFound
	}
	return tandem.Result{ID: w.ID, Err: e}
}

// rowBody is a collection record (record) without what only a
// collection takes: attributes and id.
func rowBody(rec string) ([]byte, error) {
	b, err := sjson.DeleteBytes([]byte(rec), "attributes")
	if err == nil {
		b, err = sjson.DeleteBytes(b, "id")
	}
	return b, err
}
