package salesforcetest

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
)

// maxCollection is the most records one sObject Collections write takes.
const maxCollection = 200

// maxRetrieve is the most ids one sObject Collections retrieve takes.
const maxRetrieve = 2000

// saveResult is Salesforce's SaveResult / UpsertResult / DeleteResult in
// JSON: a failed record has no id.
type saveResult struct {
	ID      string        `json:"id,omitempty"`
	Success bool          `json:"success"`
	Errors  []recordError `json:"errors"`
	Created *bool         `json:"created,omitempty"` // upsert only
}

// item is one record of a collection write, parsed but not yet applied.
type item struct {
	t   *table
	id  string // update, delete
	as  []assign
	err *Error // failed before it could be tried
}

func (e *Emulator) serveCollections(w http.ResponseWriter, r *http.Request, rest []string) {
	switch len(rest) {
	case 0:
		switch r.Method {
		case http.MethodPost:
			e.collectionWrite(w, r, opCreate, nil, nil)
		case http.MethodPatch:
			e.collectionWrite(w, r, opUpdate, nil, nil)
		case http.MethodDelete:
			e.collectionDelete(w, r)
		default:
			methodNotAllowed(w, r.Method, "POST,PATCH,DELETE")
		}
	case 1:
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			methodNotAllowed(w, r.Method, "GET,POST")
			return
		}
		e.collectionRetrieve(w, r, rest[0])
	case 2:
		if r.Method != http.MethodPatch {
			methodNotAllowed(w, r.Method, "PATCH")
			return
		}
		t := e.table(rest[0])
		if t == nil {
			notFound(w)
			return
		}
		f := t.obj.field(rest[1])
		if f == nil || !f.ExternalID {
			// Only external id fields may key an upsert in a collection; not
			// even Id.
			writeError(w, http.StatusBadRequest, apiErr("INVALID_FIELD",
				"Field "+rest[1]+" is not an External ID or indexed field for "+t.obj.Name))
			return
		}
		e.collectionWrite(w, r, opUpsert, t, f)
	default:
		notFound(w)
	}
}

type op int

const (
	opCreate op = iota
	opUpdate
	opUpsert
)

// collectionWrite is POST (create), PATCH (update) and PATCH
// {Object}/{ExternalIdField} (upsert) on composite/sobjects.
func (e *Emulator) collectionWrite(w http.ResponseWriter, r *http.Request, kind op, upsertTable *table, ext *field) {
	body := readBody(r)
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		writeError(w, http.StatusBadRequest, apiErr("JSON_PARSER_ERROR", "The request body is not a JSON object"))
		return
	}
	root := gjson.ParseBytes(body)
	recs := root.Get("records")
	allOrNone := root.Get("allOrNone")
	switch {
	case !recs.IsArray():
		writeError(w, http.StatusBadRequest, apiErr("JSON_PARSER_ERROR", "records: an array of records is required"))
		return
	case allOrNone.Exists() && allOrNone.Type != gjson.True && allOrNone.Type != gjson.False:
		writeError(w, http.StatusBadRequest, apiErr("JSON_PARSER_ERROR", "allOrNone: Cannot deserialize instance of boolean from "+jsonKind(allOrNone)+" value"))
		return
	}
	list := recs.Array()
	if len(list) > maxCollection {
		writeError(w, http.StatusBadRequest, apiErr("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"))
		return
	}

	// Parse every record before saving any: a body Salesforce cannot
	// deserialize fails as a whole.
	items := make([]item, len(list))
	for i, rec := range list {
		it, reqErr := e.parseItem(kind, rec, upsertTable)
		if reqErr != nil {
			writeError(w, http.StatusBadRequest, reqErr)
			return
		}
		items[i] = it
	}

	if kind == opUpsert {
		refuseRepeatedKeys(items, ext)
	}

	e.mu.Lock()
	x := &tx{now: e.now()}
	defer e.unlockAndNotify(x)
	results := make([]saveResult, len(items))
	var failed bool
	for i, it := range items {
		id, created, err := it.id, false, it.err
		if err == nil {
			switch kind {
			case opCreate:
				id, err = e.insert(x, it.t, it.as)
				created = err == nil
			case opUpdate:
				err = e.update(x, it.t, it.id, it.as)
			case opUpsert:
				id, created, err = e.upsert(x, it.t, ext, it.as)
			}
		}
		results[i] = result(id, err)
		if kind == opUpsert {
			results[i].Created = &created
		}
		failed = failed || err != nil
	}
	if failed && allOrNone.Bool() {
		x.rollback()
		rollBack(results)
	}
	writeJSON(w, http.StatusOK, results)
}

