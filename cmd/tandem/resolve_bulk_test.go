package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestResolveSeveral: resolve takes several IDs, or --all narrowed by
// kind, entity and field; each conflict is decided in its own
// transaction, one that cannot be (an unknown ID) is reported and the
// rest are decided, and the exit code says some were left.
func TestResolveSeveral(t *testing.T) {
	w := newWorld(t)
	w.editConfig(t, "conflict: { policy: newest }", "conflict: { policy: newest, fields: { phone: manual } }")
	if code, _, errs := run("sync", "--config", w.config); code != 0 {
		t.Fatalf("sync: exit %d\n%s", code, errs)
	}
	open := func() []string {
		var ids []string
		for _, c := range conflictsJSON(t, "--config", w.config) {
			if c["status"] == "open" {
				ids = append(ids, fmt.Sprint(c["id"]))
			}
		}
		return ids
	}
	ids := open()
	if len(ids) < 3 {
		t.Fatalf("%d open conflicts, want at least 3", len(ids))
	}

	for _, bad := range [][]string{
		{"resolve", "--take", "hubspot"},
		{"resolve", ids[0], "--all", "--take", "hubspot"},
		{"resolve", ids[0], "--kind", "field", "--take", "hubspot"},
		{"resolve", "--all", "--kind", "colour", "--take", "hubspot"},
	} {
		if code, _, errs := run(append(bad, "--config", w.config)...); code == 0 || errs == "" {
			t.Errorf("%v: exit %d, %q: want a usage error", bad, code, errs)
		}
	}

	code, out, _ := run("resolve", ids[0], ids[1], "999999", "--take", "hubspot", "--config", w.config, "--format", "json")
	var rs []struct {
		ID       json.Number
		Conflict *struct{ Status, Decided string }
		Error    string
	}
	if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) != 3 {
		t.Fatalf("resolve of three --format json: %v\n%s", err, out)
	}
	if code == 0 || rs[0].Conflict == nil || rs[0].Conflict.Decided != "hubspot" || rs[1].Conflict == nil || rs[2].Error == "" {
		t.Errorf("resolve of two and an unknown id: exit %d, %s", code, out)
	}
	if left := open(); len(left) != len(ids)-2 {
		t.Errorf("open after resolving two: %v, want %d", left, len(ids)-2)
	}

	code, out, errs := run("resolve", "--all", "--kind", "field", "--field", "phone", "--take", "salesforce", "--config", w.config)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d of %d resolved", len(ids)-2, len(ids)-2)) {
		t.Errorf("resolve --all --kind field --field phone: exit %d\n%s%s", code, out, errs)
	}
	if left := open(); len(left) != 0 {
		t.Errorf("open after --all: %v", left)
	}
	if code, _, errs := run("resolve", "--all", "--take", "salesforce", "--config", w.config); code != 0 || !strings.Contains(errs, "no open conflict matches") {
		t.Errorf("resolve --all with nothing open: exit %d, %q", code, errs)
	}

	// A pass after the decisions runs clean; each decision is in the
	// audit trail.
	if code, _, errs := run("sync", "--config", w.config); code != 0 {
		t.Fatalf("sync: exit %d\n%s", code, errs)
	}
	code, out, _ = run("audit", "--config", w.config)
	if code != 0 || strings.Count(out, "resolve") < len(ids) {
		t.Errorf("audit after resolving %d: exit %d\n%s", len(ids), code, out)
	}
}
