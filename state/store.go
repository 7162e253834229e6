// Package state is Tandem's memory: one SQLite file holding cursors, links
// with their snapshots, golden records, the outbox, conflicts, dead letters
// and the history of passes. Everything that must change together changes
// in one transaction.
package state

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
	"golang.org/x/sys/unix"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the state file: one writer connection and a pool of readers.
type Store struct {
	queries
	w    *sql.DB
	r    *sql.DB
	path string
}

// Open opens (creating if needed) the state file at path and brings its
// schema up to date. It refuses a file written by a newer Tandem, and any
// file that is there but is not a state file: only a path that does not
// exist yet is created, since treating a damaged file as a new one would
// re-link every record and lose every conflict without a word.
func Open(path string) (*Store, error) {
	if err := checkExisting(path); err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	if err := create(path); err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	dsn := func(mode string) string {
		v := url.Values{}
		v.Set("_journal_mode", "WAL")
		v.Set("_synchronous", "NORMAL")
		v.Set("_busy_timeout", "5000")
		v.Set("_foreign_keys", "1")
		v.Set("_txlock", "immediate")
		// Keep prepared statements per connection: preparing the same few
		// dozen statements again for every record was a fifth of a pass.
		v.Set("_stmt_cache_size", "64")
		if mode != "" {
			v.Set("mode", mode)
		}
		return "file:" + path + "?" + v.Encode()
	}
	w, err := sql.Open("sqlite3", dsn(""))
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	if err := migrate(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	r, err := sql.Open("sqlite3", dsn("ro"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	// Open the readers now and keep them: a connection opened later, in a
	// burst of webhook traffic, would need a file descriptor just when a
	// flood of sockets may have taken them all.
	if err := warm(r, 4); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	return &Store{queries: queries{db: uncancelled{r}}, w: w, r: r, path: path}, nil
}

// create makes a new state file at path, if nothing is there, whole or
// not at all: it is built beside path under a temporary name and linked
// into place, so a crash never leaves an empty file at path (which Open
// would rightly refuse). The file holds every synced record, personal
// data included, so it is made for its owner alone (0600; SQLite gives
// its -wal and -shm files the same mode).
func create(path string) error {
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil // there: checkExisting has looked at it
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.new")
	if err != nil {
		return err
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	db, err := sql.Open("sqlite3", "file:"+tmp+"?_journal_mode=DELETE")
	if err != nil {
		return err
	}
	err = migrate(db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err // another process made it first: that one is used
	}
	return nil
}

// notStateAdvice is what to do about a file that is not a state file.
const notStateAdvice = "restore the state file from a backup; or, to start afresh, move this file away: every record is then linked again by its match keys, and the conflicts recorded are lost"

// sqliteHeader is how every SQLite 3 database file begins.
const sqliteHeader = "SQLite format 3\x00"

// checkExisting refuses a file at path that cannot be a state file: empty,
// or not a SQLite database. A path with nothing there is fine: Open
// creates it.
func checkExisting(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("is a directory, not a state file")
	case fi.Size() == 0:
		return fmt.Errorf("the file is empty (0 bytes), not a state file: %s", notStateAdvice)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	if _, err := io.ReadFull(f, head); err != nil || string(head) != sqliteHeader {
		return fmt.Errorf("not a SQLite database (it begins %q), so not a state file: %s", head, notStateAdvice)
	}
	// Another program's database: tables, but no schema version of ours.
	// Read without changing it (the writer's DSN would turn on WAL).
	db, version, err := readOnlyPool(path)
	if err != nil {
		return err
	}
	defer db.Close()
	var tables int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_master").Scan(&tables); err != nil {
		return err
	}
	if version == 0 && tables > 0 {
		return fmt.Errorf("a SQLite database with %d tables but no Tandem schema version: not a Tandem state file; point state: at another path, or %s", tables, notStateAdvice)
	}
	return nil
}

// warm opens n connections of a pool and returns them to it, idle.
func warm(db *sql.DB, n int) error {
	ctx := context.Background()
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		if err := c.PingContext(ctx); err != nil {
			c.Close()
			return err
		}
		conns = append(conns, c)
	}
	return nil
}

// OpenReadOnly opens an existing state file for reading only, for the
// commands that promise to change nothing (doctor, replay). It neither
// creates the file nor migrates it: a schema other than this binary's is
// an error. Writing through the Store it returns fails.
func OpenReadOnly(path string) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	if err := checkExisting(path); err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	r, have, err := readOnlyPool(path)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	if want := SchemaVersion(); have != want {
		r.Close()
		return nil, fmt.Errorf("state %s: schema version %d, this binary's is %d (a sync brings an older file up to date)", path, have, want)
	}
	return &Store{queries: queries{db: uncancelled{r}}, r: r, path: path}, nil
}

// readOnlyPool opens a pool of read-only connections to the state file
// and reads its schema version; in a directory it cannot write, as
// immutable (cannotShare).
func readOnlyPool(path string) (*sql.DB, int, error) {
	r, have, err := openReader(path, false)
	if err != nil && cannotShare(path, err) {
		r, have, err = openReader(path, true)
	}
	return r, have, err
}

// openReader opens a pool of read-only connections to the state file and
// reads its schema version.
func openReader(path string, immutable bool) (*sql.DB, int, error) {
	v := url.Values{}
	v.Set("mode", "ro")
	v.Set("_busy_timeout", "5000")
	if immutable {
		v.Set("immutable", "1")
	}
	r, err := sql.Open("sqlite3", "file:"+path+"?"+v.Encode())
	if err != nil {
		return nil, 0, err
	}
	r.SetMaxOpenConns(4)
	var have int
	if err := r.QueryRow("PRAGMA user_version").Scan(&have); err != nil {
		r.Close()
		return nil, 0, err
	}
	return r, have, nil
}

// cannotShare reports whether a read-only open failed only because SQLite
// could not create the WAL index beside the file (its directory is
// read-only to this user: a backup, a file owned by the daemon's user)
// while no write-ahead log is there to read. The file alone is then the
// whole state, and it is read as immutable: no writer can be at work,
// since a writer would have made the log and the index.
func cannotShare(path string, err error) bool {
	var se sqlite3.Error
	if !errors.As(err, &se) || (se.Code != sqlite3.ErrReadonly && se.Code != sqlite3.ErrCantOpen) {
		return false
	}
	_, werr := os.Stat(path + "-wal")
	return errors.Is(werr, fs.ErrNotExist)
}

// SchemaVersion is the schema version this binary writes.
func SchemaVersion() int {
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	return len(names)
}

// Close closes the state file.
func (s *Store) Close() error {
	err := s.r.Close()
	if s.w == nil {
		return err
	}
	if werr := s.w.Close(); err == nil {
		err = werr
	}
	return err
}

func migrate(db *sql.DB) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	var have int
	if err := db.QueryRow("PRAGMA user_version").Scan(&have); err != nil {
		return err
	}
	if have > len(names) {
		return fmt.Errorf("schema version %d is newer than this binary knows (%d): upgrade Tandem", have, len(names))
	}
	for i := have; i < len(names); i++ {
		n, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(names[i], "migrations/"), "_", 2)[0])
		if err != nil || n != i+1 {
			return fmt.Errorf("migration %s is out of sequence", names[i])
		}
		body, err := migrations.ReadFile(names[i])
		if err != nil {
			return err
		}
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
		if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Tx is one write transaction.
