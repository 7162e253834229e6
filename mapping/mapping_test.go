package mapping

import (
	"os"
	"testing"

	"tandem"
)

// good is a config of one entity, contact, in two systems, with a value
// map, an out-only and an in-only field and a per-field policy (shared
// with package config's tests).
var good = readTestdata("testdata/contact.yaml")

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestInOut(t *testing.T) {
	cfg, err := parse("tandem.yaml", []byte(good), env(map[string]string{"HS_TOKEN": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Entities[0]
	hs := e.System("hubspot")
	raw := `{"id":"1","properties":{"email":"  Ann@Example.COM ","firstname":"Ann","lifecyclestage":"lead","note":"ignored","phone":null}}`
	v, err := hs.In([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := tandem.Values{"email": "ann@example.com", "first_name": "Ann", "lifecycle": "Lead"}
	if len(v) != len(want) {
		t.Fatalf("view = %v, want %v (an out-only field is never read)", v, want)
	}
	for k, w := range want {
		if !tandem.Equal(v[k], w) {
			t.Errorf("view[%s] = %v, want %v", k, v[k], w)
		}
	}
	// Absent stays absent; null and "" are empty.
	v, _ = hs.In([]byte(`{"properties":{"firstname":"","lifecyclestage":null}}`))
	if _, ok := v["email"]; ok {
		t.Error("absent email must be absent from the view")
	}
	if x, ok := v["first_name"]; !ok || x != nil {
		t.Errorf("empty first name = %v, %v; want present and nil", x, ok)
	}
	if _, err := hs.In([]byte(`{"properties":`)); err == nil {
		t.Error("malformed payload must be an error")
	}

	payload, set, err := hs.Out(tandem.Values{"email": "a@b", "lifecycle": "Customer", "note": "n", "first_name": nil},
		[]string{"email", "lifecycle", "note", "first_name"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(payload); got != `{"properties":{"email":"a@b","firstname":null,"lifecyclestage":"customer","note":"n"}}` {
		t.Errorf("payload = %s", got)
	}
	if len(set) != 4 {
		t.Errorf("set = %v", set)
	}
	// A field mapped "in" is never written.
	sf := e.System("salesforce")
	payload, set, _ = sf.Out(tandem.Values{"lifecycle": "Lead", "email": "a@b"}, []string{"lifecycle", "email"}, false)
	if string(payload) != `{"Email":"a@b"}` || len(set) != 1 {
		t.Errorf("payload = %s, set = %v", payload, set)
	}
	// Round trip: out(in(x)) reproduces the system's value for fields mapped both ways.
	raw = `{"properties":{"email":"ann@example.com","firstname":"Ann","lifecyclestage":"customer"}}`
	v, _ = hs.In([]byte(raw))
	payload, _, _ = hs.Out(v, []string{"email", "first_name", "lifecycle"}, false)
	if string(payload) != raw {
		t.Errorf("round trip: %s, want %s", payload, raw)
	}
}

func TestMatchKeys(t *testing.T) {
	e := &Entity{Match: []string{"email"}}
	if k := e.MatchKeys(tandem.Values{"email": " A@B.C "}); k["email"] != "a@b.c" {
		t.Errorf("keys = %v", k)
	}
	if k := e.MatchKeys(tandem.Values{"email": nil}); len(k) != 0 {
		t.Errorf("empty key must be left out: %v", k)
	}
}

// InFields reads the values it can and reports the others, each naming
// its path, fields and value; In fails on the first.
func TestInFields(t *testing.T) {
	s := compile(t, `systems:
  crm: { type: test }
entities:
  contact:
    phone_region: US
    fields: { email: email, phone: phone, first: string, last: string, stage: { type: enum, values: [Lead] } }
    systems:
      crm:
        object: person
        fields:
          email: email
          phone: phone
          name: { path: name, fields: [first, last], split: " ", join: " " }
          stage: { path: stage, map: { lead: Lead } }
`).Entities[0].System("crm")
	raw := []byte(`{"email":"Ann@Example.com","phone":"call me maybe","name":"Ann Lee","stage":"partner"}`)
	v, bad, err := s.InFields(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 3 || v["email"] != "ann@example.com" || v["first"] != "Ann" || v["last"] != "Lee" {
		t.Errorf("view = %v, want email, first and last", v)
	}
	if len(bad) != 2 || bad[0].Path != "phone" || bad[0].Value != "call me maybe" || bad[0].Fields[0] != "phone" ||
		bad[1].Path != "stage" || bad[1].Value != "partner" {
		t.Fatalf("bad = %v", bad)
	}
	if _, err := s.In(raw); err == nil || err.Error() != bad[0].Error() {
		t.Errorf("In = %v, want the first bad value: %v", err, bad[0])
	}
	if _, _, err := s.InFields([]byte(`{`)); err == nil {
		t.Error("InFields of a payload that is not JSON: no error")
	}
}

func readTestdata(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return string(b)
}
