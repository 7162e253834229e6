package conflict

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"tandem"
	"tandem/connectors"
	"tandem/mapping"
	"tandem/state"
)

// Reconcile sweeps an entity: it reads every record of each system (the
// incremental cursors stay where they are), compares each with its
// snapshot, and stages only what is out of step: a record changed, or new,
// without the pass or webhook that should have said so. A linked record
// the full read did not see, and that a read by id confirms gone, is a
// delete (through the entity's delete policy). The sweep takes the
// engine's turn page by page, so passes and webhooks go on between its
// pages. Each system's Run has Kind reconcile and its Drift; the writes
// that follow are pushed by Drain.
func (e *Engine) Reconcile(ctx context.Context, ent *mapping.Entity) ([]state.Run, error) {
	sweep := uuid.NewString()
	ctx = connectors.WithCorrelation(ctx, sweep)
	var runs []state.Run
	var errs []error
	for _, sm := range ent.Systems {
		r := state.Run{Pass: sweep, Kind: state.RunReconcile, Entity: ent.Name, System: sm.Name, Object: sm.Object, Started: time.Now()}
		n, drift, err := e.sweep(ctx, ent, sm, sweep, r.Started)
		r.Pulled, r.Drift, r.Finished = n, drift, time.Now()
		if err != nil {
			r.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s %s: reconcile: %w", sm.Name, sm.Object, err))
		}
		e.baseLog().Info("reconciled", "pass", sweep, "entity", ent.Name, "system", sm.Name, "object", sm.Object, "read", n, "drift", drift)
		runs = append(runs, r)
	}
	return runs, errors.Join(errs...)
}

