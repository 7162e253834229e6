package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"tandem"
)

// Batch is what the decisions about a chunk of records changed, each
// thing in its final state, to be saved in one transaction (Tx.Save).
type Batch struct {
	Entities []EntityWrite
	Links    []*tandem.Link // created or replaced
	Dropped  [][3]string    // links forgotten: system, object, external id
	Intents  []Intent       // Entity, EntityID, System, Object: queued unless one is pending
	// NewConflicts are recorded in order. One whose ID is below zero
	// (numbered in the batch) gets its real ID, and so does an entity's
	// Delete.Conflict that names it.
	NewConflicts []ConflictWrite
	Conflicts    []ConflictWrite // rewritten (UpdateConflict; UpdateHeldRecord when Held is set)
	DeadLetters  []SetAside
	// Ended are intents done (removed), retried or set aside, in order,
	// before Intents are queued: an intent done and queued again in one
	// batch is pending after it.
	Ended []Ended
}

// Ended is what became of one intent of the outbox.
type Ended struct {
	ID          int64
	Retry, Dead bool // neither: done
	Reason      string
}

// EntityWrite is an entity made or changed by a chunk.
type EntityWrite struct {
	ID, Entity string
	New        bool
	SetGolden  bool // Golden and Keys replace the stored ones
	Golden     tandem.Golden
	Keys       map[string]string
	SetDelete  bool // Delete replaces the stored delete state (nil: it lives)
	Delete     *Delete
}

// ConflictWrite is a conflict to record or rewrite, with the record an
// identity or value conflict holds (nil: none, or unchanged).
type ConflictWrite struct {
	C    *tandem.Conflict
	Held *Pending
}

// SetAside is a record that could not be read, set aside as a dead letter.
type SetAside struct {
	System, Object, ExternalID string
	Raw                        []byte
	Reason                     string
}

// rowsPer is how many rows one multi-row statement holds at most.
const rowsPer = 100

// Save writes a batch: what the per-record writes (NewEntity, PutGolden,
// SetDelete, PutLink, DropLink, Enqueue, AddConflict, UpdateConflict,
// AddDeadLetter) would leave, in a few multi-row statements.
func (t *Tx) Save(ctx context.Context, b *Batch) error {
	ids := map[int64]int64{}
	for _, w := range b.NewConflicts {
		temp := w.C.ID
		if err := t.AddConflict(ctx, w.C, w.Held); err != nil {
			return err
		}
		if temp < 0 {
			ids[temp] = w.C.ID
		}
	}
	if err := t.saveEntities(ctx, b.Entities, ids); err != nil {
		return err
	}
	for _, k := range b.Dropped {
		if err := t.DropLink(ctx, k[0], k[1], k[2]); err != nil {
			return err
		}
	}
	if err := t.putLinks(ctx, b.Links); err != nil {
		return err
	}
	for _, e := range b.Ended {
		var err error
		switch {
		case e.Retry:
			err = t.Retry(ctx, e.ID, e.Reason)
		case e.Dead:
			err = t.Dead(ctx, e.ID, e.Reason)
		default:
			err = t.Done(ctx, e.ID)
		}
		if err != nil {
			return err
		}
	}
	if err := t.enqueueAll(ctx, b.Intents); err != nil {
		return err
	}
	for _, w := range b.Conflicts {
		var err error
		if w.Held != nil {
			err = t.UpdateHeldRecord(ctx, w.C, w.Held)
		} else {
			err = t.UpdateConflict(ctx, w.C)
		}
		if err != nil {
			return err
		}
	}
	for _, d := range b.DeadLetters {
		if err := t.AddDeadLetter(ctx, d.System, d.Object, d.ExternalID, d.Raw, d.Reason); err != nil {
			return err
		}
	}
	return nil
}

