package conflict

import (
	"context"
	"strings"
	"testing"

	"tandem"
	"tandem/state"
)

// A transaction seen as a view (the record-by-record paths: checkpoints,
// resolve, the fallback of a chunk) answers and changes what the store
// does: a pass's conflict, a held record replaced, an intent's three
// ends. A workset records the same ends in its batch.
func TestTxViewEnds(t *testing.T) {
	b := newBench(t, "[email]", "{policy: newest}")
	ctx := context.Background()
	b.stage("a", "1", map[string]any{"email": "ann@x.com", "name": "Ann"})
	b.stage("a", "2", map[string]any{"email": "bob@x.com", "name": "Bob"})
	b.stage("a", "3", map[string]any{"email": "cat@x.com", "name": "Cat"})
	intents, err := b.e.Store.Pending(ctx, "b", "B", 0, 10)
	if err != nil || len(intents) != 3 {
		t.Fatalf("%d intents for b (%v), want 3", len(intents), err)
	}
	ann := b.entityOf("a", "1")
	b.e.pass = "p"
	err = b.e.Store.Update(ctx, func(tx *state.Tx) error {
		v := b.e.over(ctx, tx).v
		c := &tandem.Conflict{Entity: "contact", EntityID: ann, Kind: tandem.ConflictField, Field: "name", Policy: "newest",
			Status: tandem.ConflictAuto, Values: map[string]tandem.SideValue{"a": {Value: "Ann"}}, Pass: "p", Created: b.now}
		if err := v.AddConflict(c, &state.Pending{System: "a", Object: "A", ExternalID: "1", Raw: []byte(`{}`)}); err != nil {
			return err
		}
		got, err := v.PassConflict("p", ann, "name")
		if err != nil || got == nil || got.ID != c.ID {
			t.Errorf("PassConflict = %+v, %v; want conflict %d", got, err, c.ID)
		}
		if err := v.UpdateHeldRecord(c, &state.Pending{System: "a", Object: "A", ExternalID: "1", Raw: []byte(`{"name":"Ann"}`)}); err != nil {
			return err
		}
		if err := v.Done(intents[0].ID); err != nil {
			return err
		}
		if err := v.Retry(intents[1].ID, "try again"); err != nil {
			return err
		}
		return v.Dead(intents[2].ID, "refused")
	})
	if err != nil {
		t.Fatal(err)
	}
	left, err := b.e.Store.Pending(ctx, "b", "B", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range left {
		if in.ID == intents[0].ID || in.ID == intents[2].ID {
			t.Errorf("intent %d is still pending after Done or Dead", in.ID)
		}
	}

	w := newWorkset(&Loaded{}, "a", "A", nil, nil)
	if err := w.Dead(7, "refused"); err != nil {
		t.Fatal(err)
	}
	if e := w.batch().Ended; len(e) != 1 || e[0].ID != 7 || !e[0].Dead || e[0].Reason != "refused" {
		t.Errorf("ended = %+v", e)
	}

	g := &GuardError{Entity: "contact", System: "b", Object: "B", Deletes: 3, Linked: 4, MaxShare: 0.2}
	if msg := g.Error(); !strings.Contains(msg, "3 of the 4") || !strings.Contains(msg, "--force") {
		t.Errorf("guard error: %s", msg)
	}
	if s := (Decision{Take: "a"}).String(b.ent, "name"); s != "--take a" {
		t.Errorf("decision = %q", s)
	}
}
