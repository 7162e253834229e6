package hubspottest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// typedOptions declares one property of every kind on contacts.
var typedOptions = Options{Properties: map[string][]Property{"contacts": {
	{Name: "score", Type: "number", Label: "Score"},
	{Name: "vip", Type: "bool"},
	{Name: "birthday", Type: "date"},
	{Name: "last_seen", Type: "datetime"},
	{Name: "tier", Type: "enumeration", Options: []string{"gold", "silver"}},
	{Name: "plan", Type: "enumeration", FieldType: "radio", Options: []string{"free", "paid"}},
	{Name: "tags", Type: "enumeration", FieldType: "checkbox", Options: []string{"a", "b", "c"}},
	{Name: "nickname"},
}}, ExtraProperties: map[string][]string{"contacts": {"favourite_colour"}}}

func TestPropertiesAPI(t *testing.T) {
	e := New(typedOptions)
	c := do(t, e, "GET", "/crm/v3/properties/contacts", nil)
	if c.status != 200 {
		t.Fatalf("%d %s", c.status, c.raw)
	}
	if c.header.Get("X-HubSpot-RateLimit-Remaining") == "" {
		t.Errorf("no rate-limit headers: %v", c.header)
	}
	results := c.body.Get("results").Array()
	var names []string
	for _, p := range results {
		names = append(names, p.Get("name").String())
		// The spec's Property requires these, and its modification
		// metadata these.
		for _, k := range []string{"name", "label", "type", "fieldType", "description", "groupName", "options",
			"modificationMetadata.archivable", "modificationMetadata.readOnlyDefinition", "modificationMetadata.readOnlyValue",
			"displayOrder", "calculated", "externalOptions", "hasUniqueValue", "hidden", "hubspotDefined", "formField", "createdAt", "updatedAt", "archived"} {
			if !p.Get(k).Exists() {
				t.Errorf("%s has no %s: %s", p.Get("name"), k, p.Raw)
			}
		}
		if !p.Get("options").IsArray() || p.Get("groupName").String() != "contactinformation" {
			t.Errorf("%s: %s", p.Get("name"), p.Raw)
		}
	}
	if !slices.IsSorted(names) || len(names) != len(e.types["contacts"].props) {
		t.Errorf("names %v", names)
	}
	prop := func(name string) gjson.Result {
		t.Helper()
		p := c.body.Get(fmt.Sprintf(`results.#(name==%q)`, name))
		if !p.Exists() {
			t.Fatalf("no property %s", name)
		}
		return p
	}
	for _, tc := range []struct {
		name, typ, fieldType string
		readOnly, unique     bool
		custom               bool
		options              string
	}{
		{"email", "string", "text", false, true, false, `[]`},
		{"firstname", "string", "text", false, false, false, `[]`},
		{"phone", "string", "phonenumber", false, false, false, `[]`},
		{"mobilephone", "string", "phonenumber", false, false, false, `[]`},
		{"lifecyclestage", "enumeration", "radio", false, false, false, `["subscriber","lead","marketingqualifiedlead","salesqualifiedlead","opportunity","customer","evangelist","other"]`},
		{"createdate", "datetime", "date", true, false, false, `[]`},
		{"lastmodifieddate", "datetime", "date", true, false, false, `[]`},
		{"hs_object_id", "number", "number", true, false, false, `[]`},
		{"score", "number", "number", false, false, true, `[]`},
		{"vip", "bool", "booleancheckbox", false, false, true, `["true","false"]`},
		{"birthday", "date", "date", false, false, true, `[]`},
		{"last_seen", "datetime", "date", false, false, true, `[]`},
		{"tier", "enumeration", "select", false, false, true, `["gold","silver"]`},
		{"plan", "enumeration", "radio", false, false, true, `["free","paid"]`},
		{"tags", "enumeration", "checkbox", false, false, true, `["a","b","c"]`},
		{"nickname", "string", "text", false, false, true, `[]`},
		{"favourite_colour", "string", "text", false, false, true, `[]`},
	} {
		p := prop(tc.name)
		if p.Get("type").String() != tc.typ || p.Get("fieldType").String() != tc.fieldType ||
			p.Get("modificationMetadata.readOnlyValue").Bool() != tc.readOnly || p.Get("formField").Bool() == tc.readOnly ||
			p.Get("hasUniqueValue").Bool() != tc.unique || p.Get("hubspotDefined").Bool() == tc.custom ||
			p.Get("modificationMetadata.archivable").Bool() != tc.custom || p.Get("options.#.value").Raw != tc.options {
			t.Errorf("%s: %s", tc.name, p.Raw)
		}
	}
	if p := prop("lifecyclestage"); p.Get("label").String() != "Lifecycle Stage" || p.Get("options.2.label").String() != "Marketing Qualified Lead" || p.Get("options.2.hidden").Type != gjson.False {
		t.Errorf("lifecyclestage: %s", p.Raw)
	}
	if prop("score").Get("label").String() != "Score" || prop("vip").Get("label").String() != "vip" || prop("vip").Get("options.0.label").String() != "Yes" {
		t.Errorf("labels: %s %s", prop("score").Raw, prop("vip").Raw)
	}

	// The object type id works too, and each type has its own properties.
	c = do(t, e, "GET", "/crm/v3/properties/0-2?archived=false", nil)
	if c.status != 200 || c.body.Get(`results.#(name=="numberofemployees").type`).String() != "number" ||
		c.body.Get(`results.#(name=="hs_lastmodifieddate").modificationMetadata.readOnlyValue`).Type != gjson.True ||
		c.body.Get(`results.#(name=="score")`).Exists() || c.body.Get("results.0.groupName").String() != "companyinformation" {
		t.Errorf("companies by type id: %d %s", c.status, c.raw)
	}
	if c := do(t, e, "GET", "/crm/v3/properties/contacts?archived=true", nil); c.status != 200 || c.raw != "{\"results\":[]}\n" {
		t.Errorf("archived=true: %d %s", c.status, c.raw)
	}
	wantError(t, do(t, e, "GET", "/crm/v3/properties/contacts?archived=maybe", nil), 400, "VALIDATION_ERROR", "archived")
	wantError(t, do(t, e, "GET", "/crm/v3/properties/deals", nil), 400, "VALIDATION_ERROR", "Unable to infer object type from: deals")
	wantError(t, do(t, e, "GET", "/crm/v3/properties/contacts/email", nil), 404, "RESOURCE_NOT_FOUND", "No route")
	wantError(t, do(t, e, "PATCH", "/crm/v3/properties/contacts", `{"name":"x"}`), 404, "RESOURCE_NOT_FOUND", "No route")
	wantError(t, doAuth(t, e, "Bearer nope", "GET", "/crm/v3/properties/contacts", nil), 401, "INVALID_AUTHENTICATION", "Authentication credentials not found")
	if e.Writes() != 0 || len(e.Requests()) != 8 {
		t.Errorf("Writes = %d, %d requests: reading properties is a request and not a write", e.Writes(), len(e.Requests()))
	}
}

