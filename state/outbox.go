package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// Intent is one pending row of the outbox: bring an entity's record in a
// system's object up to date with the golden record.
type Intent struct {
	ID       int64
	Entity   string
	EntityID string
	System   string
	Object   string
	Attempts int
}

// Enqueue adds an intent unless one is already pending for the same
// entity and target; repeating it is harmless.
func (t *Tx) Enqueue(ctx context.Context, entity, entityID, system, object string) error {
	_, err := t.db.ExecContext(ctx, `INSERT INTO outbox (entity, entity_id, system, object, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (entity_id, system, object) WHERE status = 'pending' DO NOTHING`, entity, entityID, system, object, now(), now())
	return err
}

// Pending returns up to limit pending intents for (system, object) with an
// id above after, oldest first.
func (q queries) Pending(ctx context.Context, system, object string, after int64, limit int) ([]Intent, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT id, entity, entity_id, system, object, attempts FROM outbox
		WHERE system = ? AND object = ? AND status = 'pending' AND id > ? ORDER BY id LIMIT ?`, system, object, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Intent
	for rows.Next() {
		var in Intent
		if err := rows.Scan(&in.ID, &in.Entity, &in.EntityID, &in.System, &in.Object, &in.Attempts); err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// PendingOf returns the pending intents of some entities for (system,
// object), oldest first, by the entities' own rows (see InFlights).
func (q queries) PendingOf(ctx context.Context, system, object string, entityIDs []string) ([]Intent, error) {
	var out []Intent
	err := eachPart(entityIDs, func(part []string, args []any) error {
		rows, err := q.db.QueryContext(ctx, `SELECT id, entity, entity_id, system, object, attempts FROM outbox INDEXED BY outbox_one_pending
			WHERE system = ? AND object = ? AND status = 'pending' AND entity_id IN (`+inList(len(part))+`) ORDER BY id`,
			append([]any{system, object}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var in Intent
			if err := rows.Scan(&in.ID, &in.Entity, &in.EntityID, &in.System, &in.Object, &in.Attempts); err != nil {
				return err
			}
			out = append(out, in)
		}
		return rows.Err()
	})
	return out, err
}

// Done removes a finished intent.
func (t *Tx) Done(ctx context.Context, id int64) error {
	_, err := t.db.ExecContext(ctx, `DELETE FROM outbox WHERE id = ?`, id)
	return err
}

// Retry keeps an intent pending and notes why it failed this time.
func (t *Tx) Retry(ctx context.Context, id int64, reason string) error {
	_, err := t.db.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ?`, reason, now(), id)
	return err
}

// Dead sets an intent aside as a dead letter: it will not be tried again
// until a person acts, and stays visible in status.
func (t *Tx) Dead(ctx context.Context, id int64, reason string) error {
	_, err := t.db.ExecContext(ctx, `UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ?`,
		reason, now(), id)
	return err
}

// Run is one pass over one (system, object).
type Run struct {
	Pass     string    `json:"pass"`
	Entity   string    `json:"entity"`
	System   string    `json:"system"`
	Object   string    `json:"object"`
	Started  time.Time `json:"started_at"`
	Finished time.Time `json:"finished_at"`
	Pulled   int       `json:"pulled"`
	Written  int       `json:"written"`
	Failed   int       `json:"failed"`
	Error    string    `json:"error,omitempty"`
	// Kind is what ran: sync (a scheduled or one-off incremental pass),
	// reconcile, backfill or webhook. Empty is sync.
	Kind string `json:"kind"`
	// Drift is, for a reconciliation sweep, how many records it found out
	// of step: changed, new or gone without the pass or webhook that
	// should have said so.
	Drift int `json:"drift,omitempty"`
}

// Run kinds.
const (
	RunSync      = "sync"
	RunReconcile = "reconcile"
	RunBackfill  = "backfill"
	RunWebhook   = "webhook"
	RunWrite     = "write"
)

