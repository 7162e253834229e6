package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"tandem/state"
)

// deadLetters runs tandem deadletters list --format json.
func (w *world) deadLetters(t *testing.T) []state.DeadLetter {
	t.Helper()
	code, out, errs := run("deadletters", "list", "--format", "json", "--config", w.config)
	if code != 0 {
		t.Fatalf("deadletters list: exit %d\n%s", code, errs)
	}
	var ds []state.DeadLetter
	if err := json.Unmarshal([]byte(out), &ds); err != nil {
		t.Fatalf("deadletters list --format json: %v\n%s", err, out)
	}
	return ds
}

// TestDeadlettersRetryReplans: two writes fail for good (HubSpot refuses
// the stage the mapping writes); they are listed and shown; one record then
// changes so that it needs no write, the mapping is fixed, and retry
// plans each afresh from the current record: the other is written with
// its value now, the first is no longer needed. Nothing stale is sent.
func TestDeadlettersRetryReplans(t *testing.T) {
	w := newWorld(t)
	w.editConfig(t, "              evangelist: Evangelist\n", "              prospect: Evangelist\n") // HubSpot has no such stage
	w.sync(t)
	a, b := "dennis.backus.31@example.com", "margaret.allen.42@example.com"
	for _, e := range []string{a, b} {
		w.sf.Update("Contact", w.sfByEmail(t, e).ID, map[string]any{"Lifecycle__c": "Evangelist"})
	}
	if code, out, errs := run("sync", "--config", w.config); code != exitWriteFailed {
		t.Fatalf("sync: exit %d, want %d\n%s%s", code, exitWriteFailed, out, errs)
	}
	ds := w.deadLetters(t)
	if len(ds) != 2 {
		t.Fatalf("dead letters = %+v, want the 2 writes", ds)
	}
	for _, d := range ds {
		if d.Kind != state.DeadWrite || d.System != "hubspot" || d.RecordID == "" || !strings.Contains(d.Reason, "prospect was not one of the allowed options") {
			t.Errorf("dead letter %+v: want a hubspot write with its reason", d)
		}
	}
	code, out, _ := run("deadletters", "list", "--config", w.config)
	if code != 0 || !strings.Contains(out, ds[0].ID+"  ") || !strings.Contains(out, "write") {
		t.Errorf("deadletters list: exit %d\n%s", code, out)
	}
	code, out, _ = run("deadletters", "show", ds[0].ID, "--config", w.config)
	if code != 0 || !strings.Contains(out, "reason:") || !strings.Contains(out, "Evangelist") || !strings.Contains(out, "values sent, by field") {
		t.Errorf("deadletters show: exit %d\n%s", code, out)
	}
	if code, _, errs := run("deadletters", "show", "12", "--config", w.config); code != 1 || !strings.Contains(errs, "w<number>") {
		t.Errorf("show with a bare number: exit %d, %s", code, errs)
	}

	// b moves on in Salesforce; the pass writes that to HubSpot (the
	// dead write stays dead).
	w.tick()
	w.sf.Update("Contact", w.sfByEmail(t, b).ID, map[string]any{"Lifecycle__c": "Customer"})
	w.sync(t)
	if got := w.hsByEmail(t, b).Properties["lifecyclestage"]; got != "customer" {
		t.Fatalf("b's stage in HubSpot = %q, want customer", got)
	}
	w.editConfig(t, "              prospect: Evangelist\n", "              evangelist: Evangelist\n")
	before := w.hs.Writes()
	code, out, errs := run("deadletters", "retry", "--all", "--config", w.config)
	if code != 0 {
		t.Fatalf("retry --all: exit %d\n%s%s", code, out, errs)
	}
	idOf := map[string]string{}
	for _, d := range ds {
		idOf[d.RecordID] = d.ID
	}
	ida, idb := idOf[w.hsByEmail(t, a).ID], idOf[w.hsByEmail(t, b).ID]
	if !strings.Contains(out, ida+": write to hubspot contacts planned again") || !strings.Contains(out, idb+": hubspot contacts needs no write any more") {
		t.Errorf("retry output:\n%s", out)
	}
	if got := w.hsByEmail(t, a).Properties["lifecyclestage"]; got != "evangelist" {
		t.Errorf("a's stage in HubSpot = %q after retry, want evangelist", got)
	}
	if got := w.hsByEmail(t, b).Properties["lifecyclestage"]; got != "customer" {
		t.Errorf("b's stage in HubSpot = %q after retry, want customer still (the stale write must not be sent)", got)
	}
	if n := w.hs.Writes() - before; n < 1 {
		t.Errorf("retry wrote nothing to HubSpot")
	}
	if ds := w.deadLetters(t); len(ds) != 0 {
		t.Errorf("dead letters after retry: %+v", ds)
	}
	if code, _, _ := run("deadletters", "retry", "--config", w.config); code != 1 {
		t.Errorf("retry with neither ids nor --all: exit %d, want 1", code)
	}
}

