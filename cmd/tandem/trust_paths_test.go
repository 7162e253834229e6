package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRelativePathsFollowTheConfig is issue 11, case 11: a relative state
// path (and a relative secret file) in the config is the config file's
// neighbour, wherever Tandem is run from. Run from another directory (cron,
// a service), sync built a second state file there and re-linked
// everything, and conflicts read that empty file and said "no conflicts".
func TestRelativePathsFollowTheConfig(t *testing.T) {
	w := newWorld(t)
	dir := filepath.Dir(w.config)
	// The state file and HubSpot's token, both named relative to the config.
	if err := os.WriteFile(filepath.Join(dir, "hs-token"), []byte("hs-test-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.editConfig(t, "state: "+w.state, "state: tandem.db")
	w.editConfig(t, "token: ${E2E_HS_TOKEN}", "token_file: hs-token")
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)

	w.sync(t)
	if _, err := os.Stat(w.state); err != nil {
		t.Fatalf("no state file beside the config: %v", err)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "tandem.db")); err == nil {
		t.Fatal("sync made a state file in the working directory")
	}
	w.check(t, 80)

	// From a third directory, the same state: the differing phones of the
	// seed are the recorded conflicts, and a second pass writes nothing.
	t.Chdir(t.TempDir())
	code, out, errs := run("conflicts", "--all", "--config", w.config)
	if code != 0 || strings.Contains(out, "no conflicts") || !strings.Contains(out, "phone") {
		t.Fatalf("conflicts from another directory: exit %d\n%s%s", code, out, errs)
	}
	writes := w.writes()
	w.sync(t)
	if w.writes() != writes {
		t.Errorf("a second pass from another directory wrote %d times: it did not find the state", w.writes()-writes)
	}
	code, out, _ = run("status", "--config", w.config)
	if code != 0 || !strings.Contains(out, "80 records") {
		t.Errorf("status from another directory: exit %d\n%s", code, out)
	}
}
