package conflict

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors"
)

// A unique value a system refuses, at the write: the record holding it
// was made or edited while the write was in flight, so no pull had seen
// it (exists.go: clash). Each runs over echoWorld with b keeping email
// unique (uniqueSys).

// pathless is a uniqueSys that does not say which value it refused, as
// some APIs answer a duplicate with the record only.
type pathless struct{ uniqueSys }

func (p pathless) Apply(ctx context.Context, o string, ws []tandem.Write) ([]tandem.Result, error) {
	res, err := p.uniqueSys.Apply(ctx, o, ws)
	for i := range res {
		var x *tandem.ExistsError
		if errors.As(res[i].Err, &x) {
			res[i].Err = &tandem.ExistsError{RecordID: x.RecordID}
		}
	}
	return res, err
}

// An email edited in a onto one a person gave a new record of b meanwhile
// (not linked to any entity): b refuses the update; the email is held, an
// open identity conflict names both of b's records, and the name edited
// with it lands. Whether b names the refused path or not, the match key
// is taken for the clash.
func TestUpdateClashesWithRecordMadeMeanwhile(t *testing.T) {
	for _, tc := range []struct {
		name string
		sys  func(*memSystem) connectors.Connector
	}{
		{"b names the path", func(m *memSystem) connectors.Connector { return uniqueSys{m} }},
		{"b names no path", func(m *memSystem) connectors.Connector { return pathless{uniqueSys{m}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newEchoWorld(t, "{policy: newest}")
			w.e.Systems["b"] = tc.sys(w.b)
			bAnn := w.b.live()[0]
			w.tick()
			w.a.put("1", map[string]any{"email": "carl@x.com", "name": "Annie"})
			w.duringPush(func() { w.b.put("p1", map[string]any{"email": "carl@x.com", "name": "Carl"}) })
			w.sync()
			cs := w.conflictsOf(tandem.ConflictIdentity)
			if len(cs) != 1 {
				t.Fatalf("identity conflicts = %+v, want one", cs)
			}
			c := cs[0]
			if c.Policy != uniquePolicy || c.Field != "email" || c.Status != tandem.ConflictOpen {
				t.Errorf("conflict = %+v, want email held open", c)
			}
			if _, ok := c.Values["b:p1"]; !ok {
				t.Errorf("the conflict does not name the holder b:p1: %v", c.Values)
			}
			if v := c.Values["b:"+bAnn]; v.RecordID != bAnn || v.Value.(map[string]any)["email"] != "carl@x.com" {
				t.Errorf("the conflict's own side = %+v, want the email sent to %s", v, bAnn)
			}
			if !strings.Contains(c.Decided, "email=carl@x.com") || !strings.Contains(c.Decided, "not linked to any entity") {
				t.Errorf("decided = %q", c.Decided)
			}
			g, err := w.e.Store.Golden(context.Background(), w.entityOf("a", "1"))
			if err != nil || !g["email"].Held {
				t.Errorf("golden email = %+v, %v; want held", g["email"], err)
			}
			if w.b.get("p1")["email"] != "carl@x.com" {
				t.Errorf("b's p1 = %v: the person's record was changed", w.b.get("p1"))
			}
			w.sync()
			if got := w.b.get(bAnn); got["name"] != "Annie" || got["email"] != "ann@x.com" {
				t.Errorf("b's Ann = %v, want the name synced and the email kept", got)
			}
		})
	}
}

// A create whose email another entity's record of b took meanwhile (a
// person typed Bob's email into Ann's record in b, then changed it back):
// b refuses it, an open identity conflict says Bob is not created in b,
// and nothing is created. Once the email is free and Bob changes, he is
// created, and the conflict closes itself.
func TestCreateClashesWithAnotherEntitysRecord(t *testing.T) {
	w := newEchoWorld(t, "{policy: newest}")
	w.e.Systems["b"] = uniqueSys{w.b}
	bAnn := w.b.live()[0]
	w.tick()
	w.a.put("2", map[string]any{"email": "bob@x.com", "name": "Bob"})
	w.duringPush(func() { w.b.put(bAnn, map[string]any{"email": "bob@x.com"}) })
	w.sync()
	cs := w.conflictsOf(tandem.ConflictIdentity)
	if len(cs) != 1 {
		t.Fatalf("identity conflicts = %+v, want one", cs)
	}
	c := cs[0]
	ann := w.entityOf("a", "1")
	if c.EntityID != w.entityOf("a", "2") || c.Field != "" || c.Policy != uniquePolicy || c.Status != tandem.ConflictOpen {
		t.Errorf("conflict = %+v, want Bob's create held open", c)
	}
	if _, ok := c.Values["b:"+bAnn]; !ok || c.Values["b"].Value.(map[string]any)["name"] != "Bob" {
		t.Errorf("the conflict's sides = %v, want b's %s and the create's values", c.Values, bAnn)
	}
	if !strings.HasPrefix(c.Decided, "not created in b") || !strings.Contains(c.Decided, "linked to entity "+ann) {
		t.Errorf("decided = %q", c.Decided)
	}
	if got := len(w.b.live()); got != 1 {
		t.Fatalf("b holds %d records, want Bob not created", got)
	}
	w.b.put(bAnn, map[string]any{"email": "ann@x.com"}) // the person's slip undone
	w.tick()
	w.a.put("2", map[string]any{"name": "Bobby"})
	w.sync()
	var bob map[string]any
	for _, id := range w.b.live() {
		if r := w.b.get(id); r["email"] == "bob@x.com" {
			bob = r
		}
	}
	if bob == nil || bob["name"] != "Bobby" {
		t.Fatalf("b's records %v: want Bob created", w.b.live())
	}
	c = w.conflictsOf(tandem.ConflictIdentity)[0]
	if c.Status != tandem.ConflictAuto || !strings.HasPrefix(c.Decided, "written: the value is free now") {
		t.Errorf("conflict after the create = %s %q, want closed", c.Status, c.Decided)
	}
}

// keyedSys is a memSystem that keeps Tandem's key in its records, as
// the HubSpot and Salesforce connectors do (tandem_key, set by a
// create), and reads records by it. lose loses the answer of the next
// create (a timeout once the record is made); a record it made is not
// found by a pull until found, as HubSpot's search lags writes.
type keyedSys struct {
	*memSystem
	lose    bool
	lagging map[string]bool
}

func (k *keyedSys) KeyPath(string) string  { return "tandem_key" }
func (k *keyedSys) KeySetup(string) string { return "a text field tandem_key, unique" }

func (k *keyedSys) Apply(ctx context.Context, o string, ws []tandem.Write) ([]tandem.Result, error) {
	ws = slices.Clone(ws)
	for i, w := range ws {
		if w.Op == tandem.OpCreate {
			ws[i].Payload, _ = sjson.SetBytes(w.Payload, "tandem_key", w.Key)
		}
	}
	res, err := k.memSystem.Apply(ctx, o, ws)
	for i, w := range ws {
		if w.Op == tandem.OpCreate && k.lose && res[i].Err == nil {
			k.lose = false
			k.lagging[res[i].ID] = true
			res[i] = tandem.Result{Err: &tandem.Error{Op: "create", Message: "timeout", Retryable: true}}
		}
	}
	return res, err
}

func (k *keyedSys) Pull(ctx context.Context, q tandem.Query, page func(tandem.Page) error) error {
	return k.memSystem.Pull(ctx, q, func(p tandem.Page) error {
		p.Records = slices.DeleteFunc(p.Records, func(r tandem.Record) bool { return k.lagging[r.ID] })
		return page(p)
	})
}

func (k *keyedSys) FetchKeys(_ context.Context, _ tandem.Query, keys []string) ([]tandem.Record, error) {
	var out []tandem.Record
	for _, id := range k.live() {
		if r := k.get(id); slices.Contains(keys, fmt.Sprint(r["tandem_key"])) {
			out = append(out, k.record(id, k.recs[id]))
		}
	}
	return out, nil
}

var (
	_ connectors.Keyed      = (*keyedSys)(nil)
	_ connectors.KeyFetcher = (*keyedSys)(nil)
)

// A create whose answer was lost made its record, which no pull has
// found yet, and a person edited it since. Before the create is sent
// again, the record is looked up by the key it holds and linked: no
// second Bob is made, and the person's edit is kept, and carried to a.
func TestCreateTriedAgainFindsItsRecord(t *testing.T) {
	w := newEchoWorld(t, "{policy: newest}")
	b := &keyedSys{memSystem: w.b, lagging: map[string]bool{}}
	w.e.Systems["b"] = b
	w.tick()
	w.a.put("2", map[string]any{"email": "bob@x.com", "name": "Bob", "phone": "5"})
	b.lose = true
	w.sync()
	if len(b.lagging) != 1 {
		t.Fatal("no create's answer was lost")
	}
	var made string
	for id := range b.lagging {
		made = id
	}
	bob := w.entityOf("a", "2")
	if got := w.b.get(made)["tandem_key"]; got != bob {
		t.Fatalf("b's %s holds key %v, want Bob's entity %s", made, got, bob)
	}
	w.tick()
	w.b.put(made, map[string]any{"phone": "9"})
	w.sync()
	w.sync()
	if got := len(w.b.live()); got != 2 {
		t.Errorf("b holds %v, want Ann and one Bob", w.b.live())
	}
	if got := w.entityOf("b", made); got != bob {
		t.Errorf("b's %s is linked to %s, want Bob's entity %s", made, got, bob)
	}
	if got := w.b.get(made)["phone"]; got != "9" {
		t.Errorf("b's Bob's phone = %v, want the person's 9 kept", got)
	}
	if got := w.a.get("2")["phone"]; got != "9" {
		t.Errorf("a's Bob's phone = %v, want b's edit 9", got)
	}
}

// A person made a record of Bob in b (which keeps no email unique) while
// Tandem created its own: the pull finds two, and an identity conflict
// of policy duplicate. resolve --link keeps the person's record, linked
// to Bob, and retires Tandem's, which the next pass deletes from b.
func TestDuplicateResolvedRetiresTandemsRecord(t *testing.T) {
	w := newEchoWorld(t, "{policy: newest}")
	w.e.Systems["b"] = &keyedSys{memSystem: w.b, lagging: map[string]bool{}}
	w.e.Force = true // one delete of few records: past the mass-delete guard
	w.tick()
	w.a.put("2", map[string]any{"email": "bob@x.com", "name": "Bob"})
	w.duringPush(func() { w.b.put("p1", map[string]any{"email": "bob@x.com", "name": "Robert", "phone": "7"}) })
	w.sync()
	bob := w.entityOf("a", "2")
	ours, err := w.e.Store.LinkOf(context.Background(), bob, "b", "B")
	if err != nil || ours == nil || ours.ExternalID == "p1" {
		t.Fatalf("Bob's record in b: %+v, %v; want Tandem's", ours, err)
	}
	w.sync()
	cs := w.conflictsOf(tandem.ConflictIdentity)
	if len(cs) != 1 || cs[0].Policy != duplicatePolicy || cs[0].EntityID != bob || cs[0].Status != tandem.ConflictOpen {
		t.Fatalf("identity conflicts = %+v, want a duplicate of Bob", cs)
	}
	c, err := w.e.Resolve(context.Background(), w.ent, cs[0].ID, Decision{Link: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Decided, "Tandem's duplicate "+ours.ExternalID+" is deleted") {
		t.Errorf("decided = %q", c.Decided)
	}
	if got := w.entityOf("b", "p1"); got != bob {
		t.Errorf("p1 is linked to %s, want Bob's entity %s", got, bob)
	}
	w.sync()
	if w.b.get(ours.ExternalID) != nil {
		t.Errorf("Tandem's duplicate %s is still in b: %v", ours.ExternalID, w.b.live())
	}
	if got := w.b.get("p1"); got["name"] != "Robert" || got["phone"] != "7" {
		t.Errorf("the person's record = %v, want it kept as they made it", got)
	}
	if got := w.a.get("2"); got["phone"] != "7" || got["name"] != "Robert" {
		t.Errorf("a's Bob = %v, want the person's record merged in", got)
	}
}
