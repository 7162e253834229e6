package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"tandem"
)

// Pending is the record an identity conflict held back: what `tandem
// resolve --link/--split` merges once a person has decided.
type Pending struct {
	System, Object, ExternalID string
	Raw                        []byte
	Modified                   time.Time
}

// AddConflict records a conflict and its decision, and sets c.ID. rec is
// the record an identity conflict held back, nil otherwise.
func (t *Tx) AddConflict(ctx context.Context, c *tandem.Conflict, rec *Pending) error {
	base, sides, err := t.conflictJSON(c)
	if err != nil {
		return err
	}
	if rec == nil {
		rec = &Pending{}
	}
	created := c.Created
	if created.IsZero() {
		created = time.Now()
	}
	res, err := t.db.ExecContext(ctx, `INSERT INTO conflicts (entity, entity_id, kind, field, base, sides, policy, status, decided, pass,
		created_at, resolved_at, system, object, external_id, raw, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Entity, c.EntityID, c.Kind, c.Field, base, sides, c.Policy, c.Status, c.Decided, nullable(c.Pass),
		ts(created), nullable(ts(c.Resolved)), nullable(rec.System), nullable(rec.Object), nullable(rec.ExternalID), t.keys.seal("raw", rec.Raw), nullable(ts(rec.Modified)))
	if err != nil {
		return err
	}
	c.ID, err = res.LastInsertId()
	c.Created = created
	return err
}

// UpdateConflict rewrites a conflict's sides, policy, status and decision.
func (t *Tx) UpdateConflict(ctx context.Context, c *tandem.Conflict) error {
	base, sides, err := t.conflictJSON(c)
	if err != nil {
		return err
	}
	_, err = t.db.ExecContext(ctx, `UPDATE conflicts SET base = ?, sides = ?, policy = ?, status = ?, decided = ?, resolved_at = ? WHERE id = ?`,
		base, sides, c.Policy, c.Status, c.Decided, nullable(ts(c.Resolved)), c.ID)
	return err
}

// conflictJSON is a conflict's base and sides as stored (sealed, with
// keys).
func (q queries) conflictJSON(c *tandem.Conflict) (base, sides string, err error) {
	b, err := json.Marshal(c.Base)
	if err != nil {
		return "", "", err
	}
	s, err := json.Marshal(c.Values)
	return q.keys.sealText("base", string(b)), q.keys.sealText("sides", string(s)), err
}

const conflictCols = `id, entity, COALESCE(entity_id, ''), kind, COALESCE(field, ''), COALESCE(base, 'null'), sides,
	policy, status, COALESCE(decided, ''), COALESCE(pass, ''), created_at, resolved_at`

func (q queries) scanConflict(row interface{ Scan(...any) error }) (*tandem.Conflict, error) {
	var c tandem.Conflict
	var base, sides string
	var created, resolved sql.NullString
	if err := row.Scan(&c.ID, &c.Entity, &c.EntityID, &c.Kind, &c.Field, &base, &sides, &c.Policy, &c.Status, &c.Decided, &c.Pass,
		&created, &resolved); err != nil {
		return nil, err
	}
	base, err := q.keys.openText("base", base)
	if err == nil {
		sides, err = q.keys.openText("sides", sides)
	}
	if err != nil {
		return nil, fmt.Errorf("state: conflict %d: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(base), &c.Base); err != nil {
		return nil, fmt.Errorf("state: conflict %d: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(sides), &c.Values); err != nil {
		return nil, fmt.Errorf("state: conflict %d: %w", c.ID, err)
	}
	c.Created, c.Resolved = parseTS(created), parseTS(resolved)
	return &c, nil
}

func (q queries) conflicts(ctx context.Context, where string, args ...any) ([]tandem.Conflict, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+conflictCols+` FROM conflicts `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tandem.Conflict
	for rows.Next() {
		c, err := q.scanConflict(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// Conflicts lists recorded conflicts, oldest first: every one, or only
// those still open.
func (q queries) Conflicts(ctx context.Context, openOnly bool) ([]tandem.Conflict, error) {
	if openOnly {
		return q.conflicts(ctx, `WHERE status = ?`, tandem.ConflictOpen)
	}
	return q.conflicts(ctx, ``)
}

// Conflict returns one conflict and, for an identity conflict, the record
// it held back (nil otherwise).
func (q queries) Conflict(ctx context.Context, id int64) (*tandem.Conflict, *Pending, error) {
	c, err := q.scanConflict(q.db.QueryRowContext(ctx, `SELECT `+conflictCols+` FROM conflicts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("no conflict %d", id)
	}
	if err != nil {
		return nil, nil, err
	}
	var p Pending
	var sys, obj, ext, mod sql.NullString
	if err := q.db.QueryRowContext(ctx, `SELECT system, object, external_id, raw, modified_at FROM conflicts WHERE id = ?`, id).
		Scan(&sys, &obj, &ext, &p.Raw, &mod); err != nil {
		return nil, nil, err
	}
	if p.Raw, err = q.keys.open("raw", p.Raw); err != nil {
		return nil, nil, fmt.Errorf("state: conflict %d: %w", id, err)
	}
	if !ext.Valid {
		return c, nil, nil
	}
	p.System, p.Object, p.ExternalID, p.Modified = sys.String, obj.String, ext.String, parseTS(mod)
	return c, &p, nil
}

