package hubspottest

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// maxBatch is how many inputs one batch call takes.
const maxBatch = 100

type idInput struct {
	ID flexString `json:"id"`
}

type writeInput struct {
	ID                 flexString     `json:"id"`
	IDProperty         string         `json:"idProperty,omitempty"`
	ObjectWriteTraceID string         `json:"objectWriteTraceId,omitempty"`
	Properties         map[string]any `json:"properties"`
	// batch/create only: associations.go
	Associations []json.RawMessage `json:"associations,omitempty"`
}

// batchResult is the body of every batch response; errors turn it into
// the spec's ...WithErrors shape and the status into 207.
type batchResult struct {
	Status      string       `json:"status"`
	Results     any          `json:"results"`
	NumErrors   int          `json:"numErrors,omitempty"`
	Errors      []batchError `json:"errors,omitempty"`
	StartedAt   string       `json:"startedAt"`
	CompletedAt string       `json:"completedAt"`
}

// newestFirst orders batch results by id, descending. HubSpot does not
// keep input order in batch results; neither do we, so that clients match
// results by id or idProperty value and never by position.
func newestFirst(recs []*record) {
	sort.Slice(recs, func(i, j int) bool { return recs[i].num > recs[j].num })
}

func (e *Emulator) batchReply(ok int, started time.Time, results any, errs []batchError) *reply {
	body := batchResult{Status: "COMPLETE", Results: results, StartedAt: stamp(started), CompletedAt: stamp(e.stamp())}
	if len(errs) > 0 {
		ok, body.NumErrors, body.Errors = http.StatusMultiStatus, len(errs), errs
	}
	return &reply{status: ok, body: body}
}

// checkInputs applies the limits every batch call shares: at most 100
// inputs and no id twice (ids compared as the idProperty compares them).
func checkInputs(n int, id func(i int) string) *reply {
	if n > maxBatch {
		return validation("Batch input may contain at most %d inputs, got %d", maxBatch, n)
	}
	seen := map[string]bool{}
	var dups []string
	for i := 0; i < n; i++ {
		v := id(i)
		if seen[v] {
			dups = append(dups, v)
		}
		seen[v] = true
	}
	if len(dups) > 0 {
		return validation("Duplicate IDs found in batch input: [%s]. IDs must be unique", strings.Join(dups, ", "))
	}
	return nil
}

// idKey is an input id as its idProperty compares it.
func idKey(idProperty string, id flexString) string {
	if idProperty == "email" {
		return strings.ToLower(strings.TrimSpace(string(id)))
	}
	return string(id)
}

func (e *Emulator) batchRead(r *http.Request, t *objectType, _ string, body []byte) *reply {
	started := e.stamp()
	var req struct {
		Inputs                []idInput `json:"inputs"`
		Properties            []string  `json:"properties"`
		PropertiesWithHistory []string  `json:"propertiesWithHistory"`
		IDProperty            string    `json:"idProperty,omitempty"`
	}
	if rep := decode(body, &req); rep != nil {
		return rep
	}
	archived, rep := queryBool(r.URL.Query(), "archived")
	if rep == nil {
		rep = t.idPropertyOK(req.IDProperty)
	}
	if rep == nil {
		rep = checkInputs(len(req.Inputs), func(i int) string { return idKey(req.IDProperty, req.Inputs[i].ID) })
	}
	if rep == nil && len(req.PropertiesWithHistory) > 0 && len(req.Inputs) > maxHistoryRead {
		rep = validation(historyLimit)
	}
	if rep != nil {
		return rep
	}
	var found []*record
	var missing []string
	for _, in := range req.Inputs {
		if rec := e.tables[t.name].lookup(req.IDProperty, string(in.ID), archived); rec != nil {
			found = append(found, rec)
		} else {
			missing = append(missing, string(in.ID))
		}
	}
	newestFirst(found)
	out := make([]apiObject, len(found))
	for i, rec := range found {
		out[i] = t.renderHistory(rec, req.Properties, req.PropertiesWithHistory)
	}
	return e.batchReply(http.StatusOK, started, out, missingErrors("get", t, missing))
}

