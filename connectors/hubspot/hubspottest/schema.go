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
	kindEnum // one option
	kindEmail
	kindBool
	kindDate
	kindMulti // several options, joined by ";"
)

// hubspotType is the property's type as the properties API names it.
func (k kind) hubspotType() string {
	switch k {
	case kindNumber:
		return "number"
	case kindDateTime:
		return "datetime"
	case kindDate:
		return "date"
	case kindEnum, kindMulti:
		return "enumeration"
	case kindBool:
		return "bool"
	}
	return "string"
}

// fieldType is how HubSpot shows a property of kind k unless told
// otherwise.
func (k kind) fieldType() string {
	switch k {
	case kindNumber:
		return "number"
	case kindDateTime, kindDate:
		return "date"
	case kindEnum:
		return "select"
	case kindMulti:
		return "checkbox"
	case kindBool:
		return "booleancheckbox"
	}
	return "text"
}

type propDef struct {
	name      string
	label     string // as the properties API shows it; default the name
	kind      kind
	fieldType string   // default kind.fieldType()
	options   []string // kindEnum, kindMulti: the allowed internal values
	readOnly  bool     // maintained by HubSpot; writes are rejected
	unique    bool     // usable as idProperty, and enforced unique among live records
	custom    bool     // declared through Options, not one of HubSpot's own
}

// objectType is one CRM object type: its properties and the few names that
// differ between contacts and companies.
type objectType struct {
	name       string // path segment: contacts, companies
	typeID     string // HubSpot's object type id, accepted in paths too
	label      string // in error messages: CONTACT, COMPANY
	group      string // the property group of its own properties
	modProp    string // the last-modified property
	firstID    int64  // ids count up from here
	props      map[string]*propDef
	defaults   []string // returned when a request names no properties
	searchable []string // what the free-text search "query" looks at
}

var lifecycleStages = []string{"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist", "other"}

// labels are the labels HubSpot gives its own properties, as the
// properties API shows them.
var labels = map[string]string{
	"email": "Email", "firstname": "First Name", "lastname": "Last Name", "phone": "Phone Number",
	"mobilephone": "Mobile Phone Number", "company": "Company Name", "jobtitle": "Job Title",
	"website": "Website URL", "city": "City", "country": "Country/Region", "hs_lead_status": "Lead Status",
	"name": "Company name", "domain": "Company Domain Name", "industry": "Industry",
	"numberofemployees": "Number of Employees", "annualrevenue": "Annual Revenue",
	"lifecyclestage": "Lifecycle Stage", "createdate": "Create Date", "lastmodifieddate": "Last Modified Date",
	"hs_lastmodifieddate": "Last Modified Date", "hs_object_id": "Record ID", "associatedcompanyid": "Primary Associated Company ID",
}

// optionLabels are the labels of the lifecycle stages.
var optionLabels = map[string]string{
	"subscriber": "Subscriber", "lead": "Lead", "marketingqualifiedlead": "Marketing Qualified Lead",
	"salesqualifiedlead": "Sales Qualified Lead", "opportunity": "Opportunity", "customer": "Customer",
	"evangelist": "Evangelist", "other": "Other",
}

// Property declares a typed custom property (Options.Properties).
type Property struct {
	Name string
	// Type is HubSpot's data type: "string" (the default), "number",
	// "bool", "date", "datetime" or "enumeration".
	Type string
	// FieldType, for an enumeration, is "select" (the default) or "radio"
	// for one option, or "checkbox" for several, written "a;b;c". Other
	// types ignore it.
	FieldType string
	// Options are an enumeration's internal values, the ones the API takes.
	Options []string
	Label   string // default Name
}

func (p Property) def() (*propDef, error) {
	d := &propDef{name: p.Name, label: p.Label, custom: true}
	if !validName(p.Name) {
		return nil, fmt.Errorf("%q is not a property name", p.Name)
	}
	switch p.Type {
	case "", "string":
		d.kind = kindString
	case "number":
		d.kind = kindNumber
	case "bool":
		d.kind = kindBool
	case "date":
		d.kind = kindDate
	case "datetime":
		d.kind = kindDateTime
	case "enumeration":
		switch p.FieldType {
		case "", "select", "radio":
			d.kind, d.fieldType = kindEnum, p.FieldType
		case "checkbox":
			d.kind = kindMulti
		default:
			return nil, fmt.Errorf("%s: fieldType %q is not select, radio or checkbox", p.Name, p.FieldType)
		}
		if len(p.Options) == 0 {
			return nil, fmt.Errorf("%s: an enumeration needs options", p.Name)
		}
		for _, o := range p.Options {
			if o == "" || strings.Contains(o, ";") {
				return nil, fmt.Errorf("%s: option %q is empty or holds a ';'", p.Name, o)
			}
		}
		d.options = slices.Clone(p.Options)
	default:
		return nil, fmt.Errorf("%s: type %q is not string, number, bool, date, datetime or enumeration", p.Name, p.Type)
	}
	return d, nil
}

func validName(n string) bool {
	return n != "" && strings.IndexFunc(n, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) < 0
}

