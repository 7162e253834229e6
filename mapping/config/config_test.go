package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"tandem/connectors"
)

// badConfig has one problem or more on most lines; Parse must report them
// all at once, each with its line and key.
const badConfig = `systems:
  hubspot:
    type: hubspot
    token: ${HUBSPOT_TOKEN}
  salesforce: { type: salesforce }
entities:
  contact:
    match: [email, nickname]
    phone_region: GB
    fields:
      email: email
      phone: phone
      tags: list
      stage: { type: enum, values: [Lead, Customer] }
      score: decimal
      owner: string
      full_name: string
      birthday: date
    systems:
      hubspot:
        object: contacts
        fields:
          phone: { path: properties.phone, transform: e165 }
          email: { path: properties.email, colour: blue }
          tags: { path: properties.tags, split: ";" }
          stage: { path: properties.stage, map: { lead: Leed, customer: Customer } }
          owner: { path: properties.owner, expr: 'fields.owner' }
          full_name: { path: "names.#.full" }
          birthday: { path: properties.dob, format: tomorrow }
          nickname: properties.nickname
      salesforce:
        object: Contact
        fields:
          email: { path: Email, direction: sideways }
          score: Score__c
      zendesk: { object: users, fields: { email: email } }
    conflict: { policy: "prefer:pipedrive" }
    schedule: "every day"
`

func TestParseReportsEveryError(t *testing.T) {
	_, err := Parse("tandem.yaml", []byte(badConfig), env(nil))
	errs, ok := AsConfigErrors(err)
	if !ok {
		t.Fatalf("want config errors, got %v", err)
	}
	const hs = "entities.contact.systems.hubspot.fields."
	want := []string{
		"tandem.yaml:4: systems.hubspot.token: environment variable HUBSPOT_TOKEN is not set",
		`tandem.yaml:8: entities.contact.match[1]: "nickname" is not a declared field`,
		`tandem.yaml:15: entities.contact.fields.score: unknown field type "decimal" (known: string, email, phone, number, bool, date, datetime, enum, list, ref)`,
		`tandem.yaml:23: ` + hs + `phone: unknown transform "e165" (known: trim, lower, upper, e164, map, default, split, join, expr)`,
		`tandem.yaml:24: ` + hs + `email.colour: unknown key`,
		`tandem.yaml:25: ` + hs + `tags.split: split without join: the way back is unknown; add join, or direction: in`,
		`tandem.yaml:26: ` + hs + `stage.map: maps to "Leed", which is not a value of enum stage (Lead, Customer)`,
		`tandem.yaml:27: ` + hs + `owner.expr: expr computes a value one way only: set direction: in or out`,
		`tandem.yaml:28: ` + hs + `full_name: path "names.#.full" is a query: it can be read, not written; set direction: in`,
		`tandem.yaml:29: ` + hs + `birthday.format: format "tomorrow" is not a date layout (a Go layout such as 02/01/2006, or epoch_ms, epoch_s)`,
		`tandem.yaml:30: ` + hs + `nickname: "nickname" is not a declared field of entity contact`,
		`tandem.yaml:34: entities.contact.systems.salesforce.fields.email.direction: unknown direction "sideways" (known: both, in, out)`,
		`tandem.yaml:36: entities.contact.systems.zendesk: no system "zendesk" under systems:`,
		`tandem.yaml:37: entities.contact.conflict.policy: prefer: system "pipedrive" is not mapped on entity contact`,
		`tandem.yaml:38: entities.contact.schedule: bad cron spec "every day"`,
	}
	var got []string
	for _, e := range errs {
		s := e.Error()
		// The issue names the field; Parse names the transform key under it.
		// TestUnknownTransformMessage holds the exact text.
		s = strings.Replace(s, hs+"phone.transform:", hs+"phone:", 1)
		got = append(got, s)
	}
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if !strings.HasPrefix(g, w) || w == "" {
			t.Errorf("error %d:\n got %s\nwant %s", i, g, w)
		}
	}
	// Each error names its file, line and key.
	for _, e := range errs {
		if e.File != "tandem.yaml" || e.Line <= 0 || e.Key == "" || e.Msg == "" {
			t.Errorf("unlocated error %+v", e)
		}
	}
	if !slices.IsSortedFunc(errs, func(a, b *connectors.ConfigError) int { return a.Line - b.Line }) {
		t.Error("errors are not in line order")
	}
}