func (t *objectType) renderAll(recs []*record, names func(*record) []string) []apiObject {
	newestFirst(recs)
	out := make([]apiObject, len(recs))
	for i, rec := range recs {
		out[i] = t.render(rec, names(rec))
	}
	return out
}

func missingErrors(verb string, t *objectType, ids []string) []batchError {
	if len(ids) == 0 {
		return nil
	}
	return []batchError{missingObjects(verb, t.label, ids)}
}

// normalizeAll validates the properties of every input; one bad value fails
// the whole batch with 400, as in HubSpot.
func (t *objectType) normalizeAll(ins []writeInput) ([]map[string]string, *reply) {
	out := make([]map[string]string, len(ins))
	var all []propError
	for i, in := range ins {
		props, errs := t.normalize(in.Properties)
		out[i] = props
		all = append(all, errs...)
	}
	if len(all) > 0 {
		return nil, invalidProperties(all)
	}
	return out, nil
}

func (e *Emulator) batchCreate(_ *http.Request, t *objectType, _ string, body []byte) *reply {
	started := e.stamp()
	var req struct {
		Inputs []writeInput `json:"inputs"`
	}
	if rep := decode(body, &req); rep != nil {
		return rep
	}
	if len(req.Inputs) > maxBatch {
		return validation("Batch input may contain at most %d inputs, got %d", maxBatch, len(req.Inputs))
	}
	props, rep := t.normalizeAll(req.Inputs)
	if rep != nil {
		return rep
	}
	links := make([][]inlineAssoc, len(req.Inputs))
	for i, in := range req.Inputs {
		if links[i], rep = e.inlineAssociations(t, in.Associations); rep != nil {
			return rep
		}
	}
	tb := e.tables[t.name]
	if err := tb.checkUnique(make([]*record, len(props)), props); err != nil {
		return writeFailure(err)
	}
	now := e.stamp()
	created := make([]*record, len(props))
	written := map[*record][]string{}
	for i, p := range props {
		created[i] = tb.insert(p, now, apiWrite)
		e.linkNew(t, created[i], links[i])
		written[created[i]] = t.written(p)
	}
	return e.batchReply(http.StatusCreated, started, t.renderAll(created, func(r *record) []string { return written[r] }), nil)
}

func (e *Emulator) batchUpdate(_ *http.Request, t *objectType, _ string, body []byte) *reply {
	started := e.stamp()
	var req struct {
		Inputs []writeInput `json:"inputs"`
	}
	if rep := decode(body, &req); rep != nil {
		return rep
	}
	for _, in := range req.Inputs {
		if rep := t.idPropertyOK(in.IDProperty); rep != nil {
			return rep
		}
	}
	if rep := checkInputs(len(req.Inputs), func(i int) string { return idKey(req.Inputs[i].IDProperty, req.Inputs[i].ID) }); rep != nil {
		return rep
	}
	props, rep := t.normalizeAll(req.Inputs)
	if rep != nil {
		return rep
	}
	tb := e.tables[t.name]
	var targets []*record
	var sets []map[string]string
	var missing []string
	for i, in := range req.Inputs {
		if rec := tb.lookup(in.IDProperty, string(in.ID), false); rec != nil {
			if slices.Contains(targets, rec) { // the same record by id and by a unique property
				return validation("Duplicate IDs found in batch input: [%s]. IDs must be unique", rec.id)
			}
			targets, sets = append(targets, rec), append(sets, props[i])
		} else {
			missing = append(missing, string(in.ID))
		}
	}
	if err := tb.checkUnique(targets, sets); err != nil {
		return writeFailure(err)
	}
	now := e.stamp()
	written := map[*record][]string{}
	for i, rec := range targets {
		tb.set(rec, sets[i], now, apiWrite)
		written[rec] = t.written(sets[i])
	}
	return e.batchReply(http.StatusOK, started, t.renderAll(targets, func(r *record) []string { return written[r] }), missingErrors("update", t, missing))
}

