package main

import (
	"strings"
	"testing"
)

// TestLossyMappingNoEcho is issue 11, case 9: a mapping that does not
// round-trip turned Tandem's own write, read back, into an edit that
// rewrote the other system. HubSpot holds the full name in one property
// (split/join) or reads the first name lower-cased; Salesforce holds first
// and last name as they are. A Salesforce contact "Ann Marie" / "Lee" is
// written to HubSpot as "Ann Marie Lee", which reads back as "Ann" /
// "Marie Lee": that is what HubSpot shows, not an edit, and Salesforce must
// keep "Ann Marie" / "Lee" however many passes follow.
func TestLossyMappingNoEcho(t *testing.T) {
	for _, tc := range []struct {
		name, hubspot   string
		first, last, hs string // the Salesforce contact, and what HubSpot shows of it
		editLast, hsNew string // a later edit of the last name in Salesforce, and HubSpot after it
		// a later edit in HubSpot, and the Salesforce names it reads as
		hsEdit, sfFirst, sfLast string
		// a person already in both systems before the first pass: the
		// names in Salesforce, and HubSpot's firstname and lastname
		bothFirst, bothLast, bothHS, bothHSLast string
	}{
		{"split-join", `          name: { path: properties.firstname, fields: [first_name, last_name], split: " ", join: " " }` + "\n",
			"Ann Marie", "Lee", "Ann Marie Lee", "Lee-Smith", "Ann Marie Lee-Smith",
			"Ann Maria Leigh", "Ann", "Maria Leigh",
			"Bea Ann", "Cole", "Bea Ann Cole", ""},
		{"lower", `          first_name: { path: properties.firstname, transform: lower }` + "\n" +
			`          last_name: { path: properties.lastname, transform: trim }` + "\n",
			"Ann", "Lee", "Ann", "Lee-Smith", "Ann",
			"Anne", "anne", "Lee-Smith",
			"Bea", "Cole", "Bea", "Cole"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.editConfig(t, "          first_name: { path: properties.firstname, transform: trim }\n"+
				"          last_name: { path: properties.lastname, transform: trim }\n", tc.hubspot)
			if tc.name == "split-join" {
				// HubSpot's seed holds full names in that one property,
				// as a system mapped this way would.
				for _, o := range w.hs.List("contacts") {
					full := o.Properties["firstname"] + " " + o.Properties["lastname"]
					if err := w.hs.Update("contacts", o.ID, map[string]any{"firstname": full}); err != nil {
						t.Fatal(err)
					}
				}
			}
			// A person in both systems before the first pass, edited in
			// HubSpot last: the same name, told apart only by the
			// mapping. Linking them is no conflict and rewrites neither.
			const bothEmail = "bea.cole@example.com"
			sfBoth, err := w.sf.Create("Contact", map[string]any{"Email": bothEmail, "FirstName": tc.bothFirst, "LastName": tc.bothLast})
			if err != nil {
				t.Fatal(err)
			}
			w.tick()
			hsProps := map[string]any{"email": bothEmail, "firstname": tc.bothHS}
			if tc.bothHSLast != "" {
				hsProps["lastname"] = tc.bothHSLast
			}
			hsBoth, err := w.hs.Create("contacts", hsProps)
			if err != nil {
				t.Fatal(err)
			}
			// The seeds settle first: what they write is not the point.
			w.sync(t)
			w.sync(t)
			if r, _ := w.sf.Get("Contact", sfBoth); str(r.Fields["FirstName"]) != tc.bothFirst || str(r.Fields["LastName"]) != tc.bothLast {
				t.Errorf("a person in both systems: Salesforce rewritten to %q / %q, want %q / %q", r.Fields["FirstName"], r.Fields["LastName"], tc.bothFirst, tc.bothLast)
			}
			if o, _ := w.hs.Get("contacts", hsBoth); o.Properties["firstname"] != tc.bothHS {
				t.Errorf("a person in both systems: HubSpot firstname rewritten to %q, want %q", o.Properties["firstname"], tc.bothHS)
			}
			_, out, _ := run("conflicts", "--all", "--format", "json", "--config", w.config)
			if strings.Contains(out, `"`+sfBoth+`"`) || strings.Contains(out, `"`+hsBoth+`"`) {
				t.Errorf("a person in both systems, named alike: conflicts recorded\n%s", out)
			}

			const email = "ann.lee@example.com"
			w.tick()
			id, err := w.sf.Create("Contact", map[string]any{"Email": email, "FirstName": tc.first, "LastName": tc.last})
			if err != nil {
				t.Fatal(err)
			}
			w.sync(t)
			if got := w.hsByEmail(t, email).Properties["firstname"]; got != tc.hs {
				t.Fatalf("HubSpot firstname = %q, want %q", got, tc.hs)
			}
			first := tc.first
			quiet := func(when string) {
				t.Helper()
				for pass := 1; pass <= 3; pass++ {
					before := w.writes()
					w.sync(t)
					if n := w.writes() - before; n != 0 {
						t.Errorf("%s, pass %d: %d write requests (the echo of Tandem's own write)", when, pass, n)
					}
				}
				r, _ := w.sf.Get("Contact", id)
				if str(r.Fields["FirstName"]) != first {
					t.Errorf("%s: Salesforce FirstName = %q, want %q: HubSpot's read-back rewrote it", when, r.Fields["FirstName"], first)
				}
			}
			quiet("after the create")

			// An edit still crosses, and settles the same way.
			w.tick()
			if err := w.sf.Update("Contact", id, map[string]any{"LastName": tc.editLast}); err != nil {
				t.Fatal(err)
			}
			w.sync(t)
			if got := w.hsByEmail(t, email).Properties["firstname"]; got != tc.hsNew {
				t.Errorf("after the edit, HubSpot firstname = %q, want %q", got, tc.hsNew)
			}
			quiet("after the edit")
			if r, _ := w.sf.Get("Contact", id); str(r.Fields["LastName"]) != tc.editLast {
				t.Errorf("Salesforce LastName = %q, want %q", r.Fields["LastName"], tc.editLast)
			}

			// An edit in HubSpot is read as the mapping reads it (a split
			// cannot know where a first name ends), taken whole, and
			// settles: HubSpot is not rewritten with a mix of old and new.
			w.tick()
			if err := w.hs.Update("contacts", w.hsByEmail(t, email).ID, map[string]any{"firstname": tc.hsEdit}); err != nil {
				t.Fatal(err)
			}
			w.sync(t)
			first = tc.sfFirst
			r, _ := w.sf.Get("Contact", id)
			if str(r.Fields["FirstName"]) != tc.sfFirst || str(r.Fields["LastName"]) != tc.sfLast {
				t.Errorf("after the HubSpot edit, Salesforce holds %q / %q, want %q / %q", r.Fields["FirstName"], r.Fields["LastName"], tc.sfFirst, tc.sfLast)
			}
			quiet("after the HubSpot edit")
			if got := w.hsByEmail(t, email).Properties["firstname"]; got != tc.hsEdit {
				t.Errorf("after the HubSpot edit, HubSpot firstname = %q, want %q (as its user wrote it)", got, tc.hsEdit)
			}
		})
	}
}

