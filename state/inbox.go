package state

import (
	"context"
	"database/sql"
	"time"
)

// InboxEvent is one webhook event waiting in the inbox (or done).
type InboxEvent struct {
	ID       int64
	System   string
	Object   string
	EventID  string
	RecordID string
	Deleted  bool
	At       time.Time // when it happened, by the system's clock
	Delivery string    // the correlation id of the delivery that brought it
	Received time.Time
}

// ErrReplay is a delivery whose signature was accepted before.
var ErrReplay = replayError{}

type replayError struct{}

func (replayError) Error() string {
	return "replayed delivery: this signed request was accepted before"
}

// Receive stores a verified delivery's events in one transaction: the
// delivery's signature hash (a second delivery with the same one is a
// replay: ErrReplay, nothing stored), then each event unless its id is
// already in the inbox. It returns how many events were new.
func (s *Store) Receive(ctx context.Context, system, signature string, events []InboxEvent) (int, error) {
	n := 0
	err := s.Update(ctx, func(tx *Tx) error {
		if signature != "" {
			res, err := tx.db.ExecContext(ctx, `INSERT INTO deliveries (system, signature, received_at) VALUES (?, ?, ?)
				ON CONFLICT DO NOTHING`, system, signature, now())
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k == 0 {
				return ErrReplay
			}
		}
		for _, ev := range events {
			res, err := tx.db.ExecContext(ctx, `INSERT INTO inbox (system, object, event_id, record_id, deleted, occurred_at, delivery, received_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (system, event_id) DO NOTHING`,
				system, ev.Object, ev.EventID, ev.RecordID, ev.Deleted, ts(ev.At), ev.Delivery, now())
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += int(k)
		}
		return nil
	})
	return n, err
}

// Inbox returns up to limit events of (system, object) not yet merged,
// oldest first.
func (q queries) Inbox(ctx context.Context, system, object string, limit int) ([]InboxEvent, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT id, system, object, event_id, record_id, deleted, occurred_at, delivery, received_at
		FROM inbox WHERE system = ? AND object = ? AND done_at IS NULL ORDER BY id LIMIT ?`, system, object, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []InboxEvent
	for rows.Next() {
		var ev InboxEvent
		var at, recv sql.NullString
		if err := rows.Scan(&ev.ID, &ev.System, &ev.Object, &ev.EventID, &ev.RecordID, &ev.Deleted, &at, &ev.Delivery, &recv); err != nil {
			return nil, err
		}
		ev.At, ev.Received = parseTS(at), parseTS(recv)
		out = append(out, ev)
	}
	return out, rows.Err()
}

// InboxDepth counts the events of (system, object) waiting to be merged.
func (q queries) InboxDepth(ctx context.Context, system, object string) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM inbox WHERE system = ? AND object = ? AND done_at IS NULL`, system, object).Scan(&n)
	return n, err
}

// InboxDone marks events merged, in the transaction that staged them.
func (t *Tx) InboxDone(ctx context.Context, ids []int64) error {
	for _, id := range ids {
		if _, err := t.db.ExecContext(ctx, `UPDATE inbox SET done_at = ? WHERE id = ?`, now(), id); err != nil {
			return err
		}
	}
	return nil
}

// PruneInbox forgets merged events and accepted signatures received
// before cutoff: a sender's retries and replays come within minutes, and
// a replay older than the signature's time window is refused anyway.
func (s *Store) PruneInbox(ctx context.Context, cutoff time.Time) error {
	return s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.db.ExecContext(ctx, `DELETE FROM inbox WHERE done_at IS NOT NULL AND received_at < ?`, ts(cutoff)); err != nil {
			return err
		}
		_, err := tx.db.ExecContext(ctx, `DELETE FROM deliveries WHERE received_at < ?`, ts(cutoff))
		return err
	})
}
