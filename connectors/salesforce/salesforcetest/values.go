package salesforcetest

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// assign is one field set by a write; v nil clears the field.
type assign struct {
	f *field
	v any // string, int64, float64, bool or nil
}

// parseFields reads the fields of one record of a write body, in body order.
// A value of the wrong JSON type fails the whole request (Salesforce
// deserializes the body before any record is saved), so it comes back as
// reqErr. Unknown and read-only fields fail only their record: recErr.
// skip names keys that are not fields in this call ("attributes", or the
// "id" of an update).
func parseFields(o *sobject, rec gjson.Result, skip func(key string) bool) (as []assign, recErr, reqErr *Error) {
	if !rec.IsObject() {
		return nil, nil, apiErr("JSON_PARSER_ERROR", "Cannot deserialize instance of "+o.Name+" from "+jsonKind(rec)+" value")
	}
	rec.ForEach(func(k, v gjson.Result) bool {
		key := k.String()
		if key == "attributes" || skip != nil && skip(key) {
			return true
		}
		f := o.field(key)
		if f == nil {
			if recErr == nil {
				recErr = apiErr("INVALID_FIELD", fmt.Sprintf("No such column '%s' on sobject of type %s", key, o.Name), key)
			}
			return true
		}
		if f.ReadOnly {
			if recErr == nil {
				recErr = apiErr("INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: "+f.Name+
					". Please check the security settings of this field and verify that it is read/write for your profile or permission set.", f.Name)
			}
			return true
		}
		val, err := parseValue(f, v)
		if err != nil {
			reqErr = err
			return false
		}
		as = append(as, assign{f: f, v: val})
		return true
	})
	return as, recErr, reqErr
}

func jsonKind(v gjson.Result) string {
	switch {
	case v.IsObject():
		return "START_OBJECT"
	case v.IsArray():
		return "START_ARRAY"
	case v.Type == gjson.String:
		return "VALUE_STRING"
	case v.Type == gjson.Number:
		return "VALUE_NUMBER"
	case v.Type == gjson.True:
		return "VALUE_TRUE"
	case v.Type == gjson.False:
		return "VALUE_FALSE"
	}
	return "VALUE_NULL"
}

func parseErr(f *field, v gjson.Result) *Error {
	return apiErr("JSON_PARSER_ERROR", fmt.Sprintf("Cannot deserialize instance of %s from %s value %s or request may be missing a required field",
		f.Kind, jsonKind(v), v.Raw))
}

// parseValue converts a JSON value to what the field stores. Like the real
// API it is lenient where JSON is ambiguous (numbers may come as strings,
// text fields take numbers), and an empty string clears a text field:
// Salesforce stores no empty strings.
func parseValue(f *field, v gjson.Result) (any, *Error) {
	if v.Type == gjson.Null {
		return nil, nil
	}
	if v.IsObject() || v.IsArray() {
		return nil, parseErr(f, v)
	}
	switch {
	case f.Kind.textual() || f.Kind == kReference:
		if v.Type == gjson.True || v.Type == gjson.False {
			if f.Kind == kReference {
				return nil, parseErr(f, v)
			}
			return strconv.FormatBool(v.Bool()), nil
		}
		s := v.String()
		if v.Type == gjson.Number {
			s = v.Raw
		}
		if s == "" {
			return nil, nil
		}
		return s, nil
	case f.Kind == kInt || f.Kind == kDouble || f.Kind == kCurrency:
		n, empty, ok := number(v)
		switch {
		case empty:
			return nil, nil
		case !ok || f.Kind == kInt && (n != math.Trunc(n) || math.Abs(n) > math.MaxInt32):
			return nil, parseErr(f, v)
		case f.Kind == kInt:
			return int64(n), nil
		}
		return n, nil
	case f.Kind == kBoolean:
		switch {
		case v.Type == gjson.True || v.Type == gjson.False:
			return v.Bool(), nil
		case v.Type == gjson.String && (strings.EqualFold(v.Str, "true") || strings.EqualFold(v.Str, "false")):
			return strings.EqualFold(v.Str, "true"), nil
		}
		return nil, parseErr(f, v)
	}
	return nil, parseErr(f, v)
}

// number reads a JSON number, or a string holding one; an empty string is
// no value.
func number(v gjson.Result) (n float64, empty, ok bool) {
	s := v.Raw
	switch v.Type {
	case gjson.String:
		s = strings.TrimSpace(v.Str)
		if s == "" {
			return 0, true, true
		}
	case gjson.Number:
	default:
		return 0, false, false
	}
	n, err := strconv.ParseFloat(s, 64)
	return n, false, err == nil && !math.IsInf(n, 0) && !math.IsNaN(n)
}

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// checkValue applies the field's rules to a parsed value: required fields
// cannot be cleared, text has a length, emails a shape, and a reference
// must point at a live record of the right object. It returns the value to
// store (a reference normalized to 18 characters).
func (e *Emulator) checkValue(f *field, v any) (any, *Error) {
	if v == nil {
		if f.Required {
			return nil, apiErr("REQUIRED_FIELD_MISSING", "Required fields are missing: ["+f.Name+"]", f.Name)
		}
		return nil, nil
	}
	s, isString := v.(string)
	if f.Kind.textual() && isString {
		if n := utf8.RuneCountInString(s); n > f.Length {
			shown := s
			if n > 100 {
				shown = string([]rune(s)[:100]) + "..."
			}
			return nil, apiErr("STRING_TOO_LONG", fmt.Sprintf("%s: data value too large: %s (max length=%d)", f.Label, shown, f.Length), f.Name)
		}
		if f.Kind == kEmail && !emailRE.MatchString(s) {
			return nil, apiErr("INVALID_EMAIL_ADDRESS", f.Label+": invalid email address: "+s, f.Name)
		}
	}
	if f.Kind == kReference {
		target := e.tables[strings.ToLower(f.ReferenceTo)]
		// Not an id at all is MALFORMED_ID; an id of another object is
		// FIELD_INTEGRITY_EXCEPTION, with the same words (as Salesforce
		// answers a Contact inserted with "NotReal" or an Opportunity's id
		// in AccountId); an Account id that names no record is
		// INVALID_CROSS_REFERENCE_KEY, one in the recycle bin
		// ENTITY_IS_DELETED.
		id, ok := NormalizeID(s)
		if !ok {
			return nil, apiErr("MALFORMED_ID", f.Label+": id value of incorrect type: "+s, f.Name)
		}
		if id[:3] != target.obj.Prefix {
			return nil, apiErr("FIELD_INTEGRITY_EXCEPTION", f.Label+": id value of incorrect type: "+s, f.Name)
		}
		r := target.rows[id]
		switch {
		case r == nil:
			return nil, apiErr("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", f.Name)
		case r.IsDeleted:
			return nil, apiErr("ENTITY_IS_DELETED", "entity is deleted", f.Name)
		}
		return id, nil
	}
	return v, nil
}

// Salesforce writes datetimes with milliseconds and a +0000 offset.
const sfTime = "2006-01-02T15:04:05.000-0700"

func formatTime(t time.Time) string { return t.UTC().Format(sfTime) }
