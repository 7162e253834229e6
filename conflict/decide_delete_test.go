package conflict

import (
	"slices"
	"testing"
	"time"

	"tandem"
	"tandem/state"
)

func TestDecideDeletes(t *testing.T) {
	snap := tandem.Values{"email": "ann@x.com", "name": "Ann"}
	g := map[string]tandem.Field{"email": fld("ann@x.com", t0, "a"), "name": fld("Ann", t0, "a")}
	for _, tc := range []struct {
		policy   string
		state    string // the entity's delete state after
		status   string // the delete conflict's
		decided  string
		intents  []string
		dropKeys bool
	}{
		{"{policy: propagate}", state.DeleteDeleted, tandem.ConflictAuto, "a", []string{"e1>b"}, true},
		{"{policy: ignore}", "", tandem.ConflictAuto, "ignored", nil, false},
		{"{policy: quarantine, hold: 1h}", state.DeleteHeld, tandem.ConflictOpen, "held: quarantined until 2026-01-01 12:00:00Z", nil, false},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			b := decided(t, chunkEntity(t, "", tc.policy), linked(g, snap), gone("1", t2))
			if l := linkIn(b, "1"); l == nil || !l.Deleted.Equal(t2) {
				t.Fatalf("tombstone = %+v", l)
			}
			cs := newConflicts(b)
			if len(cs) != 1 || cs[0].Kind != tandem.ConflictDelete || cs[0].Status != tc.status || cs[0].Decided != tc.decided || cs[0].Values["b"].RecordID != "2" {
				t.Fatalf("conflicts = %+v", cs)
			}
			w := entityIn(b, "e1")
			switch {
			case tc.state == "" && w != nil:
				t.Fatalf("entity changed: %+v", w)
			case tc.state != "" && (w == nil || w.Delete == nil || w.Delete.State != tc.state || w.Delete.By != "a" || !w.Delete.At.Equal(t2) || w.Delete.Conflict != cs[0].ID):
				t.Fatalf("entity = %+v", w)
			case tc.state != "" && tc.dropKeys != (len(w.Keys) == 0):
				t.Errorf("keys = %v", w.Keys)
			}
			if got := intents(b); !slices.Equal(got, tc.intents) {
				t.Errorf("intents = %v, want %v", got, tc.intents)
			}
		})
	}
	t.Run("a delete the system does not time is as old as the record last seen", func(t *testing.T) {
		b := decided(t, chunkEntity(t, "", ""), linked(g, snap), gone("1", time.Time{}))
		if l := linkIn(b, "1"); l == nil || !l.Deleted.Equal(t0) {
			t.Fatalf("tombstone = %+v", l)
		}
	})
	t.Run("an edit made elsewhere after the delete wins: the record is created again", func(t *testing.T) {
		edited := map[string]tandem.Field{"email": g["email"], "name": fld("Anne", t2, "b")}
		b := decided(t, chunkEntity(t, "", ""), linked(edited, snap), gone("1", t1))
		if cs := newConflicts(b); len(cs) != 1 || cs[0].Decided != "b" || cs[0].Status != tandem.ConflictAuto {
			t.Fatalf("conflicts = %+v", cs)
		}
		if len(b.Dropped) != 1 || b.Dropped[0][2] != "1" || len(b.Links) != 0 {
			t.Fatalf("links: put %+v, dropped %v", b.Links, b.Dropped)
		}
		if got := intents(b); !slices.Equal(got, []string{"e1>a"}) {
			t.Errorf("intents = %v", got)
		}
	})
	t.Run("the echo of a delete, or a record never linked, changes nothing", func(t *testing.T) {
		in := linked(g, snap)
		in.Links[0].Deleted = t1
		b := decided(t, chunkEntity(t, "", ""), in, gone("1", t2), gone("5", t2))
		if len(b.Links)+len(b.Entities)+len(b.NewConflicts)+len(b.Intents) != 0 {
			t.Fatalf("batch = %+v", b)
		}
	})
	held := func() *Loaded {
		in := linked(g, snap)
		in.Entities["e1"].Delete = &state.Delete{State: state.DeleteHeld, By: "b", At: t1, After: now.Add(time.Hour), Conflict: 9}
		in.Links[1].Deleted = t1
		in.Conflicts = []state.Recorded{{Conflict: tandem.Conflict{ID: 9, EntityID: "e1", Kind: tandem.ConflictDelete, Status: tandem.ConflictOpen,
			Values: map[string]tandem.SideValue{"b": {RecordID: "2", ModifiedAt: t1}}}}}
		return in
	}
	t.Run("deleted in one more system: the delete's time is the latest", func(t *testing.T) {
		b := decided(t, chunkEntity(t, "", "{policy: quarantine}"), held(), gone("1", t2))
		if len(b.Conflicts) != 1 || b.Conflicts[0].C.ID != 9 || b.Conflicts[0].C.Values["a"].RecordID != "1" {
			t.Fatalf("conflicts = %+v", b.Conflicts)
		}
		if w := entityIn(b, "e1"); w == nil || !w.SetDelete || !w.Delete.At.Equal(t2) || w.Delete.Conflict != 9 {
			t.Fatalf("entity = %+v", w)
		}
	})
	for _, tc := range []struct {
		name string
		in   func() *Loaded
		rec  tandem.Record
	}{
		{"a record edited after the delete cancels it", held, rec("1", t2, map[string]any{"email": "ann@x.com", "name": "Anne"})},
		{"a deleted record that comes back cancels it", func() *Loaded {
			in := held()
			in.Links[0].Deleted, in.Links[1].Deleted = t1, time.Time{}
			in.Entities["e1"].Delete.By = "a"
			return in
		}, rec("1", t1, map[string]any{"email": "ann@x.com", "name": "Ann"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := decided(t, chunkEntity(t, "", "{policy: quarantine}"), tc.in(), tc.rec)
			if len(b.Conflicts) != 1 || b.Conflicts[0].C.Status != tandem.ConflictAuto || b.Conflicts[0].C.Decided != "a" {
				t.Fatalf("conflicts = %+v", b.Conflicts)
			}
			if w := entityIn(b, "e1"); w == nil || !w.SetDelete || w.Delete != nil {
				t.Fatalf("entity = %+v", w)
			}
			if l := linkIn(b, "1"); l == nil || !l.Deleted.IsZero() {
				t.Fatalf("link = %+v", l)
			}
		})
	}
	t.Run("an edit from before the delete leaves it standing", func(t *testing.T) {
		b := decided(t, chunkEntity(t, "", "{policy: quarantine}"), held(), rec("1", t0.Add(time.Second), map[string]any{"email": "ann@x.com", "name": "Anne"}))
		if len(b.Conflicts) != 0 {
			t.Fatalf("conflicts = %+v", b.Conflicts)
		}
		if w := entityIn(b, "e1"); w == nil || w.SetDelete {
			t.Fatalf("entity = %+v", w)
		}
	})
}
