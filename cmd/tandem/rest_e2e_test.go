package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/rest/resttest"
)

// crm is a custom CRM behind the rest connector, as the end-to-end test
// drives it: a real server, reached the way a person would.
type crm struct {
	section  string // the system's config section
	do       func(method, path string, body any) (int, []byte, error)
	path     string // of the records
	items    string // gjson path of the records in a list answer
	okWrite  int    // the status of a create
	okDelete int    // of a delete
}

func (c crm) list(t *testing.T) []gjson.Result {
	t.Helper()
	q := "?_limit=1000"
	if c.items != "" {
		q = "?perPage=500"
	}
	st, b, err := c.do("GET", c.path+q, nil)
	if err != nil || st != http.StatusOK {
		t.Fatalf("list the CRM: %d %s %v", st, b, err)
	}
	if c.items != "" {
		return gjson.GetBytes(b, c.items).Array()
	}
	return gjson.ParseBytes(b).Array()
}

func (c crm) byEmail(t *testing.T, email string) gjson.Result {
	t.Helper()
	for _, r := range c.list(t) {
		if strings.EqualFold(r.Get("email").Str, email) {
			return r
		}
	}
	t.Fatalf("no CRM record %s", email)
	return gjson.Result{}
}

func (c crm) write(t *testing.T, method, path string, body any, want int) {
	t.Helper()
	if st, b, err := c.do(method, path, body); err != nil || st != want {
		t.Fatalf("%s %s: %d %s %v", method, path, st, b, err)
	}
}

func jsonServerCRM(t *testing.T) crm {
	js := resttest.StartJSONServer(t)
	t.Setenv("JSON_SERVER_TOKEN", js.Token)
	return crm{section: resttest.JSONServerSystem(js.URL, 10), path: "/contacts", okWrite: http.StatusCreated, okDelete: http.StatusOK,
		do: func(m, p string, b any) (int, []byte, error) { return js.Do(m, p, b, nil) }}
}

func pocketBaseCRM(t *testing.T) crm {
	pb := resttest.StartPocketBase(t)
	t.Setenv("PB_EMAIL", pb.Email)
	t.Setenv("PB_PASSWORD", pb.Password)
	return crm{section: resttest.PocketBaseSystem(pb.URL, 10), path: "/api/collections/contacts/records", items: "items",
		okWrite: http.StatusOK, okDelete: http.StatusNoContent, do: pb.Do}
}

// restContactConfig keeps contacts in agreement between the HubSpot
// emulator and a custom CRM.
func restContactConfig(state, hsURL, crmSection string) string {
	return fmt.Sprintf(`state: %s
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
    phone_region: US
    fields:
      email: email
      first_name: string
      last_name: string
      phone: phone
      lifecycle: string
    systems:
      hubspot:
        object: contacts
        fields:
          email: properties.email
          first_name: properties.firstname
          last_name: properties.lastname
          phone: properties.phone
          lifecycle: { path: properties.lifecyclestage, map: { lead: Lead, customer: Customer, opportunity: Opportunity, subscriber: Subscriber, marketingqualifiedlead: MarketingQualifiedLead, salesqualifiedlead: SalesQualifiedLead, evangelist: Evangelist, other: Other } }
      crm:
        object: contacts
        fields:
          email: email
          first_name: first_name
          last_name: last_name
          phone: phone
          lifecycle: lifecycle
    conflict: { policy: newest }
    deletes: { policy: propagate }
`, state, hsURL, resttest.Indent(crmSection, 4))
}

// Two-way sync between the HubSpot emulator and a real REST server,
// through `tandem sync`: the first pass makes both sides hold everyone,
// edits cross on the next, and a quiet pass writes nothing.
func TestRestSyncJSONServer(t *testing.T) { restSync(t, jsonServerCRM(t)) }
func TestRestSyncPocketBase(t *testing.T) { restSync(t, pocketBaseCRM(t)) }

