package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/rest/resttest"
)

// TestRestReferencesJSONServer syncs companies and contacts with their
// company between the HubSpot emulator and a real json-server, where a
// contact's company is an id field (companyId): each side ends holding its
// own id of the company (a HubSpot id never reaches companyId), and a
// contact moved to another company in the CRM moves in HubSpot.
func TestRestReferencesJSONServer(t *testing.T) {
	js := resttest.StartJSONServer(t)
	t.Setenv("JSON_SERVER_TOKEN", js.Token)
	t.Setenv("E2E_HS_TOKEN", "hs-test-token")
	keys := map[string][]string{"contacts": tandemKeys["contacts"], "companies": tandemKeys["contacts"]}
	hs := hubspottest.NewServer(hubspottest.Options{UniqueProperties: keys, Token: "hs-test-token", RateLimit: loopbackRate})
	t.Cleanup(hs.Close)
	crm := func(method, path string, body any) gjson.Result {
		t.Helper()
		st, b, err := js.Do(method, path, body, nil)
		if err != nil || st >= 300 {
			t.Fatalf("%s %s: %d %s %v", method, path, st, b, err)
		}
		return gjson.ParseBytes(b)
	}
	acme, err := hs.Create("companies", map[string]any{"name": "Acme", "domain": "acme.com"})
	if err != nil {
		t.Fatal(err)
	}
	ann, err := hs.Create("contacts", map[string]any{"email": "ann@example.com", "lastname": "Lee"})
	if err != nil {
		t.Fatal(err)
	}
	if err := hs.Associate(ann, acme, true); err != nil {
		t.Fatal(err)
	}
	initech := crm("POST", "/companies", map[string]any{"name": "Initech", "domain": "initech.com"}).Get("id").Raw
	crm("POST", "/contacts", map[string]any{"email": "bob@example.com", "last_name": "Ray", "companyId": initech})

	// The rest system: json-server's contacts, as the connector page's
	// example, and its companies alike.
	section := resttest.JSONServerSystem(js.URL, 10)
	contacts := section[strings.Index(section, "  contacts:\n"):]
	section += strings.Replace(strings.ReplaceAll(contacts, "/contacts", "/companies"), "  contacts:\n", "  companies:\n", 1)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tandem.yaml")
	body := fmt.Sprintf(`state: %s
systems:
  hubspot:
    type: hubspot
    base_url: %s
    token: ${E2E_HS_TOKEN}
    rate_limit: { requests: 100000, per: 10s }
    search_rate_limit: { requests: 10000, per: 1s }
  crm:
%sentities:
  contact:
    match: [email]
    fields: { email: email, last_name: string, company: { type: ref, entity: company } }
    systems:
      hubspot: { object: contacts, fields: { email: properties.email, last_name: properties.lastname, company: associations.companies } }
      crm: { object: contacts, fields: { email: email, last_name: last_name, company: companyId } }
  company:
    match: [domain]
    fields: { name: string, domain: string }
    systems:
      hubspot: { object: companies, fields: { name: properties.name, domain: properties.domain } }
      crm: { object: companies, fields: { name: name, domain: domain } }
`, filepath.Join(dir, "tandem.db"), hs.URL, resttest.Indent(section, 4))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	sync := func() {
		t.Helper()
		var out, errb bytes.Buffer
		if code := execute([]string{"sync", "--config", cfg}, &out, &errb); code != 0 {
			t.Fatalf("tandem sync exited %d:\n%s\n%s", code, out.String(), errb.String())
		}
	}
	crmCompany := func(domain string) string {
		for _, c := range crm("GET", "/companies", nil).Array() {
			if c.Get("domain").Str == domain {
				return c.Get("id").String()
			}
		}
		t.Fatalf("the CRM has no company %s", domain)
		return ""
	}
	crmContact := func(email string) gjson.Result {
		for _, c := range crm("GET", "/contacts", nil).Array() {
			if c.Get("email").Str == email {
				return c
			}
		}
		t.Fatalf("the CRM has no contact %s", email)
		return gjson.Result{}
	}
	hsCompanyOf := func(email string) string { return hsPrimaryDomain(t, hs.Emulator, email) }
	sync()
	sync()
	if got, want := crmContact("ann@example.com").Get("companyId").String(), crmCompany("acme.com"); got != want {
		t.Errorf("Ann's companyId in the CRM is %q, want Acme's CRM id %q (HubSpot's is %s)", got, want, acme)
	}
	if d := hsCompanyOf("bob@example.com"); d != "initech.com" {
		t.Errorf("Bob's company in HubSpot is %q, want initech.com", d)
	}
	if n := len(crm("GET", "/companies", nil).Array()); n != 2 {
		t.Errorf("the CRM has %d companies, want 2", n)
	}

	bob := crmContact("bob@example.com").Get("id").String()
	if st, b, err := js.Do("PATCH", "/contacts/"+bob, map[string]any{"companyId": crmCompany("acme.com")}, nil); err != nil || st != http.StatusOK {
		t.Fatalf("move Bob: %d %s %v", st, b, err)
	}
	sync()
	if d := hsCompanyOf("bob@example.com"); d != "acme.com" {
		t.Errorf("Bob moved to Acme in the CRM; his company in HubSpot is %q", d)
	}
}

