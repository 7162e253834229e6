package state

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"tandem"
)

// Cursor returns where (system, object) resumes; "" before the first pull.
func (q queries) Cursor(ctx context.Context, system, object string) (tandem.Cursor, error) {
	var c string
	err := q.db.QueryRowContext(ctx, `SELECT cursor FROM cursors WHERE system = ? AND object = ?`, system, object).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return tandem.Cursor(c), err
}

// SetCursor records where (system, object) resumes.
func (t *Tx) SetCursor(ctx context.Context, system, object string, c tandem.Cursor) error {
	_, err := t.db.ExecContext(ctx, `INSERT INTO cursors (system, object, cursor, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (system, object) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
		system, object, string(c), now())
	return err
}

const linkCols = `entity_id, system, object, external_id, snapshot, raw, modified_at, deleted_at`

func (q queries) scanLink(row interface{ Scan(...any) error }) (*tandem.Link, error) {
	var l tandem.Link
	var snap string
	var mod, del sql.NullString
	var raw []byte
	if err := row.Scan(&l.EntityID, &l.System, &l.Object, &l.ExternalID, &snap, &raw, &mod, &del); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, err
	}
	snap, err := q.keys.openText("snapshot", snap)
	if err == nil {
		raw, err = q.keys.open("raw", raw)
	}
	if err != nil {
		return nil, fmt.Errorf("state: link %s/%s/%s: %w", l.System, l.Object, l.ExternalID, err)
	}
	if err := json.Unmarshal([]byte(snap), &l.Snapshot); err != nil {
		return nil, fmt.Errorf("state: link %s/%s/%s: bad snapshot: %w", l.System, l.Object, l.ExternalID, err)
	}
	l.Raw, l.Modified, l.Deleted = raw, parseTS(mod), parseTS(del)
	return &l, nil
}

// Link returns the link of a system's record, or nil if it has none.
func (q queries) Link(ctx context.Context, system, object, externalID string) (*tandem.Link, error) {
	return q.scanLink(q.db.QueryRowContext(ctx, `SELECT `+linkCols+` FROM links WHERE system = ? AND object = ? AND external_id = ?`,
		system, object, externalID))
}

// LinkOf returns an entity's link to a system's object, or nil.
func (q queries) LinkOf(ctx context.Context, entityID, system, object string) (*tandem.Link, error) {
	return q.scanLink(q.db.QueryRowContext(ctx, `SELECT `+linkCols+` FROM links WHERE entity_id = ? AND system = ? AND object = ?`,
		entityID, system, object))
}

// PutLink creates or replaces a link and its snapshot.
func (t *Tx) PutLink(ctx context.Context, l *tandem.Link) error {
	plain, err := json.Marshal(l.Snapshot)
	if err != nil {
		return err
	}
	snap := t.keys.seal("snapshot", plain)
	sum := sha256.Sum256(snap) // of what is stored: sealed, it tells nothing of the values
	_, err = t.db.ExecContext(ctx, `INSERT INTO links (`+linkCols+`, hash, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (system, object, external_id) DO UPDATE SET entity_id = excluded.entity_id, snapshot = excluded.snapshot,
		raw = excluded.raw, modified_at = excluded.modified_at, deleted_at = excluded.deleted_at, hash = excluded.hash,
		updated_at = excluded.updated_at`,
		l.EntityID, l.System, l.Object, l.ExternalID, string(snap), t.keys.seal("raw", l.Raw), ts(l.Modified), nullable(ts(l.Deleted)),
		hex.EncodeToString(sum[:]), now())
	return err
}

// DropLink forgets a system's record: the entity is no longer in that
// system, and the next pass creates it there afresh.
func (t *Tx) DropLink(ctx context.Context, system, object, externalID string) error {
	_, err := t.db.ExecContext(ctx, `DELETE FROM links WHERE system = ? AND object = ? AND external_id = ?`, system, object, externalID)
	return err
}

// Golden returns an entity's golden record.
func (q queries) Golden(ctx context.Context, entityID string) (tandem.Golden, error) {
	var g string
	if err := q.db.QueryRowContext(ctx, `SELECT golden FROM entities WHERE id = ?`, entityID).Scan(&g); err != nil {
		return nil, fmt.Errorf("state: entity %s: %w", entityID, err)
	}
	g, err := q.keys.openText("golden", g)
	if err != nil {
		return nil, fmt.Errorf("state: entity %s: %w", entityID, err)
	}
	var out tandem.Golden
	if err := json.Unmarshal([]byte(g), &out); err != nil {
		return nil, fmt.Errorf("state: entity %s: bad golden record: %w", entityID, err)
	}
	return out, nil
}

// NewEntityID returns a fresh entity id: a UUID version 7, random in its
// last 74 bits (so a state file rebuilt from scratch never reuses an id a
// system still holds) and ordered by time in its first 48, so the entities
// a sync creates are appended to the indexes keyed by entity id (entities,
// links_by_entity, match_keys_by_entity, outbox_one_pending) instead of
// landing on a random page of each.
func NewEntityID() string { return uuid.Must(uuid.NewV7()).String() }

// NewEntity creates an entity with a fresh id (NewEntityID).
func (t *Tx) NewEntity(ctx context.Context, entity string, g tandem.Golden, keys map[string]string) (string, error) {
	id := NewEntityID()
	if _, err := t.db.ExecContext(ctx, `INSERT INTO entities (id, entity, golden, created_at, updated_at) VALUES (?, ?, '{}', ?, ?)`,
		id, entity, now(), now()); err != nil {
		return "", err
	}
	if len(g) == 0 && len(keys) == 0 {
		return id, nil
	}
	return id, t.PutGolden(ctx, entity, id, g, keys)
}

// PutGolden replaces an entity's golden record and its match keys.
func (t *Tx) PutGolden(ctx context.Context, entity, id string, g tandem.Golden, keys map[string]string) error {
	b, err := json.Marshal(g)
	if err != nil {
		return err
	}
	if _, err := t.db.ExecContext(ctx, `UPDATE entities SET golden = ?, updated_at = ? WHERE id = ?`, t.keys.sealText("golden", string(b)), now(), id); err != nil {
		return err
	}
	if _, err := t.db.ExecContext(ctx, `DELETE FROM match_keys WHERE entity_id = ?`, id); err != nil {
		return err
	}
	for name, v := range keys {
		if _, err := t.db.ExecContext(ctx, `INSERT INTO match_keys (entity, name, value, entity_id) VALUES (?, ?, ?, ?)`,
			entity, name, v, id); err != nil {
			return err
		}
	}
	return nil
}

// Candidates returns the entities whose match keys equal any of keys.
func (q queries) Candidates(ctx context.Context, entity string, keys map[string]string) ([]string, error) {
	seen := map[string]bool{}
	var ids []string
	for name, v := range keys {
		rows, err := q.db.QueryContext(ctx, `SELECT entity_id FROM match_keys WHERE entity = ? AND name = ? AND value = ? ORDER BY entity_id`,
			entity, name, v)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// AddDeadLetter sets aside a record that could not be read. A record set
// aside already for the same reason is not set aside twice (a pull's
// overlap and each re-read meet it again until it is fixed).
func (t *Tx) AddDeadLetter(ctx context.Context, system, object, externalID string, raw []byte, reason string) error {
	_, err := t.db.ExecContext(ctx, `INSERT INTO dead_letters (system, object, external_id, raw, reason, created_at)
		SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (
			SELECT 1 FROM dead_letters WHERE system = ?1 AND object = ?2 AND external_id = ?3 AND reason = ?5)`,
		system, object, externalID, t.keys.seal("raw", raw), reason, now())
	return err
}

// AnyDeadLetter reports whether a system's object has any record set
// aside (one query a chunk, so that staging pays ClearDeadLetters only
// when there is something to clear).
func (q queries) AnyDeadLetter(ctx context.Context, system, object string) (bool, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM dead_letters WHERE system = ? AND object = ?)`, system, object).Scan(&n)
	return n == 1, err
}

// ClearDeadLetters removes what was set aside of the records ids of a
// system's object: they have been read since (issue 17, item 9: a record
// a transient bad page set aside, read fine later, is no longer one a
// person must look at).
func (t *Tx) ClearDeadLetters(ctx context.Context, system, object string, ids []string) error {
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := []any{system, object}
		for _, id := range chunk {
			args = append(args, id)
		}
		q := `DELETE FROM dead_letters WHERE system = ? AND object = ? AND external_id IN (?` + strings.Repeat(", ?", len(chunk)-1) + `)`
		if _, err := t.db.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// EntityIDs lists the ids of an entity type's records, in id order.
func (q queries) EntityIDs(ctx context.Context, entity string) ([]string, error) {
	return q.strings(ctx, `SELECT id FROM entities WHERE entity = ? ORDER BY id`, entity)
}

// strings runs a query of one text column.
func (q queries) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Links lists an entity's links, by system and object.
func (q queries) Links(ctx context.Context, entityID string) ([]*tandem.Link, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+linkCols+` FROM links WHERE entity_id = ? ORDER BY system, object`, entityID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ls []*tandem.Link
	for rows.Next() {
		l, err := q.scanLink(rows)
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, rows.Err()
}

// MarkSwept notes that a sweep saw these records of (system, object).
func (t *Tx) MarkSwept(ctx context.Context, system, object, sweep string, ids []string) error {
	for _, id := range ids {
		if _, err := t.db.ExecContext(ctx, `UPDATE links SET swept = ? WHERE system = ? AND object = ? AND external_id = ?`,
			sweep, system, object, id); err != nil {
			return err
		}
	}
	return nil
}

// Unswept lists the live linked records of (system, object) that a sweep
// did not see and that were not touched since it started: the records a
// full read found missing.
func (q queries) Unswept(ctx context.Context, system, object, sweep string, started time.Time) ([]string, error) {
	return q.strings(ctx, `SELECT external_id FROM links WHERE system = ? AND object = ? AND deleted_at IS NULL
		AND (swept IS NULL OR swept != ?) AND updated_at < ? ORDER BY external_id`, system, object, sweep, ts(started))
}

// LinksByID returns the links of several records of a system's object in one
// query, by external id (a record without one is absent from the map).
func (q queries) LinksByID(ctx context.Context, system, object string, ids []string) (map[string]*tandem.Link, error) {
	out := make(map[string]*tandem.Link, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, 0, len(ids)+2)
	args = append(args, system, object)
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := q.db.QueryContext(ctx, `SELECT `+linkCols+` FROM links WHERE system = ? AND object = ? AND external_id IN (?`+
		strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		l, err := q.scanLink(rows)
		if err != nil {
			return nil, err
		}
		out[l.ExternalID] = l
	}
	return out, rows.Err()
}
