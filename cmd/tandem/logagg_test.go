package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// TestSyncLogsAnErrorOnce: three values held for the same reason are one
// log line with a count and an example; a pull that fails is said
// once on stderr (the command's own last line), not again by each layer
// it went through.
func TestSyncLogsAnErrorOnce(t *testing.T) {
	w := newWorld(t)
	w.editConfig(t, "              evangelist: Evangelist\n", "")
	w.sync(t)
	for _, e := range []string{"dennis.backus.31@example.com", "margaret.allen.42@example.com", "ada.lovelace.0@example.com"} {
		w.sf.Update("Contact", w.sfByEmail(t, e).ID, map[string]any{"Lifecycle__c": "Evangelist"})
	}
	code, _, errs := run("sync", "--config", w.config)
	if code != 0 {
		t.Fatalf("sync: exit %d\n%s", code, errs)
	}
	if n := strings.Count(errs, `"Evangelist\" is not in the map`); n != 1 {
		t.Errorf("the reason is logged %d times, want once:\n%s", n, errs)
	}
	if !strings.Contains(errs, `"msg":"field held: its value cannot be written"`) || !strings.Contains(errs, `"count":3`) {
		t.Errorf("no line with the count and an example:\n%s", errs)
	}
	w.hs.Close()
	code, _, errs = run("sync", "--config", w.config)
	if code != exitFailed {
		t.Fatalf("sync with HubSpot down: exit %d\n%s", code, errs)
	}
	if n := strings.Count(errs, "connection refused"); n != 1 || !strings.HasPrefix(errs, "tandem: ") {
		t.Errorf("the pull's error is on stderr %d times, want once, as the last line:\n%s", n, errs)
	}
}

// TestLogFormatJSON: with --log-format json every line on stderr is a JSON
// record, the command's own last error too (with its exit code).
func TestLogFormatJSON(t *testing.T) {
	config, _ := conflictsWorld(t)
	code, _, errs := run("conflicts", "--config", config, "--log-format", "json")
	if code != 0 {
		t.Fatalf("conflicts: exit %d\n%s", code, errs)
	}
	code, _, errs2 := run("deadletters", "show", "w1", "--config", config, "--log-format", "json")
	if code != 1 {
		t.Fatalf("show of nothing: exit %d\n%s", code, errs2)
	}
	lines := strings.Split(strings.TrimSpace(errs+errs2), "\n")
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["msg"] == nil {
			t.Errorf("not a JSON record on stderr: %q", l)
		}
	}
	if !strings.Contains(errs, "not created yet") || !strings.Contains(errs2, `"exit_code":1`) {
		t.Errorf("stderr:\n%s%s", errs, errs2)
	}
	if code, _, _ := run("status", "--config", config, "--log-format", "yaml"); code != 1 {
		t.Errorf("--log-format yaml: exit %d, want 1", code)
	}
}

// TestAggregator: warnings with the same error are one record at the end,
// the first one's attributes (With ones too) with a count and the other
// messages; what has no error, or is below warn, goes through at once; an
// error the command ends with is not logged.
func TestAggregator(t *testing.T) {
	var buf bytes.Buffer
	agg := newAggregator(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log := slog.New(agg).With("pass", "p1")
	log.Warn("write failed", "id", "1", "err", "boom")
	log.Info("progress", "err", "boom")
	log.Warn("write failed", "id", "2", "err", "boom")
	log.Error("pass step failed", "err", "boom")
	log.Warn("no error here")
	log.Warn("pull failed", "error", "refused")
	if got := strings.Count(buf.String(), "\n"); got != 2 {
		t.Fatalf("before the end, %d lines, want the info and the warning without error:\n%s", got, buf.String())
	}
	agg.flush("entity contact: refused")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[2]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["msg"] != "write failed" || rec["id"] != "1" || rec["pass"] != "p1" || rec["count"] != 3.0 || rec["also"] != "pass step failed" {
		t.Errorf("aggregated record = %v", rec)
	}
}
