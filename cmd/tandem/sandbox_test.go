package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		"contact  crm         contacts  25      65       0",
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
