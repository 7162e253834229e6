package mapping

import (
	"reflect"
	"strings"
	"testing"

	"tandem"
)

func TestTransformsIn(t *testing.T) {
	const gb = "{ type: phone, region: GB }"
	const stage = "{ type: enum, values: [Lead, Customer, Other] }"
	runIn(t, []inCase{
		{typ: "string", entry: "{ path: v, transform: trim }", in: `"  Ann \t"`, want: "Ann"},
		{typ: "string", entry: "{ path: v, transform: trim }", in: `"   "`, want: nil},
		{typ: "string", entry: "{ path: v, transform: trim }", in: `42`, want: "42"},
		{typ: "string", entry: "{ path: v, transform: lower }", in: `"ANN Lee"`, want: "ann lee"},
		{typ: "string", entry: "{ path: v, transform: upper }", in: `"gb"`, want: "GB"},
		{typ: "string", entry: "{ path: v, transform: [trim, upper] }", in: `" gb "`, want: "GB"},

		{typ: gb, entry: "{ path: v, transform: e164 }", in: `"020 7946 0958"`, want: "+442079460958"},
		{typ: "string", entry: "{ path: v, transform: e164 }", in: `"+44 20 7946 0958"`, want: "+442079460958"},
		{typ: "string", entry: "{ path: v, transform: e164 }", in: `"020 7946 0958"`, err: "e164: phone \"020 7946 0958\" has no country code"},
		{typ: gb, entry: "{ path: v, transform: e164 }", in: `["020 7946 0958"]`, err: "e164: want a single value, got a list"},

		{typ: stage, entry: "{ path: v, map: { lead: Lead, customer: Customer } }", in: `"lead"`, want: "Lead"},
		{typ: stage, entry: "{ path: v, map: { lead: Lead } }", in: `"partner"`, err: `map: system value "partner" is not in the map (add it, a default, or passthrough: true)`},
		{typ: stage, entry: "{ path: v, direction: in, map: { values: { lead: Lead }, default: Other } }", in: `"partner"`, want: "Other"},
		{typ: "string", entry: "{ path: v, map: { values: { lead: Lead }, passthrough: true } }", in: `"partner"`, want: "partner"},
		{typ: "string", entry: "{ path: v, map: { 1: One, 2: Two } }", in: `1`, want: "One"},
		{typ: stage, entry: "{ path: v, map: { lead: Lead } }", in: `null`, want: nil},
		{typ: stage, entry: "{ path: v, transform: [trim, lower, { map: { lead: Lead } }] }", in: `" LEAD "`, want: "Lead"},

		{typ: "string", entry: "{ path: v, default: Unknown }", in: `null`, want: "Unknown"},
		{typ: "string", entry: "{ path: v, default: Unknown }", in: `"Ann"`, want: "Ann"},
		{typ: "number", entry: "{ path: v, default: 0 }", in: `null`, want: 0.0},
		{typ: "bool", entry: "{ path: v, transform: [{ default: false }] }", in: `null`, want: false},

		{typ: "list", entry: `{ path: v, split: ";", join: ";" }`, in: `"vip; beta;;"`, want: list("vip", "beta")},
		{typ: "list", entry: `{ path: v, split: ";", join: ";" }`, in: `" ; "`, want: nil},
		{typ: "list", entry: `{ path: v, split: ";", join: ";" }`, in: `["vip","beta"]`, want: list("vip", "beta")},
		{typ: "list", entry: `{ path: v, split: ", ", direction: in }`, in: `"a, b,c"`, want: list("a", "b,c")},
		{typ: "list", entry: `{ path: v, split: ";", join: ";" }`, in: `7`, err: "want a list, got a number"},

		{typ: "number", entry: "{ path: v, direction: in, expr: 'record.v * 2' }", in: `21`, want: 42.0},
		{typ: "string", entry: `{ path: v, direction: in, expr: 'value ?? "none"' }`, in: `null`, want: "none"},
		{typ: "list", entry: `{ path: v, direction: in, expr: '[value, "x"]' }`, in: `"a"`, want: list("a", "x")},
		{typ: "string", entry: `{ path: v, direction: in, expr: 'record.v + 1' }`, in: `"a"`, err: "expr: "},
		{typ: "number", entry: "{ path: v, direction: in, expr: 'len(record.v)' }", in: `"abc"`, want: 3.0},
		{typ: "string", entry: "{ path: v, direction: in, expr: '{\"a\": 1}' }", in: `"abc"`, err: "want a single value, got an object"},
	})
}

