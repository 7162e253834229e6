package hubspot

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"tandem"
)

// maxBatch is how many inputs one HubSpot batch call takes.
const maxBatch = 100

// group is one batch input and the writes it stands for: writes in one
// Apply that target the same record are merged into one input, since
// HubSpot refuses a batch that names a record twice.
type group struct {
	key    string // what the response is matched by: id or idProperty value
	trace  string // its objectWriteTraceId, unique in the Apply
	writes []int
	props  map[string]string
}

// applyRun holds the results of one Apply as they are settled.
type applyRun struct {
	op      string
	results []tandem.Result
	done    []bool
}

func (r *applyRun) settle(i int, res tandem.Result) {
	r.results[i], r.done[i] = res, true
}

// applyRecords writes to one object's records. Consecutive writes of the same kind go
// together, in batches of at most 100, and the kinds keep their order:
// creates as batch/upsert by the object's id property, updates as
// batch/update by id, deletes as batch/archive. Results are matched to
// writes by id or id property value, never by position, because HubSpot
// does not return batch results in input order.
func (c *Client) applyRecords(ctx context.Context, object string, writes []tandem.Write) ([]tandem.Result, error) {
	run := &applyRun{op: "apply " + object, results: make([]tandem.Result, len(writes)), done: make([]bool, len(writes))}
	for start := 0; start < len(writes); {
		end := start + 1
		for end < len(writes) && writes[end].Op == writes[start].Op {
			end++
		}
		var err error
		switch writes[start].Op {
		case tandem.OpCreate:
			err = c.creates(ctx, object, writes, start, end, run)
		case tandem.OpUpdate:
			err = c.updates(ctx, object, writes, start, end, run)
		case tandem.OpDelete:
			err = c.deletes(ctx, object, writes, start, end, run)
		default:
			for i := start; i < end; i++ {
				run.settle(i, tandem.Result{Err: c.permanent(run.op, "unknown write op %q", writes[i].Op)})
			}
		}
		if err != nil {
			for i := range writes {
				if !run.done[i] {
					run.settle(i, tandem.Result{Err: err})
				}
			}
			return run.results, err
		}
		start = end
	}
	c.findOverwritten(ctx, object, writes, run.results) // gap.go
	return run.results, nil
}

func (c *Client) permanent(op, format string, args ...any) *tandem.Error {
	return &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf(format, args...)}
}

// normKey is how HubSpot compares values of an id property: emails
// without case or surrounding space, anything else exactly.
func normKey(idProp, v string) string {
	if idProp == "email" {
		return strings.ToLower(strings.TrimSpace(v))
	}
	return v
}

// grouper merges writes by key, keeping first-seen order; a later write's
// properties win over an earlier one's.
type grouper struct {
	groups []*group
	byKey  map[string]*group
}

func (g *grouper) add(key string, i int, props map[string]string) {
	if g.byKey == nil {
		g.byKey = map[string]*group{}
	}
	if gr := g.byKey[key]; gr != nil {
		gr.writes = append(gr.writes, i)
		for k, v := range props {
			gr.props[k] = v
		}
		return
	}
	gr := &group{key: key, trace: strconv.Itoa(len(g.groups)), writes: []int{i}, props: props}
	g.groups = append(g.groups, gr)
	g.byKey[key] = gr
}

