package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestStatusFitsAndWide: status fits 120 columns, however long the last
// pass's error; -o wide shows every column whole; the JSON cursor is a
// JSON value, not JSON text in a string.
func TestStatusFitsAndWide(t *testing.T) {
	w := newWorld(t)
	w.sync(t)
	w.hs.Close()
	if code, _, _ := run("sync", "--config", w.config); code != exitFailed {
		t.Fatalf("sync with HubSpot down: exit %d", code)
	}
	code, out, errs := run("status", "--config", w.config)
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, errs)
	}
	for _, l := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(l); n > 120 {
			t.Errorf("status line of %d columns:\n%s", n, l)
		}
	}
	if !strings.Contains(out, "…") || !strings.Contains(out, "tandem status -o wide") {
		t.Errorf("status does not say the error was cut:\n%s", out)
	}
	_, wide, _ := run("status", "--config", w.config, "-o", "wide")
	if !strings.Contains(wide, "connection refused") || !strings.Contains(wide, "QUOTA") {
		t.Errorf("status -o wide lacks the whole error or a column:\n%s", wide)
	}
	_, js, _ := run("status", "--config", w.config, "--format", "json")
	var st []struct {
		Systems []struct {
			System string
			Cursor any
		}
	}
	if err := json.Unmarshal([]byte(js), &st); err != nil || len(st) != 1 {
		t.Fatalf("status --format json: %v\n%s", err, js)
	}
	for _, s := range st[0].Systems {
		if _, ok := s.Cursor.(map[string]any); !ok {
			t.Errorf("%s cursor = %#v, want a JSON object", s.System, s.Cursor)
		}
	}
}

// TestFormatJSON: sync, backfill, doctor and resolve print one JSON
// document with --format json, values as values.
func TestFormatJSON(t *testing.T) {
	w := newWorld(t)
	w.editConfig(t, "conflict: { policy: newest }", "conflict: { policy: newest, fields: { phone: manual } }")
	code, out, errs := run("sync", "--config", w.config, "--format", "json")
	if code != 0 {
		t.Fatalf("sync --format json: exit %d\n%s", code, errs)
	}
	var pass struct {
		Runs []struct {
			System string
			Pulled int
		}
		NeedsALook []struct {
			What  string
			Count int
		} `json:"needs_a_look"`
		ExitCode *int `json:"exit_code"`
	}
	if err := json.Unmarshal([]byte(out), &pass); err != nil {
		t.Fatalf("sync --format json: %v\n%s", err, out)
	}
	if len(pass.Runs) != 2 || pass.Runs[0].Pulled == 0 || len(pass.NeedsALook) != 1 || pass.NeedsALook[0].Count != 4 || pass.ExitCode == nil || *pass.ExitCode != 0 {
		t.Errorf("sync --format json = %s", out)
	}

	code, out, errs = run("backfill", "--entity", "contact", "--system", "hubspot", "--config", w.config, "--format", "json")
	if err := json.Unmarshal([]byte(out), &pass); code != 0 || err != nil || len(pass.Runs) != 1 || pass.Runs[0].System != "hubspot" {
		t.Errorf("backfill --format json: exit %d, %v\n%s%s", code, err, out, errs)
	}

	code, out, errs = run("doctor", "--config", w.config, "--format", "json")
	var doc struct {
		Checks []struct{ Status, Check, Error string }
		Failed *int
	}
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || len(doc.Checks) < 4 || doc.Failed == nil || *doc.Failed != 0 {
		t.Errorf("doctor --format json: exit %d, %v\n%s%s", code, err, out, errs)
	}
	for _, c := range doc.Checks {
		if c.Status != "ok" && c.Status != "warn" {
			t.Errorf("doctor check %+v", c)
		}
	}

	cs := conflictsJSON(t, "--config", w.config)
	if len(cs) == 0 {
		t.Fatal("no conflict held")
	}
	id := fmt.Sprint(cs[0]["id"])
	code, out, errs = run("resolve", id, "--take", "salesforce", "--config", w.config, "--format", "json")
	var c struct {
		ID      json.Number
		Status  string
		Decided string
		Values  map[string]struct{ Value any }
	}
	if err := json.Unmarshal([]byte(out), &c); code != 0 || err != nil || c.ID.String() != id || c.Status != "resolved" || c.Decided != "salesforce" {
		t.Errorf("resolve --format json: exit %d, %v\n%s%s", code, err, out, errs)
	}
	if _, ok := c.Values["salesforce"].Value.(string); !ok {
		t.Errorf("resolve --format json: a side's value is not a JSON string: %s", out)
	}
}
