package conflict

import (
	"slices"
	"strings"
	"testing"

	"tandem"
	"tandem/state"
)

// A match key edited onto another entity's, in a system that does not
// keep it unique (issue 11, case 7): held, written nowhere, an open
// identity conflict naming both sides; the other fields go on syncing.
// Before heldKeys, the new email was queued for b, which, keeping no
// email unique, would have taken it: two people under one key.
func TestDecideMatchKeyOntoAnother(t *testing.T) {
	e := chunkEntity(t, "", "")
	ann := map[string]tandem.Field{"email": fld("ann@x.com", t0, "a"), "name": fld("Ann", t0, "a")}
	bob := map[string]tandem.Field{"email": fld("bob@x.com", t0, "a"), "name": fld("Bob", t0, "a")}
	loaded := func(keys map[[2]string][]string) *Loaded {
		return &Loaded{Keys: keys,
			Entities: map[string]*state.EntityRow{"e1": ent(ann), "e2": ent(bob)},
			Links: []*tandem.Link{
				lnk("a", "1", "e1", tandem.Values{"email": "ann@x.com", "name": "Ann"}),
				lnk("b", "9", "e1", tandem.Values{"email": "ann@x.com", "name": "Ann"}),
				lnk("a", "2", "e2", tandem.Values{"email": "bob@x.com", "name": "Bob"}),
				lnk("b", "8", "e2", tandem.Values{"email": "bob@x.com", "name": "Bob"}),
			}}
	}
	t.Run("onto another entity's key: held, conflict, the rest synced", func(t *testing.T) {
		in := loaded(map[[2]string][]string{emailKey("bob@x.com"): {"e2"}})
		b := decided(t, e, in, rec("1", t1, map[string]any{"email": "Bob@x.com", "name": "Ann Lee"}))
		w := entityIn(b, "e1")
		if w == nil || !w.Golden["email"].Held || w.Golden["email"].Value != "ann@x.com" || w.Golden["name"].Value != "Ann Lee" {
			t.Fatalf("golden = %+v: want email held at ann@x.com, name Ann Lee", w)
		}
		if w.Keys["email"] != "ann@x.com" {
			t.Errorf("match keys = %v: the entity keeps its own email", w.Keys)
		}
		cs := newConflicts(b)
		if len(cs) != 1 || cs[0].Kind != tandem.ConflictIdentity || cs[0].Policy != uniquePolicy || cs[0].Field != "email" || cs[0].Status != tandem.ConflictOpen {
			t.Fatalf("conflicts = %+v", cs)
		}
		for _, k := range []string{"a:1", "b:9", "a:2", "b:8"} { // both entities' records in every system
			if _, ok := cs[0].Values[k]; !ok {
				t.Errorf("the conflict does not name %s: %v", k, cs[0].Values)
			}
		}
		for _, r := range []string{"a record 1", "b 9", "a 2", "b 8"} {
			if !strings.Contains(cs[0].Decided, r) {
				t.Errorf("the conflict's text does not name %s: %s", r, cs[0].Decided)
			}
		}
		if got := intents(b); !slices.Equal(got, []string{"e1>b"}) {
			t.Fatalf("intents = %v: want the name written to b", got)
		}
	})
	t.Run("onto a free key: taken, as any edit", func(t *testing.T) {
		in := loaded(map[[2]string][]string{emailKey("ann@y.com"): nil})
		b := decided(t, e, in, rec("1", t1, map[string]any{"email": "ann@y.com", "name": "Ann"}))
		if w := entityIn(b, "e1"); w == nil || w.Golden["email"].Held || w.Golden["email"].Value != "ann@y.com" {
			t.Fatalf("golden = %+v", w)
		}
		if cs := newConflicts(b); len(cs) != 0 {
			t.Errorf("conflicts = %+v", cs)
		}
	})
	t.Run("the owners of an edited key are loaded, or decide says so", func(t *testing.T) {
		if _, err := tryDecide(e, loaded(nil), rec("1", t1, map[string]any{"email": "bob@x.com", "name": "Ann"})); err == nil {
			t.Fatal("decided without the owners of bob@x.com")
		}
	})
}
