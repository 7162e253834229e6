package hubspottest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// apiObject is a record as the API returns it (SimplePublicObject).
type apiObject struct {
	ID                    string                    `json:"id"`
	Properties            map[string]*string        `json:"properties"`
	PropertiesWithHistory map[string][]historyEntry `json:"propertiesWithHistory,omitempty"`
	CreatedAt             string                    `json:"createdAt"`
	UpdatedAt             string                    `json:"updatedAt"`
	Archived              bool                      `json:"archived"`
	ArchivedAt            string                    `json:"archivedAt,omitempty"`
	// Associations, with ?associations= on list and read: by object type,
	// the associated ids (the spec's SimplePublicObjectWithAssociations).
	Associations map[string]assocCollection `json:"associations,omitempty"`
}

// historyEntry is one value of a property's history (the spec's
// ValueWithTimestamp), as HubSpot fills it: a cleared value is "", an
// API write names the app, a UI edit the user.
type historyEntry struct {
	Value           string `json:"value"`
	Timestamp       string `json:"timestamp"`
	SourceType      string `json:"sourceType"`
	SourceID        string `json:"sourceId,omitempty"`
	UpdatedByUserID int    `json:"updatedByUserId,omitempty"`
}

// maxHistoryRead is how many records one request may read with
// propertiesWithHistory: 50 inputs of a batch/read, 50 records a page of
// the list endpoint, where it is 100 without history.
const maxHistoryRead = 50

// historyLimit is the message of HubSpot's 400 for a batch/read with
// propertiesWithHistory and more than 50 inputs, word for word.
const historyLimit = "The maximum number of inputs supported in a batch request for property histories is 50. Please reduce the number of items and try again"

// renderHistory shows a record with the named properties and, for each
// name in hist, its value too (HubSpot adds them to properties) and its
// history, newest first. Unknown names, and properties that never had a
// value, have no history to show.
func (t *objectType) renderHistory(r *record, names, hist []string) apiObject {
	if len(hist) > 0 {
		if len(names) == 0 {
			names = t.defaults
		}
		names = slices.Clone(names)
		for _, n := range hist {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	o := t.render(r, names)
	for _, n := range hist {
		if t.props[n] == nil || len(r.history[n]) == 0 {
			continue
		}
		if o.PropertiesWithHistory == nil {
			o.PropertiesWithHistory = map[string][]historyEntry{}
		}
		var entries []historyEntry
		for _, c := range r.newestFirst(n) {
			entries = append(entries, historyEntry{Value: c.value, Timestamp: stamp(c.at), SourceType: c.by.typ, SourceID: c.by.id, UpdatedByUserID: c.by.userID})
		}
		o.PropertiesWithHistory[n] = entries
	}
	return o
}

// upsertObject is a record in a batch/upsert response.
type upsertObject struct {
	apiObject
	New bool `json:"new"`
}

// render shows a record with the named properties (the type's defaults when
// names is empty). A known property without a value is null; an unknown one
// is left out, as HubSpot does.
func (t *objectType) render(r *record, names []string) apiObject {
	if len(names) == 0 {
		names = t.defaults
	}
	o := apiObject{ID: r.id, Properties: map[string]*string{}, CreatedAt: stamp(r.created), UpdatedAt: stamp(r.updated), Archived: r.archived}
	if r.archived {
		o.ArchivedAt = stamp(r.archivedAt)
	}
	for _, n := range names {
		if t.props[n] == nil {
			continue
		}
		if v, ok := r.props[n]; ok {
			o.Properties[n] = &v
		} else {
			o.Properties[n] = nil
		}
	}
	return o
}

// written is the property list a write response shows: the defaults plus
// what the write set.
func (t *objectType) written(props map[string]string) []string {
	names := slices.Clone(t.defaults)
	for n := range props {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// queryList reads a comma-separated, possibly repeated, query parameter.
func queryList(q url.Values, key string) []string {
	var out []string
	for _, v := range q[key] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func queryBool(q url.Values, key string) (bool, *reply) {
	v := q.Get(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, validation("Invalid value for query parameter %s: %q is not a boolean", key, v)
	}
	return b, nil
}

// decode reads a JSON body strictly: unknown fields are errors, as they
// are to HubSpot's deserialiser, and numbers keep their text.
func decode(body []byte, v any) *reply {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(body, err)
	}
	if dec.More() {
		return validation("Invalid input JSON: unexpected data after the top-level value")
	}
	return nil
}

// idPropertyOK checks that a name can identify records: the record id or
// a unique-value property.
func (t *objectType) idPropertyOK(name string) *reply {
	if name == "" || name == "hs_object_id" {
		return nil
	}
	if d := t.props[name]; d == nil || !d.unique {
		return validation("%s is not a unique identifier property for %s. Use hs_object_id or a property with unique values.", name, t.name)
	}
	return nil
}

const (
	listDefaultLimit = 10
	listMaxLimit     = 100
)

// list is GET /crm/v3/objects/{type}: records by id, paged by an opaque
// after token (the id of the next record). archived=true lists the
// recycle bin instead of the live records. Asking for
// propertiesWithHistory lowers the page limit from 100 to 50.
func (e *Emulator) list(r *http.Request, t *objectType, _ string, _ []byte) *reply {
	q := r.URL.Query()
	hist := queryList(q, "propertiesWithHistory")
	limit := listDefaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return validation("Invalid value for query parameter limit: %q", v)
		}
		if n > listMaxLimit {
			return validation("limit must be less than or equal to %d, got %d", listMaxLimit, n)
		}
		if len(hist) > 0 && n > maxHistoryRead {
			return validation("limit must be less than or equal to %d when propertiesWithHistory is requested, got %d", maxHistoryRead, n)
		}
		limit = n
	}
	var from int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return validation("Invalid value for query parameter after: %q", v)
		}
		from = n
	}
	archived, rep := queryBool(q, "archived")
	if rep != nil {
		return rep
	}
	names := queryList(q, "properties")
	type page struct {
		Results []apiObject `json:"results"`
		Paging  *struct {
			Next nextPage `json:"next"`
		} `json:"paging,omitempty"`
	}
	out := page{Results: []apiObject{}}
	rows := e.tables[t.name].rows
	// Rows are in id order: a page starts at its first id, not at the top.
	rows = rows[sort.Search(len(rows), func(i int) bool { return rows[i].num >= from }):]
	for _, rec := range rows {
		if rec.archived != archived {
			continue
		}
		if len(out.Results) == limit {
			next := strconv.FormatInt(rec.num, 10)
			q.Set("after", next)
			out.Paging = &struct {
				Next nextPage `json:"next"`
			}{nextPage{After: next, Link: "http://" + r.Host + r.URL.Path + "?" + q.Encode()}}
			break
		}
		o := t.renderHistory(rec, names, hist)
		e.addAssociated(t, &o, rec, queryList(q, "associations"))
		out.Results = append(out.Results, o)
	}
	return &reply{status: http.StatusOK, body: out}
}

