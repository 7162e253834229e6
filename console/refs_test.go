package console

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/conflict"
	"tandem/mapping/config"
	"tandem/state"
)

// TestConflictsNameReferences: a conflict on a person's company shows
// each company by its name (its entity's display field, title here) and
// its id, not by the id alone.
func TestConflictsNameReferences(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	cfg, err := config.Parse("t.yaml", []byte(`
state: `+path+`
systems:
  crm: { type: fake }
  other: { type: fake }
entities:
  person:
    match: [email]
    fields: { email: email, company: { type: ref, entity: org } }
    systems:
      crm: { object: people, fields: { email: email, company: org_id } }
      other: { object: folks, fields: { email: mail, company: org } }
  org:
    match: [domain]
    fields: { domain: string, title: string }
    systems:
      crm: { object: orgs, fields: { domain: domain, title: title } }
      other: { object: companies, fields: { domain: d, title: t } }
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	var acme, globex string
	err = store.Update(ctx, func(tx *state.Tx) error {
		org := func(title, domain string) (string, error) {
			return tx.NewEntity(ctx, "org", tandem.Golden{"title": {Value: title}, "domain": {Value: domain}}, map[string]string{"domain": domain})
		}
		if acme, err = org("Acme & Sons", "acme.com"); err != nil {
			return err
		}
		if globex, err = org("Globex", "globex.com"); err != nil {
			return err
		}
		ada, err := tx.NewEntity(ctx, "person", tandem.Golden{"email": {Value: "ada@example.com"}}, map[string]string{"email": "ada@example.com"})
		if err != nil {
			return err
		}
		at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
		return tx.AddConflict(ctx, &tandem.Conflict{Entity: "person", EntityID: ada, Kind: tandem.ConflictField, Field: "company",
			Values: map[string]tandem.SideValue{"crm": {Value: acme, ModifiedAt: at, RecordID: "c1"}, "other": {Value: globex, ModifiedAt: at, RecordID: "o1"}},
			Policy: "manual", Status: tandem.ConflictOpen, Decided: "held: manual policy", Created: at}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := New(Options{Config: cfg, Store: store, Actions: &conflict.Engine{Store: store, Log: log}, Log: log, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{srv: httptest.NewServer(c.Handler())}
	t.Cleanup(w.srv.Close)
	client := w.client(t)
	w.login(t, client)
	_, page, _ := do(t, client, "GET", w.srv.URL+"/conflicts", nil, nil)
	for _, want := range []string{"Acme &amp; Sons (org " + acme + ")", "Globex (org " + globex + ")"} {
		if !strings.Contains(page, want) {
			t.Errorf("the conflicts page does not show %q:\n%s", want, page)
		}
	}
}