func TestTypedPropertyValues(t *testing.T) {
	e := New(typedOptions)
	id := mustCreate(t, e, "contacts", map[string]any{"email": "a@x.com"})
	for _, tc := range []struct {
		prop string
		in   any
		want string // the stored value, or the error code
	}{
		{"score", "12.5", "12.5"},
		{"score", 7, "7"},
		{"score", "twelve", "INVALID_DECIMAL"},
		{"vip", true, "true"},
		{"vip", "FALSE", "false"},
		{"vip", "yes", "INVALID_BOOLEAN"},
		{"birthday", "2024-02-29", "2024-02-29"},
		{"birthday", 1714521600000, "2024-05-01"},
		{"birthday", "1714521600000", "2024-05-01"},
		{"birthday", 1714525261001, "INVALID_DATE"},
		{"birthday", "2024-02-30", "INVALID_DATE"},
		{"birthday", "2024-05-01T00:00:00Z", "INVALID_DATE"},
		{"last_seen", "2024-05-01T10:20:30Z", "2024-05-01T10:20:30.000Z"},
		{"last_seen", "2024-05-01T12:20:30.123456+02:00", "2024-05-01T10:20:30.123Z"},
		{"last_seen", 1714558830123, "2024-05-01T10:20:30.123Z"},
		{"last_seen", "yesterday", "INVALID_LONG"},
		{"tier", "gold", "gold"},
		{"tier", "Gold", "INVALID_OPTION"},
		{"plan", "paid", "paid"},
		{"tags", "a;c", "a;c"},
		{"tags", ";b;;c", "b;c"},
		{"tags", "a;d", "INVALID_OPTION"},
		{"nickname", "Ace", "Ace"},
		{"no_such", "x", "PROPERTY_DOESNT_EXIST"},
		{"createdate", "2024-05-01T10:20:30Z", "READ_ONLY_VALUE"},
	} {
		name := fmt.Sprintf("%s=%v", tc.prop, tc.in)
		c := do(t, e, "PATCH", "/crm/v3/objects/contacts/"+id, map[string]any{"properties": map[string]any{tc.prop: tc.in}})
		if strings.ToUpper(tc.want) == tc.want && strings.Contains(tc.want, "_") {
			if c.status != 400 || c.body.Get("category").String() != "VALIDATION_ERROR" || c.body.Get("errors.0.code").String() != tc.want ||
				c.body.Get("errors.0.context.propertyName.0").String() != tc.prop || !strings.Contains(c.body.Get("message").String(), "Property values were not valid") {
				t.Errorf("%s: %d %s, want %s", name, c.status, c.raw, tc.want)
			}
			continue
		}
		if c.status != 200 || c.body.Get("properties").Get(tc.prop).String() != tc.want {
			t.Errorf("%s: %d %s, want %q", name, c.status, c.raw, tc.want)
		}
		if got := do(t, e, "GET", "/crm/v3/objects/contacts/"+id+"?properties="+tc.prop, nil); got.body.Get("properties").Get(tc.prop).String() != tc.want {
			t.Errorf("%s read back: %s", name, got.raw)
		}
	}
	// HubSpot's wording, where it is known.
	c := do(t, e, "PATCH", "/crm/v3/objects/contacts/"+id, map[string]any{"properties": map[string]any{"birthday": 1579179660000}})
	if msg := c.body.Get("errors.0.message").String(); msg != "1579179660000 is at 13:1:0.0 UTC, not midnight!" {
		t.Errorf("not midnight: %q", msg)
	}
	c = do(t, e, "PATCH", "/crm/v3/objects/contacts/"+id, map[string]any{"properties": map[string]any{"tags": "a;zz"}})
	if msg := c.body.Get("errors.0.message").String(); msg != "zz was not one of the allowed options: [a, b, c]" {
		t.Errorf("bad option: %q", msg)
	}
	// "" clears any kind.
	c = do(t, e, "PATCH", "/crm/v3/objects/contacts/"+id, map[string]any{"properties": map[string]any{"tags": "", "birthday": nil, "vip": ""}})
	if o, _ := e.Get("contacts", id); c.status != 200 || o.Properties["tags"] != "" || o.Properties["birthday"] != "" || o.Properties["vip"] != "" {
		t.Errorf("clearing: %s %v", c.raw, o.Properties)
	}
	// The test API validates the same way.
	if _, err := e.Create("contacts", map[string]any{"email": "b@x.com", "birthday": "someday"}); err == nil || !strings.Contains(err.Error(), "INVALID_DATE") {
		t.Errorf("Create with a bad date: %v", err)
	}
}

