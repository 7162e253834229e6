package conflict

import (
	"context"
	"testing"

	"tandem"
	"tandem/state"
)

// A write planned as "nothing to do" while another system's pull stages a
// delete of the same entity: the delete's intent joins the pending one
// (one pending intent per record), which the checkpoint then ends as
// done. The golden values did not move, the delete did: the delete must
// be queued again, not lost. Before the fix, the record stayed alive in
// that system for good. The property test once ended so under load
// ("salesforce still holds p66@example.com after the pass, want it gone
// everywhere", seed 349246, which passed when replayed: the race needs
// the early push and another system's pull to interleave so); this is
// the race that fits what it showed.
func TestDeleteStagedWhileNothingWasPlanned(t *testing.T) {
	b := newBench(t, "[email]", "{policy: newest}\n    deletes: {policy: propagate}")
	ctx := context.Background()
	b.stage("a", "1", map[string]any{"email": "ann@x.com", "name": "Ann"})
	b.stage("b", "9", map[string]any{"email": "ann@x.com", "name": "Ann"})
	ann := b.entityOf("a", "1")
	sm := b.ent.System("b")
	if err := b.e.Store.Update(ctx, func(tx *state.Tx) error { return tx.Enqueue(ctx, "contact", ann, "b", "B") }); err != nil {
		t.Fatal(err)
	}
	intents, err := b.e.Store.Pending(ctx, "b", "B", 0, 10)
	if err != nil || len(intents) != 1 {
		t.Fatalf("%d intents for b (%v), want 1", len(intents), err)
	}
	v, err := b.e.loadPlans(ctx, b.ent, sm, intents)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan(v, b.ent, sm, intents[0])
	if err != nil || p.write != nil {
		t.Fatalf("planned %+v (%v), want nothing to write", p.write, err)
	}
	// Meanwhile system a's pull reads the record deleted.
	b.now = b.now.Add(1e9)
	if err := b.e.Store.Update(ctx, func(tx *state.Tx) error {
		return b.e.stageAll(ctx, tx, b.ent, b.ent.System("a"), []tandem.Record{{ID: "1", Deleted: true, Modified: b.now}})
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.e.checkpoint(ctx, b.ent, sm, []planned{p}, nil); err != nil {
		t.Fatal(err)
	}
	left, err := b.e.Store.Pending(ctx, "b", "B", 0, 10)
	if err != nil || len(left) != 1 {
		t.Fatalf("%d intents for b after the checkpoint (%v): the delete was lost", len(left), err)
	}
	v, err = b.e.loadPlans(ctx, b.ent, sm, left)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := plan(v, b.ent, sm, left[0]); err != nil || p.write == nil || p.write.Op != tandem.OpDelete {
		t.Fatalf("planned %+v (%v), want the delete of b 9", p.write, err)
	}
}
