package salesforcetest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
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

// maxSubrequests is the most subrequests one Composite call takes.
const maxSubrequests = 25

// serveComposite is POST composite: up to 25 subrequests run in order in
// one call, which counts as one call toward the API limits; the answer is
// 200 with each subrequest's status, headers and body, by referenceId.
// The emulator runs the subrequests it serves on its own: sObject Rows
// (GET and PATCH sobjects/{Object}/{id}, with their conditional headers).
// Others are answered 400 with the emulator's NOT_SUPPORTED_BY_EMULATOR;
// references between subrequests (@{ref.id}) and allOrNone: true (which
// rolls back) are not modelled: the latter is refused.
func (e *Emulator) serveComposite(w http.ResponseWriter, r *http.Request) {
	body := readBody(r)
	root := gjson.ParseBytes(body)
	subs := root.Get("compositeRequest")
	switch {
	case !gjson.ValidBytes(body) || !root.IsObject() || !subs.IsArray():
		writeError(w, http.StatusBadRequest, apiErr("JSON_PARSER_ERROR", "compositeRequest: an array of subrequests is required"))
		return
	case len(subs.Array()) == 0 || len(subs.Array()) > maxSubrequests:
		writeError(w, http.StatusBadRequest, apiErr("INVALID_BATCH_REQUEST", "a composite request takes from 1 to 25 subrequests"))
		return
	case root.Get("allOrNone").Bool():
		writeError(w, http.StatusBadRequest, apiErr("NOT_SUPPORTED_BY_EMULATOR", "allOrNone: true on composite is not modelled by the emulator"))
		return
	}
	type subResult struct {
		Body           json.RawMessage   `json:"body"`
		HTTPHeaders    map[string]string `json:"httpHeaders"`
		HTTPStatusCode int               `json:"httpStatusCode"`
		ReferenceID    string            `json:"referenceId"`
	}
	var out []subResult
	seen := map[string]bool{}
	for _, sub := range subs.Array() {
		ref := sub.Get("referenceId").String()
		if ref == "" || seen[ref] {
			writeError(w, http.StatusBadRequest, apiErr("INVALID_BATCH_REQUEST", "every subrequest needs its own referenceId"))
			return
		}
		seen[ref] = true
		method, target := sub.Get("method").String(), sub.Get("url").String()
		rest, _ := strings.CutPrefix(target, dataPrefix)
		seg := strings.Split(strings.Trim(rest, "/"), "/")
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, target, strings.NewReader(sub.Get("body").Raw))
		sub.Get("httpHeaders").ForEach(func(k, v gjson.Result) bool {
			req.Header.Set(k.String(), v.String())
			return true
		})
		switch {
		case !strings.HasPrefix(target, dataPrefix) || len(seg) != 3 || seg[0] != "sobjects":
			writeError(rec, http.StatusBadRequest, apiErr("NOT_SUPPORTED_BY_EMULATOR", "the emulator's composite serves sObject Rows subrequests only: "+target))
		case method == http.MethodPatch:
			e.serveRowUpdate(rec, req, seg[1], seg[2])
		case method == http.MethodGet:
			e.serveRecord(rec, req, seg[1], seg[2])
		default:
			methodNotAllowed(rec, method, "GET,PATCH")
		}
		res := subResult{HTTPHeaders: map[string]string{}, HTTPStatusCode: rec.Code, ReferenceID: ref, Body: json.RawMessage("null")}
		if b := rec.Body.Bytes(); len(b) > 0 {
			res.Body = json.RawMessage(b)
		}
		out = append(out, res)
	}
	writeJSON(w, http.StatusOK, map[string]any{"compositeResponse": out})
}
