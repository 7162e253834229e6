package conflict

import (
	"slices"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/state"
)

// linked is a load where a's record 1 and b's record 2 are entity e1's,
// with the golden record g: a last agreed on snap, b shows g.
func linked(g map[string]tandem.Field, snap tandem.Values) *Loaded {
	return &Loaded{Entities: map[string]*state.EntityRow{"e1": ent(g)},
		Links: []*tandem.Link{lnk("a", "1", "e1", snap), lnk("b", "2", "e1", tandem.Golden(g).Values())}}
}

// TestDecidePolicies: a's record 1 edited at t2 ("Ann A"), the golden
// name moved by b at golden's time (to "Ann B"); the snapshot of a says
// "Ann".
func TestDecidePolicies(t *testing.T) {
	snap := tandem.Values{"email": "ann@x.com", "name": "Ann"}
	edit := map[string]any{"email": "ann@x.com", "name": "Ann A"}
	for _, tc := range []struct {
		name, policy string
		golden       tandem.Field
		record       time.Time     // a's record's modified time
		precision    time.Duration // of a's stamps
		want         any           // the golden name after
		status       string        // the conflict's
		decided      string
	}{
		{"newest: a is later", "{policy: newest}", fld("Ann B", t1, "b"), t2, 0, "Ann A", tandem.ConflictAuto, "a"},
		{"newest: b is later", "{policy: newest}", fld("Ann B", t2, "b"), t1, 0, "Ann B", tandem.ConflictAuto, "b"},
		{"newest: an exact tie keeps the golden value", "{policy: newest}", fld("Ann B", t1, "b"), t1, 0, "Ann B", tandem.ConflictAuto, "b"},
		{"newest: a whole-second stamp within b's second is ordered by the middles", "{policy: newest}",
			fld("Ann B", t1.Add(300*time.Millisecond), "b"), t1, time.Second, "Ann A", tandem.ConflictAuto, "a"},
		{"newest: …and one before b's edit in that second loses", "{policy: newest}",
			fld("Ann B", t1.Add(800*time.Millisecond), "b"), t1, time.Second, "Ann B", tandem.ConflictAuto, "b"},
		{"newest within clock_tolerance: held", "{policy: newest, clock_tolerance: 2m}", fld("Ann B", t1, "b"), t2, 0, "Ann B", tandem.ConflictOpen, "held: edits 1m0s apart, within clock_tolerance 2m0s"},
		{"prefer b: b wins though older", "{policy: \"prefer:b\"}", fld("Ann B", t0, "b"), t2, 0, "Ann B", tandem.ConflictAuto, "b"},
		{"prefer a", "{policy: \"prefer:a,b\"}", fld("Ann B", t2, "b"), t1, 0, "Ann A", tandem.ConflictAuto, "a"},
		{"a field's own policy", "{policy: newest, fields: {name: manual}}", fld("Ann B", t1, "b"), t2, 0, "Ann B", tandem.ConflictOpen, "held: manual policy"},
		{"manual: held", "{policy: manual}", fld("Ann B", t1, "b"), t2, 0, "Ann B", tandem.ConflictOpen, "held: manual policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := chunkEntity(t, tc.policy, "")
			in := linked(map[string]tandem.Field{"email": fld("ann@x.com", t0, "a"), "name": tc.golden}, snap)
			r := rec("1", tc.record, edit)
			r.Precision = tc.precision
			b := decided(t, e, in, r)
			cs := newConflicts(b)
			if len(cs) != 1 || cs[0].Status != tc.status || cs[0].Decided != tc.decided || cs[0].Pass != "p1" || cs[0].Base != "Ann" {
				t.Fatalf("conflicts = %+v", cs)
			}
			if cs[0].Values["b"].RecordID != "2" || cs[0].Values["a"].RecordID != "1" {
				t.Errorf("the conflict does not name both records: %+v", cs[0].Values)
			}
			g := in.Entities["e1"].Golden // unchanged unless written
			if w := entityIn(b, "e1"); w != nil {
				g = w.Golden
			}
			if g["name"].Value != tc.want || g["name"].Held != (tc.status == tandem.ConflictOpen) {
				t.Fatalf("golden = %+v", g)
			}
			if l := linkIn(b, "1"); l == nil || l.Snapshot["name"] != "Ann A" {
				t.Errorf("a's snapshot = %+v", l)
			}
			var want []string
			if tc.status != tandem.ConflictOpen {
				// the winner's value is written where it is not
				if tc.want == "Ann A" {
					want = []string{"e1>b"}
				} else {
					want = []string{"e1>a"}
				}
			}
			if got := intents(b); !slices.Equal(got, want) {
				t.Errorf("intents = %v, want %v", got, want)
			}
		})
	}
}

