package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
)

// Partial failures. HubSpot validates a whole batch before it writes any
// of it: one input with a value it refuses (an option that does not exist,
// a malformed email, a property the portal lacks) and the call answers
// 400 VALIDATION_ERROR, or 409 CONFLICT for a unique value taken, for all
// of them, and writes nothing. Failing every write of the batch with that
// error would set 99 good writes aside for one bad one. So the batcher
// finds the bad inputs, fails them alone, and sends the others again:
//
//  1. An error that names inputs (by objectWriteTraceId, which every input
//     carries, or by id or idProperty value in context.ids) fails those;
//     the rest go again as one batch.
//  2. An error that names properties (errors[].context.propertyName, or the
//     verdicts HubSpot embeds in its message): an input that sets none of
//     them is innocent, and the innocents go again as one batch. A
//     property the portal lacks (PROPERTY_DOESNT_EXIST) or that cannot be
//     set (READ_ONLY_VALUE) fails every input that sets it, whatever the
//     value, so those inputs fail at once; the inputs that set a property
//     whose value was refused are bisected, as in 3.
//  3. Otherwise the batch is bisected: each half is sent, and a half that
//     is refused is isolated in turn, down to single inputs, whose refusal
//     is their own. When both halves are refused with the same message
//     and it names nothing, the refusal is the request's and not an
//     input's (a non-unique idProperty, say): every input fails with it.
//
// Sending again is safe: the refused call wrote nothing, creates are
// upserts by a unique property, updates set values, and archiving twice
// archives once. Isolation spends at most maxIsolationCalls calls per
// batch; the writes still undecided when they are spent fail as
// retryable, and the next pass isolates further.

// maxIsolationCalls bounds the calls spent isolating the bad inputs of one
// refused batch: one bad input among 100 costs about 14 by bisection.
const maxIsolationCalls = 32

// propertyLevel are the verdicts that condemn every input setting the
// property, whatever the value.
var propertyLevel = map[string]bool{"PROPERTY_DOESNT_EXIST": true, "READ_ONLY_VALUE": true}

// batcher sends the batches of one kind of write of an Apply.
type batcher struct {
	c      *Client
	run    *applyRun
	path   string
	inputs func([]*group) any
	keyOf  func(gjson.Result) string // nil: the endpoint answers 204 (batch/archive)
	errKey func(string) string
	budget int // isolation calls left for the current batch
}

// send sends chunk as one batch and settles its writes, isolating the bad
// inputs of a refused batch.
func (b *batcher) send(ctx context.Context, chunk []*group) error {
	r, err := b.try(ctx, chunk)
	if err != nil || r == nil {
		return err
	}
	return b.refused(ctx, chunk, r)
}

// try sends chunk once. It settles the writes unless HubSpot refused the
// batch for what may be some inputs' fault (400, 409), in which case it
// returns the refusal and settles nothing.
func (b *batcher) try(ctx context.Context, chunk []*group) (*refusal, error) {
	resp, err := b.c.send(ctx, connectors.Write, b.run.op, http.MethodPost, b.path, b.inputs(chunk))
	if err == nil && resp.Status/100 != 2 {
		herr := b.c.httpError(b.run.op, resp)
		if resp.Status == http.StatusBadRequest || resp.Status == http.StatusConflict {
			return readRefusal(resp.Body, herr, b.errKey), nil
		}
		err = herr
	}
	if err != nil {
		for _, gr := range chunk {
			b.settle(gr, err)
		}
		if fatal(ctx, err) {
			return nil, err
		}
		return nil, nil
	}
	if b.keyOf == nil {
		for _, gr := range chunk {
			for _, i := range gr.writes {
				b.run.settle(i, tandem.Result{ID: gr.key})
			}
		}
		return nil, nil
	}
	b.c.match(b.run, resp.Status, resp.Body, chunk, b.keyOf, b.errKey)
	return nil, nil
}

