package conflict

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
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