func TestDecideEdits(t *testing.T) {
	snap := tandem.Values{"email": "ann@x.com", "name": "Ann", "n": 1.0}
	g := map[string]tandem.Field{"email": fld("ann@x.com", t0, "a"), "name": fld("Ann", t0, "a"), "n": fld(1.0, t0, "a")}
	t.Run("an edit on one side only is taken and written to the other", func(t *testing.T) {
		b := decided(t, chunkEntity(t, "", ""), linked(g, snap), rec("1", t1, map[string]any{"email": "ann@x.com", "name": "Anne", "n": 1}))
		if w := entityIn(b, "e1"); w == nil || w.Golden["name"].Value != "Anne" || w.Golden["name"].Source != "a" || len(b.NewConflicts) != 0 {
			t.Fatalf("batch = %+v", b)
		}
		if got := intents(b); !slices.Equal(got, []string{"e1>b"}) {
			t.Errorf("intents = %v", got)
		}
	})
	t.Run("a record read again unchanged writes nothing", func(t *testing.T) {
		in := linked(g, snap)
		r := rec("1", t0, map[string]any{"email": "ann@x.com", "name": "Ann", "n": 1})
		in.Links[0].Raw = r.Raw
		b := decided(t, chunkEntity(t, "", ""), in, r)
		if len(b.Links)+len(b.Entities)+len(b.Intents)+len(b.NewConflicts) != 0 {
			t.Fatalf("batch = %+v", b)
		}
	})
	t.Run("a payload moved in an unmapped field keeps the payload only", func(t *testing.T) {
		b := decided(t, chunkEntity(t, "", ""), linked(g, snap), rec("1", t1, map[string]any{"email": "ann@x.com", "name": "Ann", "n": 1, "other": 2}))
		if len(b.Links) != 1 || !strings.Contains(string(b.Links[0].Raw), "other") || len(b.Entities)+len(b.Intents) != 0 {
			t.Fatalf("batch = %+v", b)
		}
	})
	t.Run("emptied with empty_never_overwrites: the golden value stays and is written back", func(t *testing.T) {
		e := chunkEntity(t, "", "")
		e.Policy.EmptyNeverOverwrites = true
		b := decided(t, e, linked(g, snap),
			rec("1", t1, map[string]any{"email": "ann@x.com", "name": nil, "n": 1}))
		if w := entityIn(b, "e1"); w != nil && w.Golden["name"].Value != "Ann" {
			t.Fatalf("golden = %+v", w)
		}
		if got := intents(b); !slices.Equal(got, []string{"e1>a"}) {
			t.Errorf("intents = %v", got)
		}
	})
	t.Run("a held field changed again joins its open conflict", func(t *testing.T) {
		held := map[string]tandem.Field{"email": g["email"], "name": {Value: "Ann", Modified: t0, Source: "b", Held: true}, "n": g["n"]}
		in := linked(held, snap)
		in.Conflicts = []state.Recorded{{Conflict: tandem.Conflict{ID: 4, EntityID: "e1", Kind: tandem.ConflictField, Field: "name", Status: tandem.ConflictOpen,
			Values: map[string]tandem.SideValue{"b": {Value: "Ann B"}}}}}
		b := decided(t, chunkEntity(t, "", ""), in, rec("1", t1, map[string]any{"email": "ann@x.com", "name": "Ann A", "n": 1}))
		if len(b.NewConflicts) != 0 || len(b.Conflicts) != 1 || b.Conflicts[0].C.Values["a"].Value != "Ann A" || b.Conflicts[0].C.Status != tandem.ConflictOpen {
			t.Fatalf("conflicts: new %+v, updated %+v", b.NewConflicts, b.Conflicts[0].C)
		}
		if len(b.Intents) != 0 {
			t.Errorf("a held field was queued: %v", intents(b))
		}
	})
	t.Run("one conflict per field and pass: a second side's joins the first", func(t *testing.T) {
		in := linked(map[string]tandem.Field{"email": g["email"], "name": fld("Ann B", t1, "b"), "n": g["n"]}, snap)
		in.Conflicts = []state.Recorded{{Conflict: tandem.Conflict{ID: 5, EntityID: "e1", Kind: tandem.ConflictField, Field: "name", Status: tandem.ConflictAuto,
			Pass: "p1", Decided: "b", Values: map[string]tandem.SideValue{"b": {Value: "Ann B"}}}}}
		b := decided(t, chunkEntity(t, "{policy: manual}", ""), in, rec("1", t2, map[string]any{"email": "ann@x.com", "name": "Ann A", "n": 1}))
		if len(b.NewConflicts) != 0 || len(b.Conflicts) != 1 || b.Conflicts[0].C.Status != tandem.ConflictOpen || b.Conflicts[0].C.Policy != "manual" {
			t.Fatalf("conflicts: new %+v, updated %+v", b.NewConflicts, b.Conflicts)
		}
	})
}

