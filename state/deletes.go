package state

import (
	"context"
	"database/sql"
	"time"
)

// Entity delete states.
const (
	DeleteHeld    = "held"    // quarantined until After
	DeleteDeleted = "deleted" // propagated: every live record of the entity is to be deleted
)

// Delete is where an entity's delete stands.
type Delete struct {
	State    string    // DeleteHeld or DeleteDeleted
	After    time.Time // held: when the quarantine ends
	By       string    // the system the record was deleted in
	At       time.Time // when, by that system's clock
	Conflict int64     // the delete conflict that records it
}

// DeleteOf returns an entity's delete, or nil while it lives.
func (q queries) DeleteOf(ctx context.Context, entityID string) (*Delete, error) {
	var d Delete
	var state, after, by, at sql.NullString
	var conflict sql.NullInt64
	err := q.db.QueryRowContext(ctx, `SELECT delete_state, delete_after, deleted_by, deleted_at, delete_conflict FROM entities WHERE id = ?`,
		entityID).Scan(&state, &after, &by, &at, &conflict)
	if err != nil || !state.Valid {
		return nil, err
	}
	d.State, d.After, d.By, d.At, d.Conflict = state.String, parseTS(after), by.String, parseTS(at), conflict.Int64
	return &d, nil
}

// SetDelete records an entity's delete; nil clears it (the entity lives).
func (t *Tx) SetDelete(ctx context.Context, entityID string, d *Delete) error {
	if d == nil {
		d = &Delete{}
	}
	_, err := t.db.ExecContext(ctx, `UPDATE entities SET delete_state = ?, delete_after = ?, deleted_by = ?, deleted_at = ?,
		delete_conflict = ?, updated_at = ? WHERE id = ?`, nullable(d.State), nullable(ts(d.After)), nullable(d.By), nullable(ts(d.At)),
		nullableInt(d.Conflict), now(), entityID)
	return err
}

func nullableInt(n int64) any {
	if n == 0 {
		return nil
	}
	return n
}

// HeldDeletes lists the entities whose quarantined delete is due at now.
func (q queries) HeldDeletes(ctx context.Context, entity string, now time.Time) ([]string, error) {
	return q.strings(ctx, `SELECT id FROM entities WHERE entity = ? AND delete_state = ? AND delete_after <= ? ORDER BY id`,
		entity, DeleteHeld, ts(now))
}

// DeleteShare counts, in (system, object), the live linked records and
// those a push would delete now (pending intents of deleted entities).
func (q queries) DeleteShare(ctx context.Context, system, object string) (deletes, linked int, err error) {
	err = q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox o JOIN entities e ON e.id = o.entity_id
		   JOIN links l ON l.entity_id = o.entity_id AND l.system = o.system AND l.object = o.object
		 WHERE o.system = ?1 AND o.object = ?2 AND o.status = 'pending' AND e.delete_state = 'deleted' AND l.deleted_at IS NULL`,
		system, object).Scan(&deletes)
	if err != nil || deletes == 0 {
		return deletes, 0, err // no delete waits: the linked records need no counting
	}
	err = q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM links WHERE system = ? AND object = ? AND deleted_at IS NULL`, system, object).Scan(&linked)
	return deletes, linked, err
}