// refuseRepeatedKeys fails every record of an upsert whose external id
// value another record of the same call also carries: which of them should
// win is not the server's to guess.
func refuseRepeatedKeys(items []item, ext *field) {
	value := func(it item) any {
		for _, a := range it.as {
			if a.f == ext && it.err == nil {
				return a.v
			}
		}
		return nil
	}
	count := map[string]int{}
	for _, it := range items {
		if v := value(it); v != nil {
			count[uniqKey(ext, v)]++
		}
	}
	for i, it := range items {
		if v := value(it); v != nil && count[uniqKey(ext, v)] > 1 {
			items[i].err = apiErr("DUPLICATE_VALUE", fmt.Sprintf("Duplicate external id specified: %v", v), ext.Name)
		}
	}
}

// parseItem reads one record of a write body. The error returned fails the
// whole request; a record's own problem goes into item.err.
func (e *Emulator) parseItem(kind op, rec gjson.Result, upsertTable *table) (item, *Error) {
	var it item
	typ := rec.Get("attributes.type").String()
	switch {
	case !rec.IsObject():
		return it, apiErr("JSON_PARSER_ERROR", "records: each record must be a JSON object")
	case typ == "":
		it.err = apiErr("INVALID_TYPE", "Must send a concrete entity type.")
		return it, nil
	}
	it.t = e.table(typ)
	switch {
	case it.t == nil:
		it.err = apiErr("INVALID_TYPE", "sObject type '"+typ+"' is not supported.")
		return it, nil
	case upsertTable != nil && it.t != upsertTable:
		it.err = apiErr("INVALID_TYPE", "The record type "+typ+" does not match the type "+upsertTable.obj.Name+" of the request")
		return it, nil
	}
	var rawID gjson.Result
	rec.ForEach(func(k, v gjson.Result) bool {
		if strings.EqualFold(k.String(), "id") {
			rawID = v
		}
		return true
	})
	isID := func(key string) bool { return strings.EqualFold(key, "id") }
	var skip func(string) bool
	switch kind {
	case opCreate:
		if rawID.Exists() {
			it.err = apiErr("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", "Id")
		}
	case opUpdate:
		skip = isID
		if rawID.String() == "" {
			it.err = apiErr("MISSING_ARGUMENT", "Id not specified in an update call", "Id")
		} else {
			it.id, it.err = resolveID(it.t.obj, rawID.String())
		}
	}
	as, recErr, reqErr := parseFields(it.t.obj, rec, skip)
	if reqErr != nil {
		return it, reqErr
	}
	if it.err == nil {
		it.err = recErr
	}
	it.as = as
	return it, nil
}

