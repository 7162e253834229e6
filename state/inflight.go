package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"tandem"
)

// InFlight is what Tandem has sent to one record and not yet seen
// confirmed: per canonical field, every value a write of the pending
// intent set (a write retried after a lost answer may have sent another
// value before; either may be the one the system holds).
type InFlight map[string][]any

// SentDelete is the key of InFlight that says a delete of the record was
// sent (its value is true). No canonical field has this name: field names
// are identifiers.
const SentDelete = "!delete"

// SentAttempts is the key of InFlight that lists each attempt's values, in
// the order sent (a []any of objects, field -> value): a record read back
// with one of an attempt's values shows that attempt landed, and so that
// its other fields, where they show something else, were edited since.
// State written before it was kept has no such key.
const SentAttempts = "!attempts"

// Attempts are the values each attempt set, oldest first; nil when not
// recorded.
func (f InFlight) Attempts() []tandem.Values {
	var out []tandem.Values
	for _, a := range f[SentAttempts] {
		switch a := a.(type) {
		case map[string]any:
			out = append(out, tandem.Values(a))
		case tandem.Values:
			out = append(out, a)
		}
	}
	return out
}

// add records one attempt's values: each value beside the earlier ones,
// and the attempt itself (not for a delete).
func (f InFlight) add(sent tandem.Values) {
	for k, v := range sent {
		if !f.Has(k, v) {
			f[k] = append(f[k], v)
		}
	}
	if _, del := sent[SentDelete]; !del {
		f[SentAttempts] = append(f[SentAttempts], map[string]any(sent))
	}
}

// Has reports whether v is a value in flight for field.
func (f InFlight) Has(field string, v any) bool {
	return slices.ContainsFunc(f[field], func(s any) bool { return tandem.Equal(s, v) })
}

// MarkSent records on a pending intent the values its write is about to
// set, in the transaction that commits before the write is sent: from then
// until the write is confirmed, a read of the record that shows them is
// Tandem's echo. Values sent by an earlier attempt are kept beside them.
func (t *Tx) MarkSent(ctx context.Context, id int64, sent tandem.Values) error {
	if len(sent) == 0 {
		return nil
	}
	var prev sql.NullString
	err := t.db.QueryRowContext(ctx, `SELECT sent FROM outbox WHERE id = ?`, id).Scan(&prev)
	if err == sql.ErrNoRows {
		return nil // done meanwhile: nothing in flight
	}
	if err != nil {
		return err
	}
	f, err := t.sentOf(prev)
	if err != nil {
		return fmt.Errorf("outbox %d: sent values: %w", id, err)
	}
	f.add(sent)
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_, err = t.db.ExecContext(ctx, `UPDATE outbox SET sent = ? WHERE id = ?`, t.keys.sealText("sent", string(b)), id)
	return err
}

// MarkSentAll is MarkSent for several pending intents (by id), their
// earlier values read in one query.
func (t *Tx) MarkSentAll(ctx context.Context, sent map[int64]tandem.Values) error {
	ids := make([]string, 0, len(sent))
	for id, v := range sent {
		if len(v) > 0 {
			ids = append(ids, strconv.FormatInt(id, 10))
		}
	}
	prev := map[int64]sql.NullString{}
	err := eachPart(ids, func(part []string, args []any) error {
		rows, err := t.db.QueryContext(ctx, `SELECT id, sent FROM outbox WHERE id IN (`+inList(len(part))+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var s sql.NullString
			if err := rows.Scan(&id, &s); err != nil {
				return err
			}
			prev[id] = s
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	for id, p := range prev { // an intent done meanwhile has nothing in flight
		f, err := t.sentOf(p)
		if err != nil {
			return fmt.Errorf("outbox %d: sent values: %w", id, err)
		}
		f.add(sent[id])
		b, err := json.Marshal(f)
		if err != nil {
			return err
		}
		if _, err := t.db.ExecContext(ctx, `UPDATE outbox SET sent = ? WHERE id = ?`, t.keys.sealText("sent", string(b)), id); err != nil {
			return err
		}
	}
	return nil
}

// InFlight returns the values in flight to an entity's record in (system,
// object): those of its pending intent, or nil when nothing is in flight.
func (q queries) InFlight(ctx context.Context, entityID, system, object string) (InFlight, error) {
	var s sql.NullString
	err := q.db.QueryRowContext(ctx, `SELECT sent FROM outbox WHERE entity_id = ? AND system = ? AND object = ? AND status = 'pending'`,
		entityID, system, object).Scan(&s)
	if err == sql.ErrNoRows || (err == nil && !s.Valid) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f, err := q.sentOf(s)
	if err != nil {
		return nil, fmt.Errorf("outbox of %s in %s %s: sent values: %w", entityID, system, object, err)
	}
	return f, nil
}

// sentOf reads an outbox row's sent values (empty for none).
func (q queries) sentOf(s sql.NullString) (InFlight, error) {
	f := InFlight{}
	if !s.Valid {
		return f, nil
	}
	plain, err := q.keys.openText("sent", s.String)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(plain), &f); err != nil {
		return nil, err
	}
	return f, nil
}