// The message the issue gives for an unknown transform, exactly.
func TestUnknownTransformMessage(t *testing.T) {
	_, err := Parse("tandem.yaml", []byte(badConfig), env(nil))
	const want = `tandem.yaml:23: entities.contact.systems.hubspot.fields.phone: unknown transform "e165" (known: trim, lower, upper, e164, map, default, split, join, expr)`
	if err == nil || !slices.Contains(strings.Split(err.Error(), "\n"), want) {
		t.Fatalf("want the line\n%s\nin\n%v", want, err)
	}
}

// fieldConfig is a config of one entity with one field, f: its type on
// line 6, its entry (mapped to the system crm) on line 11.
func fieldConfig(typ, entry string) string {
	return fmt.Sprintf(fieldTemplate, typ, entry)
}

// fieldTemplate is fieldConfig's text (shared with package mapping's tests).
var fieldTemplate = readTestdata("../testdata/field.yaml.tmpl")

// One problem at a time: each gives exactly the error expected.
func TestParseFieldErrors(t *testing.T) {
	const f = "entities.contact.systems.crm.fields.f"
	for _, c := range []struct{ typ, entry, want string }{
		{"string", "{ path: v, transform: map }", `11: ` + f + `.transform: transform "map" takes an argument: write { map: ... }`},
		{"string", "{ path: v, transform: [trim, e165] }", `11: ` + f + `: unknown transform "e165"`},
		{"string", "{ path: v, transform: [{ map: { a: A }, trim: x }] }", `11: ` + f + `.transform[0]: a transform is a name (trim) or one name with its argument`},
		{"string", "{ path: v, map: { a: X, b: X } }", `11: ` + f + `.map.b: "a" and "b" both map to "X": the way back would be ambiguous`},
		{"string", "{ path: v, map: { values: { a: A }, passthrough: maybe } }", `11: ` + f + `.map.passthrough: must be true or false`},
		{"string", "{ path: v, map: [a, b] }", `11: ` + f + `.map: must be a mapping`},
		{"{ type: enum, values: [A] }", "{ path: v, direction: in, map: { values: { a: A }, default: B } }", `11: ` + f + `.map: maps to "B", which is not a value of enum f (A)`},
		{"string", "{ path: v, format: epoch_ms }", `11: ` + f + `.format: format applies to date and datetime fields; f is a string`},
		{"string", `{ path: v, split: "", join: "" }`, `11: ` + f + `.split: empty separator|11: ` + f + `.join: empty separator`},
		{"string", "{ path: v, constant: x, transform: trim }", `11: ` + f + `: a constant is written as it is: it takes path and constant only`},
		{"string", "{ path: v, direction: in, expr: 'value +' }", `11: ` + f + `.expr: unexpected token EOF`},
		{"string", "{ path: v, direction: out, split: ';' }", `11: ` + f + `.split: split without join: the way back is unknown; add join, or direction: in`},
		{"string", "{ path: v, direction: in, split: ';' }", ""},
		{"string", "{ direction: in }", `9: entities.contact.systems.crm.fields: no fields mapped|11: ` + f + `: path required`},
		{"string", "a..b", `11: ` + f + `: path "a..b" has an empty segment`},
		{"string", ".a", `11: ` + f + `: path ".a" has an empty segment`},
		{"string", "a.@reverse", `11: ` + f + `: path "a.@reverse" uses a gjson modifier`},
		{"string", "{ path: 'a.*', direction: both }", `11: ` + f + `: path "a.*" is a query: it can be read, not written; set direction: in`},
		{"string", "{ path: 'a|b', direction: in }", ""},
		{"string", "{ path: v, direction: in, fields: [f] }", `11: ` + f + `.fields: list two or more fields|11: ` + f + `: several fields read from one value need split`},
		{"enum", "v", `6: entities.contact.fields.f: an enum needs its values: { type: enum, values: [...] }`},
		{"{ type: string, values: [a] }", "v", `6: entities.contact.fields.f.values: only an enum has values`},
		{"{ type: phone, region: XX }", "v", `6: entities.contact.fields.f.region: unknown phone region "XX"`},
		{"{ type: phone, colour: red }", "v", `6: entities.contact.fields.f.colour: unknown key`},
	} {
		_, err := Parse("tandem.yaml", []byte(fieldConfig(c.typ, c.entry)), env(nil))
		if c.want == "" {
			if err != nil {
				t.Errorf("%s %s: %v", c.typ, c.entry, err)
			}
			continue
		}
		if !sameErrors(err, "tandem.yaml:"+strings.ReplaceAll(c.want, "|", "\ntandem.yaml:")) {
			t.Errorf("%s %s:\n got %v\nwant tandem.yaml:%s", c.typ, c.entry, err, c.want)
		}
	}
}