func (c *Client) creates(ctx context.Context, object string, writes []tandem.Write, start, end int, run *applyRun) error {
	idProp := c.createProperty(object)
	byKey := idProp != "" && idProp == c.keyProp && c.KeyPath(object) != ""
	var g grouper
	for i := start; i < end; i++ {
		if idProp == "" {
			run.settle(i, tandem.Result{Err: c.permanent(run.op,
				"creates must be idempotent, so they are upserts by a unique property, and none is configured for %s: set key_property (default %s) or id_property: {%s: <unique property>} in this system's config", object, DefaultKeyProperty, object)})
			continue
		}
		props, err := properties(writes[i].Payload)
		if err != nil {
			run.settle(i, tandem.Result{Err: c.permanent(run.op, "create: %v", err)})
			continue
		}
		if byKey {
			// Tandem's key, set by Tandem alone: see DefaultKeyProperty.
			if writes[i].Key == "" {
				run.settle(i, tandem.Result{Err: c.permanent(run.op, "create without a key: creates are upserts by %s (key_property), which holds it", idProp)})
				continue
			}
			props[idProp] = writes[i].Key
		}
		v := props[idProp]
		if strings.TrimSpace(v) == "" {
			run.settle(i, tandem.Result{Err: c.permanent(run.op,
				"create without properties.%s: creates are upserts by %s (id_property) so a retry cannot make a duplicate, and this one has no value to upsert by", idProp, idProp)})
			continue
		}
		g.add(normKey(idProp, v), i, props)
	}
	inputs := func(chunk []*group) any {
		type upsertInput struct {
			ID         string            `json:"id"`
			IDProperty string            `json:"idProperty"`
			TraceID    string            `json:"objectWriteTraceId"`
			Properties map[string]string `json:"properties"`
		}
		in := make([]upsertInput, len(chunk))
		for j, gr := range chunk {
			in[j] = upsertInput{ID: gr.props[idProp], IDProperty: idProp, TraceID: gr.trace, Properties: gr.props}
		}
		return map[string]any{"inputs": in}
	}
	keyOf := func(obj gjson.Result) string {
		if idProp == "hs_object_id" {
			return obj.Get("id").String()
		}
		return normKey(idProp, obj.Get("properties").Get(gjson.Escape(idProp)).String())
	}
	return c.batches(ctx, run, "/crm/v3/objects/"+url.PathEscape(object)+"/batch/upsert", g.groups, inputs, keyOf, func(id string) string { return normKey(idProp, id) })
}

func (c *Client) updates(ctx context.Context, object string, writes []tandem.Write, start, end int, run *applyRun) error {
	var g grouper
	for i := start; i < end; i++ {
		if writes[i].ID == "" {
			run.settle(i, tandem.Result{Err: c.permanent(run.op, "update without a record id")})
			continue
		}
		props, err := properties(writes[i].Payload)
		if err != nil {
			run.settle(i, tandem.Result{ID: writes[i].ID, Err: c.permanent(run.op, "update %s: %v", writes[i].ID, err)})
			continue
		}
		g.add(writes[i].ID, i, props)
	}
	inputs := func(chunk []*group) any {
		type updateInput struct {
			ID         string            `json:"id"`
			TraceID    string            `json:"objectWriteTraceId"`
			Properties map[string]string `json:"properties"`
		}
		in := make([]updateInput, len(chunk))
		for j, gr := range chunk {
			in[j] = updateInput{ID: gr.key, TraceID: gr.trace, Properties: gr.props}
		}
		return map[string]any{"inputs": in}
	}
	keyOf := func(obj gjson.Result) string { return obj.Get("id").String() }
	return c.batches(ctx, run, "/crm/v3/objects/"+url.PathEscape(object)+"/batch/update", g.groups, inputs, keyOf, func(id string) string { return id })
}

func (c *Client) deletes(ctx context.Context, object string, writes []tandem.Write, start, end int, run *applyRun) error {
	var g grouper
	for i := start; i < end; i++ {
		if writes[i].ID == "" {
			run.settle(i, tandem.Result{Err: c.permanent(run.op, "delete without a record id")})
			continue
		}
		g.add(writes[i].ID, i, nil)
	}
	inputs := func(chunk []*group) any {
		type idInput struct {
			ID string `json:"id"`
		}
		in := make([]idInput, len(chunk))
		for j, gr := range chunk {
			in[j] = idInput{ID: gr.key}
		}
		return map[string]any{"inputs": in}
	}
	// batch/archive answers 204 with no body: done, missing ids included
	// (archiving what is gone is what a delete wants).
	return c.batches(ctx, run, "/crm/v3/objects/"+url.PathEscape(object)+"/batch/archive", g.groups, inputs, nil, nil)
}

// batches sends groups in batches of maxBatch and settles their writes.
// keyOf names a result object's group; errKey normalises an id found in an
// error's context. It returns an error only when the rest of the Apply is
// pointless (see fatal).
func (c *Client) batches(ctx context.Context, run *applyRun, path string, groups []*group, inputs func([]*group) any,
	keyOf func(gjson.Result) string, errKey func(string) string) error {
	b := &batcher{c: c, run: run, path: path, inputs: inputs, keyOf: keyOf, errKey: errKey}
	for start := 0; start < len(groups); start += maxBatch {
		b.budget = maxIsolationCalls
		if err := b.send(ctx, groups[start:min(start+maxBatch, len(groups))]); err != nil {
			return err
		}
	}
	return nil
}

