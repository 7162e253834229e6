package report

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"tandem"
	"tandem/mapping/config"
)

const (
	acmeID   = "7d3f2a10-5e6b-4c8d-9f01-a2b3c4d5e6f7"
	globexID = "1b2c3d4e-0000-4000-8000-000000000002"
	goneID   = "9f9f9f9f-0000-4000-8000-000000000009"
)

// companyConflicts are a contact moved to two companies at once, and an
// identity conflict carrying a contact's record with its company.
func companyConflicts() []tandem.Conflict {
	return []tandem.Conflict{{
		ID: 1, Entity: "contact", EntityID: "004da8b0-7c15-4603-83dd-fadae5401d28", Kind: tandem.ConflictField, Field: "company",
		Base: goneID, Policy: "newest", Status: tandem.ConflictAuto, Decided: "salesforce",
		Values: map[string]tandem.SideValue{
			"hubspot":    {Value: acmeID, ModifiedAt: t0, RecordID: "1001"},
			"salesforce": {Value: globexID, ModifiedAt: t0, RecordID: "0035g000000000qAAA"},
		},
		Created: t0,
	}, {
		ID: 2, Entity: "contact", Kind: tandem.ConflictIdentity, Policy: "match", Status: tandem.ConflictOpen, Decided: "2 entities match",
		Values:  map[string]tandem.SideValue{"salesforce": {Value: map[string]any{"email": "ann@example.com", "company": acmeID}, RecordID: "0035g000000000zAAA"}},
		Created: t0,
	}}
}

// goldens is a state file's golden records, by entity id.
type goldens map[string]tandem.Values

func (g goldens) Golden(_ context.Context, id string) (tandem.Golden, error) {
	vals, ok := g[id]
	if !ok {
		return nil, fmt.Errorf("state: entity %s: %w", id, sql.ErrNoRows)
	}
	out := tandem.Golden{}
	for k, v := range vals {
		out[k] = tandem.Field{Value: v}
	}
	return out, nil
}

// TestRefNames: the names of a contact's companies come from the
// companies' golden records, by the company's display field; a company
// that is gone, or has no name, is left out.
func TestRefNames(t *testing.T) {
	cfg, err := config.Parse("tandem.yaml", []byte(`
systems:
  hubspot: { type: hubspot, token: x }
  salesforce: { type: salesforce, client_id: x, client_secret: y, instance_url: "https://example.my.salesforce.com" }
entities:
  contact:
    match: [email]
    fields: { email: email, company: { type: ref, entity: company } }
    systems:
      hubspot: { object: contacts, fields: { email: properties.email, company: associations.companies } }
      salesforce: { object: Contact, fields: { email: Email, company: AccountId } }
  company:
    match: [domain]
    fields: { domain: string, name: string }
    systems:
      hubspot: { object: companies, fields: { name: properties.name, domain: properties.domain } }
      salesforce: { object: Account, fields: { name: Name, domain: Website } }
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	store := goldens{acmeID: {"name": "Acme", "domain": "acme.com"}, globexID: {"domain": "globex.com"}}
	refs, err := RefNames(context.Background(), store, cfg, companyConflicts())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Ref{acmeID: {Entity: "company", Name: "Acme"}}
	if fmt.Sprint(refs) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v (Globex has no name, the base's company is gone)", refs, want)
	}
	company, _ := cfg.Entity("company")
	if f := DisplayField(company); f != "name" {
		t.Errorf("company's display field: %q, want name (declared after domain)", f)
	}
	contact, _ := cfg.Entity("contact")
	if f := DisplayField(contact); f != "email" {
		t.Errorf("contact's display field: %q, want email", f)
	}
}

// TestRefShownByName: a company conflict on a contact shows the
// companies' names wherever a person reads it (the table, the page, a
// record's fields), with their ids; JSON keeps the values and adds their
// names apart; a reference with no name known shows as its id.
func TestRefShownByName(t *testing.T) {
	o := Options{Refs: map[string]Ref{acmeID: {"company", "Acme"}, globexID: {"company", "Globex <b>"}}}
	var b bytes.Buffer
	if err := WriteWith(&b, "table", companyConflicts(), o); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hubspot=Acme (company 7d3f2a10…)", "salesforce=Globex <b> (company 1b2c3d4e…)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table: no %q in\n%s", want, b.String())
		}
	}

	b.Reset()
	if err := WriteWith(&b, "json", companyConflicts(), o); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Base    any                         `json:"base"`
		Values  map[string]tandem.SideValue `json:"values"`
		Display map[string]string           `json:"display"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Values["hubspot"].Value != acmeID || got[0].Base != goneID ||
		fmt.Sprint(got[0].Display) != fmt.Sprint(map[string]string{acmeID: "Acme", globexID: "Globex <b>"}) ||
		fmt.Sprint(got[1].Display) != fmt.Sprint(map[string]string{acmeID: "Acme"}) {
		t.Errorf("json: %s", b.String())
	}

	var texts []string
	for _, c := range Cards(companyConflicts(), o) {
		for _, r := range c.Rows {
			texts = append(texts, r.Label+"="+r.Value.Text)
			for _, f := range r.Value.Fields {
				texts = append(texts, f.Key+"="+f.Value)
			}
		}
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"base=" + goneID, "hubspot=Acme (company " + acmeID + ")", "salesforce=Globex <b> (company " + globexID + ")",
		"company=Acme (company " + acmeID + ")"} {
		if !strings.Contains(all, want) {
			t.Errorf("cards: no %q in\n%s", want, all)
		}
	}

	b.Reset()
	if err := WriteHTML(&b, companyConflicts(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Globex &lt;b&gt; (company "+globexID+")") {
		t.Errorf("the page does not show Globex's name, escaped:\n%s", b.String())
	}

	// Without names, as before.
	b.Reset()
	if err := Write(&b, "table", companyConflicts()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `hubspot="`+acmeID+`"`) {
		t.Errorf("table without names:\n%s", b.String())
	}
}
