package conflict

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
	"tandem/mapping"
	"tandem/mapping/config"
	"tandem/state"
)

// refSystem is one system's companies, read by id: some live, some
// unreadable; any other id it does not have.
type refSystem struct {
	companies  map[string]string // id -> domain
	unreadable map[string]bool
	fetched    []string
}

func (s *refSystem) Pull(context.Context, tandem.Query, func(tandem.Page) error) error { return nil }
func (s *refSystem) Apply(context.Context, string, []tandem.Write) ([]tandem.Result, error) {
	return nil, nil
}
func (s *refSystem) Fetch(_ context.Context, q tandem.Query, ids []string) ([]tandem.Record, error) {
	var out []tandem.Record
	var rej tandem.RejectedError
	for _, id := range ids {
		s.fetched = append(s.fetched, id)
		switch {
		case s.unreadable[id]:
			rej.Rejected = append(rej.Rejected, tandem.Rejected{ID: id, Raw: []byte(`{}`), Reason: "no updatedAt"})
		case s.companies[id] != "":
			raw, _ := json.Marshal(map[string]any{"domain": s.companies[id]})
			out = append(out, tandem.Record{ID: id, Raw: raw, Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		}
	}
	if len(rej.Rejected) > 0 {
		return out, &rej
	}
	return out, nil
}

var _ connectors.Fetcher = (*refSystem)(nil)

// What a contact's reference reads as, by what its system and Tandem know
// of the company it names: linked, its entity id; not linked yet, the
// company is read by id and staged first, then its entity id; gone, no
// reference; unreadable, nothing said of the field (never null, which
// would clear it everywhere).
func TestRefsIn(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(`state: x.db
systems: { a: {type: t} }
entities:
  contact:
    match: [email]
    fields: { email: email, company: { type: ref, entity: company } }
    systems: { a: { object: contacts, fields: { email: email, company: company } } }
  company:
    match: [domain]
    fields: { domain: string }
    systems: { a: { object: companies, fields: { domain: domain } } }
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	company, contact := cfg.Entities[0], cfg.Entities[1]
	if company.Name != "company" {
		t.Fatalf("entities in the order %s, %s: companies are not synced first", company.Name, contact.Name)
	}
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sys := &refSystem{companies: map[string]string{"c1": "one.com", "c2": "two.com"}, unreadable: map[string]bool{"c4": true}}
	e := &Engine{Store: st, Systems: map[string]connectors.Connector{"a": sys}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	// c1 is linked already; c2 is not; c3 the system does not have; c4 it
	// cannot read.
	if err := st.Update(ctx, func(tx *state.Tx) error {
		return e.stageAll(ctx, tx, company, company.System("a"), []tandem.Record{{ID: "c1", Raw: []byte(`{"domain":"one.com"}`), Modified: time.Now()}})
	}); err != nil {
		t.Fatal(err)
	}
	recs := []tandem.Record{
		{ID: "p1", Raw: []byte(`{"email":"a@x.com","company":"c1"}`)},
		{ID: "p2", Raw: []byte(`{"email":"b@x.com","company":"c2"}`)},
		{ID: "p3", Raw: []byte(`{"email":"c@x.com","company":"c3"}`)},
		{ID: "p4", Raw: []byte(`{"email":"d@x.com","company":"c4"}`)},
		{ID: "p5", Raw: []byte(`{"email":"e@x.com","company":null}`)},
	}
	if err := e.refsIn(ctx, contact, contact.System("a"), recs); err != nil {
		t.Fatal(err)
	}
	entityOf := func(id string) string {
		l, err := st.Link(ctx, "a", "companies", id)
		if err != nil || l == nil {
			t.Fatalf("company %s is not linked (%v)", id, err)
		}
		return l.EntityID
	}
	for i, want := range []string{entityOf("c1"), entityOf("c2"), "null", "absent", "null"} {
		got := gjson.GetBytes(recs[i].Raw, "company")
		switch {
		case want == "absent" && got.Exists():
			t.Errorf("%s: company reads %s, want it left out (its target could not be read)", recs[i].ID, got.Raw)
		case want == "null" && got.Type != gjson.Null:
			t.Errorf("%s: company reads %s, want null", recs[i].ID, got.Raw)
		case want != "absent" && want != "null" && got.Str != want:
			t.Errorf("%s: company reads %s, want the entity id %s", recs[i].ID, got.Raw, want)
		}
	}
	if len(sys.fetched) != 3 {
		t.Errorf("read by id: %v, want c2, c3 and c4 (c1 is linked)", sys.fetched)
	}
}

// objSys is a system of several objects, each an in-memory system.
type objSys map[string]*memSystem

func (s objSys) Pull(ctx context.Context, q tandem.Query, page func(tandem.Page) error) error {
	return s[q.Object].Pull(ctx, q, page)
}
func (s objSys) Fetch(ctx context.Context, q tandem.Query, ids []string) ([]tandem.Record, error) {
	return s[q.Object].Fetch(ctx, q, ids)
}
func (s objSys) FetchDeleted(ctx context.Context, q tandem.Query, ids []string) ([]tandem.Record, error) {
	return s[q.Object].FetchDeleted(ctx, q, ids)
}
func (s objSys) Apply(ctx context.Context, o string, ws []tandem.Write) ([]tandem.Result, error) {
	return s[o].Apply(ctx, o, ws)
}

// refWorld is contacts referring to their company, in systems a (objects
// companies, contacts) and b (accounts, people); company deletes
// propagate. X Corp (a's c1) and Ann (a's p1, at X Corp) are synced.
type refWorld struct {
	t                    *testing.T
	e                    *Engine
	cfg                  *config.Config
	company, contact     *mapping.Entity
	now                  time.Time
	aCo, aPer, bCo, bPer *memSystem
}

func newRefWorld(t *testing.T) *refWorld {
	t.Helper()
	b := benchOf(t, `state: x.db
systems: { a: {type: hubspot}, b: {type: salesforce} }
entities:
  contact:
    match: [email]
    fields: { email: email, name: string, company: { type: ref, entity: company } }
    systems:
      a: { object: contacts, fields: { email: email, name: name, company: company } }
      b: { object: people, fields: { email: email, name: name, company: account } }
  company:
    match: [domain]
    fields: { domain: string, name: string }
    systems:
      a: { object: companies, fields: { domain: domain, name: name } }
      b: { object: accounts, fields: { domain: domain, name: name } }
    deletes: { policy: propagate }
`)
	cfg, st := b.cfg, b.e.Store
	w := &refWorld{t: t, cfg: cfg, company: cfg.Entities[0], contact: cfg.Entities[1], now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return w.now }
	w.aCo, w.aPer, w.bCo, w.bPer = newMemSystem(clock), newMemSystem(clock), newMemSystem(clock), newMemSystem(clock)
	w.e = &Engine{Store: st, Now: clock, Force: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Systems: map[string]connectors.Connector{
			"a": objSys{"companies": w.aCo, "contacts": w.aPer},
			"b": objSys{"accounts": w.bCo, "people": w.bPer},
		}}
	w.tick()
	w.aCo.put("c1", map[string]any{"domain": "x.com", "name": "X Corp"})
	w.aPer.put("p1", map[string]any{"email": "ann@x.com", "name": "Ann", "company": "c1"})
	w.sync(w.company, w.contact)
	return w
}

func (w *refWorld) tick() { w.now = w.now.Add(time.Second) }

// sync runs a pass of each entity, in the order given.
func (w *refWorld) sync(ents ...*mapping.Entity) {
	w.t.Helper()
	for _, ent := range ents {
		w.tick()
		if _, err := w.e.Sync(context.Background(), ent); err != nil {
			w.t.Fatal(err)
		}
	}
}

// only is the one live record of a system's object.
func (w *refWorld) only(m *memSystem) (string, map[string]any) {
	w.t.Helper()
	ids := m.live()
	if len(ids) != 1 {
		w.t.Fatalf("records %v, want one", ids)
	}
	return ids[0], m.get(ids[0])
}

// A contact is written to b pointing to b's own record of its company;
// one whose company is not in b yet is written without it, and the
// reference follows once the company is.
func TestRefWrittenAsTheSystemsID(t *testing.T) {
	w := newRefWorld(t)
	xCorp, _ := w.only(w.bCo)
	if _, ann := w.only(w.bPer); ann["account"] != xCorp {
		t.Errorf("b's Ann's account = %v, want b's X Corp %s", ann["account"], xCorp)
	}
	w.tick()
	w.aCo.put("c2", map[string]any{"domain": "y.com", "name": "Y Inc"})
	w.aPer.put("p2", map[string]any{"email": "bob@y.com", "name": "Bob", "company": "c2"})
	w.sync(w.contact) // before the company's pass: Y Inc is not in b yet
	var bob string
	for _, id := range w.bPer.live() {
		if w.bPer.get(id)["name"] == "Bob" {
			bob = id
		}
	}
	if bob == "" {
		t.Fatalf("Bob is not created in b: %v", w.bPer.live())
	}
	if acc, ok := w.bPer.get(bob)["account"]; ok {
		t.Fatalf("b's Bob's account = %v, want none until Y Inc is in b", acc)
	}
	plan, err := w.e.Planned(context.Background(), w.contact)
	if err != nil || len(plan) != 1 || plan[0].System != "b" || !strings.Contains(plan[0].Note, "company waits for company") {
		t.Errorf("plan = %+v, %v; want Bob's account waiting for Y Inc", plan, err)
	}
	w.sync(w.company, w.contact)
	var yInc string
	for _, id := range w.bCo.live() {
		if w.bCo.get(id)["name"] == "Y Inc" {
			yInc = id
		}
	}
	if got := w.bPer.get(bob)["account"]; yInc == "" || got != yInc {
		t.Errorf("b's Bob's account = %v, want b's Y Inc %q", got, yInc)
	}
}

// A write answered with the record as written (HubSpot's batch writes)
// keeps it as a pull would: its reference read as the company's entity
// id, so replaying the stored payloads finds nothing changed, and the
// next pass writes nothing back.
func TestRefsOfWriteAnswers(t *testing.T) {
	w := newRefWorld(t)
	w.bPer.answer = true
	w.tick()
	w.aPer.put("p2", map[string]any{"email": "bob@x.com", "name": "Bob", "company": "c1"})
	w.sync(w.contact)
	ch, err := Replay(context.Background(), w.e.Store, w.contact)
	if err != nil || len(ch) != 0 {
		t.Errorf("replay = %+v, %v; want nothing changed", ch, err)
	}
	sent := len(w.bPer.writes)
	w.sync(w.company, w.contact)
	if len(w.bPer.writes) != sent {
		t.Errorf("the next pass wrote %+v to b", w.bPer.writes[sent:])
	}
}

// A company deleted in a is not deleted in b while contacts point to it
// (b could take them with it): their references are cleared first,
// recorded for a person to see, and written everywhere; the delete goes
// once nothing points to it. A company nothing points to still waits one
// pass, for the contacts to be read once more.
func TestDeleteOfReferredCompanyWaits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		referred bool // Ann is at the company deleted
	}{
		{"contacts point to it", true},
		{"nothing points to it", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newRefWorld(t)
			xCorp, _ := w.only(w.bCo)
			if !tc.referred {
				w.tick()
				w.aPer.put("p1", map[string]any{"company": nil})
				w.sync(w.contact)
			}
			w.tick()
			w.aCo.remove("c1", false)
			if err := w.e.Pull(context.Background(), w.company); err != nil {
				t.Fatal(err)
			}
			plan, err := w.e.Planned(context.Background(), w.company)
			want := "the delete waits for a pass to read the records"
			if tc.referred {
				want = "the delete waits until the 1 records pointing to this company point elsewhere"
			}
			if err != nil || len(plan) != 1 || !strings.Contains(plan[0].Note, want) {
				t.Errorf("plan = %+v, %v; want %q", plan, err, want)
			}
			w.sync(w.company)
			if w.bCo.get(xCorp) == nil {
				t.Fatal("X Corp deleted from b in the first pass")
			}
			cs, err := w.e.Store.Conflicts(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			var cleared []tandem.Conflict
			for _, c := range cs {
				if c.Policy == "reference" {
					cleared = append(cleared, c)
				}
			}
			if !tc.referred && len(cleared) != 0 {
				t.Errorf("references cleared: %+v", cleared)
			}
			if tc.referred && (len(cleared) != 1 || cleared[0].Field != "company" || cleared[0].Status != tandem.ConflictAuto ||
				cleared[0].Decided != "cleared: the record it pointed to is deleted") {
				t.Errorf("reference conflicts = %+v, want Ann's company cleared", cleared)
			}
			w.sync(w.contact, w.company)
			if _, ann := w.only(w.bPer); ann["account"] != nil {
				t.Errorf("b's Ann's account = %v, want cleared", ann["account"])
			}
			if _, ann := w.only(w.aPer); ann["company"] != nil {
				t.Errorf("a's Ann's company = %v, want cleared", ann["company"])
			}
			if w.bCo.get(xCorp) != nil {
				t.Errorf("X Corp is still in b: %v", w.bCo.live())
			}
		})
	}
}

// A company's delete waits for the clearing of its references to land in
// the system it is deleted from, not only in the golden records: while
// b's contacts are down, b's Ann still points to X Corp, and deleting X
// Corp from b then (Salesforce deletes an Account's Contacts with it)
// would take her with it. Found by a helper's probe: the second company
// pass deleted X Corp while b's Ann still had account n1.
func TestDeleteOfReferredCompanyWaitsForTheClearToLand(t *testing.T) {
	ctx := context.Background()
	w := newRefWorld(t)
	xCorp, _ := w.only(w.bCo)
	w.tick()
	w.aCo.remove("c1", false)
	w.sync(w.company) // held; Ann's company cleared in the golden record
	w.bPer.down = true
	w.tick()
	_, _ = w.e.Sync(ctx, w.contact) // the clear reaches a, not b
	if _, ann := w.only(w.aPer); ann["company"] != nil {
		t.Fatalf("a's Ann's company = %v, want cleared", ann["company"])
	}
	w.sync(w.company)
	if w.bCo.get(xCorp) == nil {
		t.Fatal("X Corp deleted from b while b's Ann still points to it")
	}
	plan, err := w.e.Planned(ctx, w.company)
	want := "the delete waits until the 1 records in b that pointed to this company are written without it"
	if err != nil || len(plan) != 1 || !strings.Contains(plan[0].Note, want) {
		t.Errorf("plan = %+v, %v; want %q", plan, err, want)
	}
	w.bPer.down = false
	w.sync(w.contact, w.company)
	if _, ann := w.only(w.bPer); ann["account"] != nil {
		t.Errorf("b's Ann's account = %v, want cleared", ann["account"])
	}
	if w.bCo.get(xCorp) != nil {
		t.Errorf("X Corp is still in b once nothing there points to it: %v", w.bCo.live())
	}
	if len(w.bPer.live()) != 1 {
		t.Errorf("b's people %v, want Ann still there", w.bPer.live())
	}
}