func TestTransformsOut(t *testing.T) {
	const gb = "{ type: phone, region: GB }"
	const stage = "{ type: enum, values: [Lead, Customer, Other] }"
	runOut(t, []outCase{
		{typ: "string", entry: "{ path: v, transform: trim }", canon: " Ann ", want: `"Ann"`},
		{typ: "string", entry: "{ path: v, transform: lower }", canon: "Ann", want: `"Ann"`}, // not undone
		{typ: "string", entry: "{ path: v, transform: upper }", canon: "gb", want: `"gb"`},

		{typ: gb, entry: "{ path: v, transform: e164 }", canon: "+44 20 7946 0958", want: `"+442079460958"`},
		{typ: gb, entry: "{ path: v, transform: e164 }", canon: "020 7946 0958", want: `"+442079460958"`},
		{typ: gb, entry: "{ path: v, transform: e164 }", canon: "not a number", err: "e164: phone"},
		{typ: gb, entry: "{ path: v, transform: e164 }", canon: nil, want: `null`},

		{typ: stage, entry: "{ path: v, map: { lead: Lead, customer: Customer } }", canon: "Customer", want: `"customer"`},
		{typ: stage, entry: "{ path: v, map: { lead: Lead } }", canon: "Other", err: `map: canonical value "Other" is not in the map`},
		{typ: stage, entry: "{ path: v, map: { lead: Lead } }", canon: nil, want: `null`},
		{typ: "string", entry: "{ path: v, map: { values: { lead: Lead }, passthrough: true } }", canon: "Partner", want: `"Partner"`},
		// A default is the way in only: its value has no way back.
		{typ: stage, entry: "{ path: v, map: { values: { lead: Lead }, default: Other, passthrough: true } }", canon: "Other", want: `"Other"`},
		// Steps undo themselves in reverse order: map back, then trim.
		{typ: stage, entry: "{ path: v, transform: [trim, { map: { ' lead ': Lead } }] }", canon: "Lead", want: `"lead"`},

		{typ: "string", entry: "{ path: v, default: Unknown }", canon: nil, want: `"Unknown"`},
		{typ: "string", entry: "{ path: v, default: Unknown }", canon: "Ann", want: `"Ann"`},

		{typ: "list", entry: `{ path: v, split: ";", join: ";" }`, canon: list("vip", "beta"), want: `"vip;beta"`},
		{typ: "list", entry: `{ path: v, split: ";", join: ";" }`, canon: []any{"a", 1.0, true}, want: `"a;1;true"`},
		{typ: "list", entry: `{ path: v, split: ";", join: ";" }`, canon: []any{map[string]any{}}, err: "join: want a single value, got an object"},
		{typ: "list", entry: `{ path: v, split: ";", join: ";" }`, canon: nil, want: `null`},
		{typ: "list", entry: `{ path: v, join: "|", direction: out }`, canon: list("a", "b"), want: `"a|b"`},

		{typ: "string", entry: `{ path: v, direction: out, expr: 'fields.f + "!"' }`, canon: "Ann", want: `"Ann!"`},
		{typ: "string", entry: `{ path: v, direction: out, expr: 'len(fields.f)' }`, canon: "Ann", want: `3`},
		{typ: "string", entry: `{ path: v, direction: out, expr: 'fields.f + 1' }`, canon: "Ann", err: "expr: "},
		{typ: "string", entry: `{ path: v, direction: out, expr: 'value ?? "none"' }`, canon: nil, want: `"none"`},
	})
}

// An expr on the way in sees the whole record as the system sent it.
func TestExprSeesRecord(t *testing.T) {
	s := fieldSystem(t, "string", `{ path: v, direction: in, expr: 'record.first + " " + record.name.last' }`)
	v, err := s.In([]byte(`{"v":1,"first":"Ann","name":{"last":"Lee"}}`))
	if err != nil || v["f"] != "Ann Lee" {
		t.Fatalf("In = %v, %v", v, err)
	}
	// The record's value at the path may be absent: no expr runs.
	if v, err := s.In([]byte(`{"first":"Ann"}`)); err != nil || len(v) != 0 {
		t.Fatalf("absent path: %v, %v", v, err)
	}
}

