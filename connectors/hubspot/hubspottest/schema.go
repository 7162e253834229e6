package hubspottest

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// kind is how HubSpot stores and compares a property's values.
type kind int

const (
	kindString kind = iota
	kindNumber
	kindDateTime
	kindEnum
	kindEmail
)

type propDef struct {
	name     string
	kind     kind
	options  []string // kindEnum: the allowed internal values
	readOnly bool     // maintained by HubSpot; writes are rejected
	unique   bool     // usable as idProperty, and enforced unique among live records
}

// objectType is one CRM object type: its properties and the few names that
// differ between contacts and companies.
type objectType struct {
	name       string // path segment: contacts, companies
	typeID     string // HubSpot's object type id, accepted in paths too
	label      string // in error messages: CONTACT, COMPANY
	modProp    string // the last-modified property
	firstID    int64  // ids count up from here
	props      map[string]*propDef
	defaults   []string // returned when a request names no properties
	searchable []string // what the free-text search "query" looks at
}

var lifecycleStages = []string{"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist", "other"}

func newTypes(extra, unique map[string][]string) map[string]*objectType {
	contacts := &objectType{
		name: "contacts", typeID: "0-1", label: "CONTACT", modProp: "lastmodifieddate", firstID: 51,
		defaults:   []string{"firstname", "lastname", "email", "createdate", "lastmodifieddate", "hs_object_id"},
		searchable: []string{"firstname", "lastname", "email", "phone", "mobilephone", "company", "website"},
	}
	contacts.add(kindEmail, "email")
	contacts.add(kindString, "firstname", "lastname", "phone", "mobilephone", "company", "jobtitle", "website", "city", "country", "hs_lead_status")
	companies := &objectType{
		name: "companies", typeID: "0-2", label: "COMPANY", modProp: "hs_lastmodifieddate", firstID: 9001,
		defaults:   []string{"name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"},
		searchable: []string{"name", "domain", "website", "phone"},
	}
	companies.add(kindString, "name", "domain", "phone", "industry", "city", "country", "website")
	companies.add(kindNumber, "numberofemployees", "annualrevenue")
	types := map[string]*objectType{"contacts": contacts, "companies": companies}
	for _, t := range types {
		t.props["lifecyclestage"] = &propDef{name: "lifecyclestage", kind: kindEnum, options: lifecycleStages}
		t.props["createdate"] = &propDef{name: "createdate", kind: kindDateTime, readOnly: true}
		t.props[t.modProp] = &propDef{name: t.modProp, kind: kindDateTime, readOnly: true}
		t.props["hs_object_id"] = &propDef{name: "hs_object_id", kind: kindNumber, readOnly: true, unique: true}
		for _, p := range extra[t.name] {
			if t.props[p] == nil {
				t.add(kindString, p)
			}
		}
		for _, p := range unique[t.name] {
			if t.props[p] == nil {
				t.add(kindString, p)
			}
			t.props[p].unique = true
		}
	}
	contacts.props["email"].unique = true
	return types
}

func (t *objectType) add(k kind, names ...string) {
	if t.props == nil {
		t.props = map[string]*propDef{}
	}
	for _, n := range names {
		t.props[n] = &propDef{name: n, kind: k}
	}
}

// propError is one rejected property value, reported the way HubSpot's
// property validation reports it.
type propError struct {
	Name    string
	Code    string // PROPERTY_DOESNT_EXIST, READ_ONLY_VALUE, INVALID_OPTION, ...
	Message string
}

// normalize turns the properties of a write into stored strings: numbers
// and booleans become strings as HubSpot coerces them, null and "" mean
// "clear", emails are trimmed and lower-cased, and every value is checked
// against its property's definition. The result maps a name to its new
// value, "" for cleared.
func (t *objectType) normalize(in map[string]any) (map[string]string, []propError) {
	out := make(map[string]string, len(in))
	var errs []propError
	names := make([]string, 0, len(in))
	for n := range in {
		names = append(names, n)
	}
	sort.Strings(names) // stable error order
	for _, name := range names {
		def := t.props[name]
		switch {
		case def == nil:
			errs = append(errs, propError{name, "PROPERTY_DOESNT_EXIST", fmt.Sprintf("Property %q does not exist", name)})
			continue
		case def.readOnly:
			errs = append(errs, propError{name, "READ_ONLY_VALUE", fmt.Sprintf("%q is a read only property; its value cannot be set.", name)})
			continue
		}
		v, ok := coerce(in[name])
		if !ok {
			errs = append(errs, propError{name, "INVALID_TYPE", fmt.Sprintf("Property %q must be a string, number or boolean", name)})
			continue
		}
		if v, perr := def.check(v); perr != nil {
			errs = append(errs, *perr)
		} else {
			out[name] = v
		}
	}
	return out, errs
}

// coerce renders a JSON value as HubSpot stores it.
func coerce(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", true
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case bool:
		return strconv.FormatBool(v), true
	case fmt.Stringer:
		return v.String(), true
	}
	return "", false
}

func (d *propDef) check(v string) (string, *propError) {
	if d.kind == kindEmail {
		v = strings.ToLower(strings.TrimSpace(v))
	}
	if v == "" {
		return "", nil
	}
	switch d.kind {
	case kindEmail:
		if !validEmail(v) {
			return "", &propError{d.name, "INVALID_EMAIL", fmt.Sprintf("Email address %s is invalid", v)}
		}
	case kindEnum:
		if !slices.Contains(d.options, v) {
			return "", &propError{d.name, "INVALID_OPTION", fmt.Sprintf("%s was not one of the allowed options: [%s]", v, strings.Join(d.options, ", "))}
		}
	case kindNumber:
		if f, err := strconv.ParseFloat(v, 64); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return "", &propError{d.name, "INVALID_DECIMAL", fmt.Sprintf("%s was not a valid number.", v)}
		}
	}
	return v, nil
}

// validEmail is the shape HubSpot insists on: one @, something before it,
// a dotted domain after it, no spaces.
func validEmail(v string) bool {
	local, domain, ok := strings.Cut(v, "@")
	return ok && local != "" && !strings.ContainsAny(v, " \t\r\n") &&
		!strings.Contains(domain, "@") && strings.Contains(domain, ".") &&
		!strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// stamp is how HubSpot writes times: RFC 3339 in UTC with milliseconds.
func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// parseTime reads a timestamp given to the search API: epoch milliseconds,
// RFC 3339, or a bare date.
func parseTime(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, true
	}
	return time.Time{}, false
}
