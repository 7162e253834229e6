package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

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
// again in the gap) goes alone with that header, at the price of one call
// for it instead of a 200th of one; the others go in batches, unguarded.
//
// What remains: an edit made in the same second as the record's change
// that the re-read saw (HTTP dates have whole seconds, and Salesforce's
// stamps too), and edits in the gap of records not modified within the
// window.

// conditional reports whether an update goes alone with If-Unmodified-Since.
func (c *Client) conditional(w tandem.Write) bool {
	return w.Op == tandem.OpUpdate && c.window > 0 && !w.Unmodified.IsZero() && c.now().Sub(w.Unmodified) < c.window
}

// applyRow sends one update through sObject Rows, conditional on the
// record not being modified after w.Unmodified, and sets its result. A
// failure of the call itself (no session, the org unreachable) is
// returned, as for a batch; the record's own failure goes in out.
func (c *Client) applyRow(ctx context.Context, object string, w tandem.Write, out *tandem.Result) error {
	op := "apply " + object + " update"
	rec, err := c.record(object, w)
	if err != nil {
		*out = tandem.Result{ID: w.ID, Err: &tandem.Error{Op: op, System: c.system, Message: err.Error()}}
		return nil
	}
	// The body of sObject Rows is the fields alone: no attributes, no id.
	body, err := rowBody(rec)
	if err != nil {
		*out = tandem.Result{ID: w.ID, Err: &tandem.Error{Op: op, System: c.system, Message: err.Error()}}
		return nil
	}
	extra := http.Header{"If-Unmodified-Since": {w.Unmodified.UTC().Format(http.TimeFormat)}}
	_, err = c.callWith(ctx, connectors.Write, op, http.MethodPatch, c.data+"/sobjects/"+object+"/"+w.ID, extra, body)
	var e *tandem.Error
	switch {
	case err == nil:
		*out = tandem.Result{ID: w.ID}
	case errors.As(err, &e) && e.Status == http.StatusPreconditionFailed:
		// Edited since the re-read: not written. Retryable, so the intent
		// waits; the next re-read merges the edit before writing again.
		e.Retryable, e.Err = true, tandem.ErrConflict
		e.Message = fmt.Sprintf("modified after %s, since Tandem read it: not overwritten (%s)", w.Unmodified.UTC().Format(time.RFC3339), e.Message)
		*out = tandem.Result{ID: w.ID, Err: e}
	case errors.As(err, &e) && (e.Status == http.StatusBadRequest || e.Status == http.StatusNotFound):
		if e.Status == http.StatusNotFound {
			e.Err = tandem.ErrNotFound
		}
		*out = tandem.Result{ID: w.ID, Err: e}
	default:
		return err
	}
	return nil
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
