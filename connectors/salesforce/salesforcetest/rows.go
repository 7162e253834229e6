package salesforcetest

import (
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// serveRowUpdate is PATCH sobjects/{Object}/{id} (sObject Rows): update
// one record with the fields of the body, answered 204 with no body.
//
// If-Unmodified-Since makes it conditional, as Salesforce documents for
// sObject Rows ("Conditional Request Headers"): the header is an HTTP date
// (to the second), compared with the record's LastModifiedDate; a record
// modified after it is left alone and the answer is 412 Precondition
// Failed. The comparison is at one-second resolution, as HTTP dates are,
// so an edit made in the same second as the date is not seen. An invalid
// header value is 400 (Salesforce's exception to HTTP, which would ignore
// it). The 412's body is Salesforce's error shape; its wording is the
// emulator's.
func (e *Emulator) serveRowUpdate(w http.ResponseWriter, r *http.Request, object, rawID string) {
	t := e.table(object)
	if t == nil {
		notFound(w)
		return
	}
	var since time.Time
	if h := r.Header.Get("If-Unmodified-Since"); h != "" {
		var err error
		if since, err = http.ParseTime(h); err != nil {
			writeError(w, http.StatusBadRequest, apiErr("INVALID_HEADER_TYPE", "If-Unmodified-Since: not a valid HTTP date: "+h))
			return
		}
	}
	body := readBody(r)
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		writeError(w, http.StatusBadRequest, apiErr("JSON_PARSER_ERROR", "The request body is not a JSON object"))
		return
	}
	as, recErr, reqErr := parseFields(t.obj, gjson.ParseBytes(body), func(k string) bool { return strings.EqualFold(k, "id") })
	switch {
	case reqErr != nil:
		writeError(w, http.StatusBadRequest, reqErr)
		return
	case recErr != nil:
		writeError(w, http.StatusBadRequest, recErr)
		return
	}
	id, idErr := resolveID(t.obj, rawID)
	if idErr != nil {
		notFound(w)
		return
	}
	e.mu.Lock()
	x := &tx{now: e.now()}
	defer e.unlockAndNotify(x)
	old, err := t.live(id)
	switch {
	case err != nil && err.Code == "ENTITY_IS_DELETED":
		writeError(w, http.StatusNotFound, err)
		return
	case err != nil:
		notFound(w)
		return
	case !since.IsZero() && old.LastModifiedDate.Truncate(time.Second).After(since):
		writeError(w, http.StatusPreconditionFailed, apiErr("PRECONDITION_FAILED",
			"The record was modified after the date in the If-Unmodified-Since header: "+old.LastModifiedDate.UTC().Format(http.TimeFormat)))
		return
	}
	if err := e.update(x, t, id, as); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
