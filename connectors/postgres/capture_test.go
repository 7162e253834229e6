package postgres

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"tandem"
	"tandem/connectors/postgres/pgtest"
)

// puller pulls from a cursor it keeps, as the engine does.
type puller struct {
	t   *testing.T
	c   *Client
	cur tandem.Cursor
}

// pull reads what changed since the cursor; live ids and deleted ids.
func (p *puller) pull() (live, deleted []string) {
	p.t.Helper()
	err := p.c.Pull(context.Background(), tandem.Query{Object: "contacts", Fields: []string{"last_name"}, After: p.cur}, func(pg tandem.Page) error {
		for _, r := range pg.Records {
			if r.Deleted {
				deleted = append(deleted, r.ID)
			} else {
				live = append(live, r.ID)
			}
			if r.Modified.IsZero() {
				p.t.Errorf("record %s has no modified time", r.ID)
			}
		}
		p.cur = pg.Cursor
		return nil
	})
	if err != nil {
		p.t.Fatal(err)
	}
	slices.Sort(live)
	slices.Sort(deleted)
	return live, deleted
}

func insert(t *testing.T, dsn, name string) string {
	t.Helper()
	var id string
	if err := conn(t, dsn).QueryRow(context.Background(), "INSERT INTO contacts (last_name) VALUES ($1) RETURNING id::text", name).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func want(t *testing.T, what string, got []string, ids ...string) {
	t.Helper()
	slices.Sort(ids)
	if !slices.Equal(got, ids) && !(len(got) == 0 && len(ids) == 0) {
		t.Errorf("%s: got %v, want %v", what, got, ids)
	}
}

// A row written by a transaction that began before a poll and commits
// after it is read by the next poll, though its stamp is older than rows
// the first poll read: the cursor never passes the start of a transaction
// still open. The overlap is made too small to cover it.
func TestPollLongTransaction(t *testing.T) {
	dsn := newDB(t)
	a := insert(t, dsn, "a")
	p := &puller{t: t, c: openClient(t, dsn, Options{Overlap: time.Microsecond})}
	p.pull()
	ctx := context.Background()
	long := conn(t, dsn)
	tx, err := long.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "UPDATE contacts SET last_name = 'in a long transaction' WHERE id = $1::bigint", a); err != nil {
		t.Fatal(err)
	}
	b := insert(t, dsn, "b") // stamped later, committed first
	live, _ := p.pull()
	want(t, "a poll while a transaction is open", live, b)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	live, _ = p.pull()
	want(t, "a poll after it committed", live, a)
	live, _ = p.pull()
	want(t, "a poll with nothing new", live)
}

func replicated(t *testing.T, slot string) (string, *Client) {
	dsn := newDB(t)
	pgtest.Exec(t, dsn, "CREATE PUBLICATION tandem FOR TABLE contacts")
	return dsn, openClient(t, dsn, Options{Capture: "replication", Slot: slot, PageSize: 3})
}

// Replication reads inserts, updates and deletes, each once, and a
// transaction's rows when it commits, not before.
func TestReplicationChanges(t *testing.T) {
	dsn, c := replicated(t, "changes")
	a, b := insert(t, dsn, "a"), insert(t, dsn, "b")
	p := &puller{t: t, c: c}
	live, _ := p.pull()
	want(t, "the first pull (the scan)", live, a, b)
	ctx := context.Background()
	long := conn(t, dsn)
	tx, err := long.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "UPDATE contacts SET last_name = 'late' WHERE id = $1::bigint", a); err != nil {
		t.Fatal(err)
	}
	c2 := insert(t, dsn, "c")
	pgtest.Exec(t, dsn, "DELETE FROM contacts WHERE id = "+b)
	live, deleted := p.pull()
	want(t, "live while a transaction is open", live, c2)
	want(t, "deleted", deleted, b)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	live, deleted = p.pull()
	want(t, "live after it committed", live, a)
	want(t, "deleted again", deleted)
	// Many transactions: more than a page.
	var ids []string
	for range 7 {
		ids = append(ids, insert(t, dsn, "many"))
	}
	live, _ = p.pull()
	want(t, "seven inserts in pages of three", live, ids...)
	live, _ = p.pull()
	want(t, "nothing new", live)
}

// A delete that does not carry the key (the key column is not the primary
// key, which the default replica identity carries) is skipped, not a
// pull stuck on it; the changes around it are read.
func TestReplicationDeleteWithoutKey(t *testing.T) {
	dsn := newDB(t)
	pgtest.Exec(t, dsn, "CREATE PUBLICATION tandem FOR TABLE contacts",
		"INSERT INTO contacts (email) VALUES ('a@example.com'), ('b@example.com')")
	c := openClient(t, dsn, Options{Capture: "replication", Slot: "nokey", Tables: map[string]TableOptions{"contacts": {Key: "email"}}})
	p := &puller{t: t, c: c}
	p.pull()
	pgtest.Exec(t, dsn, "DELETE FROM contacts WHERE email = 'a@example.com'", "UPDATE contacts SET last_name = 'b2' WHERE email = 'b@example.com'")
	live, deleted := p.pull()
	want(t, "live", live, "b@example.com")
	want(t, "deleted", deleted)
}

// The slot is advanced only once a page is staged: a pull whose staging
// fails leaves the changes in the slot, and the next pull from the
// cursor the engine kept reads them again. A crash after staging and
// before the slot is advanced costs nothing either: the next pull, from
// the cursor staged, advances the slot first and reads nothing twice.
func TestReplicationConfirmsAfterStaging(t *testing.T) {
	dsn, c := replicated(t, "confirm")
	p := &puller{t: t, c: c}
	p.pull()
	kept := p.cur
	a := insert(t, dsn, "a")
	confirmed := func() string {
		var s string
		if err := conn(t, dsn).QueryRow(context.Background(), "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'confirm_contacts'").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := confirmed()
	failed := errors.New("the state file is full")
	err := c.Pull(context.Background(), tandem.Query{Object: "contacts", After: kept}, func(pg tandem.Page) error {
		if len(pg.Records) > 0 {
			if got := confirmed(); got != before {
				t.Errorf("the slot moved to %s before the page was staged", got)
			}
			return failed
		}
		return nil
	})
	if !errors.Is(err, failed) {
		t.Fatalf("pull: %v", err)
	}
	if got := confirmed(); got != before {
		t.Fatalf("a page not staged moved the slot from %s to %s", before, got)
	}
	live, _ := p.pull()
	want(t, "read again after staging failed", live, a)
	if got := confirmed(); got == before {
		t.Errorf("the slot did not move once the page was staged")
	}
	// A crash between staging and confirming: the page is staged with its
	// cursor, and the process dies before the slot is advanced.
	insert(t, dsn, "b")
	before = confirmed()
	ctx, crash := context.WithCancel(context.Background())
	var staged tandem.Cursor
	_ = c.Pull(ctx, tandem.Query{Object: "contacts", After: p.cur}, func(pg tandem.Page) error {
		if len(pg.Records) > 0 {
			staged = pg.Cursor
			crash()
		}
		return nil
	})
	if staged == "" {
		t.Fatal("b was not read")
	}
	if got := confirmed(); got != before {
		t.Fatalf("the slot moved (%s to %s) though the process died first", before, got)
	}
	d := insert(t, dsn, "d")
	after := &puller{t: t, c: c, cur: staged}
	live, _ = after.pull()
	want(t, "after a crash between staging and confirming (b staged, not read again)", live, d)
}