// match settles each group from the object in results that carries its
// key, or from the error in errors[] whose context names it.
func (c *Client) match(run *applyRun, status int, body []byte, chunk []*group, keyOf func(gjson.Result) string, errKey func(string) string) {
	if !gjson.ValidBytes(body) {
		// The writes may have happened; they are idempotent, so another
		// try is safe and will tell.
		err := &tandem.Error{Op: run.op, System: c.name, Status: status, Retryable: true, Message: fmt.Sprintf("batch response is not JSON: %.200q", body)}
		for _, gr := range chunk {
			for _, i := range gr.writes {
				run.settle(i, tandem.Result{Err: err})
			}
		}
		return
	}
	doc := gjson.ParseBytes(body)
	found := map[string]gjson.Result{}
	for _, obj := range doc.Get("results").Array() {
		found[keyOf(obj)] = obj
	}
	failed := map[string]gjson.Result{}
	errs := doc.Get("errors").Array()
	traces := map[string]string{} // objectWriteTraceId -> key
	for _, gr := range chunk {
		traces[gr.trace] = gr.key
	}
	for _, e := range errs {
		for _, ctxKey := range []string{"ids", "id"} {
			for _, id := range e.Get("context").Get(ctxKey).Array() {
				failed[errKey(id.String())] = e
			}
		}
		for _, t := range e.Get("context.objectWriteTraceId").Array() {
			if key, ok := traces[t.String()]; ok {
				failed[key] = e
			}
		}
	}
	for _, gr := range chunk {
		var res tandem.Result
		if obj, ok := found[gr.key]; ok {
			// A result without a string id names no record: a create
			// done as "" (or as the text of an object) would link the
			// entity to nothing. The write is idempotent; a retry tells.
			if id := obj.Get("id"); id.Type != gjson.String || id.Str == "" {
				res.Err = &tandem.Error{Op: run.op, System: c.name, Status: status, Retryable: true,
					Message: fmt.Sprintf("%s is in HubSpot's batch response without an id: %.200s", gr.key, obj.Raw)}
			} else {
				res.ID = id.Str
				if rec, err := c.parseRecord(run.op, obj); err == nil {
					res.Record = &rec
				}
			}
		} else {
			res.Err = c.missing(run.op, status, gr.key, failed, errs)
		}
		for _, i := range gr.writes {
			run.settle(i, res)
		}
	}
}

// missing is the error of a write absent from a batch's results: HubSpot's
// own error for it when there is one (permanent: the same input fails the
// same way), else a retryable one (the write is idempotent; a retry will
// show what happened).
func (c *Client) missing(op string, status int, key string, failed map[string]gjson.Result, errs []gjson.Result) error {
	e, ok := failed[key]
	if !ok && len(errs) > 0 {
		e, ok = errs[0], true
	}
	if !ok {
		return &tandem.Error{Op: op, System: c.name, Status: status, Retryable: true, Message: fmt.Sprintf("%s is missing from HubSpot's batch response", key)}
	}
	te := &tandem.Error{Op: op, System: c.name, Status: status, Code: e.Get("category").String(), Message: fmt.Sprintf("%s: %s", key, e.Get("message").String())}
	if te.Code == "OBJECT_NOT_FOUND" {
		te.Err = tandem.ErrNotFound
	}
	if x := existing(te.Message); x != nil && te.Code == "CONFLICT" {
		te.Err = x
	}
	return te
}

// properties reads a write's payload, {"properties": {...}}, as HubSpot
// takes it: strings. JSON null clears a property, which HubSpot does with
// "", and numbers and booleans are sent as their text.
func properties(payload []byte) (map[string]string, error) {
	if !gjson.ValidBytes(payload) {
		return nil, fmt.Errorf("payload is not valid JSON: %.100q", payload)
	}
	p := gjson.GetBytes(payload, "properties")
	if !p.IsObject() {
		return nil, fmt.Errorf(`payload must be {"properties": {...}}, got %.100s`, payload)
	}
	out := map[string]string{}
	var err error
	p.ForEach(func(k, v gjson.Result) bool {
		switch v.Type {
		case gjson.Null:
			out[k.String()] = ""
		case gjson.String:
			out[k.String()] = v.Str
		case gjson.Number:
			out[k.String()] = v.Raw
		case gjson.True, gjson.False:
			out[k.String()] = v.Raw
		default:
			err = fmt.Errorf("properties.%s is %s; HubSpot properties hold strings, numbers or booleans", k.String(), v.Raw)
			return false
		}
		return true
	})
	return out, err
}