func restSync(t *testing.T, c crm) {
	hs := hubspottest.NewServer(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-test-token", RateLimit: loopbackRate})
	t.Cleanup(hs.Close)
	if err := hs.LoadSeed("../../testdata/seed/contacts-hubspot.json"); err != nil {
		t.Fatal(err)
	}
	// One person both hold, alike; two only the CRM holds.
	ada := hs.List("contacts")[0]
	for _, r := range []map[string]any{
		{"email": ada.Properties["email"], "first_name": ada.Properties["firstname"], "last_name": ada.Properties["lastname"], "phone": ada.Properties["phone"], "lifecycle": "Lead"},
		{"email": "kim.crm.1@example.com", "first_name": "Kim", "last_name": "Crm", "phone": "+15559990001", "lifecycle": "Customer"},
		{"email": "lee.crm.2@example.com", "first_name": "Lee", "last_name": "Crm", "phone": "+15559990002", "lifecycle": "Lead"},
	} {
		c.write(t, "POST", c.path, r, c.okWrite)
	}
	if ada.Properties["lifecyclestage"] != "lead" {
		t.Fatalf("the seed's first contact is %v, not a lead", ada.Properties)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tandem.yaml")
	if err := os.WriteFile(cfg, []byte(restContactConfig(filepath.Join(dir, "tandem.db"), hs.URL, c.section)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("E2E_HS_TOKEN", "hs-test-token")
	sync := func() {
		t.Helper()
		var out, errb bytes.Buffer
		if code := execute([]string{"sync", "--config", cfg}, &out, &errb); code != 0 {
			t.Fatalf("tandem sync exited %d:\n%s\n%s", code, out.String(), errb.String())
		}
	}
	check := func(want int) map[string]gjson.Result {
		t.Helper()
		crmBy := map[string]gjson.Result{}
		for _, r := range c.list(t) {
			e := strings.ToLower(r.Get("email").Str)
			if _, dup := crmBy[e]; dup {
				t.Errorf("the CRM holds %s twice", e)
			}
			crmBy[e] = r
		}
		hsList := hs.List("contacts")
		if len(hsList) != want || len(crmBy) != want {
			t.Fatalf("HubSpot holds %d contacts, the CRM %d; want %d each", len(hsList), len(crmBy), want)
		}
		for _, o := range hsList {
			r, ok := crmBy[strings.ToLower(o.Properties["email"])]
			if !ok {
				t.Errorf("%s is in HubSpot only", o.Properties["email"])
				continue
			}
			if r.Get("first_name").Str != o.Properties["firstname"] || r.Get("last_name").Str != o.Properties["lastname"] ||
				r.Get("phone").Str != o.Properties["phone"] || strings.ToLower(r.Get("lifecycle").Str) != o.Properties["lifecyclestage"] {
				t.Errorf("%s differs: HubSpot %v, CRM %s", o.Properties["email"], o.Properties, r.Raw)
			}
		}
		return crmBy
	}

	sync()
	check(52)

	// A pass with no edits writes nothing, on either side.
	before, stamps := hs.Writes(), c.list(t)
	sync()
	if n := hs.Writes() - before; n != 0 {
		t.Errorf("a quiet pass sent HubSpot %d writes", n)
	}
	for i, r := range c.list(t) {
		if r.Raw != stamps[i].Raw {
			t.Errorf("a quiet pass wrote the CRM's %s", r.Get("email").Str)
		}
	}

	// An edit on either side reaches the other.
	if err := hs.Update("contacts", ada.ID, map[string]any{"phone": "+15551230000"}); err != nil {
		t.Fatal(err)
	}
	kim := c.byEmail(t, "kim.crm.1@example.com")
	c.write(t, "PATCH", c.path+"/"+url.PathEscape(kim.Get("id").String()), map[string]any{"first_name": "Kimberly"}, http.StatusOK)
	sync()
	got := check(52)
	if p := got[strings.ToLower(ada.Properties["email"])].Get("phone").Str; p != "+15551230000" {
		t.Errorf("HubSpot's edit did not reach the CRM: phone %q", p)
	}
	if f := got["kim.crm.1@example.com"].Get("first_name").Str; f != "Kimberly" {
		t.Errorf("the CRM's edit is not kept: %q", f)
	}

	// A record deleted for good in the CRM is found gone by the
	// reconciliation sweep, and the delete propagates.
	c.write(t, "DELETE", c.path+"/"+url.PathEscape(kim.Get("id").String()), nil, c.okDelete)
	g := &globals{config: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a, err := g.open()
	if err != nil {
		t.Fatal(err)
	}
	ent, _ := a.cfg.Entity("contact")
	runs, err := a.engine.Reconcile(context.Background(), ent)
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	drift := 0
	for _, r := range runs {
		drift += r.Drift
	}
	if drift != 1 {
		t.Errorf("the sweep found %d records out of step, want 1 (the delete): %+v", drift, runs)
	}
	sync()
	check(51)
}

// `tandem doctor` checks a rest system like the others: its credentials,
// the mapped paths against the fields its records show, and the field
// Tandem's key is kept in.
func TestRestDoctorJSONServer(t *testing.T) { restDoctor(t, jsonServerCRM(t)) }
func TestRestDoctorPocketBase(t *testing.T) { restDoctor(t, pocketBaseCRM(t)) }

func restDoctor(t *testing.T, c crm) {
	hs := hubspottest.NewServer(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-test-token", RateLimit: loopbackRate})
	t.Cleanup(hs.Close)
	t.Setenv("E2E_HS_TOKEN", "hs-test-token")
	c.write(t, "POST", c.path, map[string]any{"email": "a@example.com", "first_name": "A", "last_name": "B", "phone": "+15550000000", "lifecycle": "Lead"}, c.okWrite)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tandem.yaml")
	if err := os.WriteFile(cfg, []byte(restContactConfig(filepath.Join(dir, "tandem.db"), hs.URL, c.section)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := execute([]string{"doctor", "--config", cfg}, &out, &errb)
	for _, want := range []string{"system crm: credentials accepted", "crm: contacts holds Tandem's key in", "entity contact, system crm: 5 mapped paths found"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("doctor says no %q:\n%s", want, out.String())
		}
	}
	if code != 0 {
		t.Errorf("doctor exited %d:\n%s\n%s", code, out.String(), errb.String())
	}
	// A wrong secret is caught.
	t.Setenv("JSON_SERVER_TOKEN", "wrong")
	t.Setenv("PB_PASSWORD", "wrong-password")
	out.Reset()
	if code := execute([]string{"doctor", "--config", cfg}, &out, &errb); code == 0 || !strings.Contains(out.String(), "system crm: describe contacts") {
		t.Errorf("doctor with a wrong secret exited %d:\n%s", code, out.String())
	}
}
