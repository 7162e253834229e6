package salesforce

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors"
)

// maxBatch is the most records one sObject Collections call takes.
const maxBatch = 200

// WriteBatch is the push batch the engine sends Apply: one Collections
// call's worth (connectors.Batcher).
func (c *Client) WriteBatch() int { return maxBatch }

var _ connectors.Batcher = (*Client)(nil)

var idRE = regexp.MustCompile(`^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$`)

// Apply writes to object through sObject Collections, 200 records a call,
// keeping the order of writes: a run of writes of one kind goes in one
// call; updates of records modified within the conditional window go 25
// a call through Composite, each with If-Unmodified-Since (conditional.go). Every call is
// idempotent, so any of them may be retried:
//
//   - create upserts on the External ID field, set to Write.Key: a create
//     retried after a crash finds the record it made (created:false);
//   - update sets the fields of Write.Payload on the record Write.ID;
//   - delete moves Write.ID to the recycle bin; deleting a record already
//     there succeeds.
//
// Calls use allOrNone=false: one bad record fails alone. Result.Record is
// nil, as Salesforce answers with ids only.
//
// Apply returns an error only when nothing was written: the session could
// not be had, or Salesforce could not be reached, on the first call. After
// that, such a failure is set on every write not yet done.
func (c *Client) Apply(ctx context.Context, object string, writes []tandem.Write) ([]tandem.Result, error) {
	if !nameRE.MatchString(object) {
		return nil, &tandem.Error{Op: "apply " + object, System: c.system, Message: fmt.Sprintf("%q is not a Salesforce object name", object)}
	}
	results := make([]tandem.Result, len(writes))
	reached := false
	for start := 0; start < len(writes); {
		end := start + 1
		var err error
		if c.conditional(writes[start]) {
			for end < len(writes) && end-start < maxSubrequests && c.conditional(writes[end]) {
				end++
			}
			err = c.applyConditional(ctx, object, writes[start:end], results[start:end]) // conditional.go
		} else {
			for end < len(writes) && end-start < maxBatch && writes[end].Op == writes[start].Op && !c.conditional(writes[end]) {
				end++
			}
			err = c.applyBatch(ctx, object, writes[start:end], results[start:end])
		}
		if err != nil {
			upTo := end
			if stopsAll(ctx, err) {
				if !reached {
					return nil, err
				}
				upTo = len(writes)
			}
			for i := start; i < upTo; i++ {
				if results[i].Err == nil { // keep a write's own, earlier failure
					results[i] = tandem.Result{ID: writes[i].ID, Err: err}
				}
			}
			if upTo == len(writes) {
				return results, nil
			}
		}
		reached = true
		start = end
	}
	return results, nil
}

// KeyPath is the External ID field creates upsert by and set to Tandem's
// key (connectors.Keyed): the engine reads it with the mapped fields, to
// know the records Tandem created.
func (c *Client) KeyPath(object string) string { return c.extID }

// KeySetup says how to make the External ID field (README: "The External
// ID field it needs").
func (c *Client) KeySetup(object string) string {
	return fmt.Sprintf("in Setup, Object Manager, %s, Fields & Relationships: New, Text(255), named %s, with Unique (case-sensitive) and External ID ticked",
		object, strings.TrimSuffix(c.extID, "__c"))
}

// stopsAll tells a failure every later call would share: no session, the
// org unreachable or overloaded, the caller gone.
func stopsAll(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, errAuth) || tandem.IsRetryable(err)
}

// applyBatch makes one collection call for writes of one kind, filling
// out. A failure of the whole call is returned; a record's own failure goes
// in its Result.
func (c *Client) applyBatch(ctx context.Context, object string, writes []tandem.Write, out []tandem.Result) error {
	kind := writes[0].Op
	op := "apply " + object + " " + string(kind)
	fail := func(i int, format string, args ...any) {
		out[i] = tandem.Result{ID: writes[i].ID, Err: &tandem.Error{Op: op, System: c.system, Message: fmt.Sprintf(format, args...)}}
	}
	var sent []int // indexes into writes of the records in the call
	var records []string
	var ids []string
	for i, w := range writes {
		switch kind {
		case tandem.OpCreate, tandem.OpUpdate:
			rec, err := c.record(object, w)
			if err != nil {
				fail(i, "%v", err)
				continue
			}
			records = append(records, rec)
		case tandem.OpDelete:
			if !idRE.MatchString(w.ID) {
				fail(i, "delete needs the record's 15- or 18-character id, got %q", w.ID)
				continue
			}
			ids = append(ids, w.ID)
		default:
			fail(i, "unknown write op %q", w.Op)
			continue
		}
		sent = append(sent, i)
	}
	if len(sent) == 0 {
		return nil
	}

	var method, target string
	var body []byte
	switch kind {
	case tandem.OpCreate:
		method, target = http.MethodPatch, c.data+"/composite/sobjects/"+object+"/"+c.extID
	case tandem.OpUpdate:
		method, target = http.MethodPatch, c.data+"/composite/sobjects"
	case tandem.OpDelete:
		method, target = http.MethodDelete, c.data+"/composite/sobjects?allOrNone=false&ids="+url.QueryEscape(strings.Join(ids, ","))
	}
	if kind != tandem.OpDelete {
		body = []byte(`{"allOrNone":false,"records":[` + strings.Join(records, ",") + `]}`)
	}
	resp, err := c.call(ctx, connectors.Write, op, method, target, body)
	if err != nil {
		return err
	}
	res := gjson.ParseBytes(resp.Body)
	if !gjson.ValidBytes(resp.Body) || !res.IsArray() || len(res.Array()) != len(sent) {
		// Salesforce answers in input order, one result per record. Without
		// that the outcome of each is unknown; every write here is
		// idempotent, so trying again is safe.
		return &tandem.Error{Op: op, System: c.system, Status: resp.Status, Retryable: true,
			Message: fmt.Sprintf("expected %d results in a JSON array, got: %s", len(sent), clip(string(resp.Body), 200))}
	}
	for k, r := range res.Array() {
		i := sent[k]
		out[i] = c.result(op, writes[i], r)
	}
	return nil
}