func TestDecideEcho(t *testing.T) {
	snap := tandem.Values{"email": "ann@x.com", "name": "Ann"}
	g := map[string]tandem.Field{"email": fld("ann@x.com", t0, "b"), "name": fld("Anne", t1, "b")}
	t.Run("a write in flight read back is Tandem's echo: the snapshot moves, nothing is merged", func(t *testing.T) {
		in := linked(g, snap)
		in.InFlight = map[string]state.InFlight{"e1": {"name": {"Anne"}}}
		b := decided(t, chunkEntity(t, "", ""), in, rec("1", t2, map[string]any{"email": "ann@x.com", "name": "Anne"}))
		if l := linkIn(b, "1"); l == nil || l.Snapshot["name"] != "Anne" {
			t.Fatalf("link = %+v", l)
		}
		if len(b.Entities)+len(b.Intents)+len(b.NewConflicts) != 0 {
			t.Fatalf("the echo was merged: %+v", b)
		}
	})
	t.Run("an edit beside the echo is merged, the echo not", func(t *testing.T) {
		in := linked(g, snap)
		in.InFlight = map[string]state.InFlight{"e1": {"name": {"Anne"}}}
		in.Keys = map[[2]string][]string{emailKey("ann2@x.com"): nil} // no one holds the new email
		b := decided(t, chunkEntity(t, "", ""), in, rec("1", t2, map[string]any{"email": "ann2@x.com", "name": "Anne"}))
		w := entityIn(b, "e1")
		if w == nil || w.Golden["email"].Value != "ann2@x.com" || w.Golden["name"].Source != "b" || len(b.NewConflicts) != 0 {
			t.Fatalf("golden = %+v, conflicts %+v", w, newConflicts(b))
		}
	})
	t.Run("a value not in flight is an edit, met as a conflict", func(t *testing.T) {
		in := linked(g, snap)
		in.InFlight = map[string]state.InFlight{"e1": {"name": {"Anne"}}}
		b := decided(t, chunkEntity(t, "", ""), in, rec("1", t2, map[string]any{"email": "ann@x.com", "name": "Annie"}))
		if cs := newConflicts(b); len(cs) != 1 || cs[0].Decided != "a" {
			t.Fatalf("conflicts = %+v", cs)
		}
	})
}

