package state

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"tandem"
)

// Backfill statuses.
const (
	BackfillRequested = "requested"
	BackfillRunning   = "running"
	BackfillDone      = "done"
	BackfillFailed    = "failed"
	BackfillCancelled = "cancelled"
)

// Backfill is a one-off read of one (system, object) for an entity, with
// its own cursor.
type Backfill struct {
	ID      int64
	Entity  string
	System  string
	Object  string
	Since   time.Time // zero: a full read
	Status  string
	Cursor  tandem.Cursor
	Read    int // records read so far, over every run of it
	Pages   int
	Error   string
	Created time.Time
	Updated time.Time
}

// Open reports whether the backfill is still to run or running.
func (b *Backfill) Open() bool {
	return b.Status == BackfillRequested || b.Status == BackfillRunning
}

const backfillCols = `id, entity, system, object, since, status, cursor, read, pages, error, created_at, updated_at`

func scanBackfill(row interface{ Scan(...any) error }) (*Backfill, error) {
	var b Backfill
	var since, cursor, created, updated string
	var errStr sql.NullString
	if err := row.Scan(&b.ID, &b.Entity, &b.System, &b.Object, &since, &b.Status, &cursor, &b.Read, &b.Pages, &errStr, &created, &updated); err != nil {
		return nil, err
	}
	b.Since = parseTS(sql.NullString{String: since, Valid: true})
	b.Cursor, b.Error = tandem.Cursor(cursor), errStr.String
	b.Created, b.Updated = parseTS(sql.NullString{String: created, Valid: true}), parseTS(sql.NullString{String: updated, Valid: true})
	return &b, nil
}

// RequestBackfill returns the open or failed backfill of (entity, system,
// object, since) if there is one, so that asking again resumes it (a failed
// one is requested again), or adds a new one, requested.
func (s *Store) RequestBackfill(ctx context.Context, entity, system, object string, since time.Time) (*Backfill, error) {
	var b *Backfill
	err := s.Update(ctx, func(tx *Tx) error {
		var err error
		b, err = scanBackfill(tx.db.QueryRowContext(ctx, `SELECT `+backfillCols+` FROM backfills
			WHERE entity = ? AND system = ? AND object = ? AND since = ? AND status IN ('requested', 'running', 'failed') ORDER BY id DESC LIMIT 1`,
			entity, system, object, ts(since)))
		if err == nil && b.Status == BackfillFailed {
			b.Status = BackfillRequested
			_, err = tx.db.ExecContext(ctx, `UPDATE backfills SET status = 'requested', updated_at = ? WHERE id = ?`, now(), b.ID)
		}
		if err == nil || !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		res, err := tx.db.ExecContext(ctx, `INSERT INTO backfills (entity, system, object, since, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, 'requested', ?, ?)`, entity, system, object, ts(since), now(), now())
		if err != nil {
			return err
		}
		id, _ := res.LastInsertId()
		b, err = scanBackfill(tx.db.QueryRowContext(ctx, `SELECT `+backfillCols+` FROM backfills WHERE id = ?`, id))
		return err
	})
	return b, err
}

// Backfill returns one backfill by id.
func (q queries) Backfill(ctx context.Context, id int64) (*Backfill, error) {
	return scanBackfill(q.db.QueryRowContext(ctx, `SELECT `+backfillCols+` FROM backfills WHERE id = ?`, id))
}

// OpenBackfills lists the backfills requested or running, oldest first.
func (q queries) OpenBackfills(ctx context.Context) ([]*Backfill, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+backfillCols+` FROM backfills WHERE status IN ('requested', 'running') ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Backfill
	for rows.Next() {
		b, err := scanBackfill(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// SetBackfill records a backfill's status and error.
func (s *Store) SetBackfill(ctx context.Context, id int64, status, errStr string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE backfills SET status = ?, error = ?, updated_at = ? WHERE id = ?`, status, nullable(errStr), now(), id)
	return err
}

// AdvanceBackfill moves a backfill's cursor over a page of n records, in
// the transaction that staged them.
func (t *Tx) AdvanceBackfill(ctx context.Context, id int64, c tandem.Cursor, n int) error {
	_, err := t.db.ExecContext(ctx, `UPDATE backfills SET cursor = ?, read = read + ?, pages = pages + 1, updated_at = ? WHERE id = ?`,
		string(c), n, now(), id)
	return err
}
