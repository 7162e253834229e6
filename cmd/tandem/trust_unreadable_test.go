package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestUnreadableValueHoldsOneField is issue 11, case 12: one value the
// mapping cannot read (a phone that does not parse) set the whole record
// aside, so none of its other edits synced. Only that field is held, with
// a record of why that tandem conflicts and tandem status show; the
// record's other fields keep syncing; the held value is not overwritten;
// and once it is fixed in the system it syncs again.
func TestUnreadableValueHoldsOneField(t *testing.T) {
	w := newWorld(t)
	w.sync(t)
	w.sync(t)
	const email = "ada.lovelace.0@example.com"
	hsID := w.hsByEmail(t, email).ID
	sfPhone := str(w.sfByEmail(t, email).Fields["Phone"])

	w.tick()
	if err := w.hs.Update("contacts", hsID, map[string]any{"phone": "call me maybe", "firstname": "Adaline"}); err != nil {
		t.Fatal(err)
	}
	if out := w.sync(t); !strings.Contains(out, "values held: they cannot be read, contact phone: 1") {
		t.Errorf("sync's summary does not name the held value:\n%s", out)
	}
	sf := w.sfByEmail(t, email)
	if got := str(sf.Fields["FirstName"]); got != "Adaline" {
		t.Errorf("Salesforce FirstName = %q, want the HubSpot edit Adaline: the unreadable phone held the whole record", got)
	}
	if got := str(sf.Fields["Phone"]); got != sfPhone {
		t.Errorf("Salesforce Phone = %q, want %q kept", got, sfPhone)
	}
	if got := w.hsByEmail(t, email).Properties["phone"]; got != "call me maybe" {
		t.Errorf("HubSpot phone = %q: the held value was overwritten", got)
	}

	// Why it is held: a conflict of kind value naming the system, the
	// record, the field, the value and the reason.
	code, out, errs := run("conflicts", "--format", "json", "--config", w.config)
	if code != 0 {
		t.Fatalf("conflicts: exit %d\n%s", code, errs)
	}
	var cs []struct {
		ID                           int64
		Kind, Field, Status, Decided string
		Values                       map[string]struct {
			Value    any    `json:"value"`
			RecordID string `json:"record_id"`
		}
	}
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	found := false
	for _, c := range cs {
		if c.Kind == "value" && c.Field == "phone" && c.Status == "open" {
			found = true
			if v := c.Values["hubspot"]; v.Value != "call me maybe" || v.RecordID != hsID || !strings.Contains(c.Decided, "properties.phone") {
				t.Errorf("held value conflict = %+v", c)
			}
			// Tandem cannot take a value it cannot read: resolve says
			// where to fix it.
			code, _, errs := run("resolve", fmt.Sprint(c.ID), "--take", "hubspot", "--config", w.config)
			if code == 0 || !strings.Contains(errs, "fix it in hubspot") {
				t.Errorf("resolve of a held value: exit %d, %s", code, errs)
			}
		}
	}
	if !found {
		t.Fatalf("no open conflict of kind %q on phone:\n%s", "value", out)
	}
	if _, out, _ := run("status", "--config", w.config); !strings.Contains(out, "1 open conflicts") {
		t.Errorf("status does not count the held value:\n%s", out)
	}

	// Replaying the stored payloads through the mapping says the same.
	if _, out, _ := run("replay", "--entity", "contact", "--config", w.config); !strings.Contains(out, "would be held: hubspot contacts: properties.phone (phone)") {
		t.Errorf("replay does not show the held value:\n%s", out)
	}

	// Nothing is written while it is held, however often the record is
	// read, and an edit of another field still crosses.
	before := w.writes()
	w.sync(t)
	if n := w.writes() - before; n != 0 {
		t.Errorf("a pass with nothing edited wrote %d times", n)
	}
	// A reconciliation sweep finds the held value as recorded: no drift.
	g := &globals{config: w.config, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a, err := g.open()
	if err != nil {
		t.Fatal(err)
	}
	ent, _ := a.cfg.Entity("contact")
	runs, err := a.engine.Reconcile(context.Background(), ent)
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Drift != 0 {
			t.Errorf("reconcile of %s: drift %d, want 0 (the held value is recorded)", r.System, r.Drift)
		}
	}
	w.tick()
	if err := w.hs.Update("contacts", hsID, map[string]any{"lastname": "Byron"}); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	if got := str(w.sfByEmail(t, email).Fields["LastName"]); got != "Byron" {
		t.Errorf("Salesforce LastName = %q, want Byron", got)
	}

	// Fixed in HubSpot, the phone syncs again and the conflict is closed.
	w.tick()
	if err := w.hs.Update("contacts", hsID, map[string]any{"phone": "+15550100777"}); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	w.check(t, 80)
	if got := str(w.sfByEmail(t, email).Fields["Phone"]); got != "+15550100777" {
		t.Errorf("Salesforce Phone = %q after the fix, want +15550100777", got)
	}
	if _, out, _ := run("status", "--config", w.config); !strings.Contains(out, "0 open conflicts") {
		t.Errorf("the held value is still open after the fix:\n%s", out)
	}
	before = w.writes()
	w.sync(t)
	if n := w.writes() - before; n != 0 {
		t.Errorf("a pass after the fix wrote %d times", n)
	}
}
