package conflict

import (
	"context"
	"errors"
	"strings"
	"testing"

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
