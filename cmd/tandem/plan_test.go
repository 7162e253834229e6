package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"tandem/conflict"
)

// plan shows what a pass would write, field by field, and changes nothing:
// not the state file, not the systems. The pass after it writes exactly that.
func TestPlanWritesNothing(t *testing.T) {
	w := newWorld(t)
	w.sync(t)
	if code, out, errOut := run("plan", "--config", w.config); code != 0 {
		t.Fatalf("plan after a full pass: exit %d, want 0\n%s%s", code, out, errOut)
	}
	ada := w.hsByEmail(t, "ada.lovelace.0@example.com")
	w.tick()
	if err := w.hs.Update("contacts", ada.ID, map[string]any{"lastname": "King"}); err != nil {
		t.Fatal(err)
	}
	// The state file and its write-ahead log, if any: neither may change.
	files := func() string {
		s := fileSum(t, w.state)
		if _, err := os.Stat(w.state + "-wal"); err == nil {
			wal := fileSum(t, w.state+"-wal")
			return string(s[:]) + string(wal[:])
		}
		return string(s[:])
	}
	sum, writes := files(), w.writes()
	code, out, errOut := run("plan", "--config", w.config, "--format", "json")
	if code != exitChanges {
		t.Fatalf("plan: exit %d, want %d\n%s%s", code, exitChanges, out, errOut)
	}
	var changes []conflict.Change
	if err := json.Unmarshal([]byte(out), &changes); err != nil {
		t.Fatalf("plan --format json: %v\n%s", err, out)
	}
	if len(changes) != 1 || changes[0].System != "salesforce" || changes[0].Field != "LastName" || changes[0].From != `"Lovelace"` || changes[0].To != `"King"` {
		t.Errorf("plan = %+v, want Salesforce's LastName Lovelace -> King", changes)
	}
	if files() != sum || w.writes() != writes {
		t.Error("plan changed the state file or wrote to a system")
	}
	w.sync(t)
	if sf := w.sfByEmail(t, "ada.lovelace.0@example.com"); str(sf.Fields["LastName"]) != "King" {
		t.Errorf("after the pass Salesforce's LastName = %v, want King", sf.Fields["LastName"])
	}
	if code, out, _ := run("plan", "--config", w.config); code != 0 || !strings.Contains(out, "nothing would change") {
		t.Errorf("plan after the pass: exit %d\n%s", code, out)
	}
}

// status shows each system's client as the last pass left it: breaker,
// rate budget, daily quota.
func TestStatusShowsHealth(t *testing.T) {
	w := newWorld(t)
	w.sync(t)
	code, out, errOut := run("status", "--config", w.config)
	if code != 0 || !strings.Contains(out, "CIRCUIT") || strings.Count(out, "closed") != 2 || !strings.Contains(out, "left") {
		t.Errorf("status: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = run("status", "--config", w.config, "--format", "json")
	var st []struct {
		Systems []struct {
			System string `json:"system"`
			Health struct {
				Breaker string `json:"breaker"`
				Limits  *struct {
					DailyLimit int `json:"daily_limit"`
				} `json:"limits"`
			} `json:"health"`
		} `json:"systems"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 || len(st) != 1 {
		t.Fatalf("status --format json: exit %d, %v\n%s", code, err, out)
	}
	for _, s := range st[0].Systems {
		if s.Health.Breaker != "closed" || s.Health.Limits == nil || s.Health.Limits.DailyLimit == 0 {
			t.Errorf("%s health = %+v, want a closed breaker and the daily limit the API told", s.System, s.Health)
		}
	}
}