// TestDeadlettersRecords: records set aside are listed with their payload
// (as text when it is not JSON); retry reads one again from its system at
// once, or, with --queue and no credentials, leaves it in the inbox for
// the daemon; discard forgets one, and refuses an unknown id without
// discarding any.
func TestDeadlettersRecords(t *testing.T) {
	w := newWorld(t)
	w.sync(t)
	id := w.hsByEmail(t, "dennis.backus.31@example.com").ID
	id2 := w.hsByEmail(t, "margaret.allen.42@example.com").ID
	st, err := state.Open(w.state)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = st.Update(ctx, func(tx *state.Tx) error {
		if err := tx.AddDeadLetter(ctx, "hubspot", "contacts", id, []byte("<html>oops"), "not JSON"); err != nil {
			return err
		}
		if err := tx.AddDeadLetter(ctx, "hubspot", "contacts", "404404", []byte(`{"id":"404404"}`), "properties.email: not a string"); err != nil {
			return err
		}
		return tx.AddDeadLetter(ctx, "hubspot", "contacts", id2, []byte("{"), "not JSON")
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	ds := w.deadLetters(t)
	if len(ds) != 3 || ds[0].Kind != state.DeadRecord || ds[0].RawText != "<html>oops" || !strings.Contains(string(ds[1].Raw), `"404404"`) {
		t.Fatalf("dead letters = %+v", ds)
	}
	code, out, _ := run("deadletters", "show", ds[1].ID, "--config", w.config)
	if code != 0 || !strings.Contains(out, `"id": "404404"`) {
		t.Errorf("show: exit %d\n%s", code, out)
	}
	if code, _, errs := run("deadletters", "discard", ds[1].ID, "r999", "--config", w.config); code != 1 || !strings.Contains(errs, "no dead letter r999") {
		t.Errorf("discard with an unknown id: exit %d, %s", code, errs)
	}
	if n := len(w.deadLetters(t)); n != 3 {
		t.Errorf("a refused discard discarded something: %d left", n)
	}
	if code, out, errs := run("deadletters", "discard", ds[1].ID, "--config", w.config); code != 0 {
		t.Fatalf("discard: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := run("deadletters", "retry", ds[0].ID, "--config", w.config); code != 0 || !strings.Contains(out, "to be read again") {
		t.Fatalf("retry of a record: exit %d\n%s%s", code, out, errs)
	}
	st, err = state.OpenReadOnly(w.state)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Both decisions are in the audit trail, the refused discard not.
	trail, err := st.AuditLog(ctx, 0)
	if err != nil || len(trail) != 2 || trail[0].Action != "retry" || trail[1].Action != "discard" ||
		trail[1].Subject != "dead letter "+ds[1].ID || trail[0].Actor != actor() {
		t.Errorf("audit trail %+v, %v; want the retry, then the discard of %s, by %s", trail, err, ds[1].ID, actor())
	}
	if n, err := st.InboxDepth(ctx, "hubspot", "contacts"); err != nil || n != 0 {
		t.Errorf("the re-read waits in the inbox: %d, %v", n, err)
	}
	os.Unsetenv("E2E_HS_TOKEN")
	os.Unsetenv("E2E_SF_SECRET")
	if code, out, errs := run("deadletters", "retry", "--queue", ds[2].ID, "--config", w.config); code != 0 || !strings.Contains(out, "queued") {
		t.Fatalf("retry --queue without credentials: exit %d\n%s%s", code, out, errs)
	}
	if ds := w.deadLetters(t); len(ds) != 0 {
		t.Errorf("dead letters left: %+v", ds)
	}
	if n, err := st.InboxDepth(ctx, "hubspot", "contacts"); err != nil || n != 1 {
		t.Errorf("inbox after retry --queue: %d, %v; want the re-read waiting", n, err)
	}
}

// TestDeadlettersMaskSensitive: a record set aside shows the payload paths
// of a field marked sensitive masked, in list and show.
func TestDeadlettersMaskSensitive(t *testing.T) {
	config, statePath := conflictsWorld(t)
	cfg, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	marked := strings.Replace(string(cfg), "      phone: phone ", "      phone: { type: phone, sensitive: true } ", 1)
	if marked == string(cfg) {
		t.Fatal("config has no phone field to mark")
	}
	os.WriteFile(config, []byte(marked), 0o600)
	st, err := state.Open(statePath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = st.Update(ctx, func(tx *state.Tx) error {
		return tx.AddDeadLetter(ctx, "hubspot", "contacts", "5", []byte(`{"id":"5","properties":{"phone":"+15550100099","email":7}}`), "properties.email: not a string")
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"list", "--format", "json"}, {"show", "r1"}, {"show", "r1", "--format", "json"}} {
		code, out, errs := run(append(append([]string{"deadletters"}, args...), "--config", config)...)
		if code != 0 || strings.Contains(out, "+15550100099") || !strings.Contains(out, "••••••") {
			t.Errorf("deadletters %v: exit %d, want the phone masked\n%s%s", args, code, out, errs)
		}
	}
}