func TestDecideLossyReadBack(t *testing.T) {
	// b reads names lower-cased: what Tandem wrote ("Ann") reads back "ann".
	e := chunkEntityNamed(t, "", "", "{path: name, transform: lower}")
	g := map[string]tandem.Field{"email": fld("ann@x.com", t0, "b"), "name": fld("Ann", t0, "b")}
	in := &Loaded{Entities: map[string]*state.EntityRow{"e1": ent(g)},
		Links: []*tandem.Link{lnk("a", "1", "e1", tandem.Values{"email": "ann@x.com", "name": "ann"})}}
	b := decided(t, e, in, rec("1", t1, map[string]any{"email": "ann@x.com", "name": "ann"}))
	if len(b.Entities)+len(b.Intents)+len(b.NewConflicts) != 0 {
		t.Fatalf("the read-back of a lossy write was taken for an edit: %+v", b)
	}
	// An edit there is taken whole, with no conflict: the snapshot is the
	// golden value as a reads it.
	b = decided(t, e, in, rec("1", t1, map[string]any{"email": "ann@x.com", "name": "bob"}))
	if w := entityIn(b, "e1"); w == nil || w.Golden["name"].Value != "bob" || len(b.NewConflicts) != 0 {
		t.Fatalf("golden = %+v, conflicts %+v", w, newConflicts(b))
	}
}

func TestDecideValues(t *testing.T) {
	e := chunkEntity(t, "", "")
	snap := tandem.Values{"email": "ann@x.com", "name": "Ann", "n": 1.0}
	g := map[string]tandem.Field{"email": fld("ann@x.com", t0, "a"), "name": fld("Ann", t0, "a"), "n": fld(1.0, t0, "a")}
	t.Run("a value that cannot be read holds that field; the others merge", func(t *testing.T) {
		b := decided(t, e, linked(g, snap), rec("1", t1, map[string]any{"email": "ann@x.com", "name": "Anne", "n": "many"}))
		cs := b.NewConflicts
		if len(cs) != 1 || cs[0].C.Kind != tandem.ConflictValue || cs[0].C.Field != "n" || cs[0].Held == nil || cs[0].Held.ExternalID != "1" {
			t.Fatalf("conflicts = %+v", cs)
		}
		if w := entityIn(b, "e1"); w == nil || w.Golden["name"].Value != "Anne" || w.Golden["n"].Value != 1.0 {
			t.Fatalf("golden = %+v", w)
		}
	})
	open := state.Recorded{Conflict: tandem.Conflict{ID: 3, EntityID: "e1", Kind: tandem.ConflictValue, Field: "n", Status: tandem.ConflictOpen,
		Decided: "held: a A 1: n cannot be read (x); fix it in a", Values: map[string]tandem.SideValue{"a": {Value: "many"}}}, Record: state.Pending{System: "a", Object: "A", ExternalID: "1"}}
	t.Run("read readable again: the conflict is closed and the value merged", func(t *testing.T) {
		in := linked(g, snap)
		in.Conflicts = []state.Recorded{open}
		b := decided(t, e, in, rec("1", t1, map[string]any{"email": "ann@x.com", "name": "Ann", "n": 2}))
		if len(b.Conflicts) != 1 || b.Conflicts[0].C.Status != tandem.ConflictResolved {
			t.Fatalf("conflicts = %+v", b.Conflicts)
		}
		if w := entityIn(b, "e1"); w == nil || w.Golden["n"].Value != 2.0 {
			t.Fatalf("golden = %+v", w)
		}
	})
	t.Run("unreadable to something else: the conflict says so", func(t *testing.T) {
		in := linked(g, snap)
		in.Conflicts = []state.Recorded{open}
		b := decided(t, e, in, rec("1", t1, map[string]any{"email": "ann@x.com", "name": "Ann", "n": "lots"}))
		if len(b.NewConflicts) != 0 || len(b.Conflicts) != 1 || b.Conflicts[0].C.Values["a"].Value != "lots" {
			t.Fatalf("batch = %+v", b)
		}
	})
	t.Run("a new record with an unreadable value is linked, that field held", func(t *testing.T) {
		in := &Loaded{Keys: map[[2]string][]string{emailKey("bob@x.com"): nil}}
		b := decided(t, e, in, rec("7", t1, map[string]any{"email": "bob@x.com", "n": "many"}))
		if linkIn(b, "7") == nil || len(b.NewConflicts) != 1 || b.NewConflicts[0].C.EntityID != "new1" {
			t.Fatalf("batch = %+v", b)
		}
	})
}