// collectionDelete is DELETE composite/sobjects?ids=...&allOrNone=...
func (e *Emulator) collectionDelete(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	raw := qv.Get("ids")
	if raw == "" {
		writeError(w, http.StatusBadRequest, apiErr("MISSING_ARGUMENT", "ids parameter is required"))
		return
	}
	ids := strings.Split(raw, ",")
	if len(ids) > maxCollection {
		writeError(w, http.StatusBadRequest, apiErr("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"))
		return
	}
	allOrNone := strings.EqualFold(qv.Get("allOrNone"), "true")

	e.mu.Lock()
	x := &tx{now: e.now()}
	defer e.unlockAndNotify(x)
	results := make([]saveResult, len(ids))
	var failed bool
	for i, raw := range ids {
		id, ok := NormalizeID(strings.TrimSpace(raw))
		var err *Error
		t := e.tableByPrefix(id)
		switch {
		case !ok:
			err = apiErr("MALFORMED_ID", "malformed id "+raw)
		case t == nil:
			err = apiErr("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
		default:
			err = e.remove(x, t, id)
		}
		results[i] = result(id, err)
		failed = failed || err != nil
	}
	if failed && allOrNone {
		x.rollback()
		rollBack(results)
	}
	writeJSON(w, http.StatusOK, results)
}

// readBody returns the body ServeHTTP already buffered.
func readBody(r *http.Request) []byte {
	b, _ := io.ReadAll(r.Body)
	return b
}

func (e *Emulator) tableByPrefix(id string) *table {
	if len(id) < 3 {
		return nil
	}
	for _, t := range e.tables {
		if t.obj.Prefix == id[:3] {
			return t
		}
	}
	return nil
}

func result(id string, err *Error) saveResult {
	if err != nil {
		return saveResult{Errors: []recordError{err.record()}}
	}
	return saveResult{ID: id, Success: true, Errors: []recordError{}}
}

// rollBack turns the results of an allOrNone call that failed: what had
// succeeded is undone and says so; failures keep their own error.
func rollBack(results []saveResult) {
	f := false
	for i := range results {
		if results[i].Success {
			results[i] = saveResult{Errors: []recordError{apiErr("ALL_OR_NONE_OPERATION_ROLLED_BACK",
				"Record rolled back because not all records were valid and the request was using AllOrNone header").record()}}
		}
		if results[i].Created != nil {
			results[i].Created = &f
		}
	}
}

// collectionRetrieve is GET composite/sobjects/{Object}?ids=&fields= or
// POST with {"ids":[...],"fields":[...]}: the records in the order of ids,
// null for an id that names no live record of the object (not found,
// deleted, malformed, or of another object), as Salesforce documents it.
// Deleted records are not retrieved, as in the SOAP retrieve() it mirrors.
// A GET is bounded by its URL (about 800 ids, then 414); both forms by
// 2,000 ids. An unknown field fails the whole request with 400.
func (e *Emulator) collectionRetrieve(w http.ResponseWriter, r *http.Request, object string) {
	t := e.table(object)
	if t == nil {
		notFound(w)
		return
	}
	var ids, names []string
	if r.Method == http.MethodPost {
		var ok bool
		ids, names, ok = retrieveBody(readBody(r))
		if !ok {
			writeError(w, http.StatusBadRequest, apiErr("JSON_PARSER_ERROR", `The request body must be a JSON object {"ids":[...],"fields":[...]} of strings`))
			return
		}
	} else {
		if s := r.URL.Query().Get("ids"); s != "" {
			ids = strings.Split(s, ",")
		}
		if s := r.URL.Query().Get("fields"); s != "" {
			names = strings.Split(s, ",")
		}
	}
	switch {
	case len(ids) == 0 || len(names) == 0:
		writeError(w, http.StatusBadRequest, apiErr("MISSING_ARGUMENT", "ids and fields are required"))
		return
	case len(ids) > maxRetrieve:
		writeError(w, http.StatusBadRequest, apiErr("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 2000 records into this call"))
		return
	}
	fields, err := selectFields(t.obj, strings.Join(names, ","))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	b := []byte{'['}
	for i, raw := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		id, ok := NormalizeID(strings.TrimSpace(raw))
		if rec := t.rows[id]; ok && rec != nil && !rec.IsDeleted {
			b = appendRecord(b, t.obj, rec, fields)
		} else {
			b = append(b, "null"...)
		}
	}
	writeRaw(w, http.StatusOK, append(b, ']'))
}

// retrieveBody reads the body of a POST retrieve; ok is false when it is
// not an object whose ids and fields are arrays of strings.
func retrieveBody(body []byte) (ids, fields []string, ok bool) {
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return nil, nil, false
	}
	root := gjson.ParseBytes(body)
	list := func(key string) ([]string, bool) {
		v := root.Get(key)
		if !v.Exists() {
			return nil, true // missing: MISSING_ARGUMENT, not a parse error
		}
		if !v.IsArray() {
			return nil, false
		}
		var out []string
		for _, x := range v.Array() {
			if x.Type != gjson.String {
				return nil, false
			}
			out = append(out, x.String())
		}
		return out, true
	}
	ids, okIDs := list("ids")
	fields, okFields := list("fields")
	return ids, fields, okIDs && okFields
}
