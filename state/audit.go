package state

import (
	"context"
	"time"
)

// AuditEntry is one decision a person made through Tandem.
type AuditEntry struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`   // the OS user, or the console token's name
	Action  string    `json:"action"`  // resolve, retry, discard, force
	Subject string    `json:"subject"` // what it was about: "conflict 12"
	Detail  string    `json:"detail"`  // what was decided
}

// Audit records a person's decision, in the transaction that carries it
// out, so the trail and the state never disagree.
func (t *Tx) Audit(ctx context.Context, e AuditEntry) error {
	_, err := t.db.ExecContext(ctx, `INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)`,
		now(), e.Actor, e.Action, e.Subject, e.Detail)
	return err
}

// AuditLog lists the audit trail, newest first, at most limit entries (0:
// all).
func (q queries) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := q.db.QueryContext(ctx, `SELECT id, at, actor, action, subject, detail FROM audit ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Subject, &e.Detail); err != nil {
			return nil, err
		}
		if e.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
