package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors"
)

// Associations. A record's link to a record of another object (a
// contact's company) is no property in HubSpot but an association, read
// and written through the associations v4 API. The connector shows it as
// a field of the record's payload, at associations.<object>:
//
//	{"properties": {...}, "associations": {"companies": "9001"}}
//
// Its value is the id of the associated record in HubSpot (null for none):
// at this level the canonical value is the other system's record id;
// translating it through links is the engine's job.
//
// Only the primary association is shown and written: HubSpot lets a
// contact be associated with many companies, but marks one as its primary
// company (association type 1, HubSpot-defined), and that is the one
// Salesforce's Contact.AccountId and a foreign key have room for.
//
//   - Reading (Pull, Fetch): when Query.Fields name associations.<object>,
//     each page's live records are read in batch/read calls of
//     1,000 ids (HubSpot's limit), and the primary's id is set in Raw.
//   - Writing (Apply): the path is taken out of the payload before the
//     record is written; then, for the records written, the current
//     associations are read, the new primary is created (batch/create,
//     100 a call) and the association with the old primary is archived
//     (batch/archive, 100 a call), so the record is no longer associated
//     with the company it left. null archives the association with the
//     primary and sets none.
//
// Changing the primary company changes the contact's associatedcompanyid
// property, so its modified date moves and the next pull sees the move.
// Adding or removing other (unlabeled) associations changes no property,
// and a pull does not see it.

// primaryTypes are the HubSpot-defined primary association types, by
// (from object, to object). Only these pairs can be mapped.
var primaryTypes = map[[2]string]int{
	{"contacts", "companies"}: 1,
}

const (
	maxAssocRead  = 1000 // inputs of one associations batch/read (HubSpot's limit since February 2025)
	maxAssocWrite = 100  // inputs of one associations batch/create or batch/archive
	maxAssocPages = 100  // pages followed for one batch/read, a bound on a loop
)

// associationTargets are the objects whose association the payload paths
// name (associations.<object>), checked against the primary types.
func associationTargets(object string, fields []string) ([]string, error) {
	var out []string
	for _, f := range fields {
		head, rest, _ := strings.Cut(f, ".")
		if head != "associations" {
			continue
		}
		if rest == "" || strings.Contains(rest, ".") {
			return nil, fmt.Errorf("field path %q: an association is associations.<object type>, the record's primary associated record of that type", f)
		}
		if _, ok := primaryTypes[[2]string{object, rest}]; !ok {
			return nil, fmt.Errorf("field path %q: HubSpot defines no primary association from %s to %s; only contacts → companies can be mapped", f, object, rest)
		}
		if !slices.Contains(out, rest) {
			out = append(out, rest)
		}
	}
	return out, nil
}

// readPrimaries reads, for ids of object, the id of each one's primary
// associated record of to ("" for none), following each input's paging.
func (c *Client) readPrimaries(ctx context.Context, op, object, to string, ids []string) (map[string]string, error) {
	primary := primaryTypes[[2]string{object, to}]
	out := map[string]string{}
	path := "/crm/v4/associations/" + url.PathEscape(object) + "/" + url.PathEscape(to) + "/batch/read"
	type input struct {
		ID    string `json:"id"`
		After string `json:"after,omitempty"`
	}
	for start := 0; start < len(ids); start += maxAssocRead {
		var pending []input
		for _, id := range ids[start:min(start+maxAssocRead, len(ids))] {
			pending = append(pending, input{ID: id})
		}
		for pages := 0; len(pending) > 0; pages++ {
			if pages == maxAssocPages {
				return nil, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("associations %s → %s: still paging after %d pages", object, to, maxAssocPages)}
			}
			resp, err := c.call(ctx, connectors.Read, op, http.MethodPost, path, map[string]any{"inputs": pending})
			if err != nil {
				return nil, err
			}
			body := gjson.ParseBytes(resp.Body)
			if !gjson.ValidBytes(resp.Body) || !body.Get("results").IsArray() {
				return nil, c.notAPage(op, "associations batch read response is not a list of results", resp)
			}
			for _, e := range body.Get("errors").Array() {
				// A record with no association of that type is an error of
				// the 207, which here means "none".
				if e.Get("subCategory").String() != "crm.associations.NO_ASSOCIATIONS_FOUND" {
					return nil, &tandem.Error{Op: op, System: c.name, Status: resp.Status, Code: e.Get("category").String(), Message: "associations: " + e.Get("message").String()}
				}
			}
			pending = pending[:0]
			for _, r := range body.Get("results").Array() {
				from := r.Get("from.id").String()
				for _, t := range r.Get("to").Array() {
					for _, at := range t.Get("associationTypes").Array() {
						if at.Get("typeId").Int() != int64(primary) || at.Get("category").String() != "HUBSPOT_DEFINED" {
							continue
						}
						to := t.Get("toObjectId")
						if id := to.String(); (to.Type == gjson.Number || to.Type == gjson.String) && id != "" && strings.Trim(id, "0123456789") == "" {
							out[from] = id
							continue
						}
						return nil, &tandem.Error{Op: op, System: c.name, Status: resp.Status, Message: fmt.Sprintf("associations: %s's primary %s is not a record id: %.100s", from, to, t.Raw)}
					}
				}
				if after := r.Get("paging.next.after").String(); after != "" {
					pending = append(pending, input{ID: from, After: after})
				}
			}
		}
	}
	return out, nil
}