// Problems outside a field's entry.
func TestParseConfigErrors(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"empty", ``, `x.yaml:0: (file): empty config`},
		{"not a mapping", "- a\n", "x.yaml:1: (file): must be a mapping\nx.yaml:1: systems: no systems configured\nx.yaml:1: entities: no entities configured"},
		{"nothing", "state: x\n", "x.yaml:1: systems: no systems configured\nx.yaml:1: entities: no entities configured"},
		{"unknown top key", "systems: { a: { type: t } }\nentities: { e: { fields: { f: string }, systems: { a: { object: o, fields: { f: f } } } } }\ncolour: blue\n",
			"x.yaml:3: colour: unknown key"},
		{"system without type", "systems: { a: { token: x } }\nentities: { e: { fields: { f: string }, systems: { a: { object: o, fields: { f: f } } } } }\n",
			"x.yaml:1: systems.a.type: required"},
		{"entity without fields or systems", "systems: { a: { type: t } }\nentities:\n  e: { match: [f] }\n",
			"x.yaml:3: entities.e.fields: no canonical fields declared\nx.yaml:3: entities.e.match[0]: \"f\" is not a declared field\nx.yaml:3: entities.e.systems: required"},
		{"system without object or fields", "systems: { a: { type: t } }\nentities:\n  e:\n    fields: { f: string }\n    systems: { a: { read_only: true } }\n",
			"x.yaml:5: entities.e.systems.a.object: required\nx.yaml:5: entities.e.systems.a.fields: no fields mapped"},
		{"read twice", "systems: { a: { type: t } }\nentities:\n  e:\n    fields: { f: string, g: string }\n    systems:\n      a:\n        object: o\n        fields:\n          f: x\n          n: { path: y, fields: [f, g], split: ' ', join: ' ' }\n",
			"x.yaml:7: entities.e.systems.a.fields: f is read from both x and y; set direction on one of them\nx.yaml:7: entities.e.systems.a.fields: f is written to both x and y; set direction on one of them"},
		{"bad policy and duration", "systems: { a: { type: t } }\nentities:\n  e:\n    fields: { f: string }\n    systems: { a: { object: o, fields: { f: f } } }\n    conflict: { policy: loudest, clock_tolerance: soon, fields: { g: newest } }\n",
			"x.yaml:6: entities.e.conflict.clock_tolerance: not a duration: \"soon\"\nx.yaml:6: entities.e.conflict.policy: unknown policy \"loudest\"\nx.yaml:6: entities.e.conflict.fields.g: \"g\" is not a declared field"},
		{"bad record_url", "systems:\n  a: { type: t, record_url: 'ftp://x/{id}' }\n  b: { type: t, record_url: 'https://x/contacts' }\n  c: { type: t, record_url: [x] }\nentities: { e: { fields: { f: string }, systems: { a: { object: o, fields: { f: f } } } } }\n",
			"x.yaml:2: systems.a.record_url: want an http(s) address\nx.yaml:3: systems.b.record_url: names no {id}\nx.yaml:4: systems.c.record_url: must be a string"},
		{"broken yaml", "systems:\n  a: [\n", "x.yaml:2: (file): yaml: line 2:"},
		// YAML names no line for these: the first line, a byte its reader
		// refuses, an alias of nothing.
		{"broken first line", "!<a>b\n", "x.yaml:1: (file): yaml: did not find expected whitespace or line break"},
		{"control character", "state: x\nfoo: \x01\n", "x.yaml:2: (file): yaml: control characters are not allowed"},
		{"bad utf-8", "state: x\n\nb: \xff\n", "x.yaml:3: (file): yaml: invalid leading UTF-8 octet"},
		{"unknown anchor", "state: x\nb: *nowhere\n", "x.yaml:2: (file): yaml: unknown anchor 'nowhere' referenced"},
	} {
		_, err := Parse("x.yaml", []byte(c.src), env(nil))
		if !sameErrors(err, c.want) {
			t.Errorf("%s:\n got %v\nwant %s", c.name, err, c.want)
		}
	}
}

// sameErrors reports whether err holds one error per line of want, each
// starting with that line, in any order (errors on one line come in no
// fixed order).
func sameErrors(err error, want string) bool {
	if err == nil {
		return false
	}
	got, wants := strings.Split(err.Error(), "\n"), strings.Split(want, "\n")
	if len(got) != len(wants) {
		return false
	}
	slices.Sort(got)
	slices.Sort(wants)
	for i := range got {
		if !strings.HasPrefix(got[i], wants[i]) {
			return false
		}
	}
	return true
}

