package postgres

import (
	"context"
	"time"
)

// followEvery is how often Follow looks at the slot.
const followEvery = time.Second

// resignal is how long Follow waits before saying again that changes wait
// at the same position: the pass it asked for failed, or is slow.
const resignal = time.Minute

// Follow watches the table's replication slot (capture: replication) and
// calls changed when it holds changes no pass has confirmed: when the
// server's WAL has moved past the slot's position and a peek at the slot
// finds a change of the publication. It looks once a second, and costs
// one small query when nothing was written. With polling it returns at
// once: the schedule's passes read the table.
//
// A pass reading the slot at the moment Follow peeks at it finds it busy
// and tries again (again), as does Follow on its next look.
func (c *Client) Follow(ctx context.Context, object string, changed func()) error {
	if c.o.Capture != "replication" {
		return nil
	}
	tick := time.NewTicker(followEvery)
	defer tick.Stop()
	var at string // the slot's position when changed was last called
	var when time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		pos, waiting := c.waiting(ctx, object)
		if waiting && (pos != at || time.Since(when) > resignal) {
			at, when = pos, time.Now()
			changed()
		}
	}
}

// waiting reports whether the table's slot holds changes, and the slot's
// position. Any failure (no table or slot yet, the slot busy) is "no".
func (c *Client) waiting(ctx context.Context, object string) (string, bool) {
	t, err := c.table(ctx, object)
	if err != nil {
		return "", false
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	slot := c.slotName(t)
	var pos string
	var moved bool
	if err := c.pool.QueryRow(ctx, `SELECT confirmed_flush_lsn::text, pg_current_wal_lsn() > confirmed_flush_lsn
		FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()`, slot).Scan(&pos, &moved); err != nil || !moved {
		return pos, false
	}
	var n int
	if err := c.pool.QueryRow(ctx, "SELECT count(*) FROM pg_logical_slot_peek_binary_changes($1, NULL, 1, 'proto_version', '1', 'publication_names', $2)",
		slot, c.o.Publication).Scan(&n); err != nil {
		return pos, false
	}
	return pos, n > 0
}