type Tx struct {
	queries
	tx *sql.Tx
}

// Begin starts a write transaction (BEGIN IMMEDIATE: it holds the write
// lock from the start, so it never fails half-way on a busy database).
func (s *Store) Begin(ctx context.Context) (*Tx, error) {
	if s.w == nil {
		return nil, errors.New("state: opened read-only")
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("state: begin: %w", err)
	}
	return &Tx{queries: queries{db: uncancelled{tx}, keys: s.keys}, tx: tx}, nil
}

// Commit makes the transaction durable.
func (t *Tx) Commit() error { return t.tx.Commit() }

// Rollback abandons the transaction; after Commit it does nothing.
func (t *Tx) Rollback() error { return t.tx.Rollback() }

// Update runs fn in a write transaction and commits it if fn succeeds.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	tx, err := s.Begin(ctx)
	if err != nil {
		return s.named(err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return s.named(err)
	}
	return s.named(tx.Commit())
}

// named puts the state file's path in front of an error of SQLite's own
// ("database or disk is full", "attempt to write a readonly database",
// "database disk image is malformed"), which otherwise says nothing of
// which file is at fault.
func (s *Store) named(err error) error {
	var se sqlite3.Error
	if err == nil || !errors.As(err, &se) || strings.Contains(err.Error(), s.path) {
		return err
	}
	return fmt.Errorf("state %s: %w", s.path, err)
}

