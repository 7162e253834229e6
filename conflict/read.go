package conflict

import (
	"bytes"
	"context"
	"fmt"

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

// stageChunk is how many records one staging transaction holds at most.
const stageChunk = 50

func (e *Engine) stageAll(ctx context.Context, tx *state.Tx, ent *mapping.Entity, sm *mapping.System, recs []tandem.Record) error {
	// The records' links, read in one query rather than one each. A
	// record twice in the batch is looked up again the second time, as
	// the first may have linked it.
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	links, err := tx.LinksByID(ctx, sm.Name, sm.Object, ids)
	if err != nil {
		return err
	}
	values, err := tx.AnyOpenValue(ctx, sm.Name, sm.Object)
	if err != nil {
		return err
	}
	// Records read fine are no longer set aside; one that still cannot be
	// mapped is set aside again below.
	if aside, err := tx.AnyDeadLetter(ctx, sm.Name, sm.Object); err != nil {
		return err
	} else if aside {
		if err := tx.ClearDeadLetters(ctx, sm.Name, sm.Object, ids); err != nil {
			return err
		}
	}
	seen := make(map[string]bool, len(recs))
	for _, rec := range recs {
		var known *linkLookup
		if !seen[rec.ID] {
			seen[rec.ID] = true
			known = &linkLookup{link: links[rec.ID], values: values}
		}
		if err := e.stageWith(ctx, tx, ent, sm, rec, known); err != nil {
			return fmt.Errorf("%s %s %s: %w", sm.Name, sm.Object, rec.ID, err)
		}
	}
	return nil
}

// stage maps one pulled record, links it to an entity, merges it into the
// golden record, updates its snapshot and queues the writes that follow.
func (e *Engine) stage(ctx context.Context, tx *state.Tx, ent *mapping.Entity, sm *mapping.System, rec tandem.Record) error {
	return e.stageWith(ctx, tx, ent, sm, rec, nil)
}

// linkLookup is a record's link read ahead (nil: it has none), and
// whether its object has any open value conflict (values.go).
type linkLookup struct {
	link   *tandem.Link
	values bool
}

// stageWith is stage with the record's link already read, when known is
// not nil.
func (e *Engine) stageWith(ctx context.Context, tx *state.Tx, ent *mapping.Entity, sm *mapping.System, rec tandem.Record, known *linkLookup) error {
	if rec.Deleted {
		return e.deleted(ctx, tx, ent, sm, rec)
	}
	view, bad, err := sm.InFields(rec.Raw)
	if err != nil {
		e.log().Warn("record set aside", "system", sm.Name, "object", sm.Object, "id", rec.ID, "err", err)
		return tx.AddDeadLetter(ctx, sm.Name, sm.Object, rec.ID, rec.Raw, err.Error())
	}
	side := sideOf(sm, rec, view)
	var link *tandem.Link
	if known != nil {
		link = known.link
	} else if link, err = tx.Link(ctx, sm.Name, sm.Object, rec.ID); err != nil {
		return err
	}
	if link == nil && unidentifiable(ent, bad) {
		e.log().Warn("record set aside", "system", sm.Name, "object", sm.Object, "id", rec.ID, "err", bad[0])
		return tx.AddDeadLetter(ctx, sm.Name, sm.Object, rec.ID, rec.Raw, bad[0].Error())
	}
	if link != nil {
		// A value that cannot be read holds that field only (values.go).
		if err := e.holdValues(ctx, tx, ent, sm, rec, link.EntityID, view, bad, known == nil || known.values); err != nil {
			return err
		}
	}
	var echoed bool
	if link != nil {
		// A write in flight read back is Tandem's echo: its fields join
		// the snapshot before anything is taken for an edit (echo.go).
		if echoed, err = e.confirmEcho(ctx, tx, sm, link, view); err != nil {
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
		return tx.PutLink(ctx, link)
	}
	fresh := false
	if link == nil {
		id, ok, isNew, err := e.find(ctx, tx, ent, sm, side, rec)
		if err != nil || !ok {
			return err
		}
		link = &tandem.Link{EntityID: id, System: sm.Name, Object: sm.Object, ExternalID: rec.ID}
		if err := e.holdValues(ctx, tx, ent, sm, rec, id, view, bad, false); err != nil {
			return err
		}
		if err := e.closeIdentity(ctx, tx, sm, rec.ID, id); err != nil {
			return err
		}
		fresh = isNew
	}
	return e.merge(ctx, tx, ent, sm, link, side, rec, fresh)
}
