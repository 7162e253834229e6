package conflict

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/mapping"
	"tandem/state"
)

// A chunk of pulled records (a page, or a part of a big one) goes load →
// decide → save: one batched read of everything its decisions need
// (load), one pure function that makes them (decide), one batched write
// in the caller's transaction, which also keeps the cursor (stageAll).

// stageAll stages a chunk of records of one system's object in tx.
func (e *Engine) stageAll(ctx context.Context, tx *state.Tx, ent *mapping.Entity, sm *mapping.System, recs []tandem.Record) error {
	if len(recs) == 0 {
		return nil
	}
	// Records read fine are no longer set aside; one that still cannot be
	// mapped is set aside again by the save.
	if aside, err := tx.AnyDeadLetter(ctx, sm.Name, sm.Object); err != nil {
		return err
	} else if aside {
		ids := make([]string, len(recs))
		for i, r := range recs {
			ids[i] = r.ID
		}
		if err := tx.ClearDeadLetters(ctx, sm.Name, sm.Object, ids); err != nil {
			return err
		}
	}
	in, err := e.load(ctx, tx, ent, sm, recs)
	if err != nil {
		return err
	}
	b, err := decide(in, e.chunkContext(sm), ent, sm, recs)
	if errors.Is(err, errNotLoaded) {
		// A decision asked what the loader did not foresee: nothing was
		// written, so the chunk is staged record by record instead.
		e.log().Debug("chunk staged record by record", "system", sm.Name, "object", sm.Object, "why", err)
		return e.stageEach(ctx, tx, ent, sm, recs)
	}
	if err != nil {
		return err
	}
	return tx.Save(ctx, b)
}

// stageEach stages records one at a time, each read and write a statement.
func (e *Engine) stageEach(ctx context.Context, tx *state.Tx, ent *mapping.Entity, sm *mapping.System, recs []tandem.Record) error {
	d := e.over(ctx, tx)
	for _, rec := range recs {
		if err := d.stage(ent, sm, rec); err != nil {
			return fmt.Errorf("%s %s %s: %w", sm.Name, sm.Object, rec.ID, err)
		}
	}
	return nil
}

// chunkContext is what decide needs of the engine besides the state: the
// pass, the clock, where records hold Tandem's key, the log.
func (e *Engine) chunkContext(sm *mapping.System) chunkContext {
	return chunkContext{pass: e.pass, now: e.now(), keyPath: e.keyPath(sm), log: e.log()}
}

type chunkContext struct {
	pass    string
	now     time.Time
	keyPath string // where sm's records hold Tandem's key, "" for none
	log     *slog.Logger
	newID   func() string // a new entity's id (default: a random UUID)
}

// decide makes every decision about a chunk of records of sm, pulled in
// order, from the values loaded for them: which entity each record links
// to (or which identity conflict holds it), what it merges into the
// golden record, which fields it holds, which deletes it makes or
// cancels, which conflicts it records, which writes it queues. It does no
// I/O: what it decided is the batch returned, each change in its final
// state. A decision that needs something not in the load fails with
// errNotLoaded, having decided nothing.
func decide(in *Loaded, c chunkContext, ent *mapping.Entity, sm *mapping.System, recs []tandem.Record) (*state.Batch, error) {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	w := newWorkset(in, sm.Name, sm.Object, ids, c.newID)
	log := c.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &decider{v: w, pass: c.pass, now: func() time.Time { return c.now }, log: log,
		keyPath: func(t *mapping.System) string {
			if t == sm {
				return c.keyPath
			}
			return ""
		}}
	for _, rec := range recs {
		if err := d.stage(ent, sm, rec); err != nil {
			return nil, fmt.Errorf("%s %s %s: %w", sm.Name, sm.Object, rec.ID, err)
		}
	}
	return w.batch(), nil
}

// load reads, in a few queries, what decide needs for a chunk: the
// records' links; the owners of the match keys of those not linked, or
// linked but with keys edited; the
// entities they link to, match or name by Tandem's key, with all their
// links, their writes in flight to sm and their conflicts; and the open
// conflicts naming the records.
func (e *Engine) load(ctx context.Context, tx *state.Tx, ent *mapping.Entity, sm *mapping.System, recs []tandem.Record) (*Loaded, error) {
	ids := make([]string, 0, len(recs))
	seen := map[string]bool{}
	for _, r := range recs {
		if !seen[r.ID] {
			seen[r.ID] = true
			ids = append(ids, r.ID)
		}
	}
	links, err := tx.LinksByID(ctx, sm.Name, sm.Object, ids)
	if err != nil {
		return nil, err
	}
	var entityIDs []string
	asked := map[string]bool{}
	ask := func(id string) {
		if id != "" && !asked[id] {
			asked[id] = true
			entityIDs = append(entityIDs, id)
		}
	}
	// A record read again with nothing new (rereadUnchanged) is staged
	// from its own link alone: its entity, the entity's other links,
	// writes in flight and conflicts are loaded only for a record that
	// changed (or another record of the chunk reaches the entity).
	for _, r := range recs {
		if l := links[r.ID]; l != nil && !rereadUnchanged(sm, l, r) {
			ask(l.EntityID)
		}
	}
	values := map[string][]string{}
	kp := e.keyPath(sm)
	for _, r := range recs {
		l := links[r.ID]
		if r.Deleted {
			continue
		}
		if kp != "" && l == nil {
			ask(gjson.GetBytes(r.Raw, kp).String())
		}
		view, _, err := sm.InFields(r.Raw)
		if err != nil {
			continue // set aside by decide
		}
		keys := ent.MatchKeys(view)
		if l != nil && maps.Equal(keys, ent.MatchKeys(l.Snapshot)) {
			continue // linked, its keys as they were: no owner to look up (heldKeys)
		}
		for name, v := range keys {
			values[name] = append(values[name], v)
		}
	}
	keys, err := tx.KeyOwners(ctx, ent.Name, values)
	if err != nil {
		return nil, err
	}
	for _, owners := range keys {
		for _, id := range owners {
			ask(id)
		}
	}
	in := &Loaded{Keys: keys, Entities: map[string]*state.EntityRow{}}
	rows, err := tx.Entities(ctx, entityIDs)
	if err != nil {
		return nil, err
	}
	var deletes []int64
	for _, id := range entityIDs {
		r := rows[id]
		in.Entities[id] = r // nil: no such entity
		if r != nil && r.Delete != nil && r.Delete.Conflict != 0 {
			deletes = append(deletes, r.Delete.Conflict)
		}
	}
	if in.Links, err = tx.LinksOf(ctx, entityIDs); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if l := links[id]; l != nil && !asked[l.EntityID] {
			in.Links = append(in.Links, l)
		}
	}
	if in.InFlight, err = tx.InFlights(ctx, sm.Name, sm.Object, entityIDs); err != nil {
		return nil, err
	}
	if in.Conflicts, err = tx.ConflictsAbout(ctx, entityIDs, e.pass, sm.Name, sm.Object, ids, deletes); err != nil {
		return nil, err
	}
	return in, nil
}

// rereadUnchanged reports whether stage passes over rec without reading
// its entity: a live linked record whose view equals its snapshot (read
// again by a sweep, a backfill or a page read twice). It is stage's own
// test, made on the link as loaded.
func rereadUnchanged(sm *mapping.System, l *tandem.Link, rec tandem.Record) bool {
	if rec.Deleted || !l.Deleted.IsZero() || l.Snapshot == nil {
		return false
	}
	view, _, err := sm.InFields(rec.Raw)
	return err == nil && !changedFrom(view, l.Snapshot)
}