// within is try for a call made to isolate bad inputs: it spends one of
// the batch's isolation calls, or, when none is left, fails chunk as
// retryable.
func (b *batcher) within(ctx context.Context, chunk []*group, why *refusal) (*refusal, error) {
	if b.budget <= 0 {
		for _, gr := range chunk {
			b.settle(gr, &tandem.Error{Op: b.run.op, System: b.c.name, Status: why.err.Status, Code: why.err.Code, Retryable: true,
				Message: fmt.Sprintf("%s: HubSpot refused its batch (%s) and %d calls did not find which inputs were at fault; it is sent again on the next pass",
					gr.key, why.message, maxIsolationCalls)})
		}
		return nil, nil
	}
	b.budget--
	return b.try(ctx, chunk)
}

// resend sends chunk again while isolating, and isolates further if it is
// refused again.
func (b *batcher) resend(ctx context.Context, chunk []*group, why *refusal) error {
	if len(chunk) == 0 {
		return nil
	}
	r, err := b.within(ctx, chunk, why)
	if err != nil || r == nil {
		return err
	}
	return b.refused(ctx, chunk, r)
}

// refused settles a refused batch: a single input's refusal is its own;
// a larger batch is isolated.
func (b *batcher) refused(ctx context.Context, chunk []*group, r *refusal) error {
	if len(chunk) == 1 {
		msg, _ := r.names(chunk[0])
		b.settle(chunk[0], r.errFor(chunk[0], msg))
		return nil
	}
	return b.isolate(ctx, chunk, r)
}

// isolate finds the inputs of a refused batch at fault (see the top of
// this file), fails them, and sends the others again.
func (b *batcher) isolate(ctx context.Context, chunk []*group, r *refusal) error {
	var rest []*group
	for _, gr := range chunk {
		if msg, ok := r.names(gr); ok {
			b.settle(gr, r.errFor(gr, msg))
		} else {
			rest = append(rest, gr)
		}
	}
	if len(rest) < len(chunk) {
		return b.resend(ctx, rest, r)
	}
	if len(r.props) > 0 {
		var condemned, suspects, innocents []*group
		for _, gr := range chunk {
			switch c, s := r.judge(gr); {
			case c:
				condemned = append(condemned, gr)
			case s:
				suspects = append(suspects, gr)
			default:
				innocents = append(innocents, gr)
			}
		}
		// The verdicts tell something only when they condemn some
		// inputs, or clear some and not others.
		if len(condemned) > 0 || (len(suspects) > 0 && len(innocents) > 0) {
			for _, gr := range condemned {
				msg, _ := r.condemns(gr)
				b.settle(gr, r.errFor(gr, msg))
			}
			if err := b.resend(ctx, innocents, r); err != nil {
				return err
			}
			return b.bisect(ctx, suspects, r)
		}
	}
	return b.bisect(ctx, chunk, r)
}

