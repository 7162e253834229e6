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
)

// sandboxDemo shows a two-way sync on the emulators: the initial sync, an
// edit on each side reaching the other, and a quiet pass writing nothing.
func (g *globals) sandboxDemo(ctx context.Context) error {
	sb, err := startSandbox("127.0.0.1:0", "127.0.0.1:0")
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
		before := sb.hs.Writes() + sb.sf.Writes()
		runs, err := a.sync(ctx, "")
		printRuns(out, runs)
		fmt.Fprintf(out, "write requests sent to the emulators: %d\n", sb.hs.Writes()+sb.sf.Writes()-before)
		return err
	}

	fmt.Fprintf(out, "HubSpot emulator %s, Salesforce emulator %s\n", sb.hsURL, sb.sfURL)
	fmt.Fprintln(out, "State: a new file in a temporary directory, removed at the end: each demo starts clean.")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "1. Initial sync. HubSpot holds 50 contacts, Salesforce 50; 20 are the same people by email.")
	if err := pass(); err != nil {
		return err
	}
	fmt.Fprintf(out, "now HubSpot holds %d contacts and Salesforce %d\n", len(sb.hs.List("contacts")), len(sb.sf.List("Contact")))
	conflicts, err := a.store.Conflicts(ctx, false)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "conflicts decided by policy: %d\n", len(conflicts))
	for i, c := range conflicts {
		if i == 3 {
			fmt.Fprintf(out, "  ... (%d more)\n", len(conflicts)-3)
			break
		}
		fmt.Fprintf(out, "  %s: %s\n", c.Field, describeConflict(c.Values, c.Decided))
	}

	hc := sb.hs.List("contacts")[0]
	email := hc.Properties["email"]
	var sfID string
	for _, r := range sb.sf.List("Contact") {
		if e, _ := r.Fields["Email"].(string); strings.EqualFold(e, email) {
			sfID = r.ID
		}
	}
	fmt.Fprintf(out, "\n2. A person edits %s: the phone in HubSpot and the last name in Salesforce.\n", email)
	if err := sb.hs.Update("contacts", hc.ID, map[string]any{"phone": "+15550000001"}); err != nil {
		return err
	}
	if err := sb.sf.Update("Contact", sfID, map[string]any{"LastName": "Lovelace-King"}); err != nil {
		return err
	}
	if err := pass(); err != nil {
		return err
	}
	h, _ := sb.hs.Get("contacts", hc.ID)
	s, _ := sb.sf.Get("Contact", sfID)
	fmt.Fprintf(out, "HubSpot    %s: phone %s, last name %s\n", hc.ID, h.Properties["phone"], h.Properties["lastname"])
	fmt.Fprintf(out, "Salesforce %s: phone %v, last name %v\n", sfID, s.Fields["Phone"], s.Fields["LastName"])

	fmt.Fprintln(out, "\n3. Nothing changed since: the next pass reads the echoes of its own writes and sends nothing.")
	if err := pass(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nTry it yourself: tandem sandbox --write-config sandbox.yaml, then tandem sync --config sandbox.yaml;\n"+
		"tandem plan --config sandbox.yaml shows what a pass would write, and\n"+
		"tandem conflicts --config sandbox.yaml --all --format html -o conflicts.html the conflicts above.\n")
	return nil
}

func describeConflict(values map[string]tandem.SideValue, decided string) string {
	var parts []string
	for _, sys := range slices.Sorted(maps.Keys(values)) {
		parts = append(parts, fmt.Sprintf("%s=%v", sys, values[sys].Value))
	}
	return strings.Join(parts, " vs ") + ", kept " + decided
}
