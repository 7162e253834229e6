package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tandem/connectors/hubspot/hubspottest"
)

// TestSandboxKeepsEarlierFiles: a sandbox does not overwrite a config or
// reuse a state file left by an earlier one (its records are gone with its
// emulators) unless told to with --force, which starts afresh.
func TestSandboxKeepsEarlierFiles(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "sandbox.yaml")
	var out bytes.Buffer
	if err := freshSandboxFiles(&out, config, "sandbox.db", false); err != nil {
		t.Fatalf("nothing there yet: %v", err)
	}
	os.WriteFile(config, []byte("# mine\n"), 0o600)
	err := freshSandboxFiles(&out, config, "sandbox.db", false)
	if err == nil || !strings.Contains(err.Error(), config) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("an existing config: %v, want a refusal naming it and --force", err)
	}
	state := filepath.Join(dir, "sandbox.db")
	for _, p := range []string{state, state + "-wal"} {
		os.WriteFile(p, []byte("x"), 0o600)
	}
	if err := freshSandboxFiles(&out, config, "sandbox.db", false); err == nil || !strings.Contains(err.Error(), state) {
		t.Fatalf("an earlier state file: %v, want a refusal naming it", err)
	}
	if err := freshSandboxFiles(&out, config, "sandbox.db", true); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{state, state + "-wal"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("--force left %s", p)
		}
	}
	if !strings.Contains(out.String(), "Starting afresh") {
		t.Errorf("--force did not say it starts afresh: %q", out.String())
	}
}

