package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors"
)

// Apply makes the writes one by one, in order (a REST API has no batch
// endpoint in common). A create is idempotent the way the object's
// create: says, never a POST sent blindly twice:
//
//   - search: the record holding Tandem's key is looked for first (the
//     answer to an earlier try may have been lost) and, when found, is the
//     create's result, as it is: not overwritten. The POST itself is not
//     retried by the client (connectors.Once); a failure is retryable, and
//     the retry searches again.
//   - unique: the API keeps Tandem's key unique (an index), so the POST is
//     retried freely; a refusal (409, 400, 422) is answered by the search.
//   - header: the POST carries the key in an idempotency-key header, which
//     the API answers a repeat of with the first record.
//
// A create the API refuses because another record holds a unique value
// (the unique: queries find it) is a *tandem.ExistsError naming that
// record. An update is conditional where the object says so
// (concurrency: etag or version): a record modified since Write.Unmodified,
// or a refused If-Match (412) or version (409), is a retryable error
// wrapping tandem.ErrConflict, so the engine reads and merges it first.
func (c *Client) Apply(ctx context.Context, object string, writes []tandem.Write) ([]tandem.Result, error) {
	op := "apply " + object
	ob, err := c.object(op, object)
	if err != nil {
		return nil, err
	}
	out := make([]tandem.Result, len(writes))
	for i, w := range writes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch w.Op {
		case tandem.OpCreate:
			out[i] = c.create(ctx, op, ob, w)
		case tandem.OpUpdate:
			out[i] = c.update(ctx, op, ob, w)
		case tandem.OpDelete:
			out[i] = c.delete(ctx, op, ob, w)
		default:
			out[i].Err = &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("unknown write %q", w.Op)}
		}
	}
	return out, nil
}

func (c *Client) recordURL(ob objectOptions, id string) string {
	return c.base + strings.ReplaceAll(ob.RecordPath, "{id}", escapeID(id))
}

func escapeID(id string) string {
	return strings.NewReplacer("/", "%2F", "?", "%3F", "#", "%23").Replace(id)
}

func (c *Client) create(ctx context.Context, op string, ob objectOptions, w tandem.Write) tandem.Result {
	payload := []byte(w.Payload)
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	var header http.Header
	postCtx := ctx
	switch ob.Create {
	case "off":
		return tandem.Result{Err: &tandem.Error{Op: op, System: c.name, Code: "CREATE_OFF",
			Message: "creates are off for this object: set key and key_query (create: search or unique), or create: header"}}
	case "header":
		header = http.Header{ob.IdemHeader: {w.Key}}
	case "search":
		if r, found, err := c.findKey(ctx, op, ob, w.Key); err != nil || found {
			return resultOf(r, err)
		}
		postCtx = connectors.Once(ctx)
	}
	if ob.Key != "" {
		var err error
		if payload, err = sjson.SetBytes(payload, ob.Key, w.Key); err != nil {
			return tandem.Result{Err: &tandem.Error{Op: op, System: c.name, Message: "cannot set the key in the payload", Err: err}}
		}
	}
	resp, err := c.call(postCtx, connectors.Write, op, http.MethodPost, c.url(ob.Path, nil), header, payload)
	if err != nil {
		return tandem.Result{Err: err}
	}
	if ok(resp) {
		return c.written(op, ob, resp)
	}
	if refusedUnique(resp.Status) {
		if ob.Key != "" && len(ob.KeyQuery) > 0 {
			if r, found, err := c.findKey(ctx, op, ob, w.Key); err != nil || found {
				return resultOf(r, err)
			}
		}
		if x, err := c.holder(ctx, op, ob, payload); err != nil || x != nil {
			if err == nil {
				err = x
			}
			return tandem.Result{Err: err}
		}
	}
	return tandem.Result{Err: c.failed(op, resp)}
}

// refusedUnique: the statuses APIs refuse a duplicate unique value with
// (409; PocketBase and many others validate it as a 400 or 422).
func refusedUnique(status int) bool {
	return status == http.StatusConflict || status == http.StatusBadRequest || status == http.StatusUnprocessableEntity
}

func resultOf(r tandem.Record, err error) tandem.Result {
	if err != nil {
		return tandem.Result{Err: err}
	}
	return tandem.Result{ID: r.ID, Record: &r}
}