// multi runs one INSERT of many rows, rowsPer at a time: head is the
// statement up to VALUES, row the placeholders of one row, tail what
// follows the rows; args gives a row's values.
func (t *Tx) multi(ctx context.Context, head, row, tail string, n int, args func(i int) []any) error {
	for at := 0; at < n; at += rowsPer {
		m := min(rowsPer, n-at)
		var a []any
		for i := at; i < at+m; i++ {
			a = append(a, args(i)...)
		}
		q := head + " VALUES " + row + strings.Repeat(", "+row, m-1) + " " + tail
		if _, err := t.db.ExecContext(ctx, q, a...); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) saveEntities(ctx context.Context, ws []EntityWrite, ids map[int64]int64) error {
	var set []EntityWrite
	var goldens []string
	var old []any
	for _, w := range ws {
		if !w.SetGolden && !w.New {
			continue
		}
		g := w.Golden
		if g == nil {
			g = tandem.Golden{}
		}
		b, err := json.Marshal(g)
		if err != nil {
			return err
		}
		set, goldens = append(set, w), append(goldens, t.keys.sealText("golden", string(b)))
		if !w.New {
			old = append(old, w.ID)
		}
	}
	stamp := now()
	err := t.multi(ctx, `INSERT INTO entities (id, entity, golden, created_at, updated_at)`, `(?, ?, ?, ?, ?)`,
		`ON CONFLICT (id) DO UPDATE SET golden = excluded.golden, updated_at = excluded.updated_at`, len(set), func(i int) []any {
			return []any{set[i].ID, set[i].Entity, goldens[i], stamp, stamp}
		})
	if err != nil {
		return err
	}
	for at := 0; at < len(old); at += rowsPer {
		part := old[at:min(at+rowsPer, len(old))]
		if _, err := t.db.ExecContext(ctx, `DELETE FROM match_keys WHERE entity_id IN (`+inList(len(part))+`)`, part...); err != nil {
			return err
		}
	}
	var keys [][4]string
	for _, w := range set {
		for name, v := range w.Keys {
			keys = append(keys, [4]string{w.Entity, name, v, w.ID})
		}
	}
	err = t.multi(ctx, `INSERT INTO match_keys (entity, name, value, entity_id)`, `(?, ?, ?, ?)`, ``, len(keys), func(i int) []any {
		return []any{keys[i][0], keys[i][1], keys[i][2], keys[i][3]}
	})
	if err != nil {
		return err
	}
	for _, w := range ws {
		if !w.SetDelete {
			continue
		}
		d := w.Delete
		if d != nil && d.Conflict < 0 {
			c := *d
			if c.Conflict = ids[d.Conflict]; c.Conflict == 0 {
				return fmt.Errorf("state: entity %s: delete names conflict %d, not in the batch", w.ID, d.Conflict)
			}
			d = &c
		}
		if err := t.SetDelete(ctx, w.ID, d); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) putLinks(ctx context.Context, ls []*tandem.Link) error {
	snaps := make([]string, len(ls))
	sums := make([]string, len(ls))
	for i, l := range ls {
		b, err := json.Marshal(l.Snapshot)
		if err != nil {
			return err
		}
		sealed := t.keys.seal("snapshot", b)
		sum := sha256.Sum256(sealed)
		snaps[i], sums[i] = string(sealed), hex.EncodeToString(sum[:])
	}
	stamp := now()
	return t.multi(ctx, `INSERT INTO links (`+linkCols+`, hash, updated_at)`, `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		`ON CONFLICT (system, object, external_id) DO UPDATE SET entity_id = excluded.entity_id, snapshot = excluded.snapshot,
		raw = excluded.raw, modified_at = excluded.modified_at, deleted_at = excluded.deleted_at, hash = excluded.hash,
		updated_at = excluded.updated_at`, len(ls), func(i int) []any {
			l := ls[i]
			return []any{l.EntityID, l.System, l.Object, l.ExternalID, snaps[i], t.keys.seal("raw", l.Raw), ts(l.Modified), nullable(ts(l.Deleted)), sums[i], stamp}
		})
}

func (t *Tx) enqueueAll(ctx context.Context, in []Intent) error {
	stamp := now()
	return t.multi(ctx, `INSERT INTO outbox (entity, entity_id, system, object, created_at, updated_at)`, `(?, ?, ?, ?, ?, ?)`,
		`ON CONFLICT (entity_id, system, object) WHERE status = 'pending' DO NOTHING`, len(in), func(i int) []any {
			return []any{in[i].Entity, in[i].EntityID, in[i].System, in[i].Object, stamp, stamp}
		})
}