// OpenConflict returns the open conflict of a kind on an entity's field
// (field "" for delete conflicts), or nil.
func (q queries) OpenConflict(ctx context.Context, entityID, kind, field string) (*tandem.Conflict, error) {
	cs, err := q.conflicts(ctx, `WHERE entity_id = ? AND kind = ? AND COALESCE(field, '') = ? AND status = ?`,
		entityID, kind, field, tandem.ConflictOpen)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	return &cs[len(cs)-1], nil
}

// PassConflict returns the conflict a pass already recorded on an
// entity's field, or nil: a pass records one conflict per field, however
// many systems took part.
func (q queries) PassConflict(ctx context.Context, pass, entityID, field string) (*tandem.Conflict, error) {
	cs, err := q.conflicts(ctx, `WHERE pass = ? AND entity_id = ? AND kind = ? AND field = ?`, pass, entityID, tandem.ConflictField, field)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	return &cs[len(cs)-1], nil
}

// OpenIdentity returns the open identity conflict of a system's record,
// or nil.
func (q queries) OpenIdentity(ctx context.Context, system, object, externalID string) (*tandem.Conflict, error) {
	cs, err := q.conflicts(ctx, `WHERE system = ? AND object = ? AND external_id = ? AND kind = ? AND status = ?`,
		system, object, externalID, tandem.ConflictIdentity, tandem.ConflictOpen)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	return &cs[len(cs)-1], nil
}

// UpdateHeldRecord replaces an open identity conflict's sides and the
// record it holds back (the record changed again while held).
func (t *Tx) UpdateHeldRecord(ctx context.Context, c *tandem.Conflict, rec *Pending) error {
	if err := t.UpdateConflict(ctx, c); err != nil {
		return err
	}
	_, err := t.db.ExecContext(ctx, `UPDATE conflicts SET raw = ?, modified_at = ? WHERE id = ?`, t.keys.seal("raw", rec.Raw), nullable(ts(rec.Modified)), c.ID)
	return err
}

// ConflictCounts counts the conflicts by kind and status.
func (q queries) ConflictCounts(ctx context.Context) (map[[2]string]int, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT kind, status, COUNT(*) FROM conflicts GROUP BY kind, status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[[2]string]int{}
	for rows.Next() {
		var k, s string
		var n int
		if err := rows.Scan(&k, &s, &n); err != nil {
			return nil, err
		}
		out[[2]string{k, s}] = n
	}
	return out, rows.Err()
}

// AnyOpenIdentity reports whether a system's object has any open identity
// conflict.
func (q queries) AnyOpenIdentity(ctx context.Context, system, object string) (bool, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM conflicts WHERE system = ? AND object = ? AND kind = ? AND status = ?)`,
		system, object, tandem.ConflictIdentity, tandem.ConflictOpen).Scan(&n)
	return n == 1, err
}

// OpenValues returns the open value conflicts of a system's record (one
// per field it holds that the mapping cannot read), oldest first.
func (q queries) OpenValues(ctx context.Context, system, object, externalID string) ([]tandem.Conflict, error) {
	return q.conflicts(ctx, `WHERE system = ? AND object = ? AND external_id = ? AND kind = ? AND status = ?`,
		system, object, externalID, tandem.ConflictValue, tandem.ConflictOpen)
}

// AnyOpenValue reports whether a system's object has any open value
// conflict: when it has none, a record read need not look for its own.
func (q queries) AnyOpenValue(ctx context.Context, system, object string) (bool, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM conflicts WHERE system = ? AND object = ? AND kind = ? AND status = ?)`,
		system, object, tandem.ConflictValue, tandem.ConflictOpen).Scan(&n)
	return n == 1, err
}

// WriteHolds returns the open value conflicts that hold fields of an
// entity back from a system because the system refused their values (one
// per field): they name the system and object but no record, since a
// create can be refused before the record exists.
func (q queries) WriteHolds(ctx context.Context, entityID, system, object string) ([]tandem.Conflict, error) {
	return q.conflicts(ctx, `WHERE entity_id = ? AND system = ? AND object = ? AND external_id IS NULL AND kind = ? AND status = ?`,
		entityID, system, object, tandem.ConflictValue, tandem.ConflictOpen)
}

// ClearedReferences returns the conflicts that recorded an entity's ref
// field cleared because the record it pointed to was deleted (policy
// "reference"; the base is the target's entity id), oldest first.
func (q queries) ClearedReferences(ctx context.Context, entity, field string) ([]tandem.Conflict, error) {
	return q.conflicts(ctx, clearedReferences, entity, field, tandem.ConflictField)
}

// clearedReferences names the policy as a literal: SQLite uses the partial
// index conflicts_cleared_references only for a query it can prove needs
// no other rows.
const clearedReferences = `WHERE entity = ? AND field = ? AND kind = ? AND policy = 'reference'`

// HeldWrites returns the open value conflicts of a policy that hold
// fields back from a system's object (see WriteHolds).
func (q queries) HeldWrites(ctx context.Context, system, object, policy string) ([]tandem.Conflict, error) {
	return q.conflicts(ctx, `WHERE system = ? AND object = ? AND external_id IS NULL AND kind = ? AND status = ? AND policy = ?`,
		system, object, tandem.ConflictValue, tandem.ConflictOpen, policy)
}