// TestVersion: `tandem version`, its JSON and --version say which binary
// this is.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errb bytes.Buffer
		if code := execute(args, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "tandem ") || !strings.Contains(out.String(), "go1.") {
			t.Errorf("%v: exit %d, %q %q", args, code, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := execute([]string{"version", "--format", "json"}, &out, &errb); code != 0 || !strings.Contains(out.String(), `"go":"go1.`) {
		t.Errorf("version --format json: exit %d, %q", code, out.String())
	}
}

// TestSandboxThreeSystems: `tandem sync --sandbox` keeps HubSpot,
// Salesforce and the custom CRM (the rest connector over its emulated
// API) in agreement: everyone everywhere, each edit everywhere, then a
// quiet pass.
func TestSandboxThreeSystems(t *testing.T) {
	var out, errb bytes.Buffer
	if code := execute([]string{"sync", "--sandbox"}, &out, &errb); code != 0 {
		t.Fatalf("sync --sandbox exited %d:\n%s\n%s", code, out.String(), errb.String())
	}
	got := out.String()
	for _, want := range []string{
		"now HubSpot holds 90 contacts, Salesforce 90 and the custom CRM 90",
		"contact  crm         contacts   25      65       0",
		"company  salesforce  Account    5       2        0",
		"and HubSpot 7 companies, Salesforce 7",
		"company: hubspot=Difference Engines vs salesforce=Colossus Systems, kept salesforce",
		"Salesforce 0", "CRM        c",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the demo says no %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "Augusta Ada Lovelace-King, phone +15550000001"); n != 3 {
		t.Errorf("the three edits reached %d of 3 systems:\n%s", n, got)
	}
	if _, quiet, _ := strings.Cut(got, "3. Nothing changed"); !strings.Contains(quiet, "write requests sent to the emulators: 0\n") {
		t.Errorf("the quiet pass wrote:\n%s", quiet)
	}
}

// TestSandboxCompanies: after one sync of the sandbox, each seeded
// company is in HubSpot and Salesforce once (matched by domain, never
// duplicated), every contact with a company points to the same one in
// both, and the people linked to different companies in each were
// recorded as conflicts on company, decided for Salesforce's newer link.
func TestSandboxCompanies(t *testing.T) {
	sb, err := startSandbox("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sb.close()
	dir := t.TempDir()
	config := filepath.Join(dir, "tandem.yaml")
	if err := os.WriteFile(config, []byte(sb.config(filepath.Join(dir, "tandem.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	a, _ := openRepro(t, config)
	ctx := context.Background()
	if _, err := a.sync(ctx, ""); err != nil {
		t.Fatal(err)
	}

	// Companies: every domain once in each system.
	var want []string
	for _, c := range sandboxCompanies {
		want = append(want, c.domain)
	}
	slices.Sort(want)
	hsDomain, sfDomain := map[string]string{}, map[string]string{} // company id -> domain
	for _, c := range sb.hs.List("companies") {
		if !c.Archived {
			hsDomain[c.ID] = c.Properties["domain"]
		}
	}
	for _, c := range sb.sf.List("Account") {
		sfDomain[c.ID] = str(c.Fields["Website"])
	}
	for sys, ids := range map[string]map[string]string{"HubSpot": hsDomain, "Salesforce": sfDomain} {
		if got := slices.Sorted(maps.Values(ids)); !slices.Equal(got, want) {
			t.Errorf("%s's companies by domain: %v, want each of %v once", sys, got, want)
		}
	}

	// Contacts: the same company in both, by domain.
	hsCo, sfCo := map[string]string{}, map[string]string{} // email -> its company's domain
	for _, c := range sb.hs.List("contacts") {
		for co, types := range sb.hs.Associations("contacts", c.ID) {
			if !c.Archived && slices.Contains(types, hubspottest.ContactToCompanyPrimary) {
				hsCo[strings.ToLower(c.Properties["email"])] = hsDomain[co]
			}
		}
	}
	for _, c := range sb.sf.List("Contact") {
		if acc := str(c.Fields["AccountId"]); acc != "" {
			sfCo[strings.ToLower(str(c.Fields["Email"]))] = sfDomain[acc]
		}
	}
	if !maps.Equal(hsCo, sfCo) {
		t.Errorf("contacts' companies differ:\nHubSpot    %v\nSalesforce %v", hsCo, sfCo)
	}
	// Every fifth person of 0-79 was linked in HubSpot, Salesforce or both.
	if len(hsCo) != 16 {
		t.Errorf("%d contacts have a company in HubSpot, want 16: %v", len(hsCo), hsCo)
	}
	for i, domain := range map[int]string{30: "bletchley.example", 40: "colossus.example", 45: "zuse.example", 50: "analytical-engines.example", 5: "bletchley.example"} {
		if got := sfCo[sandboxEmail(i)]; got != domain {
			t.Errorf("person %d's company: %q, want %q", i, got, domain)
		}
	}

	cs, err := a.store.Conflicts(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	var onCompany int
	for _, c := range cs {
		if c.Field == "company" && c.Decided == "salesforce" {
			onCompany++
		}
	}
	if onCompany != 2 {
		t.Errorf("%d conflicts on company decided for Salesforce, want 2 (people 40 and 45): %+v", onCompany, cs)
	}

	// tandem conflicts names the companies: by name in the table and
	// the page, and in JSON beside the values, which stay entity ids.
	for format, want := range map[string][]string{
		"table": {"hubspot=Difference Engines (company ", "salesforce=Colossus Systems (company "},
		"json":  {`": "Jacquard Looms"`, `": "Zuse KG"`},
		"html":  {"<code>Zuse KG (company "},
	} {
		var out, errb bytes.Buffer
		if code := execute([]string{"conflicts", "--config", config, "--all", "--entity", "contact", "--format", format}, &out, &errb); code != 0 {
			t.Fatalf("conflicts --format %s: exit %d: %s", format, code, errb.String())
		}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("conflicts --format %s says no %q:\n%s", format, w, out.String())
			}
		}
	}

	// tandem status --format json: both entities, each with linked
	// records in every system that maps it.
	var out, errb bytes.Buffer
	if code := execute([]string{"status", "--config", config, "--format", "json"}, &out, &errb); code != 0 {
		t.Fatalf("status: exit %d: %s", code, errb.String())
	}
	var status []struct {
		Entity  string `json:"entity"`
		Records int    `json:"records"`
		Systems []struct {
			System string `json:"system"`
			Object string `json:"object"`
			Linked int    `json:"linked_records"`
		} `json:"systems"`
	}
	if err := json.Unmarshal(out.Bytes(), &status); err != nil {
		t.Fatalf("status --format json: %v\n%s", err, out.String())
	}
	seen := map[string]bool{}
	for _, es := range status {
		seen[es.Entity] = true
		if es.Records == 0 {
			t.Errorf("status: entity %s has no records", es.Entity)
		}
		for _, s := range es.Systems {
			if s.Linked == 0 {
				t.Errorf("status: entity %s has no records linked in %s %s", es.Entity, s.System, s.Object)
			}
		}
	}
	if !seen["company"] || !seen["contact"] {
		t.Errorf("status lists %v, want company and contact", slices.Sorted(maps.Keys(seen)))
	}
}

// TestCPUProfile: --cpuprofile writes the command's CPU profile (a
// gzipped pprof protobuf) where it is told, and a path it cannot create
// fails the command before it runs, naming the flag.
func TestCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	var out, errb bytes.Buffer
	if code := execute([]string{"version", "--cpuprofile", path}, &out, &errb); code != 0 {
		t.Fatalf("version --cpuprofile: exit %d: %s", code, errb.String())
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("the profile: %d bytes, %v; want a gzipped profile", len(b), err)
	}
	out.Reset()
	errb.Reset()
	bad := filepath.Join(t.TempDir(), "no such dir", "cpu.pprof")
	if code := execute([]string{"version", "--cpuprofile", bad}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "--cpuprofile") || out.Len() != 0 {
		t.Errorf("--cpuprofile into a missing directory: exit %d, stdout %q, stderr %q; want a failure naming the flag", code, out.String(), errb.String())
	}
}
