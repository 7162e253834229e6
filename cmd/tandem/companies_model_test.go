package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
)

var refsSteps = flag.Int("refs.steps", 300, "actions of TestReferencesModel")

// TestReferencesModel drives companies and contacts with references
// through random edits in HubSpot and Salesforce, between passes: companies
// made on either side, contacts made with a company or none, contacts
// moved (to another company or none) on either side, companies deleted in
// HubSpot. After each window's passes it checks that:
//
//   - both systems hold the same companies and contacts, each once;
//   - every contact points to the same company in both (by domain);
//   - a move made in one system only in the window, to a company still
//     alive, is where the contact ends: no reference is lost;
//   - no contact is lost (Tandem's deletes of Accounts never cascade).
//
// Deleting an Account in Salesforce is left out: Salesforce then deletes
// its Contacts too, which the model does not follow.
//
// It found three faults on its first runs, each fixed: the clearing of a
// deleted company's references beat a move made elsewhere before it but
// read after it (seeds 1 and 3: the clearing was timed by Tandem's clock,
// then by the delete's); and an Account deleted while a contact made or
// moved to it in Salesforce had not been read yet took that contact with
// it (seed 6: the first try of such a delete now waits a pass).
func TestReferencesModel(t *testing.T) {
	seed := *propertySeed
	if seed == 0 {
		seed = rand.Uint64()%1_000_000 + 1
	}
	t.Logf("seed %d, %d actions (replay: go test ./cmd/tandem -run TestReferencesModel -property.seed=%d -refs.steps=%d -v)", seed, *refsSteps, seed, *refsSteps)
	rng := rand.New(rand.NewPCG(seed, 15))
	w := newCompaniesWorld(t)
	type contact struct{ email string }
	var domains []string // companies alive, by domain
	var emails []string  // contacts made
	nextCo, nextCt := 0, 0
	// moves of this window: email -> the domains it was moved to, by system
	moves := map[string]map[string]string{}
	deleted := map[string]bool{}
	var log []string
	fail := func(format string, args ...any) {
		t.Helper()
		start := max(0, len(log)-40)
		t.Fatalf("seed %d: "+format+"\nthe last actions:\n  %s", append([]any{seed}, append(args, strings.Join(log[start:], "\n  "))...)...)
	}
	hsCompany := func(domain string) string {
		for _, c := range w.hs.List("companies") {
			if c.Properties["domain"] == domain && !c.Archived {
				return c.ID
			}
		}
		return ""
	}
	sfAccount := func(domain string) string {
		for _, a := range w.sf.List("Account") {
			if str(a.Fields["Website"]) == domain {
				return a.ID
			}
		}
		return ""
	}
	inHS := func(email string) string {
		for _, c := range w.hs.List("contacts") {
			if c.Properties["email"] == email && !c.Archived {
				return c.ID
			}
		}
		return ""
	}
	inSF := func(email string) string {
		for _, c := range w.sf.List("Contact") {
			if str(c.Fields["Email"]) == email {
				return c.ID
			}
		}
		return ""
	}
	// pick is a company of one system (by domain), or "" for none.
	pick := func(system string) string {
		var in []string
		for _, d := range domains {
			if (system == "hubspot" && hsCompany(d) != "") || (system == "salesforce" && sfAccount(d) != "") {
				in = append(in, d)
			}
		}
		if len(in) == 0 || rng.IntN(5) == 0 {
			return ""
		}
		return in[rng.IntN(len(in))]
	}
	setCompany := func(system, email, domain string) error {
		if system == "hubspot" {
			id := inHS(email)
			if domain == "" {
				if cur := w.hsCompanyOf(email); cur != "" {
					w.hs.Dissociate(id, hsCompany(cur))
				}
				return nil
			}
			return w.hs.Associate(id, hsCompany(domain), true)
		}
		var acc any
		if domain != "" {
			acc = sfAccount(domain)
		}
		return w.sf.Update("Contact", inSF(email), map[string]any{"AccountId": acc})
	}
	check := func() {
		t.Helper()
		var hsDomains, sfDomains []string
		for _, c := range w.hs.List("companies") {
			if !c.Archived {
				hsDomains = append(hsDomains, c.Properties["domain"])
			}
		}
		for _, a := range w.sf.List("Account") {
			sfDomains = append(sfDomains, str(a.Fields["Website"]))
		}
		sort.Strings(hsDomains)
		sort.Strings(sfDomains)
		want := slices.Clone(domains)
		sort.Strings(want)
		if !slices.Equal(hsDomains, want) || !slices.Equal(sfDomains, want) {
			fail("companies: HubSpot %v, Salesforce %v, want %v", hsDomains, sfDomains, want)
		}
		if n, m := len(w.hs.List("contacts")), len(w.sf.List("Contact")); n != len(emails) || m != len(emails) {
			fail("contacts: %d in HubSpot, %d in Salesforce, want %d (none lost, none duplicated)", n, m, len(emails))
		}
		for _, e := range emails {
			h, s := w.hsCompanyOf(e), w.sfCompanyOf(e)
			if h != s {
				fail("%s: company %q in HubSpot, %q in Salesforce", e, h, s)
			}
			if m := moves[e]; len(m) == 1 {
				for sys, d := range m {
					if !deleted[d] && h != d {
						fail("%s was moved to %q in %s only, and ends at %q: the move was lost", e, d, sys, h)
					}
				}
			}
		}
	}
	systems := []string{"hubspot", "salesforce"}
	for step := 0; step < *refsSteps; step++ {
		sys := systems[rng.IntN(2)]
		w.clock.tick()
		switch r := rng.IntN(100); {
		case r < 12: // a company
			d := fmt.Sprintf("co%d.example.com", nextCo)
			nextCo++
			if sys == "hubspot" {
				w.hsCreate("companies", map[string]any{"name": "Co " + d, "domain": d})
			} else {
				w.sfCreate("Account", map[string]any{"Name": "Co " + d, "Website": d})
			}
			domains = append(domains, d)
			log = append(log, fmt.Sprintf("%3d %-10s create company %s", step, sys, d))
		case r < 30: // a contact
			e := fmt.Sprintf("p%d@example.com", nextCt)
			nextCt++
			d := pick(sys)
			if sys == "hubspot" {
				id := w.hsCreate("contacts", map[string]any{"email": e, "lastname": "L"})
				if d != "" {
					if err := w.hs.Associate(id, hsCompany(d), true); err != nil {
						t.Fatal(err)
					}
				}
			} else {
				f := map[string]any{"Email": e, "LastName": "L"}
				if d != "" {
					f["AccountId"] = sfAccount(d)
				}
				w.sfCreate("Contact", f)
			}
			emails = append(emails, e)
			log = append(log, fmt.Sprintf("%3d %-10s create contact %s at %q", step, sys, e, d))
		case r < 75: // a move, of a contact known in this system
			var known []string
			for _, e := range emails {
				if (sys == "hubspot" && inHS(e) != "") || (sys == "salesforce" && inSF(e) != "") {
					known = append(known, e)
				}
			}
			if len(known) == 0 {
				continue
			}
			e := known[rng.IntN(len(known))]
			d := pick(sys)
			if err := setCompany(sys, e, d); err != nil {
				t.Fatal(err)
			}
			if moves[e] == nil {
				moves[e] = map[string]string{}
			}
			moves[e][sys] = d
			log = append(log, fmt.Sprintf("%3d %-10s move %s to %q", step, sys, e, d))
		case r < 80: // a company deleted in HubSpot
			var in []string
			for _, d := range domains {
				if hsCompany(d) != "" {
					in = append(in, d)
				}
			}
			if len(in) == 0 || len(domains) < 3 {
				continue
			}
			d := in[rng.IntN(len(in))]
			if err := w.hs.Delete("companies", hsCompany(d)); err != nil {
				t.Fatal(err)
			}
			domains = slices.DeleteFunc(domains, func(x string) bool { return x == d })
			deleted[d] = true
			log = append(log, fmt.Sprintf("%3d %-10s delete company %s", step, "hubspot", d))
		default: // a pass, and the passes that settle it
			log = append(log, fmt.Sprintf("%3d pass", step))
			for range 3 {
				w.sync()
			}
			check()
			moves = map[string]map[string]string{}
		}
	}
	for range 3 {
		w.sync()
	}
	check()
}