// findKey looks for the live record that holds Tandem's key.
func (c *Client) findKey(ctx context.Context, op string, ob objectOptions, key string) (tandem.Record, bool, error) {
	recs, err := c.list(ctx, op, ob, expand(ob.KeyQuery, map[string]string{"key": key}))
	if err != nil {
		return tandem.Record{}, false, err
	}
	for _, r := range recs {
		if gjson.GetBytes(r.Raw, ob.Key).String() == key && !r.Deleted {
			return r, true, nil
		}
	}
	return tandem.Record{}, false, nil
}

// holder is the ExistsError of a create refused for a unique value:
// the first unique: query that finds another record holding the
// payload's value.
func (c *Client) holder(ctx context.Context, op string, ob objectOptions, payload []byte) (*tandem.ExistsError, error) {
	for path, q := range ob.Unique {
		v := gjson.GetBytes(payload, path)
		if !v.Exists() || v.String() == "" {
			continue
		}
		recs, err := c.list(ctx, op, ob, expand(q, map[string]string{"value": v.String()}))
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if !r.Deleted && strings.EqualFold(gjson.GetBytes(r.Raw, path).String(), v.String()) {
				return &tandem.ExistsError{RecordID: r.ID, Path: path}, nil
			}
		}
	}
	return nil, nil
}

// written is the result of a write the API accepted: the record it
// answered with, when it answered with one.
func (c *Client) written(op string, ob objectOptions, resp *connectors.Response) tandem.Result {
	if !gjson.ValidBytes(resp.Body) {
		return tandem.Result{Err: &tandem.Error{Op: op, System: c.name, Status: resp.Status, Message: "the answer to a write is not JSON"}}
	}
	rec, err := parseRecord(ob, gjson.ParseBytes(resp.Body))
	if err != nil {
		if rec.ID != "" {
			return tandem.Result{ID: rec.ID}
		}
		return tandem.Result{Err: &tandem.Error{Op: op, System: c.name, Status: resp.Status, Message: "the answer to a write names no record: " + err.Error()}}
	}
	return tandem.Result{ID: rec.ID, Record: &rec}
}

func (c *Client) update(ctx context.Context, op string, ob objectOptions, w tandem.Write) tandem.Result {
	if w.ID == "" {
		return tandem.Result{Err: &tandem.Error{Op: op, System: c.name, Message: "an update needs the record's id"}}
	}
	payload := []byte(w.Payload)
	method := http.MethodPatch
	header := http.Header{}
	if ob.Update == "put" || ob.Concurrency != "none" {
		cur, etag, err := c.get(ctx, op, ob, w.ID)
		if err != nil {
			return tandem.Result{Err: err}
		}
		if !w.Unmodified.IsZero() && cur.Modified.After(w.Unmodified) {
			return tandem.Result{Err: conflict(op, c.name, "the record was modified after it was read for this write")}
		}
		switch ob.Concurrency {
		case "etag":
			if etag == "" {
				return tandem.Result{Err: &tandem.Error{Op: op, System: c.name, Message: "concurrency: etag, but the record was read without an ETag"}}
			}
			header.Set("If-Match", etag)
		case "version":
			v := gjson.GetBytes(cur.Raw, ob.Version)
			if payload, err = sjson.SetRawBytes(orEmpty(payload), ob.Version, []byte(v.Raw)); err != nil || !v.Exists() {
				return tandem.Result{Err: &tandem.Error{Op: op, System: c.name, Message: "concurrency: version, but the record has no " + ob.Version}}
			}
		}
		if ob.Update == "put" {
			method = http.MethodPut
			if payload, err = merge(cur.Raw, payload); err != nil {
				return tandem.Result{Err: &tandem.Error{Op: op, System: c.name, Message: "cannot merge the write into the record", Err: err}}
			}
		}
	}
	resp, err := c.call(ctx, connectors.Write, op, method, c.recordURL(ob, w.ID), header, payload)
	switch {
	case err != nil:
		return tandem.Result{Err: err}
	case ok(resp):
		r := c.written(op, ob, resp)
		if r.ID == "" {
			r.ID = w.ID
		}
		if r.Err != nil {
			r = tandem.Result{ID: w.ID} // applied; the answer is just not a record
		}
		return r
	case resp.Status == http.StatusPreconditionFailed || resp.Status == http.StatusConflict && ob.Concurrency != "none":
		return tandem.Result{Err: conflict(op, c.name, fmt.Sprintf("the API refused the conditional write (HTTP %d): the record changed", resp.Status))}
	case resp.Status == http.StatusNotFound:
		return tandem.Result{Err: &tandem.Error{Op: op, System: c.name, Status: resp.Status, Message: "no such record", Err: tandem.ErrNotFound}}
	}
	return tandem.Result{Err: c.failed(op, resp)}
}

func orEmpty(b []byte) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