// AddRun records a finished pass.
func (s *Store) AddRun(ctx context.Context, r Run) error {
	if r.Kind == "" {
		r.Kind = RunSync
	}
	var drift any
	if r.Kind == RunReconcile {
		drift = r.Drift
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO runs (pass, entity, system, object, started_at, finished_at, pulled, written, failed, error, kind, drift)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Pass, r.Entity, r.System, r.Object, ts(r.Started), ts(r.Finished),
		r.Pulled, r.Written, r.Failed, nullable(r.Error), r.Kind, drift)
	return err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ObjectStatus is what `tandem status` shows for one (system, object).
type ObjectStatus struct {
	System      string `json:"system"`
	Object      string `json:"object"`
	Cursor      string `json:"cursor"`
	Linked      int    `json:"linked_records"`
	Outbox      int    `json:"outbox_depth"`
	DeadLetters int    `json:"dead_letters"`
	Inbox       int    `json:"inbox_depth"`
	// LastPass is the last incremental pass; LastReconcile the last sweep,
	// with its drift.
	LastPass      *Run `json:"last_pass,omitempty"`
	LastReconcile *Run `json:"last_reconcile,omitempty"`
	// Health is the system's client at the end of its last pass
	// (connectors.Health as JSON), when the connector reports one.
	Health json.RawMessage `json:"health,omitempty"`
}

// PutHealth records how a system's client is doing (JSON).
func (s *Store) PutHealth(ctx context.Context, system string, health []byte) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO system_health (system, health, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (system) DO UPDATE SET health = excluded.health, updated_at = excluded.updated_at`, system, string(health), now())
	return err
}

// Status reports on (system, object).
func (q queries) Status(ctx context.Context, system, object string) (ObjectStatus, error) {
	st := ObjectStatus{System: system, Object: object}
	c, err := q.Cursor(ctx, system, object)
	if err != nil {
		return st, err
	}
	st.Cursor = string(c)
	for _, c := range []struct {
		dst   *int
		query string
	}{
		{&st.Linked, `SELECT COUNT(*) FROM links WHERE system = ? AND object = ?`},
		{&st.Outbox, `SELECT COUNT(*) FROM outbox WHERE system = ? AND object = ? AND status = 'pending'`},
		{&st.DeadLetters, `SELECT (SELECT COUNT(*) FROM outbox WHERE system = ?1 AND object = ?2 AND status = 'dead')
			+ (SELECT COUNT(*) FROM dead_letters WHERE system = ?1 AND object = ?2)`},
	} {
		if err := q.db.QueryRowContext(ctx, c.query, system, object).Scan(c.dst); err != nil {
			return st, err
		}
	}
	if st.Inbox, err = q.InboxDepth(ctx, system, object); err != nil {
		return st, err
	}
	if st.LastPass, err = q.lastRun(ctx, system, object, RunSync); err != nil {
		return st, err
	}
	if st.LastReconcile, err = q.lastRun(ctx, system, object, RunReconcile); err != nil {
		return st, err
	}
	var health string
	err = q.db.QueryRowContext(ctx, `SELECT health FROM system_health WHERE system = ?`, system).Scan(&health)
	switch {
	case err == sql.ErrNoRows:
	case err != nil:
		return st, err
	default:
		st.Health = json.RawMessage(health)
	}
	return st, nil
}

// lastRun is the last run of a kind over (system, object), or nil.
func (q queries) lastRun(ctx context.Context, system, object, kind string) (*Run, error) {
	var r Run
	var started, finished, errStr sql.NullString
	var drift sql.NullInt64
	err := q.db.QueryRowContext(ctx, `SELECT pass, entity, system, object, started_at, finished_at, pulled, written, failed, error, kind, drift
		FROM runs WHERE system = ? AND object = ? AND kind = ? ORDER BY id DESC LIMIT 1`, system, object, kind).
		Scan(&r.Pass, &r.Entity, &r.System, &r.Object, &started, &finished, &r.Pulled, &r.Written, &r.Failed, &errStr, &r.Kind, &drift)
	switch {
	case err == sql.ErrNoRows:
		return nil, nil
	case err != nil:
		return nil, err
	}
	r.Started, r.Finished, r.Error, r.Drift = parseTS(started), parseTS(finished), errStr.String, int(drift.Int64)
	return &r, nil
}

// EntityCounts is, for one entity, how many records it has and how many
// conflicts wait for a person.
func (q queries) EntityCounts(ctx context.Context, entity string) (records, openConflicts int, err error) {
	if err = q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM entities WHERE entity = ?`, entity).Scan(&records); err != nil {
		return
	}
	err = q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM conflicts WHERE entity = ? AND status = 'open'`, entity).Scan(&openConflicts)
	return
}
