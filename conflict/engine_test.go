package conflict

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"tandem"
	"tandem/connectors"
	"tandem/state"
)

// Engine paths beside a pass: sweeps, backfills, replays, unique values
// refused, deletes decided by a person. Each runs over the in-memory
// systems of echoWorld (Ann linked in a and b).

func (w *echoWorld) conflictsOf(kind string) []tandem.Conflict {
	w.t.Helper()
	all, err := w.e.Store.Conflicts(context.Background(), false)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []tandem.Conflict
	for _, c := range all {
		if c.Kind == kind {
			out = append(out, c)
		}
	}
	return out
}

func (w *echoWorld) resolve(id int64, d Decision) {
	w.t.Helper()
	if _, err := w.e.Resolve(context.Background(), w.ent, id, d); err != nil {
		w.t.Fatal(err)
	}
}

// A sweep finds what the incremental pulls missed: an edit stamped before
// the cursor, and a linked record gone without a trace; Drain pushes what
// follows.
func TestReconcile(t *testing.T) {
	w := newEchoWorld(t, "{policy: newest}")
	w.tick()
	w.a.put("2", map[string]any{"email": "carl@x.com", "name": "Carl"})
	w.sync()
	bAnn := w.b.live()[0]
	back := w.now
	w.now = w.now.Add(-time.Hour) // stamped before every cursor: no pull sees it
	w.b.put(bAnn, map[string]any{"name": "Annie"})
	w.now = back
	w.tick()
	w.a.remove("2", true)
	runs, err := w.e.Reconcile(context.Background(), w.ent)
	if err != nil {
		t.Fatal(err)
	}
	drift := 0
	for _, r := range runs {
		drift += r.Drift
	}
	if drift != 2 {
		t.Errorf("drift = %d, want 2 (b's edit, a's record gone): %+v", drift, runs)
	}
	if _, err := w.e.Drain(context.Background(), w.ent, state.RunReconcile); err != nil {
		t.Fatal(err)
	}
	if got := w.a.get("1")["name"]; got != "Annie" {
		t.Errorf("a's name = %v, want b's edit Annie", got)
	}
	if cs := w.conflictsOf(tandem.ConflictDelete); len(cs) != 1 || cs[0].Status != tandem.ConflictOpen {
		t.Errorf("delete conflicts = %+v, want Carl's held", cs)
	}
	// A second sweep finds nothing new.
	runs, err = w.e.Reconcile(context.Background(), w.ent)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Drift != 0 {
			t.Errorf("second sweep: %+v", r)
		}
	}
}