type nextPage struct {
	After string `json:"after"`
	Link  string `json:"link,omitempty"`
}

func objectNotFound(id string) *reply {
	rep := notFound("Object not found.  objectId are usually numeric.")
	rep.body.(*apiError).Context = map[string][]string{"id": {id}}
	return rep
}

// getOne is GET /crm/v3/objects/{type}/{id}.
func (e *Emulator) getOne(r *http.Request, t *objectType, id string, _ []byte) *reply {
	q := r.URL.Query()
	idProp := q.Get("idProperty")
	if rep := t.idPropertyOK(idProp); rep != nil {
		return rep
	}
	archived, rep := queryBool(q, "archived")
	if rep != nil {
		return rep
	}
	rec := e.tables[t.name].lookup(idProp, id, archived)
	if rec == nil {
		return objectNotFound(id)
	}
	o := t.renderHistory(rec, queryList(q, "properties"), queryList(q, "propertiesWithHistory"))
	e.addAssociated(t, &o, rec, queryList(q, "associations"))
	return &reply{status: http.StatusOK, body: o}
}

type objectInput struct {
	Properties   map[string]any    `json:"properties"`
	Associations []json.RawMessage `json:"associations,omitempty"`
}

// createOne is POST /crm/v3/objects/{type}.
func (e *Emulator) createOne(_ *http.Request, t *objectType, _ string, body []byte) *reply {
	var in objectInput
	if rep := decode(body, &in); rep != nil {
		return rep
	}
	tb := e.tables[t.name]
	props, perrs := t.normalize(in.Properties)
	if len(perrs) > 0 {
		return invalidProperties(perrs)
	}
	links, rep := e.inlineAssociations(t, in.Associations)
	if rep != nil {
		return rep
	}
	if err := tb.checkUnique([]*record{nil}, []map[string]string{props}); err != nil {
		return writeFailure(err)
	}
	rec := tb.insert(props, e.stamp(), apiWrite)
	e.linkNew(t, rec, links)
	return &reply{status: http.StatusCreated, body: t.render(rec, t.written(props))}
}

// updateOne is PATCH /crm/v3/objects/{type}/{id}.
func (e *Emulator) updateOne(r *http.Request, t *objectType, id string, body []byte) *reply {
	idProp := r.URL.Query().Get("idProperty")
	if rep := t.idPropertyOK(idProp); rep != nil {
		return rep
	}
	var in objectInput
	if rep := decode(body, &in); rep != nil {
		return rep
	}
	tb := e.tables[t.name]
	rec := tb.lookup(idProp, id, false)
	if rec == nil {
		return objectNotFound(id)
	}
	props, perrs := t.normalize(in.Properties)
	if len(perrs) > 0 {
		return invalidProperties(perrs)
	}
	if err := tb.checkUnique([]*record{rec}, []map[string]string{props}); err != nil {
		return writeFailure(err)
	}
	tb.set(rec, props, e.stamp(), apiWrite)
	return &reply{status: http.StatusOK, body: t.render(rec, t.written(props))}
}

// archiveOne is DELETE /crm/v3/objects/{type}/{id}. Like HubSpot it
// answers 204 even when there is nothing to archive.
func (e *Emulator) archiveOne(_ *http.Request, t *objectType, id string, _ []byte) *reply {
	tb := e.tables[t.name]
	if rec := tb.lookup("", id, false); rec != nil {
		tb.archive(rec, e.stamp(), apiWrite)
	}
	return &reply{status: http.StatusNoContent}
}