// TestReferenceCycleJSONServer syncs companies that are each other's
// parent (a cycle) from one json-server to another: neither can be
// created with its parent's id, since neither exists there yet, so both
// are created first and their parents written by the next pass.
func TestReferenceCycleJSONServer(t *testing.T) {
	one, two := resttest.StartJSONServer(t), resttest.StartJSONServer(t)
	t.Setenv("JSON_SERVER_TOKEN", one.Token)
	do := func(js *resttest.JSONServer, method, path string, body any) gjson.Result {
		t.Helper()
		st, b, err := js.Do(method, path, body, nil)
		if err != nil || st >= 300 {
			t.Fatalf("%s %s: %d %s %v", method, path, st, b, err)
		}
		return gjson.ParseBytes(b)
	}
	a := do(one, "POST", "/companies", map[string]any{"name": "A", "domain": "a.com"}).Get("id").Raw
	b := do(one, "POST", "/companies", map[string]any{"name": "B", "domain": "b.com", "parentId": a}).Get("id").Raw
	do(one, "PATCH", "/companies/"+a, map[string]any{"parentId": b})

	companies := func(js *resttest.JSONServer) string {
		s := resttest.JSONServerSystem(js.URL, 10)
		return strings.Replace(strings.ReplaceAll(s, "/contacts", "/companies"), "  contacts:\n", "  companies:\n", 1)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tandem.yaml")
	body := fmt.Sprintf(`state: %s
systems:
  one:
%s  two:
%sentities:
  company:
    match: [domain]
    fields: { name: string, domain: string, parent: { type: ref, entity: company } }
    systems:
      one: { object: companies, fields: { name: name, domain: domain, parent: parentId } }
      two: { object: companies, fields: { name: name, domain: domain, parent: parentId } }
`, filepath.Join(dir, "tandem.db"), resttest.Indent(companies(one), 4), resttest.Indent(companies(two), 4))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		var out, errb bytes.Buffer
		if code := execute([]string{"sync", "--config", cfg}, &out, &errb); code != 0 {
			t.Fatalf("tandem sync exited %d:\n%s\n%s", code, out.String(), errb.String())
		}
	}
	byDomain := map[string]gjson.Result{}
	for _, c := range do(two, "GET", "/companies", nil).Array() {
		byDomain[c.Get("domain").Str] = c
	}
	if len(byDomain) != 2 {
		t.Fatalf("the second server holds %d companies, want A and B", len(byDomain))
	}
	a2, b2 := byDomain["a.com"], byDomain["b.com"]
	if a2.Get("parentId").String() != b2.Get("id").String() || b2.Get("parentId").String() != a2.Get("id").String() {
		t.Errorf("on the second server A (id %s) has parent %s and B (id %s) has parent %s; want each the other",
			a2.Get("id"), a2.Get("parentId"), b2.Get("id"), b2.Get("parentId"))
	}
}