// addAssociations sets associations.<to> in the Raw of each live record
// of recs, for each of targets.
func (c *Client) addAssociations(ctx context.Context, op, object string, recs []tandem.Record, targets []string) error {
	var ids []string
	for _, r := range recs {
		if !r.Deleted {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	for _, to := range targets {
		prim, err := c.readPrimaries(ctx, op, object, to, ids)
		if err != nil {
			return err
		}
		for i := range recs {
			if recs[i].Deleted {
				continue
			}
			raw, err := setAssociation(recs[i].Raw, to, prim[recs[i].ID])
			if err != nil {
				return &tandem.Error{Op: op, System: c.name, Err: err}
			}
			recs[i].Raw = raw
		}
	}
	return nil
}

// setAssociation sets associations.<to> in a record's raw JSON: the id,
// or null for "".
func setAssociation(raw json.RawMessage, to, id string) (json.RawMessage, error) {
	v := any(nil)
	if id != "" {
		v = id
	}
	return sjson.SetBytes(raw, "associations."+gjson.Escape(to), v)
}

// assocChange is the association a write asks for: set is false for a
// write that does not name it.
type assocChange struct {
	to string
	id string // "" clears it
}

// splitAssociations takes associations.<object> out of each write's
// payload. It returns the writes as HubSpot's objects API takes them and,
// by write, the associations they set (nil when no write sets any) and
// what is wrong with a write's associations. A payload that sets nothing
// else gets empty properties.
func splitAssociations(object string, writes []tandem.Write) ([]tandem.Write, [][]assocChange, []error) {
	var changes [][]assocChange
	var errs []error
	out := writes
	for i, w := range writes {
		a := gjson.GetBytes(w.Payload, "associations")
		if w.Op == tandem.OpDelete || !a.Exists() {
			continue
		}
		if changes == nil {
			changes = make([][]assocChange, len(writes))
			errs = make([]error, len(writes))
			out = slices.Clone(writes)
		}
		if err := splitOne(object, i, a, &changes[i]); err != nil {
			errs[i] = err
			continue
		}
		p, err := sjson.DeleteBytes(w.Payload, "associations")
		if err == nil && !gjson.GetBytes(p, "properties").Exists() {
			p, err = sjson.SetRawBytes(p, "properties", []byte("{}"))
		}
		if err != nil {
			errs[i] = err
			continue
		}
		out[i].Payload = p
	}
	return out, changes, errs
}

// splitOne reads one write's associations object.
func splitOne(object string, i int, a gjson.Result, changes *[]assocChange) error {
	if !a.IsObject() {
		return fmt.Errorf("write %d: associations must be an object of ids by object type, got %.100s", i, a.Raw)
	}
	var err error
	a.ForEach(func(k, v gjson.Result) bool {
		to := k.String()
		if _, ok := primaryTypes[[2]string{object, to}]; !ok {
			err = fmt.Errorf("write %d: associations.%s: HubSpot defines no primary association from %s to %s", i, to, object, to)
			return false
		}
		switch v.Type {
		case gjson.Null:
			*changes = append(*changes, assocChange{to: to})
		case gjson.String, gjson.Number:
			if id := v.String(); id != "" && strings.Trim(id, "0123456789") == "" {
				*changes = append(*changes, assocChange{to: to, id: id})
				return true
			}
			fallthrough
		default:
			err = fmt.Errorf("write %d: associations.%s is %s; it holds the id of a HubSpot record, or null", i, to, v.Raw)
			return false
		}
		return true
	})
	return err
}

// onlyAssociations reports whether a write, its associations taken out,
// has nothing left for the objects API: an update of an association alone
// sends no batch/update (which would stamp the record for nothing).
func onlyAssociations(w tandem.Write, changes []assocChange) bool {
	if len(changes) == 0 || w.Op != tandem.OpUpdate || w.ID == "" {
		return false
	}
	p := gjson.GetBytes(w.Payload, "properties")
	return p.IsObject() && len(p.Map()) == 0 && len(gjson.ParseBytes(w.Payload).Map()) == 1
}

// applyAssociations makes the associations the writes ask for, for the
// writes that are done, and fails those whose association was refused.
func (c *Client) applyAssociations(ctx context.Context, object string, writes []tandem.Write, changes [][]assocChange, results []tandem.Result) error {
	op := "apply " + object + " associations"
	byTarget := map[string][]int{}
	var targets []string
	for i, ch := range changes {
		if results[i].Err != nil || results[i].ID == "" {
			continue
		}
		for _, a := range ch {
			if byTarget[a.to] == nil {
				targets = append(targets, a.to)
			}
			byTarget[a.to] = append(byTarget[a.to], i)
		}
	}
	for _, to := range targets {
		idx := byTarget[to]
		var ids []string
		for _, i := range idx {
			if !slices.Contains(ids, results[i].ID) {
				ids = append(ids, results[i].ID)
			}
		}
		current, err := c.readPrimaries(ctx, op, object, to, ids)
		if err != nil {
			if fatal(ctx, err) {
				return err
			}
			for _, i := range idx {
				results[i].Err = err
			}
			continue
		}
		want := map[string]string{} // record id -> wanted primary ("" none); the last write of a record wins
		var order []string
		for _, i := range idx {
			for _, a := range changes[i] {
				if a.to == to {
					if _, seen := want[results[i].ID]; !seen {
						order = append(order, results[i].ID)
					}
					want[results[i].ID] = a.id
				}
			}
		}
		failed := map[string]error{}
		var creates []string
		for _, id := range order {
			if w := want[id]; w != "" && w != current[id] {
				creates = append(creates, id)
			}
		}
		if err := c.createPrimaries(ctx, op, object, to, creates, want, failed); err != nil {
			return err
		}
		var archives []string
		for _, id := range order {
			if old := current[id]; old != "" && old != want[id] && failed[id] == nil {
				archives = append(archives, id)
			}
		}
		if err := c.archiveAssociations(ctx, op, object, to, archives, current, failed); err != nil {
			return err
		}
		for _, i := range idx {
			id := results[i].ID
			if failed[id] != nil {
				results[i].Err = failed[id]
				continue
			}
			if rec := results[i].Record; rec != nil {
				if raw, err := setAssociation(rec.Raw, to, want[id]); err == nil {
					rec.Raw = raw
				}
			}
		}
	}
	return nil
}

// createPrimaries makes want[id] the primary associated record of each of
// ids, 100 a call. A refused input (a company that does not exist) fails
// its record alone, for good; a call that fails fails its records.
func (c *Client) createPrimaries(ctx context.Context, op, object, to string, ids []string, want map[string]string, failed map[string]error) error {
	path := "/crm/v4/associations/" + url.PathEscape(object) + "/" + url.PathEscape(to) + "/batch/create"
	type ref struct {
		ID string `json:"id"`
	}
	type spec struct {
		Category string `json:"associationCategory"`
		TypeID   int    `json:"associationTypeId"`
	}
	type input struct {
		From  ref    `json:"from"`
		To    ref    `json:"to"`
		Types []spec `json:"types"`
	}
	primary := primaryTypes[[2]string{object, to}]
	var chunks [][]string
	for start := 0; start < len(ids); start += maxAssocWrite {
		chunks = append(chunks, ids[start:min(start+maxAssocWrite, len(ids))])
	}
	for len(chunks) > 0 {
		chunk := chunks[0]
		chunks = chunks[1:]
		in := make([]input, len(chunk))
		for j, id := range chunk {
			in[j] = input{From: ref{id}, To: ref{want[id]}, Types: []spec{{"HUBSPOT_DEFINED", primary}}}
		}
		resp, err := c.call(ctx, connectors.Write, op, http.MethodPost, path, map[string]any{"inputs": in})
		var te *tandem.Error
		if err != nil && len(chunk) > 1 && errors.As(err, &te) && te.Status == http.StatusBadRequest {
			// Should HubSpot refuse a whole batch for one input (a company
			// that does not exist), each input goes alone, so the others
			// are made and the bad one fails by itself. Nothing was made by
			// the refused call, and making an association twice is safe.
			for _, id := range chunk {
				chunks = append(chunks, []string{id})
			}
			continue
		}
		if err != nil {
			if fatal(ctx, err) {
				return err
			}
			for _, id := range chunk {
				failed[id] = err
			}
			continue
		}
		body := gjson.ParseBytes(resp.Body)
		done := map[string]bool{}
		for _, r := range body.Get("results").Array() {
			done[r.Get("fromObjectId").String()] = true
		}
		errs := map[string]gjson.Result{}
		for _, e := range body.Get("errors").Array() {
			for _, id := range e.Get("context.fromObjectId").Array() {
				errs[id.String()] = e
			}
		}
		for _, id := range chunk {
			if done[id] {
				continue
			}
			e, ok := errs[id]
			if !ok {
				failed[id] = &tandem.Error{Op: op, System: c.name, Status: resp.Status, Retryable: true,
					Message: fmt.Sprintf("%s: the association with %s %s is missing from HubSpot's answer", id, to, want[id])}
				continue
			}
			te := &tandem.Error{Op: op, System: c.name, Status: resp.Status, Code: e.Get("category").String(),
				Message: fmt.Sprintf("%s: associations.%s %s: %s", id, to, want[id], e.Get("message").String())}
			// The record itself gone is a record not found; a target that
			// does not exist is the payload's fault, for good.
			for _, gone := range e.Get("context.ids").Array() {
				if gone.String() == id && gone.String() != want[id] {
					te.Err = tandem.ErrNotFound
				}
			}
			failed[id] = te
		}
	}
	return nil
}

// archiveAssociations ends the association of each of ids with its old
// primary (old[id]), every type of it, 100 a call.
func (c *Client) archiveAssociations(ctx context.Context, op, object, to string, ids []string, old map[string]string, failed map[string]error) error {
	path := "/crm/v4/associations/" + url.PathEscape(object) + "/" + url.PathEscape(to) + "/batch/archive"
	type ref struct {
		ID string `json:"id"`
	}
	type input struct {
		From ref   `json:"from"`
		To   []ref `json:"to"`
	}
	for start := 0; start < len(ids); start += maxAssocWrite {
		chunk := ids[start:min(start+maxAssocWrite, len(ids))]
		in := make([]input, len(chunk))
		for j, id := range chunk {
			in[j] = input{From: ref{id}, To: []ref{{old[id]}}}
		}
		if _, err := c.call(ctx, connectors.Write, op, http.MethodPost, path, map[string]any{"inputs": in}); err != nil {
			if fatal(ctx, err) {
				return err
			}
			for _, id := range chunk {
				failed[id] = err
			}
		}
	}
	return nil
}

// Apply writes to one object: the records through the objects API
// (applyRecords), then the associations the payloads set.
func (c *Client) Apply(ctx context.Context, object string, writes []tandem.Write) ([]tandem.Result, error) {
	plain, changes, errs := splitAssociations(object, writes)
	if changes == nil {
		return c.applyRecords(ctx, object, writes)
	}
	op := "apply " + object
	results := make([]tandem.Result, len(writes))
	var sub []tandem.Write
	var at []int
	for i, w := range plain {
		switch {
		case errs[i] != nil:
			results[i] = tandem.Result{ID: w.ID, Err: &tandem.Error{Op: op, System: c.name, Err: errs[i]}}
		case onlyAssociations(w, changes[i]):
			results[i] = tandem.Result{ID: w.ID}
		default:
			sub, at = append(sub, w), append(at, i)
		}
	}
	res, err := c.applyRecords(ctx, object, sub)
	for j, i := range at {
		results[i] = res[j]
	}
	if err != nil {
		return results, err
	}
	if err := c.applyAssociations(ctx, object, plain, changes, results); err != nil {
		for i := range writes {
			if len(changes[i]) > 0 && results[i].Err == nil {
				results[i].Err = err
			}
		}
		return results, err
	}
	return results, nil
}
