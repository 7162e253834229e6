package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"tandem"
	"tandem/state"
)

// A phone too long for the table's column holds that field for the
// table alone: the record's other fields (edited at the same time, and
// later) still reach the table, the other systems take the phone, the
// hold is an open conflict tandem conflicts lists, and a later phone
// that fits is written and closes it. The pass is killed at every step
// in between and restarted: nothing is lost, nothing is held twice.
func TestPostgresValueTooLongHeld(t *testing.T) {
	w := newPGWorld(t, "poll")
	w.sql(t, "ALTER TABLE contacts ALTER COLUMN phone TYPE varchar(12)") // the seed's phones are 12 characters
	w.subSync(t, 0)
	w.check(t, 80)
	const email = "ada.lovelace.0@example.com"
	oldPhone := w.hsByEmail(t, email).Properties["phone"]

	row := func() (first, last, phone string) {
		t.Helper()
		err := w.db.QueryRow(context.Background(), "SELECT first_name, last_name, coalesce(phone, '') FROM contacts WHERE email = $1", email).Scan(&first, &last, &phone)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	holds := func() []tandem.Conflict {
		t.Helper()
		st, err := state.OpenReadOnly(w.state)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		cs, err := st.Conflicts(context.Background(), true)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	edit := func(round int) (first, phone string) {
		first, phone = fmt.Sprintf("Ada-%d", round), fmt.Sprintf("+4420794609%02d", round) // 13 characters
		if err := w.hs.Update("contacts", w.hsByEmail(t, email).ID, map[string]any{"firstname": first, "phone": phone}); err != nil {
			t.Fatal(err)
		}
		return first, phone
	}
	settle := func(what string) {
		t.Helper()
		for range 4 {
			hs, sf, db := w.hs.Writes(), w.sf.Writes(), w.versions(t)
			w.subSync(t, 0)
			if w.hs.Writes() == hs && w.sf.Writes() == sf && w.versions(t) == db {
				return
			}
		}
		t.Fatalf("%s: passes keep writing", what)
	}
	verify := func(what, first, phone string) {
		t.Helper()
		if f, _, p := row(); f != first || p != oldPhone {
			t.Errorf("%s: the table holds %s, %s; want the name %s and the phone as it was, %s", what, f, p, first, oldPhone)
		}
		if p := w.sfByEmail(t, email).Fields["Phone"]; p != phone {
			t.Errorf("%s: Salesforce's phone is %v, want %s", what, p, phone)
		}
		cs := holds()
		if len(cs) != 1 || cs[0].Kind != tandem.ConflictValue || cs[0].Policy != tandem.PolicyWrite || cs[0].Field != "phone" ||
			cs[0].Values["db"].Value != phone || !strings.Contains(cs[0].Decided, "column phone (character varying(12)): holds at most 12 characters, got 13") {
			t.Errorf("%s: open conflicts %+v, want one value held for db's phone", what, cs)
		}
	}

	// An undisturbed pass, to count its steps.
	first, phone := edit(0)
	steps, _ := w.subSync(t, 0)
	settle("undisturbed")
	verify("undisturbed", first, phone)
	out := w.run(t, "conflicts")
	if !strings.Contains(out, "phone") || !strings.Contains(out, "write") || !strings.Contains(out, "cannot be written to db contacts") {
		t.Errorf("tandem conflicts does not show the hold:\n%s", out)
	}
	for at := 1; at <= steps; at++ {
		first, phone := edit(at)
		w.subSync(t, at)
		settle(fmt.Sprintf("crash at step %d", at))
		verify(fmt.Sprintf("crash at step %d", at), first, phone)
	}

	// A later edit of another field still reaches the table.
	if err := w.hs.Update("contacts", w.hsByEmail(t, email).ID, map[string]any{"lastname": "Byron"}); err != nil {
		t.Fatal(err)
	}
	settle("a later edit")
	if _, l, p := row(); l != "Byron" || p != oldPhone {
		t.Errorf("a later edit: the table holds %s, %s", l, p)
	}
	// A phone that fits is written, and the hold closes.
	if err := w.hs.Update("contacts", w.hsByEmail(t, email).ID, map[string]any{"phone": "+15559990000"}); err != nil {
		t.Fatal(err)
	}
	settle("a phone that fits")
	if _, _, p := row(); p != "+15559990000" {
		t.Errorf("the phone that fits was not written: %s", p)
	}
	if cs := holds(); len(cs) != 0 {
		t.Errorf("still open: %+v", cs)
	}
	w.check(t, 80)

	// Held again; the column widened, a person has the value written
	// again with tandem resolve --take db.
	_, phone = edit(99)
	settle("held again")
	cs := holds()
	if len(cs) != 1 {
		t.Fatalf("held again: %+v", cs)
	}
	id := fmt.Sprint(cs[0].ID)
	var out2, errb bytes.Buffer
	if code := execute([]string{"resolve", id, "--take", "hubspot", "--config", w.config}, &out2, &errb); code == 0 || !strings.Contains(errb.String(), "--take db") {
		t.Errorf("resolve --take hubspot: exit %d, %s", code, errb.String())
	}
	w.sql(t, "ALTER TABLE contacts ALTER COLUMN phone TYPE varchar(20)")
	w.run(t, "resolve", id, "--take", "db")
	settle("resolved")
	if _, _, p := row(); p != phone {
		t.Errorf("after resolve --take db the table's phone is %s, want %s", p, phone)
	}
	if cs := holds(); len(cs) != 0 {
		t.Errorf("still open after resolve: %+v", cs)
	}
	w.check(t, 80)
}