// batchUpsert updates the record whose idProperty holds the input's id, or
// creates one with that value. This is what makes a create safe to retry.
func (e *Emulator) batchUpsert(_ *http.Request, t *objectType, _ string, body []byte) *reply {
	started := e.stamp()
	var req struct {
		Inputs []writeInput `json:"inputs"`
	}
	if rep := decode(body, &req); rep != nil {
		return rep
	}
	for _, in := range req.Inputs {
		if in.IDProperty == "" {
			return validation("idProperty is required for every upsert input")
		}
		if rep := t.idPropertyOK(in.IDProperty); rep != nil {
			return rep
		}
	}
	if rep := checkInputs(len(req.Inputs), func(i int) string { return idKey(req.Inputs[i].IDProperty, req.Inputs[i].ID) }); rep != nil {
		return rep
	}
	props, rep := t.normalizeAll(req.Inputs)
	if rep != nil {
		return rep
	}
	tb := e.tables[t.name]
	targets := make([]*record, len(req.Inputs))
	var missing []string
	var kept []int // inputs that will be written
	for i, in := range req.Inputs {
		if in.IDProperty == "hs_object_id" {
			if targets[i] = tb.lookup("", string(in.ID), false); targets[i] == nil {
				missing = append(missing, string(in.ID)) // an id cannot be chosen, only found
				continue
			}
			kept = append(kept, i)
			continue
		}
		id, perr := t.props[in.IDProperty].check(string(in.ID))
		if perr != nil {
			return invalidProperties([]propError{*perr})
		}
		if id == "" {
			return validation("Upsert input has an empty id for idProperty %s", in.IDProperty)
		}
		if v, set := props[i][in.IDProperty]; set && v != id {
			return validation("Upsert input with id %q sets %s to a different value %q", string(in.ID), in.IDProperty, v)
		}
		props[i][in.IDProperty] = id
		targets[i] = tb.lookup(in.IDProperty, id, false)
		kept = append(kept, i)
	}
	keptTargets, keptProps := make([]*record, len(kept)), make([]map[string]string, len(kept))
	for j, i := range kept {
		if targets[i] != nil && slices.Contains(keptTargets[:j], targets[i]) {
			return validation("Duplicate IDs found in batch input: [%s]. IDs must be unique", targets[i].id)
		}
		keptTargets[j], keptProps[j] = targets[i], props[i]
	}
	if err := tb.checkUnique(keptTargets, keptProps); err != nil {
		return writeFailure(err)
	}
	now := e.stamp()
	var recs []*record
	isNew := map[*record]bool{}
	written := map[*record][]string{}
	for j, rec := range keptTargets {
		if rec == nil {
			rec = tb.insert(keptProps[j], now, apiWrite)
			isNew[rec] = true
		} else {
			tb.set(rec, keptProps[j], now, apiWrite)
		}
		recs = append(recs, rec)
		written[rec] = t.written(keptProps[j])
	}
	newestFirst(recs)
	out := make([]upsertObject, len(recs))
	for i, rec := range recs {
		out[i] = upsertObject{t.render(rec, written[rec]), isNew[rec]}
	}
	return e.batchReply(http.StatusOK, started, out, missingErrors("update", t, missing))
}

// batchArchive archives the live records named; ids that are missing or
// already archived are not an error (204 either way), as in HubSpot.
func (e *Emulator) batchArchive(_ *http.Request, t *objectType, _ string, body []byte) *reply {
	var req struct {
		Inputs []idInput `json:"inputs"`
	}
	if rep := decode(body, &req); rep != nil {
		return rep
	}
	if rep := checkInputs(len(req.Inputs), func(i int) string { return string(req.Inputs[i].ID) }); rep != nil {
		return rep
	}
	tb := e.tables[t.name]
	now := e.stamp()
	for _, in := range req.Inputs {
		if rec := tb.lookup("", string(in.ID), false); rec != nil {
			tb.archive(rec, now, apiWrite)
		}
	}
	return &reply{status: http.StatusNoContent}
}