func TestTypedPropertySearch(t *testing.T) {
	e := New(typedOptions)
	a := mustCreate(t, e, "contacts", map[string]any{"email": "a@x.com", "birthday": "2024-01-15", "score": 3, "vip": true, "last_seen": "2024-05-01T10:00:00Z"})
	b := mustCreate(t, e, "contacts", map[string]any{"email": "b@x.com", "birthday": "2024-06-01", "score": 20, "vip": false, "last_seen": "2024-05-02T10:00:00Z"})
	search := func(prop, op string, value any) []string {
		t.Helper()
		c := do(t, e, "POST", "/crm/v3/objects/contacts/search", map[string]any{
			"filterGroups": []any{map[string]any{"filters": []any{map[string]any{"propertyName": prop, "operator": op, "value": value}}}},
			"sorts":        []any{map[string]any{"propertyName": prop, "direction": "DESCENDING"}},
		})
		if c.status != 200 {
			t.Fatalf("search %s %s %v: %s", prop, op, value, c.raw)
		}
		return ids(c.body)
	}
	for _, tc := range []struct {
		prop, op string
		value    any
		want     []string
	}{
		{"birthday", "GTE", "2024-03-01", []string{b}},
		{"birthday", "LT", "1717200000000", []string{a}}, // 2024-06-01 in epoch ms
		{"score", "GT", "5", []string{b}},
		{"score", "GTE", 3, []string{b, a}}, // numbers sort as numbers: 20 before 3
		{"vip", "EQ", "TRUE", []string{a}},
		{"last_seen", "GT", "2024-05-01T12:00:00Z", []string{b}},
	} {
		if got := search(tc.prop, tc.op, tc.value); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s %v: %v, want %v", tc.prop, tc.op, tc.value, got, tc.want)
		}
	}
}