func (e *Engine) sweep(ctx context.Context, ent *mapping.Entity, sm *mapping.System, sweep string, started time.Time) (n, drift int, err error) {
	keep := func(tx *state.Tx, rec tandem.Record) (bool, error) {
		out, err := e.outOfStep(ctx, tx, sm, rec)
		if err != nil {
			return false, err
		}
		if !rec.Deleted {
			if err := tx.MarkSwept(ctx, sm.Name, sm.Object, sweep, []string{rec.ID}); err != nil {
				return false, err
			}
		}
		if out {
			drift++
			e.log().Info("out of step: repaired", "system", sm.Name, "object", sm.Object, "id", rec.ID, "deleted", rec.Deleted)
		}
		return out, nil
	}
	n, err = e.read(ctx, ent, sm, reading{save: func(*state.Tx, tandem.Page) error { return nil }, keep: keep, pass: sweep})
	if err != nil {
		return n, drift, err
	}
	missing, err := e.missing(ctx, sm, sweep, started)
	if err != nil || len(missing) == 0 {
		return n, drift, err
	}
	conn, err := e.conn(sm.Name)
	if err != nil {
		return n, drift, err
	}
	gone, err := e.gone(ctx, conn, sm, missing) // each delete with its own time (gone.go)
	if err != nil {
		return n, drift, err
	}
	drift += len(gone)
	e.mu.Lock()
	e.pass = sweep
	defer func() { e.pass = ""; e.mu.Unlock() }()
	return n, drift, e.Store.Update(ctx, func(tx *state.Tx) error {
		for _, rec := range gone {
			e.log().Info("missing after a full read: a delete", "system", sm.Name, "object", sm.Object, "id", rec.ID, "deleted_at", rec.Modified)
			if err := e.over(ctx, tx).stage(ent, sm, rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// outOfStep reports whether a record read by a sweep says something the
// state does not know: a live record unlinked or differing from its
// snapshot, or a deleted one still linked.
func (e *Engine) outOfStep(ctx context.Context, tx *state.Tx, sm *mapping.System, rec tandem.Record) (bool, error) {
	link, err := tx.Link(ctx, sm.Name, sm.Object, rec.ID)
	if err != nil {
		return false, err
	}
	if rec.Deleted {
		return link != nil && link.Deleted.IsZero(), nil
	}
	if link == nil {
		// New to Tandem, unless it waits as an identity conflict.
		c, err := tx.OpenIdentity(ctx, sm.Name, sm.Object, rec.ID)
		return c == nil, err
	}
	view, bad, err := sm.InFields(rec.Raw)
	if err != nil {
		return true, nil // staged, it is set aside with the reason
	}
	if !link.Deleted.IsZero() || changedFrom(view, link.Snapshot) {
		return true, nil
	}
	return heldMoved(ctx, tx, sm, rec.ID, view, bad)
}

// missing lists the linked records of a system the sweep did not see and
// that a read by id confirms gone. Without a Fetcher, a record not seen
// is not taken for deleted.
func (e *Engine) missing(ctx context.Context, sm *mapping.System, sweep string, started time.Time) ([]string, error) {
	ids, err := e.Store.Unswept(ctx, sm.Name, sm.Object, sweep, started)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	conn, err := e.conn(sm.Name)
	if err != nil {
		return nil, err
	}
	f, ok := conn.(connectors.Fetcher)
	if !ok {
		e.baseLog().Warn("linked records not seen by a full read; the system cannot read by id to confirm they are gone", "system", sm.Name, "object", sm.Object, "count", len(ids))
		return nil, nil
	}
	recs, aside, err := e.fetchRaw(ctx, f, sm, tandem.Query{Object: sm.Object, Fields: sm.Paths()}, ids)
	if err != nil {
		return nil, fmt.Errorf("confirm %d records missing after a full read: %w", len(ids), err)
	}
	live := aside // a record set aside is there, only unreadable
	if live == nil {
		live = map[string]bool{}
	}
	for _, r := range recs {
		live[r.ID] = true
	}
	var gone []string
	for _, id := range ids {
		if !live[id] {
			gone = append(gone, id)
		}
	}
	return gone, nil
}

// Backfill runs (or resumes) a one-off read of one system for an entity:
// every record, or those modified since b.Since, through the same merge
// and policies as a pass. It has its own cursor, saved with each page, so
// an interrupted backfill resumes after its last staged page; the
// incremental cursor is left alone. It takes the engine's turn page by
// page. progress, when set, is called after each page with the backfill
// as it stands. The writes that follow are pushed by Drain.
func (e *Engine) Backfill(ctx context.Context, ent *mapping.Entity, b *state.Backfill, progress func(state.Backfill)) (state.Run, error) {
	sm := ent.System(b.System)
	r := state.Run{Pass: fmt.Sprintf("backfill-%d", b.ID), Kind: state.RunBackfill, Entity: ent.Name, System: b.System, Object: b.Object, Started: time.Now()}
	if sm == nil || sm.Object != b.Object {
		r.Finished = r.Started
		return r, fmt.Errorf("entity %s has no system %s with object %s", ent.Name, b.System, b.Object)
	}
	ctx = connectors.WithCorrelation(ctx, r.Pass)
	cur := *b
	n, err := e.read(ctx, ent, sm, reading{
		query: tandem.Query{After: b.Cursor, Since: b.Since},
		pass:  r.Pass,
		save: func(tx *state.Tx, p tandem.Page) error {
			cur.Cursor, cur.Read, cur.Pages = p.Cursor, cur.Read+len(p.Records)+len(p.Rejected), cur.Pages+1
			return tx.AdvanceBackfill(ctx, b.ID, p.Cursor, len(p.Records)+len(p.Rejected))
		},
		saved: func() {
			if progress != nil {
				progress(cur)
			}
		},
	})
	r.Pulled, r.Finished = n, time.Now()
	if err != nil {
		r.Error = err.Error()
	}
	return r, err
}

// Drain pushes what waits in the outbox for an entity's systems: the
// writer of the daemon, after webhook events, sweeps and backfills, and
// on its own clock for what a failure left. Its Runs (one per system
// written to) have the kind given. Deletes go only when the
// mass-delete guard lets them (as in a pass); the guard's error is
// returned with the other writes done.
func (e *Engine) Drain(ctx context.Context, ent *mapping.Entity, kind string) ([]state.Run, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	pass := uuid.NewString()
	e.pass = pass
	defer func() { e.pass = "" }()
	ctx = connectors.WithCorrelation(ctx, pass)
	var errs []error
	if err := e.releaseDeletes(ctx, ent); err != nil {
		errs = append(errs, err)
	}
	guard := e.Guard(ctx, ent)
	var runs []state.Run
	for _, sm := range ent.Systems {
		r := state.Run{Pass: pass, Kind: kind, Entity: ent.Name, System: sm.Name, Object: sm.Object, Started: time.Now()}
		w, f, err := e.push(ctx, ent, sm, guard != nil)
		r.Written, r.Failed, r.Finished = w, f, time.Now()
		if err != nil {
			r.Error = err.Error()
			errs = append(errs, err)
		}
		if w+f > 0 || err != nil {
			runs = append(runs, r)
		}
	}
	if guard != nil {
		errs = append(errs, guard)
	}
	if len(runs) > 0 {
		e.recordHealth(ctx, ent)
	}
	return runs, errors.Join(errs...)
}