// db is what both a pool and a transaction can do.
type db interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries are the statements shared by Store (reads) and Tx (reads and
// writes).
type queries struct {
	db   db
	keys *Keys // nil: values are stored plain (seal.go)
}

// SetKeys turns on encryption at rest (seal.go): values written from now
// on are sealed with keys' current key, and values sealed with any of
// its keys are opened. Call it before the store is used.
func (s *Store) SetKeys(k *Keys) { s.queries.keys = k }

// uncancelled runs each statement without its context's cancellation.
// With a cancellable context, database/sql and the SQLite driver start a
// goroutine (or a watcher) per statement to interrupt it, which cost more
// than the statement itself here: a pass runs tens of them per record, each
// well under a millisecond. A cancelled pass stops between pages and
// calls, and an open transaction is still rolled back on cancellation.
type uncancelled struct{ db db }

func (u uncancelled) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return u.db.ExecContext(context.WithoutCancel(ctx), query, args...)
}

func (u uncancelled) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return u.db.QueryContext(context.WithoutCancel(ctx), query, args...)
}

func (u uncancelled) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return u.db.QueryRowContext(context.WithoutCancel(ctx), query, args...)
}

func now() string { return ts(time.Now()) }

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTS(s sql.NullString) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s.String)
	return t
}

// CopyTo writes a consistent copy of the state file at path to dst (which
// must not exist), without writing to the original: `tandem plan` runs a
// pass on the copy. A missing original gives an empty state at dst.
func CopyTo(path, dst string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		s, err := Open(dst)
		if err != nil {
			return err
		}
		return s.Close()
	}
	src, err := OpenReadOnly(path)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := src.r.Exec(`VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("state %s: copy to %s: %w", path, dst, err)
	}
	return nil
}

// Check looks at the state file at path the way `tandem doctor` does,
// writing nothing, and returns its schema version (0: not created yet).
// Nothing at path is fine when its directory can be written (the first
// sync creates the file there); a file is checked to be a state file of
// this binary's schema, undamaged (PRAGMA quick_check) and writable, with
// its directory (SQLite keeps its -wal and -shm files beside it).
func Check(path string) (int, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
			return 0, fmt.Errorf("state %s: not created yet, and its directory %s cannot be written: %w", path, dir, err)
		}
		return 0, nil
	}
	s, err := OpenReadOnly(path)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	rows, err := s.r.Query("PRAGMA quick_check")
	if err != nil {
		return 0, fmt.Errorf("state %s: quick_check: %w", path, err)
	}
	var problems []string
	for rows.Next() && len(problems) < 5 {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return 0, fmt.Errorf("state %s: quick_check: %w", path, err)
		}
		problems = append(problems, line)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("state %s: quick_check: %w", path, err)
	}
	if len(problems) != 1 || problems[0] != "ok" {
		return 0, fmt.Errorf("state %s: damaged (PRAGMA quick_check: %s): %s", path, strings.Join(problems, "; "), notStateAdvice)
	}
	for _, p := range []string{path, dir} {
		if err := unix.Access(p, unix.W_OK); err != nil {
			return 0, fmt.Errorf("state %s: %s cannot be written (%w): sync would fail; give the user Tandem runs as write access to it", path, p, err)
		}
	}
	return SchemaVersion(), nil
}
