package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dead letter kinds. A write is an outbox intent that failed for good; a
// record is one read from a system that could not be mapped in.
const (
	DeadWrite  = "write"
	DeadRecord = "record"
)

// DeadLetter is one thing set aside for a person: a write that failed for
// good, or a record that could not be read. Its ID says which ("w12" is
// outbox row 12, "r3" dead_letters row 3), so the two never collide.
type DeadLetter struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Entity   string `json:"entity,omitempty"`
	EntityID string `json:"entity_id,omitempty"`
	System   string `json:"system"`
	Object   string `json:"object"`
	// RecordID is the record's id in the system: the record set aside, or
	// the record a write was to update (empty for a create).
	RecordID string    `json:"record_id,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
	Reason   string    `json:"reason"`
	Created  time.Time `json:"created_at"`
	Failed   time.Time `json:"failed_at"`
	// Sent is, for a write, the canonical values it sent, per field (every
	// value an attempt sent); nil when it failed before sending anything.
	Sent InFlight `json:"sent,omitempty"`
	// Raw is, for a record, the payload as read: JSON when it is JSON,
	// else RawText holds it as text.
	Raw     json.RawMessage `json:"raw,omitempty"`
	RawText string          `json:"raw_text,omitempty"`
}

// ParseDeadLetterID splits "w12" or "r3" into its kind and row id.
func ParseDeadLetterID(s string) (kind string, id int64, err error) {
	if len(s) > 1 {
		id, err = strconv.ParseInt(s[1:], 10, 64)
		switch {
		case err != nil || id <= 0:
		case s[0] == 'w':
			return DeadWrite, id, nil
		case s[0] == 'r':
			return DeadRecord, id, nil
		}
	}
	return "", 0, fmt.Errorf("dead letter %q: want w<number> (a write) or r<number> (a record), as 'tandem deadletters list' shows", s)
}

const deadWriteCols = `o.id, o.entity, o.entity_id, o.system, o.object, COALESCE(l.external_id, ''), o.attempts,
	COALESCE(o.last_error, ''), o.created_at, o.updated_at, o.sent
	FROM outbox o LEFT JOIN links l ON l.entity_id = o.entity_id AND l.system = o.system AND l.object = o.object
	WHERE o.status = 'dead'`

// DeadLetters lists every dead letter, writes first, oldest first.
func (q queries) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	out, err := q.deadWrites(ctx, ` ORDER BY o.id`)
	if err != nil {
		return nil, err
	}
	recs, err := q.deadRecords(ctx, ` ORDER BY id`)
	return append(out, recs...), err
}

// DeadLetter returns one dead letter by its ID, or nil when there is none.
func (q queries) DeadLetter(ctx context.Context, id string) (*DeadLetter, error) {
	kind, n, err := ParseDeadLetterID(id)
	if err != nil {
		return nil, err
	}
	var ds []DeadLetter
	if kind == DeadWrite {
		ds, err = q.deadWrites(ctx, ` AND o.id = ?`, n)
	} else {
		ds, err = q.deadRecords(ctx, ` WHERE id = ?`, n)
	}
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	return &ds[0], nil
}

func (q queries) deadWrites(ctx context.Context, tail string, args ...any) ([]DeadLetter, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+deadWriteCols+tail, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		d := DeadLetter{Kind: DeadWrite}
		var id int64
		var created, updated, sent sql.NullString
		if err := rows.Scan(&id, &d.Entity, &d.EntityID, &d.System, &d.Object, &d.RecordID, &d.Attempts, &d.Reason, &created, &updated, &sent); err != nil {
			return nil, err
		}
		d.ID, d.Created, d.Failed = "w"+strconv.FormatInt(id, 10), parseTS(created), parseTS(updated)
		if sent.Valid {
			plain, err := q.keys.openText("sent", sent.String)
			if err == nil {
				err = json.Unmarshal([]byte(plain), &d.Sent)
				delete(d.Sent, SentAttempts) // each attempt's values: the engine's, not the reader's
			}
			if err != nil {
				return nil, fmt.Errorf("outbox %d: sent values: %w", id, err)
			}
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (q queries) deadRecords(ctx context.Context, tail string, args ...any) ([]DeadLetter, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT id, system, object, external_id, raw, reason, created_at FROM dead_letters`+tail, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		d := DeadLetter{Kind: DeadRecord}
		var id int64
		var raw []byte
		var created sql.NullString
		if err := rows.Scan(&id, &d.System, &d.Object, &d.RecordID, &raw, &d.Reason, &created); err != nil {
			return nil, err
		}
		raw, err := q.keys.open("raw", raw)
		if err != nil {
			return nil, fmt.Errorf("dead letter r%d: %w", id, err)
		}
		d.ID, d.Created = "r"+strconv.FormatInt(id, 10), parseTS(created)
		d.Failed = d.Created
		if json.Valid(raw) {
			d.Raw = json.RawMessage(raw)
		} else {
			d.RawText = strings.ToValidUTF8(string(raw), "\uFFFD")
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DiscardDeadLetter forgets a dead letter: the write is not made, the
// record stays unread until it changes again. It reports whether there was
// one.
func (t *Tx) DiscardDeadLetter(ctx context.Context, id string) (bool, error) {
	kind, n, err := ParseDeadLetterID(id)
	if err != nil {
		return false, err
	}
	query := `DELETE FROM outbox WHERE id = ? AND status = 'dead'`
	if kind == DeadRecord {
		query = `DELETE FROM dead_letters WHERE id = ?`
	}
	res, err := t.db.ExecContext(ctx, query, n)
	if err != nil {
		return false, err
	}
	k, err := res.RowsAffected()
	return k > 0, err
}

// RequeueDeadWrite takes a dead write out of the dead letters and returns
// it, so the caller can plan it again from the current golden record (the
// outbox holds no payload: a write is computed when it is sent). nil: there
// is no such dead write.
func (t *Tx) RequeueDeadWrite(ctx context.Context, id string) (*DeadLetter, error) {
	d, err := t.DeadLetter(ctx, id)
	if err != nil || d == nil || d.Kind != DeadWrite {
		return nil, err
	}
	_, err = t.DiscardDeadLetter(ctx, id)
	return d, err
}

// RereadDeadRecord turns a record set aside into a request to read it
// again: an event in the inbox naming it (the record is fetched afresh,
// as for a thin webhook), and the dead letter is gone. It reports whether
// there was one.
func (t *Tx) RereadDeadRecord(ctx context.Context, id string) (bool, error) {
	kind, n, err := ParseDeadLetterID(id)
	if err != nil || kind != DeadRecord {
		return false, err
	}
	at := now()
	res, err := t.db.ExecContext(ctx, `INSERT INTO inbox (system, object, event_id, record_id, deleted, occurred_at, delivery, received_at)
		SELECT system, object, 'retry:r' || id || ':' || ?1, external_id, 0, ?1, 'tandem deadletters retry', ?1 FROM dead_letters WHERE id = ?2
		ON CONFLICT (system, event_id) DO NOTHING`, at, n)
	if err != nil {
		return false, err
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return false, nil
	}
	return t.DiscardDeadLetter(ctx, id)
}