// merge sets each field of a write into the whole record, for a PUT.
func merge(record, payload []byte) ([]byte, error) {
	out := []byte(record)
	var err error
	gjson.ParseBytes(payload).ForEach(func(k, v gjson.Result) bool {
		out, err = sjson.SetRawBytes(out, gjson.Escape(k.String()), []byte(v.Raw))
		return err == nil
	})
	return out, err
}

func conflict(op, system, msg string) error {
	return &tandem.Error{Op: op, System: system, Code: "CONFLICT", Message: msg, Retryable: true, Err: tandem.ErrConflict}
}

func (c *Client) delete(ctx context.Context, op string, ob objectOptions, w tandem.Write) tandem.Result {
	resp, err := c.call(ctx, connectors.Write, op, http.MethodDelete, c.recordURL(ob, w.ID), nil, nil)
	switch {
	case err != nil:
		return tandem.Result{Err: err}
	case ok(resp) || resp.Status == http.StatusNotFound || resp.Status == http.StatusGone:
		return tandem.Result{ID: w.ID} // gone already: what a repeat of the delete finds
	}
	return tandem.Result{Err: c.failed(op, resp)}
}

// get reads one record by id, with its ETag. A record that is not there
// is tandem.ErrNotFound.
func (c *Client) get(ctx context.Context, op string, ob objectOptions, id string) (tandem.Record, string, error) {
	resp, err := c.call(ctx, connectors.Read, op, http.MethodGet, c.recordURL(ob, id), nil, nil)
	switch {
	case err != nil:
		return tandem.Record{}, "", err
	case resp.Status == http.StatusNotFound || resp.Status == http.StatusGone:
		return tandem.Record{}, "", &tandem.Error{Op: op, System: c.name, Status: resp.Status, Message: "record " + id, Err: tandem.ErrNotFound}
	case !ok(resp):
		return tandem.Record{}, "", c.failed(op, resp)
	}
	if !gjson.ValidBytes(resp.Body) {
		return tandem.Record{}, "", &tandem.Error{Op: op, System: c.name, Message: "the record is not JSON"}
	}
	rec, err := parseRecord(ob, gjson.ParseBytes(resp.Body))
	if err != nil {
		return tandem.Record{}, "", &unparsed{op: op, system: c.name, r: tandem.Rejected{ID: id, Raw: json.RawMessage(resp.Body), Reason: err.Error()}}
	}
	return rec, resp.Header.Get("ETag"), nil
}

// unparsed is a record read by id that cannot be parsed (no updated-at,
// say): Fetch returns it in a tandem.RejectedError, never takes it for
// gone.
type unparsed struct {
	op, system string
	r          tandem.Rejected
}

func (e *unparsed) Error() string {
	return fmt.Sprintf("%s: %s: record %s: %s", e.system, e.op, e.r.ID, e.r.Reason)
}

// list reads the records a list query finds (one page of page_size: a
// search by key or by a unique value finds one or two). A record that
// cannot be parsed fails the call; see listAll.
func (c *Client) list(ctx context.Context, op string, ob objectOptions, q map[string][]string) ([]tandem.Record, error) {
	recs, rejected, err := c.listAll(ctx, op, ob, q)
	if err == nil && len(rejected) > 0 {
		err = &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("record %s of the answer: %s", rejected[0].ID, rejected[0].Reason)}
	}
	return recs, err
}

// listAll is list with the records that cannot be parsed apart, each with
// its id; one without an id fails the call.
func (c *Client) listAll(ctx context.Context, op string, ob objectOptions, q map[string][]string) ([]tandem.Record, []tandem.Rejected, error) {
	resp, err := c.call(ctx, connectors.Read, op, http.MethodGet, c.url(ob.Path, q), nil, nil)
	if err != nil {
		return nil, nil, err
	}
	if !ok(resp) {
		return nil, nil, c.failed(op, resp)
	}
	list, err := records(ob, resp.Body)
	if err != nil {
		return nil, nil, &tandem.Error{Op: op, System: c.name, Message: err.Error()}
	}
	var out []tandem.Record
	var rejected []tandem.Rejected
	for _, r := range list {
		rec, err := parseRecord(ob, r)
		switch {
		case err != nil && rec.ID == "":
			return nil, nil, &tandem.Error{Op: op, System: c.name, Message: "a record of the answer: " + err.Error()}
		case err != nil:
			rejected = append(rejected, tandem.Rejected{ID: rec.ID, Raw: json.RawMessage(r.Raw), Reason: err.Error()})
		default:
			out = append(out, rec)
		}
	}
	return out, rejected, nil
}
