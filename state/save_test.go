package state

import (
	"context"
	"testing"
	"time"

	"tandem"
)

// A batch saved, then read back through the per-record queries and the
// chunk loads: each thing in the state its batch gave it.
func TestSaveAndLoadABatch(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := func(email string) tandem.Golden {
		return tandem.Golden{"email": {Value: email, Modified: at, Source: "hs"}}
	}
	var old string
	err := s.Update(ctx, func(tx *Tx) error {
		var err error
		if old, err = tx.NewEntity(ctx, "contact", g("old@x"), map[string]string{"email": "old@x"}); err != nil {
			return err
		}
		if err := tx.PutLink(ctx, &tandem.Link{EntityID: old, System: "hs", Object: "contacts", ExternalID: "9"}); err != nil {
			return err
		}
		return tx.Enqueue(ctx, "contact", old, "sf", "Contact")
	})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := s.Pending(ctx, "sf", "Contact", 0, 10)
	if err != nil || len(pending) != 1 {
		t.Fatal(pending, err)
	}
	b := &Batch{
		Entities: []EntityWrite{
			{ID: "n1", Entity: "contact", New: true, SetGolden: true, Golden: g("new@x"), Keys: map[string]string{"email": "new@x"}},
			{ID: old, Entity: "contact", SetGolden: true, Golden: g("moved@x"), Keys: map[string]string{"email": "moved@x"},
				SetDelete: true, Delete: &Delete{State: DeleteHeld, By: "hs", At: at, After: at.Add(time.Hour), Conflict: -1}},
		},
		Links:   []*tandem.Link{{EntityID: "n1", System: "hs", Object: "contacts", ExternalID: "1", Snapshot: tandem.Values{"email": "new@x"}, Modified: at}},
		Dropped: [][3]string{{"hs", "contacts", "9"}},
		Intents: []Intent{{Entity: "contact", EntityID: "n1", System: "sf", Object: "Contact"}, {Entity: "contact", EntityID: old, System: "sf", Object: "Contact"}},
		NewConflicts: []ConflictWrite{{C: &tandem.Conflict{ID: -1, Entity: "contact", EntityID: old, Kind: tandem.ConflictDelete, Status: tandem.ConflictOpen, Policy: "quarantine",
			Values: map[string]tandem.SideValue{"hs": {RecordID: "9"}}}}},
		DeadLetters: []SetAside{{System: "hs", Object: "contacts", ExternalID: "7", Raw: []byte(`{`), Reason: "not JSON"}},
		Ended:       []Ended{{ID: pending[0].ID}}, // done, then queued again
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Save(ctx, b) }); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Entities(ctx, []string{"n1", old, "none"})
	if err != nil || len(rows) != 2 || rows["n1"].Golden["email"].Value != "new@x" || rows[old].Golden["email"].Value != "moved@x" {
		t.Fatalf("entities = %+v, %v", rows, err)
	}
	d := rows[old].Delete
	if d == nil || d.State != DeleteHeld || d.Conflict <= 0 {
		t.Fatalf("delete = %+v: want held, naming the conflict saved", d)
	}
	if c, _, err := s.Conflict(ctx, d.Conflict); err != nil || c.Kind != tandem.ConflictDelete {
		t.Fatalf("the delete's conflict: %+v, %v", c, err)
	}
	owners, err := s.KeyOwners(ctx, "contact", map[string][]string{"email": {"new@x", "moved@x", "old@x"}})
	if err != nil || len(owners[[2]string{"email", "new@x"}]) != 1 || len(owners[[2]string{"email", "moved@x"}]) != 1 || len(owners[[2]string{"email", "old@x"}]) != 0 {
		t.Fatalf("key owners = %v, %v", owners, err)
	}
	if l, err := s.Link(ctx, "hs", "contacts", "9"); err != nil || l != nil {
		t.Fatalf("dropped link = %+v, %v", l, err)
	}
	links, err := s.LinksOf(ctx, []string{"n1", old})
	if err != nil || len(links) != 1 || links[0].Snapshot["email"] != "new@x" {
		t.Fatalf("links = %+v, %v", links, err)
	}
	if pending, err = s.Pending(ctx, "sf", "Contact", 0, 10); err != nil || len(pending) != 2 {
		t.Fatalf("pending = %+v, %v: want n1's and old's (done, then queued again)", pending, err)
	}
	cs, err := s.ConflictsAbout(ctx, []string{old}, "", "hs", "contacts", nil, nil)
	if err != nil || len(cs) != 1 {
		t.Fatalf("conflicts about %s = %+v, %v", old, cs, err)
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		return tx.MarkSentAll(ctx, map[int64]tandem.Values{pending[0].ID: {"email": "new@x"}, 999: {"email": "x"}})
	}); err != nil {
		t.Fatal(err)
	}
	fl, err := s.InFlights(ctx, "sf", "Contact", []string{"n1", old})
	if err != nil || len(fl) != 1 || !fl[pending[0].EntityID].Has("email", "new@x") {
		t.Fatalf("in flight = %v, %v", fl, err)
	}
}