func TestBadPropertyDeclarations(t *testing.T) {
	for _, tc := range []struct {
		object string
		p      Property
		want   string
	}{
		{"contacts", Property{Name: "x", Type: "integer"}, `type "integer"`},
		{"contacts", Property{Name: "x", Type: "enumeration"}, "needs options"},
		{"contacts", Property{Name: "x", Type: "enumeration", FieldType: "text", Options: []string{"a"}}, "fieldType"},
		{"contacts", Property{Name: "x", Type: "enumeration", Options: []string{"a;b"}}, "';'"},
		{"contacts", Property{Name: "email", Type: "string"}, "exists already"},
		{"contacts", Property{Name: "has space"}, "not a property name"},
		{"deals", Property{Name: "x"}, "unknown object type"},
	} {
		func() {
			defer func() {
				r := recover()
				if msg, _ := r.(string); !strings.HasPrefix(msg, "hubspottest: ") || !strings.Contains(msg, tc.want) {
					t.Errorf("%s %+v: panic %v, want %q", tc.object, tc.p, r, tc.want)
				}
			}()
			New(Options{Properties: map[string][]Property{tc.object: {tc.p}}})
		}()
	}
}

// TestCreateUniqueProperty: POST /crm/v3/properties/{objectType} makes a
// custom property, as an admin makes Tandem's key property; with
// hasUniqueValue it is kept unique and an upsert can be keyed on it, while
// the email stays unique too: a new record with a taken email is refused
// with HubSpot's 409 "Contact already exists. Existing ID: …".
func TestCreateUniqueProperty(t *testing.T) {
	e := New(Options{})
	def := `{"name":"tandem_id","label":"Tandem ID","type":"string","fieldType":"text","groupName":"contactinformation","hasUniqueValue":true}`
	c := do(t, e, "POST", "/crm/v3/properties/contacts", def)
	if c.status != 201 || c.body.Get("name").String() != "tandem_id" || !c.body.Get("hasUniqueValue").Bool() || c.body.Get("hubspotDefined").Bool() {
		t.Fatalf("create property: %d %s", c.status, c.raw)
	}
	wantError(t, do(t, e, "POST", "/crm/v3/properties/contacts", def), 409, "OBJECT_ALREADY_EXISTS", "Property named 'tandem_id' already exists.")
	wantError(t, do(t, e, "POST", "/crm/v3/properties/contacts", `{"name":"x"}`), 400, "VALIDATION_ERROR", "Missing required fields")
	if c := do(t, e, "GET", "/crm/v3/properties/contacts", nil); !c.body.Get(`results.#(name=="tandem_id").hasUniqueValue`).Bool() {
		t.Errorf("the new property is not listed as unique: %s", c.raw)
	}

	upsert := func(key, email string) call {
		return do(t, e, "POST", "/crm/v3/objects/contacts/batch/upsert",
			`{"inputs":[{"id":"`+key+`","idProperty":"tandem_id","properties":{"email":"`+email+`"}}]}`)
	}
	first := upsert("e-1", "ann@example.com")
	id := first.body.Get("results.0.id").String()
	if first.status != 200 || !first.body.Get("results.0.new").Bool() || first.body.Get("results.0.properties.tandem_id").String() != "e-1" {
		t.Fatalf("upsert by tandem_id: %d %s", first.status, first.raw)
	}
	if again := upsert("e-1", "ann.lee@example.com"); again.body.Get("results.0.id").String() != id || again.body.Get("results.0.new").Bool() {
		t.Errorf("upsert by the same key: %s, want record %s", again.raw, id)
	}
	wantError(t, upsert("e-2", "Ann.Lee@example.com"), 409, "CONFLICT", "Contact already exists. Existing ID: "+id)
	if n := len(e.List("contacts")); n != 1 {
		t.Errorf("%d contacts, want 1", n)
	}
}