// bisect sends each half of chunk and isolates within the halves refused.
func (b *batcher) bisect(ctx context.Context, chunk []*group, why *refusal) error {
	if len(chunk) <= 1 {
		return b.resend(ctx, chunk, why)
	}
	halves := [2][]*group{chunk[:len(chunk)/2], chunk[len(chunk)/2:]}
	var rs [2]*refusal
	for i, h := range halves {
		r, err := b.within(ctx, h, why)
		if err != nil {
			return err
		}
		rs[i] = r
	}
	if rs[0] != nil && rs[1] != nil && rs[0].blind() && rs[1].blind() && rs[0].message == rs[1].message {
		// Two disjoint halves refused alike, for a reason that names
		// neither an input nor a property: the request is at fault.
		for i, h := range halves {
			for _, gr := range h {
				b.settle(gr, rs[i].errFor(gr, ""))
			}
		}
		return nil
	}
	for i, h := range halves {
		if rs[i] != nil {
			if err := b.refused(ctx, h, rs[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *batcher) settle(gr *group, err error) {
	for _, i := range gr.writes {
		b.run.settle(i, tandem.Result{Err: err})
	}
}

// refusal is what HubSpot said when it refused a whole batch.
type refusal struct {
	err     *tandem.Error
	message string            // HubSpot's message, without the correlationId
	keys    map[string]string // inputs named by id or idProperty value -> message
	traces  map[string]string // inputs named by objectWriteTraceId -> message
	props   map[string]verdict
}

// verdict is HubSpot's judgement of one property of a refused batch.
type verdict struct{ code, message string }

// invalidPrefix starts the message of HubSpot's property validation
// errors; the verdicts follow as a JSON array.
const invalidPrefix = "Property values were not valid: "

func readRefusal(body []byte, herr *tandem.Error, errKey func(string) string) *refusal {
	r := &refusal{err: herr, message: herr.Message, keys: map[string]string{}, traces: map[string]string{}, props: map[string]verdict{}}
	if !gjson.ValidBytes(body) {
		return r
	}
	doc := gjson.ParseBytes(body)
	r.message = doc.Get("message").String()
	name := func(ctx gjson.Result, msg string) {
		for _, k := range []string{"ids", "id"} {
			for _, id := range ctx.Get(k).Array() {
				if errKey != nil {
					r.keys[errKey(id.String())] = msg
				}
			}
		}
		for _, t := range ctx.Get("objectWriteTraceId").Array() {
			r.traces[t.String()] = msg
		}
	}
	name(doc.Get("context"), r.message)
	for _, e := range doc.Get("errors").Array() {
		msg := e.Get("message").String()
		name(e.Get("context"), msg)
		for _, p := range e.Get("context.propertyName").Array() {
			r.props[p.String()] = verdict{e.Get("code").String(), msg}
		}
	}
	if rest, ok := strings.CutPrefix(r.message, invalidPrefix); ok && gjson.Valid(rest) {
		for _, v := range gjson.Parse(rest).Array() {
			if n := v.Get("name").String(); n != "" {
				if _, seen := r.props[n]; !seen {
					r.props[n] = verdict{v.Get("error").String(), v.Get("message").String()}
				}
			}
		}
	}
	return r
}

// blind reports whether the refusal names neither an input nor a property.
func (r *refusal) blind() bool {
	return len(r.keys) == 0 && len(r.traces) == 0 && len(r.props) == 0
}

// names returns the message of the refusal's entry that names gr.
func (r *refusal) names(gr *group) (string, bool) {
	if msg, ok := r.traces[gr.trace]; ok {
		return msg, true
	}
	msg, ok := r.keys[gr.key]
	return msg, ok
}

// judge reads gr against the verdicts on properties: condemned when it
// sets a property no value of which HubSpot takes, a suspect when it sets
// one whose value HubSpot refused (in this input or another).
func (r *refusal) judge(gr *group) (condemned, suspect bool) {
	if _, ok := r.condemns(gr); ok {
		return true, false
	}
	for name := range gr.props {
		if _, ok := r.props[name]; ok {
			return false, true
		}
	}
	return false, false
}

// condemns returns HubSpot's message about the first property (by name)
// gr sets that no value of is taken.
func (r *refusal) condemns(gr *group) (string, bool) {
	names := make([]string, 0, len(gr.props))
	for name := range gr.props {
		if v, ok := r.props[name]; ok && propertyLevel[v.code] {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "", false
	}
	slices.Sort(names)
	return r.props[names[0]].message, true
}

// errFor is the permanent error of one input of the refused batch: the
// call's status and category, and detail (HubSpot's message about the
// input, or the call's message), named by the input's key.
func (r *refusal) errFor(gr *group, detail string) *tandem.Error {
	e := *r.err
	if detail == "" {
		detail = e.Message
	}
	e.Message, e.Retryable = gr.key+": "+detail, false
	if x := existing(detail); x != nil && e.Status == http.StatusConflict {
		e.Err = x
	}
	return &e
}
