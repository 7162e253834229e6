package main

import (
	"testing"

	"tandem"
)

// Regression tests for what the model-based property test found, each
// made deterministic.

// TestReproDeleteEchoAfterCrash: a delete Tandem sent and never confirmed
// (the pass was killed between the write and its checkpoint) was read back
// by the next pass as a person's delete in that system. The entity's
// delete conflict then named that system as a deleter, and the delete's
// time moved to Tandem's own delete, so an edit made elsewhere between the
// person's delete and Tandem's would have lost to it. Found by
// TestPropertyConvergence -property.seed=1 (crash class).
func TestReproDeleteEchoAfterCrash(t *testing.T) {
	p := newPropTest(t, 1, 0)
	p.faults.on = map[string]bool{}
	raw := map[string]string{"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"}
	id, err := p.systems[0].create(raw)
	if err != nil {
		t.Fatal(err)
	}
	p.sync()
	p.tick()
	if err := p.systems[0].remove(id); err != nil {
		t.Fatal(err)
	}
	p.tick()
	// Killed once the first delete (hubspot_b's) is applied, before its
	// checkpoint; then a pass as a restarted Tandem makes it.
	if !p.crashSync(1) {
		t.Fatal("the pass was not killed")
	}
	p.sync()
	for _, s := range p.systems {
		if n := len(s.records()); n != 0 {
			t.Errorf("%s holds %d records, want the person deleted everywhere", s.name(), n)
		}
	}
	var dels []tandem.Conflict
	for _, c := range p.conflictsSince() {
		if c.Kind == tandem.ConflictDelete {
			dels = append(dels, c)
		}
	}
	if len(dels) != 1 {
		t.Fatalf("%d delete conflicts, want 1: %+v", len(dels), dels)
	}
	for sys, sv := range dels[0].Values {
		if sys != "hubspot_a" && sv.Value == nil {
			t.Errorf("the delete conflict names %s as a deleter (sides %s): that was Tandem's own delete, read back", sys, sidesOf(dels[0]))
		}
	}
}
