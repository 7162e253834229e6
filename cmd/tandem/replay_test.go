package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// run runs a tandem command in this process and returns its exit code and
// output.
func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := execute(args, &out, &errb)
	return code, out.String(), errb.String()
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestReplay(t *testing.T) {
	w := newWorld(t)
	w.sync(t)

	// The mapping as synced: replaying it changes nothing.
	if code, out, errs := run("replay", "--config", w.config, "--entity", "contact"); code != 0 || !strings.Contains(out, "nothing would change") {
		t.Fatalf("replay of the unchanged mapping: exit %d\n%s%s", code, out, errs)
	}

	// Now HubSpot first names are read upper-cased: all 80 HubSpot records
	// (50 seeded there, 30 Tandem created, whose stored payload is what it
	// sent) read differently, so every golden first name changes, and so
	// does every Salesforce record. HubSpot itself needs no write.
	w.editConfig(t, "{ path: properties.firstname, transform: trim }", "{ path: properties.firstname, transform: [trim, upper] }")
	requests, state := len(w.hs.Requests())+len(w.sf.Requests()), fileSum(t, w.state)

	code, out, errs := run("replay", "--config", w.config, "--entity", "contact", "--format", "json")
	if code != exitChanges {
		t.Fatalf("replay exit %d, want %d\n%s", code, exitChanges, errs)
	}
	type change struct {
		EntityID string `json:"entity_id"`
		System   string
		RecordID string `json:"record_id"`
		Field    string
		From, To string // JSON values: here strings, not JSON text
	}
	var changes []change
	if err := json.Unmarshal([]byte(out), &changes); err != nil {
		t.Fatalf("replay --format json: %v\n%s", err, out)
	}
	golden, writes := map[string]change{}, map[string]change{}
	for _, c := range changes {
		switch {
		case c.System == "" && c.Field == "first_name":
			golden[c.EntityID] = c
		case c.System == "salesforce" && c.Field == "FirstName":
			writes[c.EntityID] = c
		default:
			t.Errorf("unexpected change %+v", c)
		}
	}
	if len(golden) != 80 || len(writes) != 80 {
		t.Fatalf("%d golden changes and %d Salesforce writes, want 80 and 80", len(golden), len(writes))
	}
	for id, g := range golden {
		wr := writes[id]
		if g.To != strings.ToUpper(g.From) || wr.To != g.To || wr.From != g.From || wr.RecordID == "" {
			t.Errorf("golden %+v, write %+v", g, wr)
		}
	}
	// Nothing fetched, nothing written, the state file untouched.
	if n := len(w.hs.Requests()) + len(w.sf.Requests()); n != requests {
		t.Errorf("replay sent %d requests", n-requests)
	}
	if fileSum(t, w.state) != state {
		t.Error("replay changed the state file")
	}

	// The table form says the same, one line per change.
	code, out, _ = run("replay", "--config", w.config, "--entity", "contact")
	if code != exitChanges || !strings.Contains(out, "160 changes in 80 records") || !strings.Contains(out, `"ADA"`) {
		t.Errorf("replay table: exit %d\n%s", code, out)
	}
	if code, _, errs := run("replay", "--config", w.config, "--entity", "nope"); code != 1 || !strings.Contains(errs, `no entity "nope"`) {
		t.Errorf("unknown entity: exit %d, %s", code, errs)
	}
}
