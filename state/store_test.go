package state

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem"
)

func open(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestMigrationsAndNewerSchema(t *testing.T) {
	s, path := open(t)
	var v int
	if err := s.r.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != SchemaVersion() {
		t.Fatalf("user_version = %d, %v", v, err)
	}
	var mode string
	if err := s.w.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	s.Close()
	// Reopening is a no-op.
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	// A file from a newer Tandem is refused, not touched.
	db, _ := sql.Open("sqlite3", path)
	db.Exec("PRAGMA user_version = 99")
	db.Close()
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("want refusal of a newer schema, got %v", err)
	}
}

func TestCursorLinkGoldenOutbox(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	if c, err := s.Cursor(ctx, "hs", "contacts"); err != nil || c != "" {
		t.Fatalf("fresh cursor = %q, %v", c, err)
	}
	var id string
	err := s.Update(ctx, func(tx *Tx) error {
		var err error
		g := tandem.Golden{"email": {Value: "a@b", Modified: time.Now(), Source: "hs"}}
		if id, err = tx.NewEntity(ctx, "contact", g, map[string]string{"email": "a@b"}); err != nil {
			return err
		}
		if err := tx.PutLink(ctx, &tandem.Link{EntityID: id, System: "hs", Object: "contacts", ExternalID: "1",
			Snapshot: tandem.Values{"email": "a@b", "phone": nil}, Raw: []byte(`{"id":"1"}`)}); err != nil {
			return err
		}
		for i := 0; i < 3; i++ { // repeated intents coalesce
			if err := tx.Enqueue(ctx, "contact", id, "sf", "Contact"); err != nil {
				return err
			}
		}
		return tx.SetCursor(ctx, "hs", "contacts", "c1")
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Cursor(ctx, "hs", "contacts"); c != "c1" {
		t.Errorf("cursor = %q", c)
	}
	l, err := s.Link(ctx, "hs", "contacts", "1")
	if err != nil || l == nil || l.EntityID != id || l.Snapshot["email"] != "a@b" {
		t.Fatalf("link = %+v, %v", l, err)
	}
	if v, ok := l.Snapshot["phone"]; !ok || v != nil {
		t.Error("a cleared field must survive the round trip as present and nil")
	}
	if c, _ := s.Candidates(ctx, "contact", map[string]string{"email": "a@b"}); len(c) != 1 || c[0] != id {
		t.Errorf("candidates = %v", c)
	}
	in, _ := s.Pending(ctx, "sf", "Contact", 0, 10)
	if len(in) != 1 {
		t.Fatalf("pending = %v, want one coalesced intent", in)
	}
	// A rolled-back transaction leaves nothing behind.
	tx, _ := s.Begin(ctx)
	tx.SetCursor(ctx, "hs", "contacts", "c2")
	tx.Dead(ctx, in[0].ID, "boom")
	tx.Rollback()
	if c, _ := s.Cursor(ctx, "hs", "contacts"); c != "c1" {
		t.Errorf("cursor after rollback = %q", c)
	}
	s.Update(ctx, func(tx *Tx) error { return tx.Dead(ctx, in[0].ID, "permanent: no LastName") })
	st, err := s.Status(ctx, "sf", "Contact")
	if err != nil || st.Outbox != 0 || st.DeadLetters != 1 {
		t.Errorf("status = %+v, %v", st, err)
	}
	// A dead intent does not block a new one.
	s.Update(ctx, func(tx *Tx) error { return tx.Enqueue(ctx, "contact", id, "sf", "Contact") })
	if in, _ := s.Pending(ctx, "sf", "Contact", 0, 10); len(in) != 1 {
		t.Errorf("pending after dead = %v", in)
	}
}

func TestOpenReadOnly(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenReadOnly(filepath.Join(dir, "missing.db")); err == nil {
		t.Fatal("a missing state file must be an error, not created")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Fatal("OpenReadOnly created the file")
	}
	s, path := open(t)
	ctx := context.Background()
	var id string
	if err := s.Update(ctx, func(tx *Tx) error {
		var err error
		if id, err = tx.NewEntity(ctx, "contact", tandem.Golden{}, nil); err != nil {
			return err
		}
		for _, sys := range []string{"sf", "hs"} {
			if err := tx.PutLink(ctx, &tandem.Link{EntityID: id, System: sys, Object: "o", ExternalID: sys + "1", Snapshot: tandem.Values{}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	ids, err := ro.EntityIDs(ctx, "contact")
	if err != nil || len(ids) != 1 || ids[0] != id {
		t.Fatalf("EntityIDs = %v, %v", ids, err)
	}
	links, err := ro.Links(ctx, id)
	if err != nil || len(links) != 2 || links[0].System != "hs" || links[1].System != "sf" {
		t.Fatalf("Links = %+v, %v", links, err)
	}
	if err := ro.Update(ctx, func(tx *Tx) error { return nil }); err == nil {
		t.Error("a read-only store accepted a write transaction")
	}
}

// TestOpenRefusesWhatIsNotAStateFile: only a path that does not exist yet
// is created; an empty file, another kind of file or another program's
// SQLite database is refused with what to do, and left as it was.
func TestOpenRefusesWhatIsNotAStateFile(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite3", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE notes (body TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, c := range []struct {
		name, body string
		want       string
	}{
		{"empty", "", "empty"},
		{"text", "hello, this is not a database\n", "not a SQLite database"},
		{"random", "\x00\x01\x02garbage", "not a SQLite database"},
		{"foreign.db", "", "not a Tandem state file"},
	} {
		path := filepath.Join(dir, c.name)
		if c.name != "foreign.db" {
			if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		before, _ := os.ReadFile(path)
		if r, err := OpenReadOnly(path); err == nil || !strings.Contains(err.Error(), c.want) {
			if err == nil {
				r.Close()
			}
			t.Errorf("%s: read-only open: %v, want an error saying %q", c.name, err, c.want)
		}
		s, err := Open(path)
		if err == nil {
			s.Close()
			t.Errorf("%s: opened as a state file", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q, want it to name the file and say %q", c.name, err, c.want)
		}
		if after, _ := os.ReadFile(path); string(after) != string(before) {
			t.Errorf("%s: the file was changed", c.name)
		}
	}
	// A path that does not exist is created, and opens again.
	fresh := filepath.Join(dir, "new.db")
	for range 2 {
		s, err := Open(fresh)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

// TestCheck: doctor's look at a state file finds a damaged one that
// still opens (its first page intact, the rest random), and passes a good
// one and a path with nothing there yet.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	if v, err := Check(filepath.Join(dir, "new.db")); err != nil || v != 0 {
		t.Fatalf("nothing there yet: %d, %v", v, err)
	}
	path := filepath.Join(dir, "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 200 {
		if err := s.Update(ctx, func(tx *Tx) error {
			return tx.SetCursor(ctx, "crm", "people", tandem.Cursor(strings.Repeat("x", 100)+fmt.Sprint(i)))
		}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if v, err := Check(path); err != nil || v != SchemaVersion() {
		t.Fatalf("a good state file: %d, %v", v, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 3*4096 {
		t.Fatalf("state file of %d bytes: too small to damage past its first page", len(b))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 4096; i < len(b); i++ {
		b[i] = byte(rng.UintN(256))
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("pages of random data: %v, want an error naming the file", err)
	} else {
		t.Log(err)
	}
}

// TestStateFileMode: the state file, its WAL and its lock are their
// owner's alone: they hold every synced record.
func TestStateFileMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := TryLock(path, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SetCursor(ctx, "a", "b", "c") }); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + ".lock"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), st.Mode().Perm())
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
