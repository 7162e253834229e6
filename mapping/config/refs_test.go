package config

import (
	"fmt"
	"testing"
)

const refSystems = "systems: { a: { type: t }, b: { type: t } }\n"

func TestRefErrors(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"no entity", refSystems + "entities:\n  e:\n    fields: { f: ref }\n    systems: { a: { object: o, fields: { f: f } } }\n",
			"x.yaml:4: entities.e.fields.f: a ref names its target entity: { type: ref, entity: company }"},
		{"entity on a string", refSystems + "entities:\n  e:\n    fields: { f: { type: string, entity: e } }\n    systems: { a: { object: o, fields: { f: f } } }\n",
			"x.yaml:4: entities.e.fields.f.entity: only a ref has an entity"},
		{"unknown entity", refSystems + "entities:\n  e:\n    fields:\n      f: { type: ref, entity: company }\n    systems: { a: { object: o, fields: { f: f } } }\n",
			"x.yaml:5: entities.e.fields.f.entity: no entity \"company\" under entities:"},
		{"target not in the system", refSystems + "entities:\n  e:\n    fields:\n      f: { type: ref, entity: c }\n    systems: { a: { object: o, fields: { f: f } }, b: { object: o, fields: { f: f } } }\n" +
			"  c:\n    fields: { n: string }\n    systems: { a: { object: p, fields: { n: n } } }\n",
			"x.yaml:5: entities.e.systems.b.fields.f: entity c is not synced with b: a ref there needs its target entity there too"},
		{"transformed", refSystems + "entities:\n  e:\n    fields:\n      f: { type: ref, entity: e }\n    systems: { a: { object: o, fields: { f: { path: f, transform: [lower] } } } }\n",
			"x.yaml:5: entities.e.systems.a.fields.f: a ref is mapped by a plain path to the record id, with no transform, split or join"},
		{"match key", refSystems + "entities:\n  e:\n    match: [f]\n    fields:\n      f: { type: ref, entity: e }\n    systems: { a: { object: o, fields: { f: f } } }\n",
			"x.yaml:6: entities.e.fields.f: a ref cannot be a match key (its value is Tandem's id of the e)"},
	} {
		_, err := Parse("x.yaml", []byte(c.src), env(nil))
		if !sameErrors(err, c.want) {
			t.Errorf("%s:\n got %v\nwant %s", c.name, err, c.want)
		}
	}
}

// Entities are synced after the entities they refer to, whatever the
// file's order; a cycle keeps the file's order; a self reference counts
// for nothing.
func TestRefOrder(t *testing.T) {
	src := refSystems + `entities:
  deal:
    fields: { contact: { type: ref, entity: contact }, company: { type: ref, entity: company } }
    systems: { a: { object: d, fields: { contact: c, company: co } } }
  contact:
    fields: { company: { type: ref, entity: company } }
    systems: { a: { object: c, fields: { company: co } } }
  company:
    fields: { parent: { type: ref, entity: company } }
    systems: { a: { object: co, fields: { parent: p } } }
  x:
    fields: { y: { type: ref, entity: y } }
    systems: { a: { object: x, fields: { y: y } } }
  y:
    fields: { x: { type: ref, entity: x } }
    systems: { a: { object: y, fields: { x: x } } }
`
	cfg, err := Parse("x.yaml", []byte(src), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range cfg.Entities {
		got = append(got, e.Name)
	}
	want := []string{"company", "contact", "deal", "x", "y"}
	if len(got) != len(want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
	contact := cfg.Entities[1]
	if tt := contact.Types["company"]; tt.Target != cfg.Entities[0] {
		t.Errorf("contact.company's target is %v, want the company entity", tt.Target)
	}
	if refs := contact.Refs(contact.Systems[0]); len(refs) != 1 || refs[0] != "company" {
		t.Errorf("Refs = %v", refs)
	}
}

// match_fallback: a record with none of its match keys is identified by
// the fallback's; an entity is found by both.
func TestMatchFallback(t *testing.T) {
	cfg, err := Parse("x.yaml", []byte(refSystems+`entities:
  company:
    match: [domain]
    match_fallback: [name]
    fields: { name: string, domain: string }
    systems: { a: { object: c, fields: { name: n, domain: d } } }
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Entities[0]
	for _, c := range []struct {
		v            map[string]any
		match, store string
	}{
		{map[string]any{"name": "Acme", "domain": "Acme.com"}, "map[domain:acme.com]", "map[domain:acme.com name:acme]"},
		{map[string]any{"name": " Acme ", "domain": ""}, "map[name:acme]", "map[name:acme]"},
		{map[string]any{}, "map[]", "map[]"},
	} {
		if got := fmt.Sprint(e.MatchKeys(c.v)); got != c.match {
			t.Errorf("MatchKeys(%v) = %s, want %s", c.v, got, c.match)
		}
		if got := fmt.Sprint(e.StoredKeys(c.v)); got != c.store {
			t.Errorf("StoredKeys(%v) = %s, want %s", c.v, got, c.store)
		}
	}
	_, err = Parse("x.yaml", []byte(refSystems+`entities:
  company:
    match_fallback: [nom]
    fields: { name: string }
    systems: { a: { object: c, fields: { name: n } } }
`), env(nil))
	if !sameErrors(err, "x.yaml:4: entities.company.match_fallback: a fallback needs match: it identifies the records that have no match key\nx.yaml:4: entities.company.match_fallback[0]: \"nom\" is not a declared field") {
		t.Errorf("got %v", err)
	}
}
