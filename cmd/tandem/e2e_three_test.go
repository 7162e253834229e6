package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"tandem/state"
)

// TestEndToEndThreeSystems is TestEndToEndTwoWaySync with a third system,
// the sandbox's custom CRM (the rest connector's emulator): the first pass
// makes all three hold everyone once, an edit in any system reaches the
// other two, the same field edited in two systems is a recorded conflict
// decided for the later edit (for each pair of systems), a delete in one
// system is a delete in all, and a quiet pass writes nothing.
func TestEndToEndThreeSystems(t *testing.T) {
	w := newWorld(t, withCustomCRM)
	w.editConfig(t, "    conflict: { policy: newest }\n", "    conflict: { policy: newest }\n    deletes: { policy: propagate }\n")
	hs, sf, crm := w.systems[0], w.systems[1], w.systems[2]

	// The CRM holds one person of HubSpot's, one of Salesforce's and one of
	// both, alike, and three of its own, made after both seeds.
	w.tick()
	lifecycle := func(internal string) string {
		for _, v := range []string{"Subscriber", "Lead", "MarketingQualifiedLead", "SalesQualifiedLead", "Opportunity", "Customer", "Evangelist", "Other"} {
			if strings.EqualFold(v, internal) {
				return v
			}
		}
		return ""
	}
	copyOf := func(s e2eSystem, email string) {
		for _, c := range s.contacts() {
			if c.email == email {
				w.crm.Create(map[string]any{"email": c.email, "first_name": c.first, "last_name": c.last, "phone": c.phone, "lifecycle": lifecycle(c.lifecycle)}, w.clock.Now())
				return
			}
		}
		t.Fatalf("no %s contact %s to copy", s.label(), email)
	}
	copyOf(hs, "grace.thompson.1@example.com")
	copyOf(hs, "dennis.backus.31@example.com") // in Salesforce too, alike
	copyOf(sf, "leslie.liskov.60@example.com")
	for i, name := range []string{"Kim", "Lee", "Max"} {
		w.crm.Create(map[string]any{"email": fmt.Sprintf("%s.crm.%d@example.com", strings.ToLower(name), i), "first_name": name, "last_name": "Crm",
			"phone": fmt.Sprintf("+1555999000%d", i), "lifecycle": "Lead"}, w.clock.Now())
	}

	// 80 people in HubSpot and Salesforce (see TestEndToEndTwoWaySync), 3
	// more in the CRM: 83 in each, none twice.
	w.sync(t)
	w.check(t, 83)
	st, err := state.Open(w.state)
	if err != nil {
		t.Fatal(err)
	}
	initial, err := st.Conflicts(context.Background(), false)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The CRM's copies are alike: its people add no conflict to the four
	// phones HubSpot and Salesforce disagree on.
	if len(initial) != 4 {
		t.Errorf("the initial pass recorded %d conflicts, want 4 (the phones of people 30, 35, 40, 45): %+v", len(initial), initial)
	}
	w.quiet(t, "a pass with no edits")

	// An edit in each system reaches the other two.
	edits := []struct {
		s            e2eSystem
		email, field string
		value        string
	}{
		{hs, "ada.lovelace.0@example.com", "phone", "+15551230000"},
		{sf, "dennis.backus.31@example.com", "first_name", "Den"},
		{crm, "kim.crm.0@example.com", "last_name", "Crm-Smith"},
	}
	for _, e := range edits {
		if err := e.s.edit(idOf(t, e.s, e.email), map[string]string{e.field: e.value}); err != nil {
			t.Fatal(err)
		}
	}
	w.sync(t)
	got := w.check(t, 83)
	for _, e := range edits {
		if v := fieldOf(got[e.email], e.field); v != e.value {
			t.Errorf("%s's edit of %s's %s did not reach everyone: %q", e.s.label(), e.email, e.field, v)
		}
	}

	// The same field edited in two systems, the second a second later: for
	// each pair, newest wins and the conflict is recorded with both values,
	// decided for the later system; the third system gets the winner too.
	pairs := []struct {
		first, second e2eSystem
		email, field  string
	}{
		{hs, sf, "sophie.turing.30@example.com", "first_name"},
		{sf, crm, "dennis.backus.31@example.com", "last_name"},
		{crm, hs, "leslie.liskov.60@example.com", "phone"},
	}
	want := map[string]string{}
	for i, p := range pairs {
		v1, v2 := fmt.Sprintf("First%d", i), fmt.Sprintf("Second%d", i)
		if p.field == "phone" {
			v1, v2 = fmt.Sprintf("+1555777000%d", i), fmt.Sprintf("+1555888000%d", i)
		}
		if err := p.first.edit(idOf(t, p.first, p.email), map[string]string{p.field: v1}); err != nil {
			t.Fatal(err)
		}
		w.tick()
		if err := p.second.edit(idOf(t, p.second, p.email), map[string]string{p.field: v2}); err != nil {
			t.Fatal(err)
		}
		want[p.email] = v2
	}
	w.sync(t)
	got = w.check(t, 83)
	st, err = state.Open(w.state)
	if err != nil {
		t.Fatal(err)
	}
	all, err := st.Conflicts(context.Background(), false)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(all) - len(initial); n != len(pairs) {
		t.Errorf("%d new conflicts recorded, want %d (one per same-field edit): %+v", n, len(pairs), all[len(initial):])
	}
	for i, p := range pairs {
		if v := fieldOf(got[p.email], p.field); v != want[p.email] {
			t.Errorf("%s's %s = %q, want the later edit's %q (%s)", p.email, p.field, v, want[p.email], p.second.label())
		}
		found := false
		for _, c := range all[len(initial):] {
			a, b := c.Values[p.first.name()], c.Values[p.second.name()]
			if c.Field == p.field && fmt.Sprint(a.Value) != "" && fmt.Sprint(b.Value) == want[p.email] && c.Decided == p.second.name() {
				found = true
				if pre := fmt.Sprint(a.Value); !strings.HasSuffix(pre, fmt.Sprint(i)) {
					t.Errorf("conflict on %s names %s's value %q, want its edit", p.field, p.first.label(), pre)
				}
			}
		}
		if !found {
			t.Errorf("no conflict recorded on %s's %s between %s and %s, decided for %s: %+v", p.email, p.field, p.first.label(), p.second.label(),
				p.second.label(), all[len(initial):])
		}
	}
	w.quiet(t, "a pass after the conflicts")

	// A delete in the CRM, and one in HubSpot, are deletes everywhere.
	gone := map[e2eSystem]string{crm: "kim.crm.0@example.com", hs: "grace.thompson.1@example.com"}
	for s, email := range gone {
		if err := s.remove(idOf(t, s, email)); err != nil {
			t.Fatal(err)
		}
	}
	w.sync(t)
	got = w.check(t, 81)
	for _, email := range gone {
		if _, ok := got[email]; ok {
			t.Errorf("%s was deleted, but is still held", email)
		}
	}
	w.quiet(t, "a pass after the deletes")

	st, err = state.Open(w.state)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, s := range w.systems {
		if got, err := st.Status(context.Background(), s.name(), s.object()); err != nil || got.Outbox != 0 || got.DeadLetters != 0 {
			t.Errorf("%s: %v, outbox %d, dead letters %d; want an empty outbox, no dead letters", s.label(), err, got.Outbox, got.DeadLetters)
		}
	}
}

// quiet runs a pass and fails the test if it sent any system a write.
func (w *world) quiet(t *testing.T, what string) {
	t.Helper()
	before := make([]int, len(w.systems))
	for i, s := range w.systems {
		before[i] = s.writes()
	}
	w.sync(t)
	for i, s := range w.systems {
		if n := s.writes() - before[i]; n != 0 {
			t.Errorf("%s sent %s %d write requests", what, s.label(), n)
		}
	}
}

// fieldOf is a person's canonical field.
func fieldOf(p person, field string) string {
	switch field {
	case "first_name":
		return p.first
	case "last_name":
		return p.last
	case "phone":
		return p.phone
	}
	return p.lifecycle
}
