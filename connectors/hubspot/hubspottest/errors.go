package hubspottest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// reply is a finished response, built under the emulator's lock and
// written after it is released.
type reply struct {
	status int
	header http.Header
	body   any // marshalled as JSON; nil for no body
}

// apiError is HubSpot's error body (the spec's Error schema).
type apiError struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	CorrelationID string              `json:"correlationId"`
	Category      string              `json:"category"`
	SubCategory   string              `json:"subCategory,omitempty"`
	Errors        []errorDetail       `json:"errors,omitempty"`
	Context       map[string][]string `json:"context,omitempty"`
	// Only on 429s, where HubSpot names the limit that was hit.
	ErrorType  string `json:"errorType,omitempty"`
	PolicyName string `json:"policyName,omitempty"`
}

type errorDetail struct {
	Message string              `json:"message"`
	Code    string              `json:"code,omitempty"`
	In      string              `json:"in,omitempty"`
	Context map[string][]string `json:"context,omitempty"`
}

func fail(status int, category, format string, args ...any) *reply {
	return &reply{status: status, body: &apiError{
		Status: "error", Message: fmt.Sprintf(format, args...),
		CorrelationID: uuid.NewString(), Category: category,
	}}
}

func validation(format string, args ...any) *reply {
	return fail(http.StatusBadRequest, "VALIDATION_ERROR", format, args...)
}

func notFound(format string, args ...any) *reply {
	return fail(http.StatusNotFound, "OBJECT_NOT_FOUND", format, args...)
}

// invalidProperties is HubSpot's answer to property values it will not
// store: the message embeds the per-property verdicts as JSON (as the real
// API does), and errors[] lists them with their codes.
func invalidProperties(errs []propError) *reply {
	type verdict struct {
		IsValid bool   `json:"isValid"`
		Message string `json:"message"`
		Error   string `json:"error"`
		Name    string `json:"name"`
	}
	vs := make([]verdict, len(errs))
	details := make([]errorDetail, len(errs))
	for i, e := range errs {
		vs[i] = verdict{false, e.Message, e.Code, e.Name}
		details[i] = errorDetail{Message: e.Message, Code: e.Code, Context: map[string][]string{"propertyName": {e.Name}}}
	}
	b, _ := json.Marshal(vs)
	r := validation("Property values were not valid: %s", b)
	r.body.(*apiError).Errors = details
	return r
}

// writeFailure turns an error from applying writes into HubSpot's reply.
func writeFailure(err error) *reply {
	var ce *conflictError
	if errors.As(err, &ce) {
		return fail(http.StatusConflict, "CONFLICT", "%s", ce.Error())
	}
	return fail(http.StatusInternalServerError, "INTERNAL_ERROR", "%s", err.Error())
}

// batchError is one entry of errors[] in a 207 batch response (the spec's
// StandardError: every field present, even when empty).
type batchError struct {
	Status   string `json:"status"`
	Category string `json:"category"`
	// SubCategory is the associations API's (crm.associations.…); the
	// objects API sends none.
	SubCategory string              `json:"subCategory,omitempty"`
	Message     string              `json:"message"`
	Context     map[string][]string `json:"context"`
	Errors      []errorDetail       `json:"errors"`
	Links       map[string]string   `json:"links"`
}

func missingObjects(verb, label string, ids []string) batchError {
	return batchError{
		Status: "error", Category: "OBJECT_NOT_FOUND",
		Message: fmt.Sprintf("Could not %s some %s objects, they may be deleted or not exist. Check that ids are valid.", verb, label),
		Context: map[string][]string{"ids": ids}, Errors: []errorDetail{}, Links: map[string]string{},
	}
}

// jsonError explains a body that is not valid JSON for the endpoint, in the
// words HubSpot uses ("Invalid input JSON on line 1, column 15: ...").
func jsonError(body []byte, err error) *reply {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if off < 0 {
		return validation("Invalid input JSON: %s", msg)
	}
	line, col := 1, 1
	for _, c := range body[:min(int(off), len(body))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return validation("Invalid input JSON on line %d, column %d: %s", line, col, msg)
}
