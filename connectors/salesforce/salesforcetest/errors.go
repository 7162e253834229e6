package salesforcetest

import (
	"encoding/json"
	"net/http"
)

// Error is one Salesforce error: the API's code, its message, and the fields
// it concerns. The REST API shows it as {"message","errorCode","fields"} when
// a whole request fails and as {"statusCode","message","fields"} inside the
// per-record results of a collection call. The test API (Create, Update,
// Delete) returns it as a Go error.
type Error struct {
	Code    string
	Message string
	Fields  []string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func apiErr(code, msg string, fields ...string) *Error {
	return &Error{Code: code, Message: msg, Fields: fields}
}

// requestError is the shape of a whole-request failure.
type requestError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

// recordError is the shape of one record's failure in a collection result;
// fields is always present, possibly empty.
type recordError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

func (e *Error) record() recordError {
	f := e.Fields
	if f == nil {
		f = []string{}
	}
	return recordError{StatusCode: e.Code, Message: e.Message, Fields: f}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types are written; failing to encode them is a bug.
		panic("salesforcetest: encoding response: " + err.Error())
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers a failed request the way the REST API does: an array
// of errors, even for one.
func writeError(w http.ResponseWriter, status int, e *Error) {
	writeJSON(w, status, []requestError{{Message: e.Message, ErrorCode: e.Code, Fields: e.Fields}})
}

func notFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, apiErr("NOT_FOUND", "The requested resource does not exist"))
}

func methodNotAllowed(w http.ResponseWriter, method, allowed string) {
	w.Header().Set("Allow", allowed)
	writeError(w, http.StatusMethodNotAllowed, apiErr("METHOD_NOT_ALLOWED",
		"HTTP Method '"+method+"' not allowed. Allowed are "+allowed))
}
