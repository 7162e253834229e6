package mapping

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
)

// inCase maps one system value into one canonical field, f, through a
// config compiled by Parse (see fieldSystem).
type inCase struct {
	typ   string // the canonical field's type (YAML)
	entry string // the system's entry for f (YAML); "" reads path v
	in    string // the system's value at v (JSON)
	want  any    // the canonical value
	err   string // if set, In fails with an error containing it
}

func (c inCase) run(t *testing.T) {
	t.Helper()
	s := fieldSystem(t, c.typ, c.entry)
	v, err := s.In([]byte(`{"v":` + c.in + `}`))
	if c.err != "" {
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Fatalf("In(%s) = %#v, %v; want an error containing %q", c.in, v["f"], err, c.err)
		}
		return
	}
	if err != nil {
		t.Fatalf("In(%s): %v", c.in, err)
	}
	got, ok := v["f"]
	if !ok || !reflect.DeepEqual(got, c.want) {
		t.Fatalf("In(%s) = %#v (present %v), want %#v", c.in, got, ok, c.want)
	}
}

func runIn(t *testing.T, cases []inCase) {
	for _, c := range cases {
		name := c.typ + " " + c.entry + " " + c.in
		t.Run(strings.ReplaceAll(name, "/", "∕"), c.run)
	}
}

// outCase writes one canonical value of field f and checks the payload's
// value at v.
type outCase struct {
	typ   string
	entry string
	canon any    // the canonical value of f
	want  string // the payload's value at v (JSON)
	err   string
}

