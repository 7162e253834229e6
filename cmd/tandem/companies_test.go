package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/salesforce/salesforcetest"
)

// companiesConfig syncs companies (HubSpot companies, Salesforce
// Accounts, matched by domain) and contacts with their company, a ref.
// Contacts come first in the file: the pass still syncs companies first.
func companiesConfig(t *testing.T, dir, hsURL, sfURL string) string {
	t.Helper()
	config := filepath.Join(dir, "tandem.yaml")
	body := fmt.Sprintf(`state: %s
systems:
  hubspot:
    type: hubspot
    base_url: %s
    token: hs-token
    rate_limit: { requests: 100000, per: 10s }
    search_rate_limit: { requests: 10000, per: 1s }
  salesforce:
    type: salesforce
    instance_url: %s
    client_id: cid
    client_secret: csecret
entities:
  contact:
    match: [email]
    fields:
      email: email
      last_name: string
      company: { type: ref, entity: company }
    systems:
      hubspot:
        object: contacts
        fields: { email: properties.email, last_name: properties.lastname, company: associations.companies }
      salesforce:
        object: Contact
        fields: { email: Email, last_name: LastName, company: AccountId }
  company:
    match: [domain]
    match_fallback: [name]
    fields: { name: string, domain: string }
    systems:
      hubspot:
        object: companies
        fields: { name: properties.name, domain: properties.domain }
      salesforce:
        object: Account
        fields: { name: Name, domain: Website }
    deletes: { policy: propagate, max_share: 0.5 }
`, filepath.Join(dir, "tandem.db"), hsURL, sfURL)
	if err := os.WriteFile(config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return config
}

type companiesWorld struct {
	t     *testing.T
	clock *testClock
	hs    *hubspottest.Server
	sf    *salesforcetest.Emulator
	a     *app
}

func newCompaniesWorld(t *testing.T) *companiesWorld {
	return newCompaniesWorldVia(t, func(h http.Handler) *httptest.Server { return httptest.NewServer(h) })
}

// newCompaniesWorldVia is newCompaniesWorld with Salesforce served by
// serve (a test that loses answers).
func newCompaniesWorldVia(t *testing.T, serve func(http.Handler) *httptest.Server) *companiesWorld {
	w := &companiesWorld{t: t, clock: newTestClock()}
	keys := map[string][]string{"contacts": tandemKeys["contacts"], "companies": tandemKeys["contacts"]}
	w.hs = hubspottest.NewServer(hubspottest.Options{UniqueProperties: keys, Token: "hs-token", RateLimit: loopbackRate, Now: w.clock.Now})
	t.Cleanup(w.hs.Close)
	w.sf = salesforcetest.New(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret", Now: w.clock.Now})
	t.Cleanup(w.sf.Close)
	sfSrv := serve(w.sf)
	t.Cleanup(sfSrv.Close)
	w.a, _ = openRepro(t, companiesConfig(t, t.TempDir(), w.hs.URL, sfSrv.URL))
	return w
}

// sync runs a pass over every entity in the config's order, or over the
// named entities only.
func (w *companiesWorld) sync(only ...string) {
	w.t.Helper()
	for _, ent := range w.a.cfg.Entities {
		if len(only) > 0 && !slices.Contains(only, ent.Name) {
			continue
		}
		w.clock.tick()
		if _, err := w.a.engine.Sync(context.Background(), ent); err != nil {
			w.t.Fatalf("sync %s: %v", ent.Name, err)
		}
	}
	w.clock.tick()
}

func (w *companiesWorld) hsCreate(object string, props map[string]any) string {
	w.t.Helper()
	id, err := w.hs.Create(object, props)
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

func (w *companiesWorld) sfCreate(object string, fields map[string]any) string {
	w.t.Helper()
	id, err := w.sf.Create(object, fields)
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

// hsCompanyOf is the HubSpot company a contact's record says is its
// primary, by its domain ("" for none).
func (w *companiesWorld) hsCompanyOf(email string) string {
	w.t.Helper()
	return hsPrimaryDomain(w.t, w.hs.Emulator, email)
}

// hsPrimaryDomain is the domain of the primary company of a HubSpot
// contact ("" for none).
func hsPrimaryDomain(t *testing.T, hs *hubspottest.Emulator, email string) string {
	t.Helper()
	for _, c := range hs.List("contacts") {
		if c.Properties["email"] != email || c.Archived {
			continue
		}
		for id, types := range hs.Associations("contacts", c.ID) {
			if slices.Contains(types, hubspottest.ContactToCompanyPrimary) {
				co, _ := hs.Get("companies", id)
				return co.Properties["domain"]
			}
		}
		return ""
	}
	t.Fatalf("no HubSpot contact %s", email)
	return ""
}

// sfCompanyOf is the Account a Salesforce contact points to, by its
// website ("" for none).
func (w *companiesWorld) sfCompanyOf(email string) string {
	w.t.Helper()
	for _, c := range w.sf.List("Contact") {
		if str(c.Fields["Email"]) != email {
			continue
		}
		acc := str(c.Fields["AccountId"])
		if acc == "" {
			return ""
		}
		a, ok := w.sf.Get("Account", acc)
		if !ok {
			w.t.Fatalf("Salesforce contact %s points to Account %s, which does not exist", email, acc)
		}
		return str(a.Fields["Website"])
	}
	w.t.Fatalf("no Salesforce contact %s", email)
	return ""
}

func (w *companiesWorld) sfID(object, field, value string) string {
	w.t.Helper()
	for _, r := range w.sf.List(object) {
		if str(r.Fields[field]) == value {
			return r.ID
		}
	}
	w.t.Fatalf("no Salesforce %s with %s %s", object, field, value)
	return ""
}

func (w *companiesWorld) hsID(object, prop, value string) string {
	w.t.Helper()
	for _, r := range w.hs.List(object) {
		if r.Properties[prop] == value && !r.Archived {
			return r.ID
		}
	}
	w.t.Fatalf("no HubSpot %s with %s %s", object, prop, value)
	return ""
}

// agree checks that every contact points to the company of the given
// domain in both systems.
func (w *companiesWorld) agree(want map[string]string) {
	w.t.Helper()
	for email, domain := range want {
		if h, s := w.hsCompanyOf(email), w.sfCompanyOf(email); h != domain || s != domain {
			w.t.Errorf("%s: company %q in HubSpot, %q in Salesforce; want %q in both", email, h, s, domain)
		}
	}
}

// TestCompaniesAndContactsConverge is issue 15's end-to-end test:
// companies and contacts made on both sides, each contact pointing to its
// company, are created in the other system with the reference translated
// (a HubSpot company id never reaches AccountId); contacts moved between
// companies on either side, and both sides at once, converge; a contact
// whose company appears after the companies were read still finds it.
func TestCompaniesAndContactsConverge(t *testing.T) {
	w := newCompaniesWorld(t)
	acme := w.hsCreate("companies", map[string]any{"name": "Acme", "domain": "acme.com"})
	globex := w.hsCreate("companies", map[string]any{"name": "Globex", "domain": "globex.com"})
	initech := w.sfCreate("Account", map[string]any{"Name": "Initech", "Website": "initech.com"})
	ann := w.hsCreate("contacts", map[string]any{"email": "ann@example.com", "lastname": "Lee"})
	if err := w.hs.Associate(ann, acme, true); err != nil {
		t.Fatal(err)
	}
	w.hsCreate("contacts", map[string]any{"email": "dan@example.com", "lastname": "Roe"}) // no company
	w.sfCreate("Contact", map[string]any{"Email": "bob@example.com", "LastName": "Ray", "AccountId": initech})

	w.sync()
	if got := len(w.sf.List("Account")); got != 3 {
		t.Fatalf("Salesforce has %d Accounts, want 3 (Initech, and Acme and Globex from HubSpot)", got)
	}
	if got := len(w.hs.List("companies")); got != 3 {
		t.Fatalf("HubSpot has %d companies, want 3", got)
	}
	w.agree(map[string]string{"ann@example.com": "acme.com", "bob@example.com": "initech.com", "dan@example.com": ""})

	// Moves: Ann to Globex in Salesforce, Bob to Acme in HubSpot.
	if err := w.sf.Update("Contact", w.sfID("Contact", "Email", "ann@example.com"), map[string]any{"AccountId": w.sfID("Account", "Website", "globex.com")}); err != nil {
		t.Fatal(err)
	}
	w.clock.tick()
	if err := w.hs.Associate(w.hsID("contacts", "email", "bob@example.com"), acme, true); err != nil {
		t.Fatal(err)
	}
	w.sync()
	w.sync()
	w.agree(map[string]string{"ann@example.com": "globex.com", "bob@example.com": "acme.com", "dan@example.com": ""})

	// A company made in HubSpot after the pass read companies, and a
	// contact pointing to it: the contact's pass reads the company by id
	// first. Salesforce has no Account for it yet, so the contact is
	// written without AccountId and the reference waits in the outbox
	// (never a wrong Account, never lost); the company's pass creates the
	// Account and the next contact pass writes the reference.
	hooli := w.hsCreate("companies", map[string]any{"name": "Hooli", "domain": "hooli.com"})
	cat := w.hsCreate("contacts", map[string]any{"email": "cat@example.com", "lastname": "Fox"})
	if err := w.hs.Associate(cat, hooli, true); err != nil {
		t.Fatal(err)
	}
	w.sync("contact")
	if s := w.sfCompanyOf("cat@example.com"); s != "" {
		t.Fatalf("before Hooli's Account exists, cat's Salesforce contact points to %q", s)
	}
	pending, err := w.a.store.Pending(context.Background(), "salesforce", "Contact", 0, 10)
	if err != nil || len(pending) != 1 {

		t.Fatalf("the reference that waits for its Account is not in the outbox: %v, %v", pending, err)
	}
	w.sync()
	w.agree(map[string]string{"cat@example.com": "hooli.com"})

	// Both sides move Dan at once: one company wins everywhere, and a
	// conflict on company is recorded.
	if err := w.hs.Associate(w.hsID("contacts", "email", "dan@example.com"), globex, true); err != nil {
		t.Fatal(err)
	}
	w.clock.tick()
	if err := w.sf.Update("Contact", w.sfID("Contact", "Email", "dan@example.com"), map[string]any{"AccountId": initech}); err != nil {
		t.Fatal(err)
	}
	w.sync()
	w.sync()
	w.agree(map[string]string{"dan@example.com": "initech.com"}) // newest: Salesforce's move came second
	cs, err := w.a.store.Conflicts(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	var recorded bool
	for _, c := range cs {
		if c.Field == "company" && c.Kind == tandem.ConflictField {
			recorded = true
		}
	}
	if !recorded {
		t.Errorf("no conflict on company was recorded for the move made on both sides at once: %+v", cs)
	}
	if n := len(w.sf.List("Account")); n != 4 {
		t.Errorf("Salesforce has %d Accounts, want 4: a company was duplicated", n)
	}
	if n := len(w.hs.List("companies")); n != 4 {
		t.Errorf("HubSpot has %d companies, want 4: a company was duplicated", n)
	}

	// Globex is deleted in HubSpot while Ann still works there. Salesforce
	// deletes an Account's Contacts with it, so the Account's delete
	// waits: Ann's company is cleared first (in both systems, recorded),
	// then the Account goes, and Ann stays.
	if err := w.hs.Delete("companies", globex); err != nil {
		t.Fatal(err)
	}
	w.sync()
	if _, ok := w.sf.Get("Account", w.sfID("Account", "Website", "globex.com")); !ok {
		t.Fatal("Globex's Account was deleted while Ann's contact still pointed to it")
	}
	w.sync()
	w.agree(map[string]string{"ann@example.com": ""})
	for _, a := range w.sf.List("Account") {
		if str(a.Fields["Website"]) == "globex.com" {
			t.Errorf("Globex's Account is still there (%s) once nothing points to it", a.ID)
		}
	}
	if len(w.sf.List("Contact")) != 4 {
		t.Errorf("Salesforce has %d contacts, want 4: the Account's delete took a contact with it", len(w.sf.List("Contact")))
	}
	cs, err = w.a.store.Conflicts(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	var cleared bool
	for _, c := range cs {
		cleared = cleared || (c.Field == "company" && c.Policy == "reference")
	}
	if !cleared {
		t.Error("clearing Ann's company was not recorded")
	}
}

// A plan shows a reference that waits for its target to be created, as
// the pass would leave it, beside the target's create.
func TestPlanShowsAReferenceThatWaits(t *testing.T) {
	w := newCompaniesWorld(t)
	acme := w.hsCreate("companies", map[string]any{"name": "Acme", "domain": "acme.com"})
	ann := w.hsCreate("contacts", map[string]any{"email": "ann@example.com", "lastname": "Lee"})
	if err := w.hs.Associate(ann, acme, true); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var notes []string
	for _, ent := range w.a.cfg.Entities {
		if err := w.a.engine.Pull(ctx, ent); err != nil {
			t.Fatal(err)
		}
		changes, err := w.a.engine.Planned(ctx, ent)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range changes {
			if c.System == "salesforce" {
				notes = append(notes, ent.Name+" "+c.Field+" "+c.Note)
			}
		}
	}
	var created, waits bool
	for _, n := range notes {
		created = created || strings.HasPrefix(n, "company Name create")
		waits = waits || (strings.HasPrefix(n, "contact  waits: company waits for company ") && strings.HasSuffix(n, " to exist in salesforce"))
	}
	if !created || !waits {
		t.Errorf("the plan for Salesforce does not show Acme's create and Ann's company waiting for it:\n%s", strings.Join(notes, "\n"))
	}
}

// A contact written to Salesforce before its company exists there is
// written in two steps: the contact now, its AccountId once the Account
// exists. Tandem dies after the first step has landed and before it
// learned so (the answer is lost): the next pass finds the contact by
// Tandem's key, and the reference still reaches it; nothing is lost or
// made twice.
func TestReferenceWrittenLaterSurvivesACrash(t *testing.T) {
	var lost lostAnswers
	w := newCompaniesWorldVia(t, func(h http.Handler) *httptest.Server {
		return lost.server(t, h, func(r *http.Request, applied bool) bool {
			return applied || (r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/Contact/"))
		})
	})
	acme := w.hsCreate("companies", map[string]any{"name": "Acme", "domain": "acme.com"})
	ann := w.hsCreate("contacts", map[string]any{"email": "ann@example.com", "lastname": "Lee"})
	if err := w.hs.Associate(ann, acme, true); err != nil {
		t.Fatal(err)
	}
	// The contact's pass alone: Acme is read by id and staged, but has no
	// Account yet, so the contact is created without AccountId; the
	// create lands and its answer is lost.
	lost.arm()
	for _, ent := range w.a.cfg.Entities {
		if ent.Name == "contact" {
			w.clock.tick()
			w.a.engine.Sync(context.Background(), ent) // fails: the answer is lost
		}
	}
	lost.disarm()
	if !lost.dropped() || len(w.sf.List("Contact")) != 1 {
		t.Fatalf("the contact's create did not land (answer lost: %v, contacts: %d)", lost.dropped(), len(w.sf.List("Contact")))
	}
	if s := w.sfCompanyOf("ann@example.com"); s != "" {
		t.Fatalf("Ann's contact points to %q before Acme's Account exists", s)
	}
	w.sync()
	w.sync()
	w.agree(map[string]string{"ann@example.com": "acme.com"})
	if n := len(w.sf.List("Contact")); n != 1 {
		t.Errorf("Salesforce holds %d contacts, want Ann once", n)
	}
	if n := len(w.sf.List("Account")); n != 1 {
		t.Errorf("Salesforce holds %d Accounts, want Acme once", n)
	}
}

// A company is matched by its domain, or by its name when it has none: an
// Account with no website finds the HubSpot company of its name (and gets
// its domain), two companies with no domain and one name are one; two
// with other domains and one name stay two.
func TestCompaniesMatchByNameWithoutDomain(t *testing.T) {
	w := newCompaniesWorld(t)
	w.hsCreate("companies", map[string]any{"name": "Acme", "domain": "acme.com"})
	w.sfCreate("Account", map[string]any{"Name": "ACME "})
	w.hsCreate("companies", map[string]any{"name": "Umbrella"})
	w.sfCreate("Account", map[string]any{"Name": "Umbrella"})
	w.hsCreate("companies", map[string]any{"name": "Globex", "domain": "globex.com"})
	w.sfCreate("Account", map[string]any{"Name": "Globex", "Website": "globex.example"})
	w.sync()
	w.sync()
	if n, m := len(w.hs.List("companies")), len(w.sf.List("Account")); n != 4 || m != 4 {
		t.Errorf("HubSpot has %d companies and Salesforce %d Accounts, want 4 each (Acme, Umbrella, and two Globex)", n, m)
	}
	var acme string
	for _, a := range w.sf.List("Account") {
		if strings.EqualFold(strings.TrimSpace(str(a.Fields["Name"])), "acme") {
			acme = str(a.Fields["Website"])
		}
	}
	if acme != "acme.com" {
		t.Errorf("the Account with no website matched to Acme has website %q, want acme.com", acme)
	}
}
