package mapping

import (
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