func (c outCase) run(t *testing.T) {
	t.Helper()
	s := fieldSystem(t, c.typ, c.entry)
	payload, set, err := s.Out(tandem.Values{"f": c.canon}, []string{"f"}, false)
	if c.err != "" {
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Fatalf("Out(%#v) = %s, %v; want an error containing %q", c.canon, payload, err, c.err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Out(%#v): %v", c.canon, err)
	}
	if got := gjson.GetBytes(payload, "v").Raw; got != c.want {
		t.Fatalf("Out(%#v) = %s, want v = %s", c.canon, payload, c.want)
	}
	if !reflect.DeepEqual(set, []string{"f"}) {
		t.Errorf("set = %v, want [f]", set)
	}
}

func runOut(t *testing.T, cases []outCase) {
	for _, c := range cases {
		name := fmt.Sprintf("%s %s %#v", c.typ, c.entry, c.canon)
		t.Run(strings.ReplaceAll(name, "/", "∕"), c.run)
	}
}

func list(items ...string) []any {
	out := make([]any, len(items))
	for i, s := range items {
		out[i] = s
	}
	return out
}

func TestTypeIn(t *testing.T) {
	runIn(t, []inCase{
		// string: any scalar, as JSON writes it.
		{typ: "string", in: `"Ann "`, want: "Ann "},
		{typ: "string", in: `42`, want: "42"},
		{typ: "string", in: `1.5e3`, want: "1500"},
		{typ: "string", in: `true`, want: "true"},
		{typ: "string", in: `"\u00e9\n"`, want: "é\n"},
		{typ: "string", in: `["a"]`, err: "want a single value, got a list"},
		{typ: "string", in: `{"a":1}`, err: "want a single value, got an object"},

		// email: trimmed and lower-cased; one @ with text either side.
		{typ: "email", in: `"  Ann.Lee@Example.COM "`, want: "ann.lee@example.com"},
		{typ: "email", in: `"a@b"`, want: "a@b"},
		{typ: "email", in: `"   "`, want: nil},
		{typ: "email", in: `"ann"`, err: `"ann" is not an email address`},
		{typ: "email", in: `"@example.com"`, err: "is not an email address"},
		{typ: "email", in: `"ann@"`, err: "is not an email address"},
		{typ: "email", in: `"a@b@c"`, err: "is not an email address"},
		{typ: "email", in: `"ann lee@example.com"`, err: "is not an email address"},
		{typ: "email", in: `"Ann <ann@example.com>"`, err: "is not an email address"},
		{typ: "email", in: `7`, err: `"7" is not an email address`},

		// phone: E.164, national numbers read in the field's or the entity's region.
		{typ: "phone", in: `"+1 650-253-0000"`, want: "+16502530000"},
		{typ: "{ type: phone, region: GB }", in: `"020 7946 0958"`, want: "+442079460958"},
		{typ: "{ type: phone, region: gb }", in: `"0044 20 7946 0958"`, want: "+442079460958"},
		{typ: "{ type: phone, region: US }", in: `"(650) 253-0000"`, want: "+16502530000"},
		{typ: "{ type: phone, region: US }", in: `"+44 20 7946 0958"`, want: "+442079460958"},
		{typ: "{ type: phone, region: GB }", in: `"+44 20 7946 0958 ext. 12"`, want: "+442079460958"},
		{typ: "{ type: phone, region: US }", in: `6502530000`, want: "+16502530000"},
		{typ: "phone", in: `"020 7946 0958"`, err: "has no country code and no region is configured"},
		{typ: "{ type: phone, region: GB }", in: `"12"`, err: `phone "12" is not a possible number`},
		{typ: "{ type: phone, region: GB }", in: `"call me"`, err: `phone "call me"`},
		{typ: "phone", in: `true`, err: `phone "true"`},

		// number: JSON numbers and the strings HubSpot sends.
		{typ: "number", in: `42`, want: 42.0},
		{typ: "number", in: `-0.5`, want: -0.5},
		{typ: "number", in: `"42.5"`, want: 42.5},
		{typ: "number", in: `" 250 "`, want: 250.0},
		{typ: "number", in: `"1e3"`, want: 1000.0},
		{typ: "number", in: `"12 apples"`, err: `"12 apples" is not a number`},
		{typ: "number", in: `"NaN"`, err: "is not a number"},
		{typ: "number", in: `"Inf"`, err: "is not a number"},
		{typ: "number", in: `"1e999"`, err: "is not a number"},
		{typ: "number", in: `1e999`, err: "+Inf is out of range for a number"},
		{typ: "number", in: `true`, err: "want a number, got a boolean"},
		{typ: "number", in: `[1]`, err: "want a number, got a list"},

		// bool: JSON booleans, 0 and 1, and the strings HubSpot and forms send.
		{typ: "bool", in: `true`, want: true},
		{typ: "bool", in: `false`, want: false},
		{typ: "bool", in: `"true"`, want: true},
		{typ: "bool", in: `"false"`, want: false},
		{typ: "bool", in: `" Yes "`, want: true},
		{typ: "bool", in: `"off"`, want: false},
		{typ: "bool", in: `1`, want: true},
		{typ: "bool", in: `0`, want: false},
		{typ: "bool", in: `"0"`, want: false},
		{typ: "bool", in: `2`, err: "2 is not a boolean"},
		{typ: "bool", in: `"maybe"`, err: `"maybe" is not a boolean`},
		{typ: "bool", in: `{}`, err: "is not a boolean"},

		// date: ISO dates and datetimes (the UTC day), epoch milliseconds as
		// numbers or HubSpot's strings, and the field's format.
		{typ: "date", in: `"2024-01-05"`, want: "2024-01-05"},
		{typ: "date", in: `1704412800000`, want: "2024-01-05"},
		{typ: "date", in: `"1704412800000"`, want: "2024-01-05"},
		{typ: "date", in: `"2024-01-05T10:00:00.000+0000"`, want: "2024-01-05"},
		{typ: "date", in: `"2024-01-05T23:30:00-05:00"`, want: "2024-01-06"}, // the UTC day
		{typ: "date", entry: "{ path: v, format: 02/01/2006 }", in: `"05/01/2024"`, want: "2024-01-05"},
		{typ: "date", entry: "{ path: v, format: epoch_s }", in: `1704412800`, want: "2024-01-05"},
		{typ: "date", entry: "{ path: v, format: epoch_s }", in: `"1704412800"`, want: "2024-01-05"},
		{typ: "date", entry: "{ path: v, format: epoch_ms }", in: `"1704412800000"`, want: "2024-01-05"},
		{typ: "date", in: `"05/01/2024"`, err: `"05/01/2024" is not an ISO 8601 date or time, nor epoch milliseconds`},
		{typ: "date", entry: "{ path: v, format: 02/01/2006 }", in: `"2024-01-05"`, err: `does not match the format "02/01/2006"`},
		{typ: "date", entry: "{ path: v, format: epoch_s }", in: `"2024-01-05"`, err: `"2024-01-05" is not epoch_s`},
		{typ: "date", in: `true`, err: "want a date or time, got a boolean"},
		{typ: "date", in: `1e300`, err: "out of range for epoch milliseconds"},

		// datetime: UTC, milliseconds.
		{typ: "datetime", in: `"2024-01-05T10:00:00.000+0000"`, want: "2024-01-05T10:00:00.000Z"}, // Salesforce
		{typ: "datetime", in: `"2024-01-05T10:00:00Z"`, want: "2024-01-05T10:00:00.000Z"},
		{typ: "datetime", in: `"2024-01-05T11:00:00.123456789+01:00"`, want: "2024-01-05T10:00:00.123Z"},
		{typ: "datetime", in: `"2024-01-05T10:00:00"`, want: "2024-01-05T10:00:00.000Z"},
		{typ: "datetime", in: `"2024-01-05 10:00:00"`, want: "2024-01-05T10:00:00.000Z"},
		{typ: "datetime", in: `"2024-01-05"`, want: "2024-01-05T00:00:00.000Z"},
		{typ: "datetime", in: `1704448800123`, want: "2024-01-05T10:00:00.123Z"},
		{typ: "datetime", in: `"1704448800123"`, want: "2024-01-05T10:00:00.123Z"}, // HubSpot
		{typ: "datetime", entry: "{ path: v, format: epoch_s }", in: `1704448800`, want: "2024-01-05T10:00:00.000Z"},
		{typ: "datetime", entry: `{ path: v, format: "2006-01-02T15:04:05.000-0700" }`, in: `"2024-01-05T11:00:00.000+0100"`, want: "2024-01-05T10:00:00.000Z"},
		{typ: "datetime", in: `"yesterday"`, err: "is not an ISO 8601 date or time"},
		// Canonical years have four digits.
		{typ: "datetime", in: `8.64e15`, err: "8.64e+15 is out of range (years 0000 to 9999)"},
		{typ: "date", in: `"9999-12-31T23:00:00-05:00"`, err: "is out of range (years 0000 to 9999)"},
		{typ: "datetime", in: `"0000-01-01T00:00:00+01:00"`, err: "is out of range (years 0000 to 9999)"},
		{typ: "datetime", in: `"0000-01-01T00:00:00Z"`, want: "0000-01-01T00:00:00.000Z"},
		{typ: "date", entry: "{ path: v, format: epoch_s }", in: `253402300799`, want: "9999-12-31"},
		{typ: "datetime", in: `"2024-01-05T25:00:00Z"`, err: "is not an ISO 8601 date or time"},
		{typ: "datetime", in: `[1704448800123]`, err: "want a date or time, got a list"},

		// enum: one of its values.
		{typ: "{ type: enum, values: [Lead, Customer] }", in: `"Lead"`, want: "Lead"},
		{typ: "{ type: enum, values: [Lead, Customer] }", in: `"lead"`, err: `"lead" is not one of Lead, Customer`},
		{typ: "{ type: enum, values: ['1', '2'] }", in: `2`, want: "2"},

		// list: strings; empty items dropped; an empty list is empty.
		{typ: "list", in: `["vip","beta"]`, want: list("vip", "beta")},
		{typ: "list", in: `["vip",null,"",7,true]`, want: list("vip", "7", "true")},
		{typ: "list", in: `[]`, want: nil},
		{typ: "list", in: `[null]`, want: nil},
		{typ: "list", in: `"vip;beta"`, err: "want a list, got a string (add split"},
		{typ: "list", in: `[["a"]]`, err: "list item: want a single value, got a list"},
		{typ: "list", in: `{"a":1}`, err: "want a list, got an object"},
	})
}

// Every type: null and "" are empty (nil), a missing path is absent.
func TestTypeEmptyAndAbsent(t *testing.T) {
	for _, typ := range []string{"string", "email", "phone", "number", "bool", "date", "datetime", "{ type: enum, values: [A] }", "list"} {
		s := fieldSystem(t, typ, "")
		for _, raw := range []string{`{"v":null}`, `{"v":""}`} {
			v, err := s.In([]byte(raw))
			if x, ok := v["f"]; err != nil || !ok || x != nil {
				t.Errorf("%s: In(%s) = %#v (present %v), %v; want present and nil", typ, raw, x, ok, err)
			}
		}
		v, err := s.In([]byte(`{"w":1}`))
		if _, ok := v["f"]; err != nil || ok {
			t.Errorf("%s: absent path: %v, %v; want f absent", typ, v, err)
		}
	}
}

// An error names the system, its object, the path and the field.
func TestInErrorNamesPathAndField(t *testing.T) {
	s := fieldSystem(t, "number", "{ path: properties.score }")
	_, err := s.In([]byte(`{"properties":{"score":"high"}}`))
	if err == nil || err.Error() != `crm thing: properties.score (f): "high" is not a number` {
		t.Fatalf("err = %v", err)
	}
	for _, raw := range []string{``, `{`, `{"v":1}x`, `{"v":01}`} {
		if _, err := s.In([]byte(raw)); err == nil || !strings.Contains(err.Error(), "payload is not valid JSON") {
			t.Errorf("In(%q) = %v, want invalid JSON", raw, err)
		}
	}
}

func TestTypeOut(t *testing.T) {
	runOut(t, []outCase{
		{typ: "string", canon: "Ann", want: `"Ann"`},
		{typ: "string", canon: nil, want: `null`},
		{typ: "string", canon: 5.0, err: "canonical string is float64, want a string"},
		{typ: "email", canon: "a@b", want: `"a@b"`},
		{typ: "phone", canon: "+442079460958", want: `"+442079460958"`},
		{typ: "{ type: enum, values: [A] }", canon: "A", want: `"A"`},
		{typ: "{ type: enum, values: [A] }", canon: true, err: "canonical enum is bool"},

		{typ: "number", canon: 42.0, want: `42`},
		{typ: "number", canon: -0.25, want: `-0.25`},
		{typ: "number", canon: 1e21, want: `1000000000000000000000`},
		{typ: "number", canon: "42", err: "canonical number is string"},
		{typ: "bool", canon: false, want: `false`},
		{typ: "bool", canon: "true", err: "canonical bool is string"},
		{typ: "list", canon: list("a", "b"), want: `["a","b"]`},
		{typ: "list", canon: "a", err: "canonical list is string"},

		{typ: "date", canon: "2024-01-05", want: `"2024-01-05"`},
		{typ: "date", entry: "{ path: v, format: epoch_ms }", canon: "2024-01-05", want: `1704412800000`},
		{typ: "date", entry: "{ path: v, format: epoch_s }", canon: "2024-01-05", want: `1704412800`},
		{typ: "date", entry: "{ path: v, format: 02/01/2006 }", canon: "2024-01-05", want: `"05/01/2024"`},
		{typ: "date", entry: `{ path: v, format: "Jan 2, 2006" }`, canon: "2024-01-05", want: `"Jan 5, 2024"`},
		{typ: "date", canon: "2024-13-01", err: `canonical date "2024-13-01"`},
		{typ: "date", canon: "2024-01-05T10:00:00.000Z", err: "canonical date"},
		{typ: "date", canon: 20240105.0, err: "canonical date is float64, want a string"},

		{typ: "datetime", canon: "2024-01-05T10:00:00.123Z", want: `"2024-01-05T10:00:00.123Z"`},
		{typ: "datetime", entry: "{ path: v, format: epoch_ms }", canon: "2024-01-05T10:00:00.123Z", want: `1704448800123`},
		{typ: "datetime", entry: "{ path: v, format: epoch_s }", canon: "2024-01-05T10:00:00.999Z", want: `1704448800`},
		{typ: "datetime", entry: `{ path: v, format: "2006-01-02T15:04:05.000-0700" }`, canon: "2024-01-05T10:00:00.000Z", want: `"2024-01-05T10:00:00.000+0000"`}, // Salesforce
		{typ: "datetime", entry: `{ path: v, format: "2006-01-02 15:04" }`, canon: "2024-01-05T10:00:59.000Z", want: `"2024-01-05 10:00"`},
		{typ: "datetime", canon: "2024-01-05T10:00:00Z", err: "canonical datetime"}, // not the canonical layout
		{typ: "datetime", canon: "2024-01-05", err: "canonical datetime"},
	})
}

// Out writes only the fields asked for, and only those it maps.
func TestOutPartial(t *testing.T) {
	s := compile(t, `systems:
  crm: { type: test }
entities:
  contact:
    fields: { a: string, b: string, c: string }
    systems:
      crm:
        object: thing
        fields: { a: x.a, b: x.b }
`).Entities[0].System("crm")
	payload, set, err := s.Out(tandem.Values{"a": "1", "b": "2", "c": "3"}, []string{"b", "c"}, false)
	if err != nil || string(payload) != `{"x":{"b":"2"}}` || !reflect.DeepEqual(set, []string{"b"}) {
		t.Fatalf("Out = %s, %v, %v", payload, set, err)
	}
	// A field asked for but absent from the values is not written (absent
	// is not empty).
	payload, set, err = s.Out(tandem.Values{"a": "1"}, []string{"a", "b"}, false)
	if err != nil || string(payload) != `{"x":{"a":"1"}}` || len(set) != 1 {
		t.Fatalf("Out = %s, %v, %v", payload, set, err)
	}
	if payload, _, _ := s.Out(nil, nil, true); string(payload) != `{}` {
		t.Errorf("nothing to write: %s", payload)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Error(err)
	}
}

// formatDateTime is Format(DateTimeLayout), faster.
func TestFormatDateTime(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	zone := time.FixedZone("", -5*3600-30*60)
	lo, hi := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()/1e3, time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixNano()/1e3
	for i := range 10000 {
		tm := time.UnixMicro(lo + r.Int64N(hi-lo)).In(zone)
		if i < 4 {
			tm = []time.Time{time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(2024, 1, 5, 10, 0, 0, 5e6, zone), {}}[i]
		}
		if got, want := formatDateTime(tm), tm.UTC().Format(DateTimeLayout); got != want {
			t.Fatalf("formatDateTime(%v) = %s, want %s", tm, got, want)
		}
	}
}
