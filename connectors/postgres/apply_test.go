package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
)

func apply(t *testing.T, c *Client, ws ...tandem.Write) []tandem.Result {
	t.Helper()
	rs, err := c.Apply(context.Background(), "contacts", ws)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func create(key, payload string) tandem.Write {
	return tandem.Write{Op: tandem.OpCreate, Key: key, Payload: []byte(payload)}
}

// Every type the connector converts, written and read back as the same
// JSON values.
func TestTypesRoundTrip(t *testing.T) {
	dsn := newDB(t)
	c := openClient(t, dsn, Options{})
	payload := `{"email":"ada@example.com","last_name":"Lovelace","score":42,"amount":12.5,"vip":true,"born":"1815-12-10",` +
		`"seen_at":"2026-01-02T03:04:05.123456Z","extra":{"a":[1,"x"]},"tags":["one","two"]}`
	rs := apply(t, c, create("k1", payload))
	if rs[0].Err != nil {
		t.Fatal(rs[0].Err)
	}
	recs, err := c.Fetch(context.Background(), tandem.Query{Object: "contacts",
		Fields: []string{"email", "last_name", "score", "amount", "vip", "born", "seen_at", "extra.a", "tags"}}, []string{rs[0].ID})
	if err != nil || len(recs) != 1 {
		t.Fatalf("fetch: %v %v", recs, err)
	}
	raw := string(recs[0].Raw)
	for path, want := range map[string]string{"email": `"ada@example.com"`, "score": `42`, "amount": `12.50`, "vip": `true`,
		"born": `"1815-12-10"`, "seen_at": `"2026-01-02T03:04:05.123456+00:00"`, "extra": `{"a": [1, "x"]}`, "tags": `["one", "two"]`, "tandem_id": `"k1"`} {
		if got := gjson.Get(raw, path).Raw; got != want {
			t.Errorf("%s read back as %s, want %s (record %s)", path, got, want, raw)
		}
	}
	if recs[0].Modified.IsZero() {
		t.Errorf("no modified time")
	}
}

// A value that does not fit its column fails its own write, naming the
// column, for good; the other writes of the batch are made.
func TestValueThatDoesNotFit(t *testing.T) {
	dsn := newDB(t)
	c := openClient(t, dsn, Options{})
	for _, tc := range []struct{ payload, column string }{
		{`{"score":"many"}`, "score"},
		{`{"score":4.5}`, "score"},
		{`{"score":99999999999}`, "score"},
		{`{"vip":"yes"}`, "vip"},
		{`{"born":"10/12/1815"}`, "born"},
		{`{"seen_at":"yesterday"}`, "seen_at"},
		{`{"tags":"one"}`, "tags"},
		{`{"amount":"12,5"}`, "amount"},
		{`{"email":"` + strings.Repeat("x", 81) + `"}`, "email"},
		{`{"nosuch":1}`, "nosuch"},
	} {
		rs := apply(t, c, create("ok-"+tc.column, `{"last_name":"fine"}`), create("bad", tc.payload))
		if rs[0].Err != nil {
			t.Errorf("%s: the good write failed with the bad one: %v", tc.payload, rs[0].Err)
		}
		err := rs[1].Err
		if err == nil || tandem.IsRetryable(err) || !strings.Contains(err.Error(), tc.column) {
			t.Errorf("%s: got %v, want a permanent error naming column %s", tc.payload, err, tc.column)
		}
	}
}

// An update is conditional on the row as Fetch read it: an edit made in
// between (the write gap) is not overwritten, and the refusal is
// retryable and wraps ErrConflict, so the engine re-reads and merges.
func TestConditionalUpdate(t *testing.T) {
	dsn := newDB(t)
	c := openClient(t, dsn, Options{})
	ctx := context.Background()
	rs := apply(t, c, create("k1", `{"last_name":"Before"}`))
	id := rs[0].ID
	q := tandem.Query{Object: "contacts", Fields: []string{"last_name"}}
	recs, err := c.Fetch(ctx, q, []string{id})
	if err != nil {
		t.Fatal(err)
	}
	// A person edits the row after the engine's re-read.
	if _, err := conn(t, dsn).Exec(ctx, "UPDATE contacts SET last_name = 'Person' WHERE id = $1::bigint", id); err != nil {
		t.Fatal(err)
	}
	up := tandem.Write{Op: tandem.OpUpdate, ID: id, Payload: []byte(`{"last_name":"Tandem"}`), Unmodified: recs[0].Modified}
	rs = apply(t, c, up)
	if err := rs[0].Err; !errors.Is(err, tandem.ErrConflict) || !tandem.IsRetryable(err) {
		t.Fatalf("an update after an edit in the gap: %v, want a retryable ErrConflict", err)
	}
	var name string
	conn(t, dsn).QueryRow(ctx, "SELECT last_name FROM contacts WHERE id = $1::bigint", id).Scan(&name)
	if name != "Person" {
		t.Fatalf("the person's edit was overwritten: %q", name)
	}
	// Read again, the update goes.
	recs, _ = c.Fetch(ctx, q, []string{id})
	up.Unmodified = recs[0].Modified
	if rs = apply(t, c, up); rs[0].Err != nil {
		t.Fatal(rs[0].Err)
	}
	if got := gjson.GetBytes(rs[0].Record.Raw, "last_name").String(); got != "Tandem" {
		t.Errorf("the record returned holds %q", got)
	}
	// Without the memory of a Fetch, updated_at is the condition.
	c2 := openClient(t, dsn, Options{})
	up.Unmodified = recs[0].Modified // stale: the update above moved it
	if rs = apply(t, c2, up); !errors.Is(rs[0].Err, tandem.ErrConflict) {
		t.Errorf("an update on a stale updated_at: %v, want ErrConflict", rs[0].Err)
	}
	// A row gone: not found, for good.
	if rs = apply(t, c, tandem.Write{Op: tandem.OpUpdate, ID: "999999", Payload: []byte(`{"last_name":"x"}`)}); !errors.Is(rs[0].Err, tandem.ErrNotFound) || tandem.IsRetryable(rs[0].Err) {
		t.Errorf("an update of a missing row: %v", rs[0].Err)
	}
}

// A create tried again finds the row the first try made, and leaves it as
// a person has edited it since; a create whose unique value another row
// holds names that row.
func TestCreateNeverOverwrites(t *testing.T) {
	dsn := newDB(t)
	c := openClient(t, dsn, Options{})
	ctx := context.Background()
	w := create("k1", `{"last_name":"Tandem","email":"a@example.com"}`)
	first := apply(t, c, w)[0]
	if _, err := conn(t, dsn).Exec(ctx, "UPDATE contacts SET last_name = 'Person' WHERE tandem_id = 'k1'"); err != nil {
		t.Fatal(err)
	}
	again := apply(t, c, w)[0]
	if again.Err != nil || again.ID != first.ID {
		t.Fatalf("the create again: %v, id %s then %s", again.Err, first.ID, again.ID)
	}
	if got := gjson.GetBytes(again.Record.Raw, "last_name").String(); got != "Person" {
		t.Errorf("the create again returned last_name %q, want the row as it is (Person)", got)
	}
	var name string
	conn(t, dsn).QueryRow(ctx, "SELECT last_name FROM contacts WHERE tandem_id = 'k1'").Scan(&name)
	if name != "Person" {
		t.Errorf("a repeated create overwrote the person's edit: %q", name)
	}
	// A person's row holds the email a create sets.
	var theirs string
	conn(t, dsn).QueryRow(ctx, "INSERT INTO contacts (email, last_name) VALUES ('b@example.com', 'Theirs') RETURNING id::text").Scan(&theirs)
	res := apply(t, c, create("k2", `{"last_name":"Mine","email":"b@example.com"}`))[0]
	var x *tandem.ExistsError
	if !errors.As(res.Err, &x) || x.RecordID != theirs || x.Path != "email" {
		t.Fatalf("a create meeting a person's row: %v, want ExistsError naming row %s, email", res.Err, theirs)
	}
	// An update giving a row another's email names it too.
	res = apply(t, c, tandem.Write{Op: tandem.OpUpdate, ID: first.ID, Payload: []byte(`{"email":"b@example.com"}`)})[0]
	if !errors.As(res.Err, &x) || x.RecordID != theirs {
		t.Errorf("an update meeting a person's row: %v", res.Err)
	}
	// Deletes are idempotent.
	for range 2 {
		if res = apply(t, c, tandem.Write{Op: tandem.OpDelete, ID: theirs})[0]; res.Err != nil {
			t.Errorf("delete: %v", res.Err)
		}
	}
}

// A row locked by a transaction left open (a person editing it in a SQL
// console) fails its own write, to be tried again; the batch's other
// writes are made.
func TestLockedRow(t *testing.T) {
	dsn := newDB(t)
	c := openClient(t, dsn, Options{LockTimeout: 50 * time.Millisecond})
	ctx := context.Background()
	a := apply(t, c, create("a", `{"last_name":"A"}`))[0].ID
	b := apply(t, c, create("b", `{"last_name":"B"}`))[0].ID
	tx, err := conn(t, dsn).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "UPDATE contacts SET score = 1 WHERE id = $1::bigint", a); err != nil {
		t.Fatal(err)
	}
	rs := apply(t, c, tandem.Write{Op: tandem.OpUpdate, ID: a, Payload: []byte(`{"last_name":"A2"}`)},
		tandem.Write{Op: tandem.OpUpdate, ID: b, Payload: []byte(`{"last_name":"B2"}`)})
	if !tandem.IsRetryable(rs[0].Err) || !strings.Contains(rs[0].Err.Error(), "locked") {
		t.Errorf("the write of a locked row: %v, want a retryable error saying it is locked", rs[0].Err)
	}
	if rs[1].Err != nil {
		t.Errorf("the other write: %v", rs[1].Err)
	}
}
