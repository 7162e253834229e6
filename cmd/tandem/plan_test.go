package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
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
	var plan struct {
		Writes []struct {
			System, Field string
			From, To      any
		}
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("plan --format json: %v\n%s", err, out)
	}
	changes := plan.Writes
	if len(changes) != 1 || changes[0].System != "salesforce" || changes[0].Field != "LastName" || changes[0].From != "Lovelace" || changes[0].To != "King" {
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
	code, out, errOut := run("status", "--config", w.config, "-o", "wide")
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

// TestPlanShowsConflicts: with a field under the manual policy edited
// differently on both sides, plan names the field and both values, and
// exits 2 though it would write nothing; after the pass holds it, plan
// lists it as held, with its id, and exits 0.
func TestPlanShowsConflicts(t *testing.T) {
	w := newWorld(t)
	w.sync(t)
	w.editConfig(t, "conflict: { policy: newest }", "conflict: { policy: newest, fields: { last_name: manual } }")
	email := "ada.lovelace.0@example.com"
	w.tick()
	if err := w.hs.Update("contacts", w.hsByEmail(t, email).ID, map[string]any{"lastname": "King"}); err != nil {
		t.Fatal(err)
	}
	w.sf.Update("Contact", w.sfByEmail(t, email).ID, map[string]any{"LastName": "Byron"})
	code, out, errOut := run("plan", "--config", w.config, "--format", "json")
	if code != exitChanges {
		t.Fatalf("plan: exit %d, want %d\n%s%s", code, exitChanges, out, errOut)
	}
	var plan struct {
		Writes    []json.RawMessage
		Conflicts []struct {
			Field, Status, Decided string
			Values                 map[string]struct{ Value any }
		}
		Held []struct{ ID int64 }
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("plan --format json: %v\n%s", err, out)
	}
	if len(plan.Conflicts) != 1 || len(plan.Writes) != 0 || len(plan.Held) != 0 {
		t.Fatalf("plan = %s\nwant one conflict and no write", out)
	}
	c := plan.Conflicts[0]
	if c.Field != "last_name" || c.Status != "open" || c.Values["hubspot"].Value != "King" || c.Values["salesforce"].Value != "Byron" {
		t.Errorf("conflict = %+v, want last_name held with King and Byron", c)
	}
	code, out, _ = run("plan", "--config", w.config)
	if code != exitChanges || !strings.Contains(out, "hubspot: King | salesforce: Byron") || !strings.Contains(out, "last_name") || !strings.Contains(out, "held: manual policy") {
		t.Errorf("plan table: exit %d\n%s", code, out)
	}
	w.sync(t)
	code, out, _ = run("plan", "--config", w.config)
	if code != 0 || !strings.Contains(out, "Already held for a person") || !strings.Contains(out, "hubspot: King | salesforce: Byron") {
		t.Errorf("plan with the conflict held: exit %d, want 0 and the held conflict\n%s", code, out)
	}
}

// TestPlanMasksSensitive: a field marked sensitive is masked in the writes
// a plan lists, old and new value.
func TestPlanMasksSensitive(t *testing.T) {
	w := newWorld(t)
	w.sync(t)
	w.editConfig(t, "      phone: phone ", "      phone: { type: phone, sensitive: true } ")
	email := "ada.lovelace.0@example.com"
	w.tick()
	if err := w.hs.Update("contacts", w.hsByEmail(t, email).ID, map[string]any{"phone": "+15550199999", "lastname": "King"}); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"table", "json"} {
		code, out, errOut := run("plan", "--config", w.config, "--format", format)
		if code != exitChanges || strings.Contains(out, "15550199999") || !strings.Contains(out, "••••••") || !strings.Contains(out, "King") {
			t.Errorf("plan --format %s: exit %d, want the phone masked and the name shown\n%s%s", format, code, out, errOut)
		}
	}
}