// newTypes builds contacts and companies with HubSpot's own properties,
// then the ones Options declares: string properties (extra), typed ones
// (typed; redefining a property is an error) and unique-value ones.
func newTypes(extra map[string][]string, typed map[string][]Property, unique map[string][]string) (map[string]*objectType, error) {
	contacts := &objectType{
		name: "contacts", typeID: "0-1", label: "CONTACT", group: "contactinformation", modProp: "lastmodifieddate", firstID: 51,
		defaults:   []string{"firstname", "lastname", "email", "createdate", "lastmodifieddate", "hs_object_id"},
		searchable: []string{"firstname", "lastname", "email", "phone", "mobilephone", "company", "website"},
	}
	contacts.add(kindEmail, "email")
	contacts.add(kindString, "firstname", "lastname", "phone", "mobilephone", "company", "jobtitle", "website", "city", "country", "hs_lead_status")
	contacts.props["mobilephone"].fieldType = "phonenumber"
	// associatedcompanyid is the contact's primary company, which HubSpot
	// keeps in step with the associations (assoc.go).
	contacts.props["associatedcompanyid"] = &propDef{name: "associatedcompanyid", kind: kindNumber, readOnly: true}
	companies := &objectType{
		name: "companies", typeID: "0-2", label: "COMPANY", group: "companyinformation", modProp: "hs_lastmodifieddate", firstID: 9001,
		defaults:   []string{"name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"},
		searchable: []string{"name", "domain", "website", "phone"},
	}
	companies.add(kindString, "name", "domain", "phone", "industry", "city", "country", "website")
	companies.add(kindNumber, "numberofemployees", "annualrevenue")
	types := map[string]*objectType{"contacts": contacts, "companies": companies}
	for _, t := range types {
		t.props["phone"].fieldType = "phonenumber"
		t.props["lifecyclestage"] = &propDef{name: "lifecyclestage", kind: kindEnum, fieldType: "radio", options: lifecycleStages}
		t.props["createdate"] = &propDef{name: "createdate", kind: kindDateTime, readOnly: true}
		t.props[t.modProp] = &propDef{name: t.modProp, kind: kindDateTime, readOnly: true}
		t.props["hs_object_id"] = &propDef{name: "hs_object_id", kind: kindNumber, readOnly: true, unique: true}
		for _, d := range t.props {
			d.label = labels[d.name]
		}
	}
	for object, ps := range typed {
		t := types[object]
		if t == nil {
			return nil, fmt.Errorf("Properties: unknown object type %q (known: contacts, companies)", object)
		}
		for _, p := range ps {
			d, err := p.def()
			if err != nil {
				return nil, fmt.Errorf("Properties: %s: %w", object, err)
			}
			if t.props[p.Name] != nil {
				return nil, fmt.Errorf("Properties: %s: %s exists already", object, p.Name)
			}
			t.props[p.Name] = d
		}
	}
	for _, t := range types {
		for _, p := range extra[t.name] {
			if t.props[p] == nil {
				t.add(kindString, p)
				t.props[p].custom = true
			}
		}
		for _, p := range unique[t.name] {
			if t.props[p] == nil {
				t.add(kindString, p)
				t.props[p].custom = true
			}
			t.props[p].unique = true
		}
	}
	contacts.props["email"].unique = true
	return types, nil
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
			return "", d.invalidOption(v)
		}
	case kindMulti:
		// Each of the values between semicolons must be an option; empty
		// ones (";a", "a;;b") are dropped.
		var vals []string
		for _, o := range strings.Split(v, ";") {
			if o == "" {
				continue
			}
			if !slices.Contains(d.options, o) {
				return "", d.invalidOption(o)
			}
			vals = append(vals, o)
		}
		return strings.Join(vals, ";"), nil
	case kindNumber:
		if f, err := strconv.ParseFloat(v, 64); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return "", &propError{d.name, "INVALID_DECIMAL", fmt.Sprintf("%s was not a valid number.", v)}
		}
	case kindBool:
		switch strings.ToLower(v) {
		case "true", "false":
			return strings.ToLower(v), nil
		}
		return "", &propError{d.name, "INVALID_BOOLEAN", fmt.Sprintf("%s was not a valid boolean.", v)}
	case kindDate:
		return d.checkDate(v)
	case kindDateTime:
		t, ok := parseStamp(v)
		if !ok {
			return "", &propError{d.name, "INVALID_LONG", fmt.Sprintf("%s was not a valid long.", v)}
		}
		return stamp(t), nil
	}
	return v, nil
}

func (d *propDef) invalidOption(v string) *propError {
	return &propError{d.name, "INVALID_OPTION", fmt.Sprintf("%s was not one of the allowed options: [%s]", v, strings.Join(d.options, ", "))}
}

// checkDate reads a date property's value: "YYYY-MM-DD", or epoch
// milliseconds at midnight UTC, which HubSpot insists on for a date. It
// returns the date as the API shows it, "YYYY-MM-DD".
func (d *propDef) checkDate(v string) (string, *propError) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		t := time.UnixMilli(ms).UTC()
		if h, m, s := t.Clock(); h != 0 || m != 0 || s != 0 || t.Nanosecond() != 0 {
			return "", &propError{d.name, "INVALID_DATE", fmt.Sprintf("%d is at %d:%d:%d.%d UTC, not midnight!", ms, h, m, s, t.Nanosecond()/1e6)}
		}
		return t.Format(time.DateOnly), nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return "", &propError{d.name, "INVALID_DATE", fmt.Sprintf("%s is not a valid date: use YYYY-MM-DD or epoch milliseconds at midnight UTC", v)}
	}
	return t.Format(time.DateOnly), nil
}

// parseStamp reads a datetime value as writes give it: epoch milliseconds
// or ISO 8601 with a time and a zone.
func parseStamp(v string) (time.Time, bool) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	return t.UTC(), err == nil
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