// The state file is the config file's neighbour unless given absolute.
func TestStateBesideTheConfig(t *testing.T) {
	const rest = "\nsystems:\n  crm: { type: test }\nentities:\n  contact:\n    fields: { email: email }\n    systems:\n      crm: { object: person, fields: { email: email } }\n"
	for _, tc := range []struct{ file, state, want string }{
		{"/etc/tandem/tandem.yaml", "tandem.db", "/etc/tandem/tandem.db"},
		{"/etc/tandem/tandem.yaml", "", "/etc/tandem/tandem.db"}, // the default
		{"/etc/tandem/tandem.yaml", "/var/lib/tandem/tandem.db", "/var/lib/tandem/tandem.db"},
		{"conf/tandem.yaml", "state/t.db", "conf/state/t.db"},
		{"tandem.yaml", "t.db", "t.db"},
	} {
		src := rest
		if tc.state != "" {
			src = "state: " + tc.state + rest
		}
		cfg, err := Parse(tc.file, []byte(src), env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.State != tc.want {
			t.Errorf("%s with state %q: State = %q, want %q", tc.file, tc.state, cfg.State, tc.want)
		}
	}
}

// The admin listener's section: its address is checked at load, each
// problem with its line and key, and it must be apart from listen.
func TestParseAdmin(t *testing.T) {
	const base = "systems: { a: { type: t } }\nentities: { e: { fields: { f: string }, systems: { a: { object: o, fields: { f: f } } } } }\n"
	cfg, err := Parse("x.yaml", []byte(base+"listen: 127.0.0.1:8080\nadmin: { listen: 127.0.0.1:9091 }\n"), env(nil))
	if err != nil || cfg.Admin.Listen != "127.0.0.1:9091" || cfg.Listen != "127.0.0.1:8080" {
		t.Fatalf("admin = %+v, %v", cfg, err)
	}
	for _, c := range []struct{ name, src, want string }{
		{"not host:port", "admin: { listen: localhost }\n", "x.yaml:3: admin.listen: want host:port"},
		{"bad port", "admin: { listen: \"127.0.0.1:http-ish\" }\n", "x.yaml:3: admin.listen: port \"http-ish\" is not a number"},
		{"no listen", "admin: {}\n", "x.yaml:3: admin.listen: required"},
		{"empty listen", "admin:\n  listen: \"\"\n", "x.yaml:4: admin.listen: required"},
		{"unknown key", "admin:\n  listen: 127.0.0.1:9091\n  tokn: x\n", "x.yaml:5: admin.tokn: unknown key"},
		{"not a mapping", "admin: 127.0.0.1:9091\n", "x.yaml:3: admin: must be a mapping"},
		{"same as listen", "listen: 127.0.0.1:8080\nadmin: { listen: 127.0.0.1:8080 }\n", "x.yaml:4: admin.listen: is the same address as listen"},
	} {
		_, err := Parse("x.yaml", []byte(base+c.src), env(nil))
		if !sameErrors(err, c.want) {
			t.Errorf("%s:\n got %v\nwant %s", c.name, err, c.want)
		}
	}
}

// A record's address in its system's UI comes from the system's
// record_url, with the entity's object and the id, escaped.
func TestRecordURL(t *testing.T) {
	cfg, err := Parse("x.yaml", []byte(`systems:
  sf: { type: t, record_url: "https://acme.lightning.force.com/lightning/r/{object}/{id}/view" }
  hs: { type: t }
entities:
  contact:
    fields: { f: string }
    systems:
      sf: { object: Contact, fields: { f: f } }
      hs: { object: contacts, fields: { f: f } }
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ entity, system, id, want string }{
		{"contact", "sf", "003xx0001", "https://acme.lightning.force.com/lightning/r/Contact/003xx0001/view"},
		{"contact", "sf", "a/b?c", "https://acme.lightning.force.com/lightning/r/Contact/a%2Fb%3Fc/view"},
		{"contact", "hs", "51", ""},
		{"contact", "sf", "", ""},
		{"company", "sf", "1", ""},
	} {
		if got := cfg.RecordURL(c.entity, c.system, c.id); got != c.want {
			t.Errorf("RecordURL(%s, %s, %q) = %q, want %q", c.entity, c.system, c.id, got, c.want)
		}
	}
}