// A backfill reads a system whole, with its own cursor, through the same
// staging as a pass.
func TestBackfill(t *testing.T) {
	w := newEchoWorld(t, "{policy: newest}")
	w.tick()
	w.a.put("2", map[string]any{"email": "bob@x.com", "name": "Bob"})
	ctx := context.Background()
	b, err := w.e.Store.RequestBackfill(ctx, "contact", "a", "A", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	pages := 0
	r, err := w.e.Backfill(ctx, w.ent, b, func(state.Backfill) { pages++ })
	if err != nil || r.Pulled != 2 || pages != 1 {
		t.Fatalf("backfill: %+v, %d pages, %v", r, pages, err)
	}
	if _, err := w.e.Drain(ctx, w.ent, state.RunBackfill); err != nil {
		t.Fatal(err)
	}
	if got := len(w.b.live()); got != 2 {
		t.Errorf("b holds %d records, want Ann and Bob", got)
	}
	if _, err := w.e.Backfill(ctx, w.ent, &state.Backfill{System: "c", Object: "C"}, nil); err == nil {
		t.Error("a backfill of a system not mapped ran")
	}
}

// Pull stages without writing; a pass with Overlap writes while it reads.
func TestPullThenOverlappedSync(t *testing.T) {
	w := newEchoWorld(t, "{policy: newest}")
	w.tick()
	w.a.put("2", map[string]any{"email": "bob@x.com", "name": "Bob"})
	if err := w.e.Pull(context.Background(), w.ent); err != nil {
		t.Fatal(err)
	}
	if got := len(w.b.live()); got != 1 {
		t.Fatalf("Pull wrote to b: %d records", got)
	}
	w.e.Overlap = true
	w.sync()
	if got := len(w.b.live()); got != 2 {
		t.Errorf("b holds %d records after the pass, want 2", got)
	}
}

// Replay re-maps the stored payloads: nothing changes with the mapping
// that stored them; a payload that reads otherwise now is a change.
func TestReplay(t *testing.T) {
	w := newEchoWorld(t, "{policy: newest}")
	ctx := context.Background()
	if ch, err := Replay(ctx, w.e.Store, w.ent); err != nil || len(ch) != 0 {
		t.Fatalf("replay = %+v, %v; want nothing", ch, err)
	}
	l, err := w.e.Store.Link(ctx, "a", "A", "1")
	if err != nil || l == nil {
		t.Fatal(l, err)
	}
	l.Raw = []byte(`{"email":"ann@x.com","name":"Ann Lee","phone":"1"}`)
	if err := w.e.Store.Update(ctx, func(tx *state.Tx) error { return tx.PutLink(ctx, l) }); err != nil {
		t.Fatal(err)
	}
	ch, err := Replay(ctx, w.e.Store, w.ent)
	if err != nil {
		t.Fatal(err)
	}
	var golden, toB bool
	for _, c := range ch {
		golden = golden || c.System == "" && c.Field == "name" && c.To == `"Ann Lee"`
		toB = toB || c.System == "b" && c.To == `"Ann Lee"`
	}
	if !golden || !toB {
		t.Errorf("replay = %+v, want the name changed in the golden record and written to b", ch)
	}
}

// A quarantined delete decided by a person: kept (the record is created
// again where it was deleted), or propagated; one left alone is
// propagated once its hold is over.
func TestDeletesDecided(t *testing.T) {
	for _, keep := range []bool{true, false} {
		w := newEchoWorld(t, "{policy: newest}")
		w.e.Force = true // one record of one: past the mass-delete guard
		w.tick()
		w.a.remove("1", false)
		w.sync()
		cs := w.conflictsOf(tandem.ConflictDelete)
		if len(cs) != 1 || cs[0].Status != tandem.ConflictOpen {
			t.Fatalf("delete conflicts = %+v", cs)
		}
		take := "a"
		if keep {
			take = "b"
		}
		w.resolve(cs[0].ID, Decision{Take: take})
		w.sync()
		inA, inB := len(w.a.live()), len(w.b.live())
		if keep && (inA != 1 || inB != 1) || !keep && (inA != 0 || inB != 0) {
			t.Errorf("take %s: a holds %d, b %d", take, inA, inB)
		}
	}
	w := newEchoWorld(t, "{policy: newest}")
	w.e.Force = true
	w.tick()
	w.a.remove("1", false)
	w.sync()
	w.now = w.now.Add(25 * time.Hour)
	w.sync()
	if got := len(w.b.live()); got != 0 {
		t.Errorf("b holds %d records after the hold, want the delete propagated", got)
	}
	if cs := w.conflictsOf(tandem.ConflictDelete); len(cs) != 1 || cs[0].Status != tandem.ConflictAuto {
		t.Errorf("delete conflicts = %+v", cs)
	}
}

// uniqueSys is a memSystem that keeps email unique, as HubSpot does: a
// write giving a record an email another live record holds is refused,
// naming that record.
type uniqueSys struct{ *memSystem }

func (u uniqueSys) Apply(ctx context.Context, o string, ws []tandem.Write) ([]tandem.Result, error) {
	var pass []tandem.Write
	var at []int
	res := make([]tandem.Result, len(ws))
	for i, wr := range ws {
		var f map[string]any
		json.Unmarshal(wr.Payload, &f)
		if email, ok := f["email"]; ok && wr.Op != tandem.OpDelete {
			if holder := u.holder(email, wr.ID); holder != "" {
				res[i].Err = &tandem.ExistsError{RecordID: holder, Path: "email"}
				continue
			}
		}
		pass, at = append(pass, wr), append(at, i)
	}
	out, err := u.memSystem.Apply(ctx, o, pass)
	for k, r := range out {
		res[at[k]] = r
	}
	return res, err
}

func (u uniqueSys) holder(email any, except string) string {
	for _, id := range u.live() {
		if id != except && u.get(id)["email"] == email {
			return id
		}
	}
	return ""
}

// A create meeting a record a person made meanwhile adopts it: linked
// with no base and merged, never overwritten unasked.
func TestCreateMeetsRecordMadeMeanwhile(t *testing.T) {
	w := newEchoWorld(t, "{policy: newest}")
	w.e.Systems["b"] = uniqueSys{w.b}
	w.tick()
	w.a.put("2", map[string]any{"email": "bob@x.com", "name": "Bob", "phone": "5"})
	w.duringPush(func() { w.b.put("p1", map[string]any{"email": "bob@x.com", "name": "Robert"}) })
	w.sync()
	w.sync()
	l, err := w.e.Store.Link(context.Background(), "b", "B", "p1")
	if err != nil || l == nil {
		t.Fatalf("the record made meanwhile is not linked: %v", err)
	}
	if got := len(w.b.live()); got != 2 {
		t.Errorf("b holds %d records, want Ann and the person's Bob", got)
	}
	if got := w.b.get("p1")["phone"]; got != "5" {
		t.Errorf("the adopted record's phone = %v, want a's 5 (it had none)", got)
	}
}

// An email edited onto another person's: b refuses it, the field is held
// as an identity conflict while the other fields sync; decided by a
// person, it is written.
func TestMatchKeyOntoAnotherPersons(t *testing.T) {
	w := newEchoWorld(t, "{policy: newest}")
	w.e.Systems["b"] = uniqueSys{w.b}
	w.tick()
	w.a.put("2", map[string]any{"email": "bob@x.com", "name": "Bob"})
	w.sync()
	w.tick()
	w.a.put("1", map[string]any{"email": "bob@x.com", "name": "Annie"})
	w.sync()
	cs := w.conflictsOf(tandem.ConflictIdentity)
	if len(cs) != 1 || cs[0].Policy != uniquePolicy || cs[0].Field != "email" || cs[0].Status != tandem.ConflictOpen {
		t.Fatalf("identity conflicts = %+v", cs)
	}
	w.sync()
	var annB string
	for _, id := range w.b.live() {
		if w.b.get(id)["name"] == "Annie" {
			annB = id
		}
	}
	if annB == "" || w.b.get(annB)["email"] != "ann@x.com" {
		t.Fatalf("b's Ann: %v, want the name synced and her email kept", w.b.get(annB))
	}
	w.resolve(cs[0].ID, Decision{Value: "ann2@x.com", HasValue: true})
	w.sync()
	if got := w.b.get(annB)["email"]; got != "ann2@x.com" {
		t.Errorf("b's Ann's email = %v, want the decided ann2@x.com", got)
	}
	if cs := w.conflictsOf(tandem.ConflictIdentity); cs[0].Status == tandem.ConflictOpen {
		t.Errorf("the identity conflict is still open: %+v", cs[0])
	}
}

// healthy is a memSystem whose client reports its health, as an HTTP
// connector's does.
type healthy struct {
	*memSystem
	h connectors.Health
}

func (h healthy) Health() connectors.Health { return h.h }

// A pass keeps, for tandem status, how each system's client did: b's
// breaker open after its failures; a, which tells nothing, has none.
func TestPassRecordsHealth(t *testing.T) {
	w := newEchoWorld(t, "{policy: newest}")
	w.e.Systems["b"] = healthy{w.b, connectors.Health{Breaker: "open", Failures: 3, RateSource: "config", Rate: 10}}
	w.sync()
	ctx := context.Background()
	st, err := w.e.Store.Status(ctx, "b", "B")
	if err != nil {
		t.Fatal(err)
	}
	var h connectors.Health
	if err := json.Unmarshal(st.Health, &h); err != nil || h.Breaker != "open" || h.Failures != 3 || h.Rate != 10 {
		t.Errorf("b's health = %s (%v), want the breaker open after 3 failures", st.Health, err)
	}
	if st, err := w.e.Store.Status(ctx, "a", "A"); err != nil || st.Health != nil {
		t.Errorf("a's health = %s, %v; want none", st.Health, err)
	}
}

// A sweep passes over a record whose unreadable value stands as held, and
// stages one whose held value moved: another unreadable value (the hold
// follows it) or a readable one (the hold closes, the value syncs). The
// edits are stamped before the cursor, so only the sweep sees them.
func TestSweepOfHeldValues(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stage   any // b's Stage edited to this; nil: left alone
		drift   int
		held    any // the open hold's value; nil: closed
		aStage  any
		decided string
	}{
		{name: "unchanged: not staged", drift: 0, held: "Weird"},
		{name: "another unreadable value: the hold follows", stage: "Odd", drift: 1, held: "Odd"},
		{name: "readable again: the hold closes", stage: "Lead", drift: 1, aStage: "lead", decided: `fixed in b: reads as "lead"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := echoWorldOf(t, benchOf(t, stageConfig("{Lead: lead}")))
			bAnn := w.b.live()[0]
			w.tick()
			w.b.put(bAnn, map[string]any{"Stage": "Weird"})
			w.sync()
			if cs := w.conflictsOf(tandem.ConflictValue); len(cs) != 1 || cs[0].Policy != "mapping" || cs[0].Values["b"].Value != "Weird" {
				t.Fatalf("value conflicts = %+v, want b's stage Weird held", cs)
			}
			if tc.stage != nil {
				back := w.now
				w.now = w.now.Add(-time.Hour)
				w.b.put(bAnn, map[string]any{"Stage": tc.stage})
				w.now = back
			}
			runs, err := w.e.Reconcile(context.Background(), w.ent)
			if err != nil {
				t.Fatal(err)
			}
			drift := 0
			for _, r := range runs {
				drift += r.Drift
			}
			if drift != tc.drift {
				t.Errorf("drift = %d, want %d", drift, tc.drift)
			}
			if _, err := w.e.Drain(context.Background(), w.ent, state.RunReconcile); err != nil {
				t.Fatal(err)
			}
			c := w.conflictsOf(tandem.ConflictValue)[0]
			switch {
			case tc.held != nil && (c.Status != tandem.ConflictOpen || c.Values["b"].Value != tc.held):
				t.Errorf("the hold = %s %v, want open on %v", c.Status, c.Values["b"].Value, tc.held)
			case tc.held == nil && (c.Status != tandem.ConflictResolved || c.Decided != tc.decided):
				t.Errorf("the hold = %s %q, want resolved %q", c.Status, c.Decided, tc.decided)
			}
			if got := w.a.get("1")["stage"]; got != tc.aStage {
				t.Errorf("a's stage = %v, want %v", got, tc.aStage)
			}
		})
	}
}
