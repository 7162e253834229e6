package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"tandem"
	"tandem/conflict/report"
)

// sandboxDemo shows the emulated HubSpot, Salesforce and custom CRM kept
// in agreement: the initial sync, an edit in each reaching the others,
// and a quiet pass writing nothing.
func (g *globals) sandboxDemo(ctx context.Context) error {
	sb, err := startSandbox("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer sb.close()
	dir, err := os.MkdirTemp("", "tandem-sandbox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	g.config = filepath.Join(dir, "tandem.yaml")
	if err := os.WriteFile(g.config, []byte(sb.config(filepath.Join(dir, "tandem.db"))), 0o600); err != nil {
		return err
	}
	a, err := g.open()
	if err != nil {
		return err
	}
	defer a.Close()
	out := g.stdout
	pass := func() error {
		before := sb.hs.Writes() + sb.sf.Writes() + crmWrites(sb)
		runs, err := a.sync(ctx, "")
		printRuns(out, runs)
		fmt.Fprintf(out, "write requests sent to the emulators: %d\n", sb.hs.Writes()+sb.sf.Writes()+crmWrites(sb)-before)
		return err
	}

	fmt.Fprintf(out, "HubSpot emulator %s, Salesforce emulator %s, custom CRM %s\n", sb.hsURL, sb.sfURL, sb.crmURL)
	fmt.Fprintln(out, "State: a new file in a temporary directory, removed at the end: each demo starts clean.")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "1. Initial sync. HubSpot holds 50 contacts, Salesforce 50, the custom CRM 25; 20 are in HubSpot and\n"+
		"   Salesforce both, 5 in HubSpot and the CRM, 10 in Salesforce and the CRM (the same people by email).\n"+
		"   HubSpot and Salesforce hold 5 companies each, 3 of them the same (by domain); 16 people work for\n"+
		"   one, 2 of them at one company in HubSpot and another in Salesforce.")
	if err := pass(); err != nil {
		return err
	}
	fmt.Fprintf(out, "now HubSpot holds %d contacts, Salesforce %d and the custom CRM %d\n", len(sb.hs.List("contacts")), len(sb.sf.List("Contact")), len(sb.crm.List()))
	fmt.Fprintf(out, "and HubSpot %d companies, Salesforce %d (the CRM has none)\n", len(sb.hs.List("companies")), len(sb.sf.List("Account")))
	conflicts, err := a.store.Conflicts(ctx, false)
	if err != nil {
		return err
	}
	// A contact's company is a company's entity id: shown by its name.
	refs, err := report.RefNames(ctx, a.store, a.cfg, conflicts)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "conflicts decided by policy: %d; the first on each field:\n", len(conflicts))
	shown := map[string]bool{}
	for _, c := range conflicts {
		if !shown[c.Field] {
			shown[c.Field] = true
			fmt.Fprintf(out, "  %s: %s\n", c.Field, describeConflict(c.Values, c.Decided, refs))
		}
	}
	if len(conflicts) > len(shown) {
		fmt.Fprintf(out, "  ... (%d more)\n", len(conflicts)-len(shown))
	}

	hc := sb.hs.List("contacts")[0]
	email := hc.Properties["email"]
	var sfID string
	for _, r := range sb.sf.List("Contact") {
		if e, _ := r.Fields["Email"].(string); strings.EqualFold(e, email) {
			sfID = r.ID
		}
	}
	var crmID string
	for _, r := range sb.crm.List() {
		if e, _ := r.Fields["email"].(string); strings.EqualFold(e, email) {
			crmID = r.ID
		}
	}
	fmt.Fprintf(out, "\n2. A person edits %s: the phone in HubSpot, the last name in Salesforce, the first name in the CRM.\n", email)
	if err := sb.hs.Update("contacts", hc.ID, map[string]any{"phone": "+15550000001"}); err != nil {
		return err
	}
	if err := sb.sf.Update("Contact", sfID, map[string]any{"LastName": "Lovelace-King"}); err != nil {
		return err
	}
	sb.crm.Update(crmID, map[string]any{"first_name": "Augusta Ada"})
	if err := pass(); err != nil {
		return err
	}
	h, _ := sb.hs.Get("contacts", hc.ID)
	s, _ := sb.sf.Get("Contact", sfID)
	c, _ := sb.crm.Get(crmID)
	fmt.Fprintf(out, "HubSpot    %s: %s %s, phone %s\n", hc.ID, h.Properties["firstname"], h.Properties["lastname"], h.Properties["phone"])
	fmt.Fprintf(out, "Salesforce %s: %v %v, phone %v\n", sfID, s.Fields["FirstName"], s.Fields["LastName"], s.Fields["Phone"])
	fmt.Fprintf(out, "CRM        %s: %v %v, phone %v\n", crmID, c.Fields["first_name"], c.Fields["last_name"], c.Fields["phone"])

	fmt.Fprintln(out, "\n3. Nothing changed since: the next pass reads the echoes of its own writes and sends nothing.")
	if err := pass(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nTry it yourself: tandem sandbox --write-config sandbox.yaml, then tandem sync --config sandbox.yaml;\n"+
		"tandem plan --config sandbox.yaml shows what a pass would write, and\n"+
		"tandem conflicts --config sandbox.yaml --all --format html -o conflicts.html the conflicts above.\n")
	return nil
}

// crmWrites counts the write requests the custom CRM has served.
func crmWrites(sb *sandbox) int {
	n := 0
	for _, r := range sb.crm.Requests() {
		if !strings.HasPrefix(r, "GET ") {
			n++
		}
	}
	return n
}

func describeConflict(values map[string]tandem.SideValue, decided string, refs map[string]report.Ref) string {
	var parts []string
	for _, sys := range slices.Sorted(maps.Keys(values)) {
		v := values[sys].Value
		if id, ok := v.(string); ok && refs[id].Name != "" {
			v = refs[id].Name
		}
		parts = append(parts, fmt.Sprintf("%s=%v", sys, v))
	}
	return strings.Join(parts, " vs ") + ", kept " + decided
}
