package conflict

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/mapping"
	"tandem/mapping/config"
	"tandem/state"
)

// An engine over a fresh state file and an entity mapped to systems a and
// b, driven by staging records directly (no connectors: staging and
// resolving need none).
type bench struct {
	t   *testing.T
	e   *Engine
	cfg *config.Config
	ent *mapping.Entity
	now time.Time
}

func newBench(t *testing.T, match, policy string) *bench {
	t.Helper()
	return benchOf(t, `state: x.db
systems:
  a: {type: hubspot}
  b: {type: salesforce}
entities:
  contact:
    match: `+match+`
    fields: {email: email, name: string, phone: string}
    systems:
      a: {object: A, fields: {email: email, name: name, phone: phone}}
      b: {object: B, fields: {email: email, name: name, phone: phone}}
    conflict: `+policy+`
`)
}

// benchOf is a bench over the first entity of a config (systems a and b,
// objects A and B).
func benchOf(t *testing.T, yaml string) *bench {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &bench{t: t, cfg: cfg, ent: cfg.Entities[0], now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b.e = &Engine{Store: st, Now: func() time.Time { return b.now }}
	return b
}

// stage pulls one record of system sys, as of a second later.
func (b *bench) stage(sys, id string, fields map[string]any) {
	b.t.Helper()
	b.now = b.now.Add(time.Second)
	raw, _ := json.Marshal(fields)
	err := b.e.Store.Update(context.Background(), func(tx *state.Tx) error {
		return b.e.stageAll(context.Background(), tx, b.ent, b.ent.System(sys), []tandem.Record{{ID: id, Raw: raw, Modified: b.now}})
	})
	if err != nil {
		b.t.Fatal(err)
	}
}

func (b *bench) entityOf(sys, id string) string {
	b.t.Helper()
	l, err := b.e.Store.Link(context.Background(), sys, strings.ToUpper(sys), id)
	if err != nil || l == nil {
		b.t.Fatalf("%s %s is not linked (%v)", sys, id, err)
	}
	return l.EntityID
}

func (b *bench) open(kind string) tandem.Conflict {
	b.t.Helper()
	cs, err := b.e.Store.Conflicts(context.Background(), true)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range cs {
		if c.Kind == kind {
			return c
		}
	}
	b.t.Fatalf("no open %s conflict in %+v", kind, cs)
	return tandem.Conflict{}
}

func TestResolveIdentitySplit(t *testing.T) {
	b := newBench(t, "[email]", "{policy: newest}")
	b.stage("a", "1", map[string]any{"email": "ann@x.com", "name": "Ann"})
	b.stage("a", "2", map[string]any{"email": "ANN@x.com", "name": "Annie"}) // same email, same system
	c := b.open(tandem.ConflictIdentity)
	if _, err := b.e.Store.Link(context.Background(), "a", "A", "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.e.Resolve(context.Background(), b.ent, c.ID, Decision{Link: true}); err == nil || !strings.Contains(err.Error(), "already has") {
		t.Errorf("--link onto an entity that has a record in that system: err = %v", err)
	}
	if _, err := b.e.Resolve(context.Background(), b.ent, c.ID, Decision{Split: true}); err != nil {
		t.Fatal(err)
	}
	if b.entityOf("a", "1") == b.entityOf("a", "2") {
		t.Error("--split linked both records to one entity")
	}
	if _, err := b.e.Resolve(context.Background(), b.ent, c.ID, Decision{Split: true}); err == nil {
		t.Error("resolving a resolved conflict again: no error")
	}
	g, _ := b.e.Store.Golden(context.Background(), b.entityOf("a", "2"))
	if g["name"].Value != "Annie" {
		t.Errorf("the split entity's golden record = %v, want the held record's values", g.Values())
	}
}

func TestResolveIdentityLinkStaysLinked(t *testing.T) {
	b := newBench(t, "[email, phone]", "{policy: newest}")
	b.stage("a", "1", map[string]any{"email": "ann@x.com", "phone": "1"})
	b.stage("a", "2", map[string]any{"email": "bob@x.com", "phone": "2"})
	ann, bob := b.entityOf("a", "1"), b.entityOf("a", "2")
	b.stage("b", "9", map[string]any{"email": "ann@x.com", "phone": "2"}) // Ann's email, Bob's phone
	c := b.open(tandem.ConflictIdentity)
	if len(c.Values) != 3 { // the held record and both candidates
		t.Errorf("identity conflict sides = %v, want the record and both candidates", c.Values)
	}
	if _, err := b.e.Resolve(context.Background(), b.ent, c.ID, Decision{Link: true}); err == nil || !strings.Contains(err.Error(), "--to") {
		t.Errorf("--link with two candidates and no --to: err = %v", err)
	}
	if _, err := b.e.Resolve(context.Background(), b.ent, c.ID, Decision{Link: true, To: bob}); err != nil {
		t.Fatal(err)
	}
	if got := b.entityOf("b", "9"); got != bob {
		t.Fatalf("b/9 linked to %s, want Bob's entity %s", got, bob)
	}
	// A later change of the record keeps it where the person linked it,
	// though its email is Ann's. That email is not Bob's to take: it would
	// put two people under one key in a. It is held at Bob's, with an
	// open conflict saying so.
	b.stage("b", "9", map[string]any{"email": "ann@x.com", "phone": "2", "name": "Bob"})
	if got := b.entityOf("b", "9"); got != bob {
		t.Errorf("after an edit b/9 is linked to %s, want %s (Ann is %s)", got, bob, ann)
	}
	cs, _ := b.e.Store.Conflicts(context.Background(), true)
	if len(cs) != 1 || cs[0].Kind != tandem.ConflictIdentity || cs[0].Field != "email" || cs[0].EntityID != bob {
		t.Errorf("open conflicts after resolving: %+v, want Ann's email held on Bob", cs)
	}
	if g, _ := b.e.Store.Golden(context.Background(), bob); g["email"].Value != "bob@x.com" || !g["email"].Held {
		t.Errorf("Bob's email = %+v, want bob@x.com, held", g["email"])
	}
}

func TestResolveField(t *testing.T) {
	b := newBench(t, "[email]", "{policy: newest, fields: {phone: manual}}")
	b.stage("a", "1", map[string]any{"email": "ann@x.com", "phone": "1"})
	b.stage("b", "7", map[string]any{"email": "ann@x.com", "phone": "1"})
	b.stage("a", "1", map[string]any{"email": "ann@x.com", "phone": "2"})
	b.stage("b", "7", map[string]any{"email": "ann@x.com", "phone": "3"})
	c := b.open(tandem.ConflictField)
	id := b.entityOf("a", "1")
	if g, _ := b.e.Store.Golden(context.Background(), id); !g["phone"].Held || g["phone"].Value != "2" {
		t.Fatalf("phone = %+v, want held at the first value", g["phone"])
	}
	// A third value while held joins the same conflict.
	b.stage("b", "7", map[string]any{"email": "ann@x.com", "phone": "4"})
	if again := b.open(tandem.ConflictField); again.ID != c.ID || again.Values["b"].Value != "4" {
		t.Errorf("held conflict after another edit = %+v, want conflict %d with b's newest value", again, c.ID)
	}
	if _, err := b.e.Resolve(context.Background(), b.ent, c.ID, Decision{Take: "nobody"}); err == nil {
		t.Error("--take of a system not in the conflict: no error")
	}
	if _, err := b.e.Resolve(context.Background(), b.ent, c.ID, Decision{Take: "b"}); err != nil {
		t.Fatal(err)
	}
	g, _ := b.e.Store.Golden(context.Background(), id)
	if f := g["phone"]; f.Held || f.Value != "4" || f.Source != "b" {
		t.Errorf("phone after --take b = %+v, want 4 from b, not held", f)
	}
	plan, err := b.e.Planned(context.Background(), b.ent)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 1 || plan[0].System != "a" || plan[0].Field != "phone" || plan[0].To != `"4"` {
		t.Errorf("plan after resolving = %+v, want only a's phone set to 4", plan)
	}
}

// Per-field times from the connector (by payload path) reach the merge
// (by canonical field): a record touched later loses a field set earlier.
func TestFieldTimesDecideNewest(t *testing.T) {
	b := newBench(t, "[email]", "{policy: newest}")
	b.stage("a", "1", map[string]any{"email": "ann@x.com", "phone": "1"})
	b.stage("b", "7", map[string]any{"email": "ann@x.com", "phone": "1"})
	b.stage("b", "7", map[string]any{"email": "ann@x.com", "phone": "2"}) // b's phone, set at b.now
	phoneSetAt := b.now
	b.now = b.now.Add(time.Minute)
	raw, _ := json.Marshal(map[string]any{"email": "ann@x.com", "phone": "3"})
	rec := tandem.Record{ID: "1", Raw: raw, Modified: b.now, // a's record is newer…
		FieldTimes: map[string]time.Time{"phone": phoneSetAt.Add(-time.Second)}} // …but its phone is older
	if side := sideOf(b.ent.System("a"), rec, tandem.Values{"email": "ann@x.com", "phone": "3"}); !side.At("phone").Equal(phoneSetAt.Add(-time.Second)) || !side.At("email").Equal(b.now) {
		t.Fatalf("side times: phone %v, email %v", side.At("phone"), side.At("email"))
	}
	if err := b.e.Store.Update(context.Background(), func(tx *state.Tx) error {
		return b.e.stageAll(context.Background(), tx, b.ent, b.ent.System("a"), []tandem.Record{rec})
	}); err != nil {
		t.Fatal(err)
	}
	g, _ := b.e.Store.Golden(context.Background(), b.entityOf("a", "1"))
	if g["phone"].Value != "2" {
		t.Errorf("phone = %v, want b's 2: a's phone was set before it", g["phone"].Value)
	}
}

// A name b refuses (its column too short) is held for b while the other
// fields land; a person then decides: --take b writes it again (the
// column was widened), --value sets another name everywhere. A decision
// of another shape is refused, and the hold stays open.
func TestResolveHeldWrite(t *testing.T) {
	for _, tc := range []struct {
		name     string
		d        Decision
		err      string // the refusal of a decision of the wrong shape
		decided  string
		wantA    string // a's name, then b's, after the next pass
		wantB    string
		widening bool // b takes the long name once decided
	}{
		{name: "--take b writes it again", d: Decision{Take: "b", Actor: "ops"}, widening: true,
			decided: "write again to b", wantA: "Annabel-Louise", wantB: "Annabel-Louise"},
		{name: "--value sets another name everywhere", d: Decision{Value: "Anna", HasValue: true, Actor: "ops"},
			decided: "value", wantA: "Anna", wantB: "Anna"},
		{name: "--take of a system that did not refuse it", d: Decision{Take: "a"}, err: "refused by b"},
		{name: "--split", d: Decision{Split: true}, err: "--take b (write it again) or --value JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newEchoWorld(t, "{policy: newest}")
			bAnn := w.b.live()[0]
			w.b.refuse = func(wr tandem.Write) error {
				if strings.Contains(string(wr.Payload), "Annabel-Louise") {
					return &tandem.Error{Op: "update", Err: &tandem.UnwritableError{Fields: []tandem.Unwritable{
						{Path: "name", Value: []byte(`"Annabel-Louise"`), Reason: "column name: holds at most 10 characters"}}}}
				}
				return nil
			}
			w.tick()
			w.a.put("1", map[string]any{"name": "Annabel-Louise", "phone": "2"})
			w.sync()
			if got := w.b.get(bAnn); got["name"] != "Ann" || got["phone"] != "2" {
				t.Fatalf("b's record = %v: want the phone written, the name held", got)
			}
			cs := w.conflictsOf(tandem.ConflictValue)
			if len(cs) != 1 || cs[0].Policy != tandem.PolicyWrite || cs[0].Field != "name" || cs[0].Status != tandem.ConflictOpen {
				t.Fatalf("value conflicts = %+v, want b's name held", cs)
			}
			_, err := w.e.Resolve(context.Background(), w.ent, cs[0].ID, tc.d)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if cs := w.conflictsOf(tandem.ConflictValue); cs[0].Status != tandem.ConflictOpen {
					t.Errorf("a refused decision closed the hold: %+v", cs[0])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.widening {
				w.b.refuse = nil
			}
			w.sync()
			if a, b := w.a.get("1")["name"], w.b.get(bAnn)["name"]; a != tc.wantA || b != tc.wantB {
				t.Errorf("names: a %v, b %v; want %s, %s", a, b, tc.wantA, tc.wantB)
			}
			c := w.conflictsOf(tandem.ConflictValue)[0]
			if c.Status != tandem.ConflictResolved || c.Decided != tc.decided {
				t.Errorf("the hold = %s %q, want resolved %q", c.Status, c.Decided, tc.decided)
			}
			if a := w.lastAudit(); a.Actor != "ops" || a.Action != "resolve" || !strings.HasPrefix(a.Detail, tc.d.String(w.ent, "name")+": ") {
				t.Errorf("audit = %+v", a)
			}
		})
	}
}

// A decision as tandem resolve's flags say it (the audit trail's
// detail), a sensitive field's value masked.
func TestDecisionString(t *testing.T) {
	ent := maskConfig(t).Entities[0] // contact: name and phone sensitive
	for _, tc := range []struct {
		d     Decision
		field string
		want  string
	}{
		{Decision{Take: "b"}, "phone", "--take b"},
		{Decision{Value: "555", HasValue: true}, "phone", `--value "` + mapping.Masked + `"`},
		{Decision{Value: "ann@y.com", HasValue: true}, "email", `--value "ann@y.com"`},
		{Decision{Value: nil, HasValue: true}, "", "--value null"},
		{Decision{Link: true, To: "e7"}, "", "--link --to e7"},
		{Decision{Link: true}, "", "--link"},
		{Decision{Split: true}, "", "--split"},
		{Decision{}, "", ""},
	} {
		if got := tc.d.String(ent, tc.field); got != tc.want {
			t.Errorf("%+v on %q = %q, want %q", tc.d, tc.field, got, tc.want)
		}
	}
}
