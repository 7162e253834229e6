package salesforcetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// appendRecord writes r as the API shows it: attributes first, then the
// fields asked for, in the order asked, unset ones as null.
func appendRecord(b []byte, o *sobject, r *Record, fields []*field) []byte {
	b = fmt.Appendf(b, `{"attributes":{"type":"%s","url":"%ssobjects/%s/%s"}`, o.Name, dataPrefix, o.Name, r.ID)
	for _, f := range fields {
		b = fmt.Appendf(b, `,"%s":`, f.Name)
		b = appendValue(b, f, r)
	}
	return append(b, '}')
}

func appendValue(b []byte, f *field, r *Record) []byte {
	if f.Compute != nil {
		if s, ok := f.Compute(r).(string); ok {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
		return append(b, "null"...)
	}
	switch f.Name {
	case "Id":
		return strconv.AppendQuote(b, r.ID) // ids are plain ASCII
	case "IsDeleted":
		return strconv.AppendBool(b, r.IsDeleted)
	case "CreatedDate":
		return strconv.AppendQuote(b, formatTime(r.CreatedDate))
	case "LastModifiedDate":
		return strconv.AppendQuote(b, formatTime(r.LastModifiedDate))
	case "SystemModstamp":
		return strconv.AppendQuote(b, formatTime(r.SystemModstamp))
	}
	switch v := r.Fields[f.Name].(type) {
	case nil:
		return append(b, "null"...)
	case int64:
		return strconv.AppendInt(b, v, 10)
	default:
		j, err := json.Marshal(v)
		if err != nil {
			panic("salesforcetest: stored value cannot be encoded: " + err.Error())
		}
		return append(b, j...)
	}
}

// selectFields resolves a fields=a,b parameter; empty means every field.
// Names are matched without case and shown with their API spelling; a
// field named twice is shown once, since a record cannot hold a key twice.
func selectFields(o *sobject, param string) ([]*field, *Error) {
	if strings.TrimSpace(param) == "" {
		return o.Fields, nil
	}
	var fs []*field
	seen := map[*field]bool{}
	for _, name := range strings.Split(param, ",") {
		name = strings.TrimSpace(name)
		f := o.field(name)
		if f == nil {
			return nil, apiErr("INVALID_FIELD", fmt.Sprintf(noSuchColumn, name, o.Name))
		}
		if !seen[f] {
			seen[f] = true
			fs = append(fs, f)
		}
	}
	return fs, nil
}

// serveRecord is GET sobjects/{Object}/{id}[?fields=...].
func (e *Emulator) serveRecord(w http.ResponseWriter, r *http.Request, object, rawID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.table(object)
	if t == nil {
		notFound(w)
		return
	}
	fields, ferr := selectFields(t.obj, r.URL.Query().Get("fields"))
	if ferr != nil {
		writeError(w, http.StatusBadRequest, ferr)
		return
	}
	id, ok := NormalizeID(rawID)
	rec := t.rows[id]
	switch {
	case !ok || rec == nil:
		notFound(w)
	case rec.IsDeleted:
		writeError(w, http.StatusNotFound, apiErr("ENTITY_IS_DELETED", "entity is deleted"))
	default:
		writeRaw(w, http.StatusOK, appendRecord(nil, t.obj, rec, fields))
	}
}