// TestDoctorWarnsLossyMapping: doctor names the mappings that cannot
// round-trip (entity, system, field, transform) as warnings: exit 0.
func TestDoctorWarnsLossyMapping(t *testing.T) {
	w := newWorld(t)
	code, out, _ := run("doctor", "--config", w.config)
	if code != 0 || strings.Contains(out, "WARN") {
		t.Fatalf("doctor on the sandbox config (trim on both sides): exit %d, want no warning\n%s", code, out)
	}
	w.editConfig(t, "          first_name: { path: properties.firstname, transform: trim }\n"+
		"          last_name: { path: properties.lastname, transform: trim }\n",
		`          name: { path: properties.firstname, fields: [first_name, last_name], split: " ", join: " " }`+"\n")
	w.editConfig(t, "          last_name: { path: LastName, transform: trim }\n", "          last_name: { path: LastName, transform: lower }\n")
	code, out, _ = run("doctor", "--config", w.config)
	if code != 0 {
		t.Errorf("doctor with lossy mappings: exit %d, want 0 (warnings only)\n%s", code, out)
	}
	for _, want := range []string{
		`WARN  entity contact, system hubspot: properties.firstname (first_name, last_name): split/join: a part holding " " moves to the next field`,
		`WARN  entity contact, system salesforce: LastName (last_name): transform lower: a value is written as it is ("Ann") and read back in lower case ("ann")`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FirstName (first_name): transform trim") {
		t.Errorf("doctor warns of a trim that HubSpot's split applies too:\n%s", out)
	}
}
