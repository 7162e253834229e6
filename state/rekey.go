package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// sealed lists the columns Rekey rewrites, table by table; raw columns
// are BLOBs, the others TEXT.
var sealed = []struct {
	table string
	cols  []string
}{
	{"entities", []string{"golden"}},
	{"links", []string{"snapshot", "raw"}},
	{"conflicts", []string{"base", "sides", "raw"}},
	{"outbox", []string{"sent"}},
	{"dead_letters", []string{"raw"}},
}

// Rekey seals with the current key every stored value that is plain
// (written before encryption was turned on) or sealed with an older key
// (a rotation), batch rows to a transaction, resting pause between
// batches so that a running daemon's passes go on meanwhile. It returns
// how many rows it rewrote. Without keys it does nothing. A value it
// cannot open (a key that is neither current nor old) stops it with an
// error and rewrites nothing more.
func (s *Store) Rekey(ctx context.Context, batch int, pause time.Duration) (int, error) {
	if s.keys == nil {
		return 0, nil
	}
	if batch <= 0 {
		batch = 500
	}
	total := 0
	for _, t := range sealed {
		var after int64
		for {
			n, last, more, err := s.rekeyBatch(ctx, t.table, t.cols, after, batch)
			total += n
			if err != nil {
				return total, fmt.Errorf("state: rekey %s: %w", t.table, err)
			}
			if !more {
				break
			}
			after = last
			select {
			case <-ctx.Done():
				return total, ctx.Err()
			case <-time.After(pause):
			}
		}
	}
	return total, nil
}

// rekeyBatch rewrites, in one transaction, the rows after rowid after
// (at most batch of them) whose values are not sealed with the current
// key. It returns how many it rewrote, the last rowid it read, and
// whether there may be more.
func (s *Store) rekeyBatch(ctx context.Context, table string, cols []string, after int64, batch int) (n int, last int64, more bool, err error) {
	err = s.Update(ctx, func(tx *Tx) error {
		list := ""
		for _, c := range cols {
			list += ", " + c
		}
		rows, err := tx.db.QueryContext(ctx, `SELECT rowid`+list+` FROM `+table+` WHERE rowid > ? ORDER BY rowid LIMIT ?`, after, batch)
		if err != nil {
			return err
		}
		type row struct {
			id   int64
			vals [][]byte
		}
		var stale []row
		read := 0
		for rows.Next() {
			r := row{vals: make([][]byte, len(cols))}
			dest := []any{&r.id}
			for i := range r.vals {
				dest = append(dest, &r.vals[i])
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return err
			}
			read++
			last = r.id
			for _, v := range r.vals {
				if !tx.keys.current(v) {
					stale = append(stale, r)
					break
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		more = read == batch
		for _, r := range stale {
			set, args := "", []any{}
			for i, c := range cols {
				v := r.vals[i]
				if v != nil {
					plain, err := tx.keys.open(c, v)
					if err != nil {
						return fmt.Errorf("row %d: %w", r.id, err)
					}
					v = tx.keys.seal(c, plain)
				}
				set += c + " = ?, "
				if c == "raw" {
					args = append(args, v)
				} else {
					args = append(args, nullText(v))
				}
				if table == "links" && c == "snapshot" {
					sum := sha256.Sum256(v)
					set += "hash = ?, "
					args = append(args, hex.EncodeToString(sum[:]))
				}
			}
			args = append(args, r.id)
			if _, err := tx.db.ExecContext(ctx, `UPDATE `+table+` SET `+set[:len(set)-2]+` WHERE rowid = ?`, args...); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		n = 0 // rolled back
	}
	return n, last, more, err
}

// nullText is a TEXT column's value: NULL stays NULL.
func nullText(v []byte) any {
	if v == nil {
		return nil
	}
	return string(v)
}