// record builds the body of one create or update: the payload's fields
// with attributes.type and, for a create, the external id set to the
// write's key; for an update, the id.
func (c *Client) record(object string, w tandem.Write) (string, error) {
	p := w.Payload
	if len(p) == 0 {
		p = []byte("{}")
	}
	if !gjson.ValidBytes(p) || !gjson.ParseBytes(p).IsObject() {
		return "", fmt.Errorf("payload is not a JSON object: %s", clip(string(p), 100))
	}
	// Any id in the payload is the caller's mistake or a copy of a record
	// read earlier; the write's own id or key decides which record it is.
	var drop []string
	gjson.ParseBytes(p).ForEach(func(k, _ gjson.Result) bool {
		if strings.EqualFold(k.String(), "id") || k.String() == "attributes" {
			drop = append(drop, k.String())
		}
		return true
	})
	var err error
	for _, k := range drop {
		if p, err = sjson.DeleteBytes(p, k); err != nil {
			return "", err
		}
	}
	p, err = sjson.SetRawBytes(p, "attributes", []byte(`{"type":`+strconv.Quote(object)+`}`))
	if err != nil {
		return "", err
	}
	switch w.Op {
	case tandem.OpCreate:
		if w.Key == "" {
			return "", fmt.Errorf("create has no Key: without one it cannot be made idempotent")
		}
		p, err = sjson.SetBytes(p, c.extID, w.Key)
	case tandem.OpUpdate:
		if !idRE.MatchString(w.ID) {
			return "", fmt.Errorf("update needs the record's 15- or 18-character id, got %q", w.ID)
		}
		p, err = sjson.SetBytes(p, "id", w.ID)
	}
	return string(p), err
}

// result reads one record's outcome.
func (c *Client) result(op string, w tandem.Write, r gjson.Result) tandem.Result {
	id := w.ID
	if v := r.Get("id"); v.Exists() && v.Type != gjson.Null && v.String() != "" {
		// Results come in the order of the records sent, so this one is
		// the write's: an id that is not a Salesforce id, or another
		// record's, leaves its outcome unknown. Writes are idempotent, so
		// sending it again is safe, and tells.
		if v.Type != gjson.String || !idRE.MatchString(v.Str) || w.ID != "" && v.Str[:15] != w.ID[:15] {
			return tandem.Result{ID: w.ID, Err: &tandem.Error{Op: op, System: c.system, Retryable: true,
				Message: fmt.Sprintf("the result in the place of %s names the record %s: %s", cmp.Or(w.ID, w.Key), clip(v.Raw, 40), clip(r.Raw, 200))}}
		}
		id = v.Str
	}
	if r.Get("success").Bool() {
		if id == "" {
			return tandem.Result{Err: &tandem.Error{Op: op, System: c.system, Retryable: true, Message: "success reported without an id: " + clip(r.Raw, 200)}}
		}
		return tandem.Result{ID: id}
	}
	e := c.recordError(op, r)
	onRecord := recordLevel(r)
	switch {
	case w.Op == tandem.OpDelete && e.Code == "ENTITY_IS_DELETED" && onRecord:
		// Already in the recycle bin: what the write asked for is done,
		// which is what a retried delete must find.
		return tandem.Result{ID: id}
	case w.Op != tandem.OpCreate && onRecord && (e.Code == "ENTITY_IS_DELETED" || e.Code == "INVALID_CROSS_REFERENCE_KEY"):
		e.Err = tandem.ErrNotFound
	}
	return tandem.Result{ID: id, Err: e}
}

// recordLevel reports whether a failure is about the record itself rather
// than one of its fields: INVALID_CROSS_REFERENCE_KEY on AccountId means a
// bad lookup, not a missing contact.
func recordLevel(r gjson.Result) bool {
	for _, f := range r.Get("errors.0.fields").Array() {
		if !strings.EqualFold(f.String(), "Id") {
			return false
		}
	}
	return true
}
