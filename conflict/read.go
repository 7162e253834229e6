package conflict

import (
	"bytes"
	"context"

	"tandem"
	"tandem/mapping"
	"tandem/state"
)

// pull reads a system's changes after its cursor. Each page is staged in
// one transaction with the cursor that follows it, so the cursor never
// passes a change that is not durably recorded.
func (e *Engine) pull(ctx context.Context, ent *mapping.Entity, sm *mapping.System) (int, error) {
	after, err := e.Store.Cursor(ctx, sm.Name, sm.Object)
	if err != nil {
		return 0, err
	}
	return e.read(ctx, ent, sm, reading{
		query: tandem.Query{After: after},
		save: func(tx *state.Tx, p tandem.Page) error {
			return tx.SetCursor(ctx, sm.Name, sm.Object, p.Cursor)
		},
	})
}

// reading is how a read of a system goes: where it starts, where each
// page's position is kept, which records it stages, and whether it takes
// the engine's turn page by page.
type reading struct {
	query tandem.Query // Object and Fields are filled in by read
	// save keeps the position after a page, in the transaction that
	// stages its last records.
	save func(tx *state.Tx, p tandem.Page) error
	// keep, when set, picks the records to stage; the others are passed
	// over (a sweep stages only what is out of step).
	keep func(tx *state.Tx, rec tandem.Record) (bool, error)
	// pass, when set, makes each page take the engine's turn on its own
	// (with this pass id), so a long read lets passes and webhooks run
	// between its pages. Unset, the caller holds the turn.
	pass string
	// saved, when set, is called after each page is committed.
	saved func()
}

// read pulls a system's records page by page and stages them. A big page
// is staged in several transactions, so the writes of other systems
// (pushEarly) get the state file in between; only the last carries the
// position. Staging a record again after a crash in between changes
// nothing: its view equals its snapshot.
func (e *Engine) read(ctx context.Context, ent *mapping.Entity, sm *mapping.System, rd reading) (int, error) {
	conn, err := e.conn(sm.Name)
	if err != nil {
		return 0, err
	}
	q := rd.query
	q.Object, q.Fields = sm.Object, e.paths(sm)
	n := 0
	err = conn.Pull(ctx, q, func(p tandem.Page) error {
		if rd.pass != "" {
			e.mu.Lock()
			e.pass = rd.pass
			defer func() { e.pass = ""; e.mu.Unlock() }()
		}
		if err := e.refsIn(ctx, ent, sm, p.Records); err != nil {
			return err
		}
		stage := func(tx *state.Tx, recs []tandem.Record) error {
			if rd.keep != nil {
				var kept []tandem.Record
				for _, r := range recs {
					ok, err := rd.keep(tx, r)
					if err != nil {
						return err
					}
					if ok {
						kept = append(kept, r)
					}
				}
				recs = kept
			}
			return e.stageAll(ctx, tx, ent, sm, recs)
		}
		recs := p.Records
		for len(recs) > stageChunk {
			if err := e.Store.Update(ctx, func(tx *state.Tx) error { return stage(tx, recs[:stageChunk]) }); err != nil {
				return err
			}
			recs = recs[stageChunk:]
		}
		err := e.Store.Update(ctx, func(tx *state.Tx) error {
			for _, r := range p.Rejected {
				e.log().Warn("record set aside: cannot be parsed", "system", sm.Name, "object", sm.Object, "id", r.ID, "reason", r.Reason)
				if err := tx.AddDeadLetter(ctx, sm.Name, sm.Object, r.ID, r.Raw, r.Reason); err != nil {
					return err
				}
			}
			if err := stage(tx, recs); err != nil {
				return err
			}
			e.step("pull:before-commit")
			return rd.save(tx, p)
		})
		if err == nil {
			n += len(p.Records) + len(p.Rejected)
			e.step("pull:after-commit")
			if rd.saved != nil {
				rd.saved()
			}
		}
		return err
	})
	return n, err
}

// stageChunk is how many records one staging transaction holds at most:
// one load, one decide and one save each (chunk.go). Larger chunks commit
// less often; smaller ones give the writes of other systems (pushEarly)
// the state file sooner.
const stageChunk = 200

// stage maps one pulled record, links it to an entity, merges it into the
// golden record, updates its snapshot and queues the writes that follow.
func (d *decider) stage(ent *mapping.Entity, sm *mapping.System, rec tandem.Record) error {
	if rec.Deleted {
		return d.deleted(ent, sm, rec)
	}
	view, bad, err := sm.InFields(rec.Raw)
	if err != nil {
		d.log.Warn("record set aside", "system", sm.Name, "object", sm.Object, "id", rec.ID, "err", err)
		return d.v.AddDeadLetter(sm.Name, sm.Object, rec.ID, rec.Raw, err.Error())
	}
	side := sideOf(sm, rec, view)
	link, err := d.v.Link(sm.Name, sm.Object, rec.ID)
	if err != nil {
		return err
	}
	if link == nil && unidentifiable(ent, bad) {
		d.log.Warn("record set aside", "system", sm.Name, "object", sm.Object, "id", rec.ID, "err", bad[0])
		return d.v.AddDeadLetter(sm.Name, sm.Object, rec.ID, rec.Raw, bad[0].Error())
	}
	if link != nil {
		// A value that cannot be read holds that field only (values.go).
		if err := d.holdValues(ent, sm, rec, link.EntityID, view, bad, true); err != nil {
			return err
		}
	}
	var echoed bool
	if link != nil {
		// A write in flight read back is Tandem's echo: its fields join
		// the snapshot before anything is taken for an edit (echo.go).
		if echoed, err = d.confirmEcho(sm, link, view); err != nil {
			return err
		}
	}
	if link != nil && link.Deleted.IsZero() && link.Snapshot != nil && !changedFrom(view, link.Snapshot) {
		// Nothing new: the echo of Tandem's own write, or a record read
		// again (a sweep, a backfill, a page read twice after a crash).
		// The merge would change nothing and queue nothing; only a
		// payload that moved (an unmapped field), or a snapshot that
		// moved to a write in flight, is kept.
		if !echoed && bytes.Equal(link.Raw, rec.Raw) && link.Modified.Equal(rec.Modified) {
			return nil
		}
		link.Raw, link.Modified = rec.Raw, rec.Modified
		return d.v.PutLink(link)
	}
	fresh := false
	if link == nil {
		id, ok, isNew, err := d.find(ent, sm, side, rec)
		if err != nil || !ok {
			return err
		}
		link = &tandem.Link{EntityID: id, System: sm.Name, Object: sm.Object, ExternalID: rec.ID}
		if link.Snapshot, err = d.sentBase(ent, sm, rec, id); err != nil {
			return err
		}
		if err := d.holdValues(ent, sm, rec, id, view, bad, false); err != nil {
			return err
		}
		if err := d.closeIdentity(sm, rec.ID, id); err != nil {
			return err
		}
		fresh = isNew
	}
	return d.merge(ent, sm, link, side, rec, fresh)
}