// A value split into several canonical fields, and joined back.
func TestSplitJoinFields(t *testing.T) {
	s := compile(t, `systems:
  crm: { type: test }
entities:
  contact:
    fields: { first_name: string, last_name: string, email: email }
    systems:
      crm:
        object: thing
        fields:
          name: { path: Name, fields: [first_name, last_name], split: " ", join: " " }
          email: Email
`).Entities[0].System("crm")
	for _, c := range []struct {
		in          string
		first, last any
		err         string
	}{
		{in: `"Ann Lee"`, first: "Ann", last: "Lee"},
		{in: `"Ann Marie  Lee"`, first: "Ann", last: "Marie  Lee"}, // the last part takes the rest
		{in: `"  Ann  "`, first: "Ann", last: nil},
		{in: `""`, first: nil, last: nil},
		{in: `null`, first: nil, last: nil},
		{in: `42`, first: "42", last: nil},
		{in: `["Ann","Lee"]`, err: "want a single value, got a list"},
	} {
		v, err := s.In([]byte(`{"Name":` + c.in + `}`))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("In(%s): %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(v, tandem.Values{"first_name": c.first, "last_name": c.last}) {
			t.Errorf("In(%s) = %v, %v; want %v %v", c.in, v, err, c.first, c.last)
		}
	}
	if !s.Reads("first_name") || !s.Writes("last_name") {
		t.Error("a split/join entry reads and writes each of its fields")
	}

	for _, c := range []struct {
		values tandem.Values
		want   string
		set    []string
	}{
		{tandem.Values{"first_name": "Ann", "last_name": "Lee"}, `{"Name":"Ann Lee"}`, []string{"first_name", "last_name"}},
		{tandem.Values{"first_name": nil, "last_name": "Lee"}, `{"Name":"Lee"}`, []string{"first_name", "last_name"}},
		{tandem.Values{"first_name": nil, "last_name": nil}, `{"Name":null}`, []string{"first_name", "last_name"}},
		{tandem.Values{"first_name": "Ann", "email": "a@b"}, `{"Name":"Ann","Email":"a@b"}`, []string{"first_name", "last_name", "email"}},
	} {
		payload, set, err := s.Out(c.values, []string{"first_name", "last_name", "email"}, false)
		if err != nil || string(payload) != c.want || !reflect.DeepEqual(set, c.set) {
			t.Errorf("Out(%v) = %s, %v, %v; want %s %v", c.values, payload, set, err, c.want, c.set)
		}
	}
	if _, _, err := s.Out(tandem.Values{"first_name": 1.0}, []string{"first_name"}, false); err == nil || !strings.Contains(err.Error(), "first_name: canonical string is float64") {
		t.Errorf("wrong canonical type: %v", err)
	}
}

// A constant is written when Tandem creates a record, never read.
func TestConstant(t *testing.T) {
	s := compile(t, `systems:
  crm: { type: test }
entities:
  contact:
    fields: { email: email }
    systems:
      crm:
        object: thing
        fields:
          email: Email
          source: { path: LeadSource, constant: Tandem }
          origin: { path: meta.origin_id, constant: 7 }
`).Entities[0].System("crm")
	vals := tandem.Values{"email": "a@b"}
	payload, set, err := s.Out(vals, []string{"email"}, true)
	if err != nil || string(payload) != `{"Email":"a@b","LeadSource":"Tandem","meta":{"origin_id":7}}` || !reflect.DeepEqual(set, []string{"email"}) {
		t.Errorf("create: %s, %v, %v", payload, set, err)
	}
	payload, _, _ = s.Out(vals, []string{"email"}, false)
	if string(payload) != `{"Email":"a@b"}` {
		t.Errorf("update: %s", payload)
	}
	v, err := s.In([]byte(`{"Email":"a@b","LeadSource":"Web"}`))
	if err != nil || len(v) != 1 {
		t.Errorf("a constant is never read: %v, %v", v, err)
	}
	if got := s.Paths(); !reflect.DeepEqual(got, []string{"Email"}) {
		t.Errorf("Paths = %v", got)
	}
}

// A read-only system is read, never written.
func TestReadOnly(t *testing.T) {
	s := compile(t, `systems:
  crm: { type: test }
entities:
  contact:
    fields: { email: email }
    systems:
      crm: { object: thing, read_only: true, fields: { email: Email } }
`).Entities[0].System("crm")
	if v, err := s.In([]byte(`{"Email":"A@B"}`)); err != nil || v["email"] != "a@b" {
		t.Errorf("In = %v, %v", v, err)
	}
	if s.Writes("email") || !s.Reads("email") {
		t.Error("read_only: read, never written")
	}
	if _, _, err := s.Out(tandem.Values{"email": "a@b"}, []string{"email"}, false); err == nil || !strings.Contains(err.Error(), "read_only") {
		t.Errorf("Out = %v, want a read_only error", err)
	}
}

// An expression on the value itself: the documented use of expr.
func TestExprOnValue(t *testing.T) {
	runIn(t, []inCase{
		{typ: "number", entry: "{ path: v, direction: in, expr: 'value * 2' }", in: `21`, want: 42.0},
		{typ: "string", entry: `{ path: v, direction: in, expr: 'upper(value) + "!"' }`, in: `"ann"`, want: "ANN!"},
		{typ: "number", entry: "{ path: v, direction: in, expr: 'len(value)' }", in: `"abc"`, want: 3.0},
	})
	runOut(t, []outCase{
		{typ: "string", entry: `{ path: v, direction: out, expr: 'lower(value)' }`, canon: "ANN", want: `"ann"`},
	})
}
