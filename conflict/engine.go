package conflict

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"tandem"
	"tandem/connectors"
	"tandem/mapping"
	"tandem/state"
)

// Engine runs passes: pull every system of an entity, merge, queue
// intents, push them, checkpoint.
type Engine struct {
	Store   *state.Store
	Systems map[string]connectors.Connector // by system name
	Log     *slog.Logger
	// BatchSize is how many intents one push step sends (default 100).
	BatchSize int
	// Step, when set, is called at every step boundary of a pass (after a
	// page is staged, around each push). Tests use it to crash a pass at a
	// chosen point; it has no other use.
	Step func(point string)
}

func (e *Engine) step(point string) {
	if e.Step != nil {
		e.Step(point)
	}
}

func (e *Engine) log() *slog.Logger {
	if e.Log == nil {
		return slog.Default()
	}
	return e.Log
}

// Sync runs one incremental pass over an entity: pull every system, then
// push what the merge decided. A system whose pull failed is not written
// to in this pass, since its latest edits are unknown. It returns one Run
// per system and the first error met; the other systems still run.
func (e *Engine) Sync(ctx context.Context, ent *mapping.Entity) ([]state.Run, error) {
	pass := uuid.NewString()
	log := e.log().With("pass", pass, "entity", ent.Name)
	runs := make([]state.Run, len(ent.Systems))
	var firstErr error
	fail := func(r *state.Run, err error) {
		if r.Error == "" {
			r.Error = err.Error()
		}
		if firstErr == nil {
			firstErr = err
		}
		log.Error("pass step failed", "system", r.System, "err", err)
	}
	for i, sm := range ent.Systems {
		r := &runs[i]
		*r = state.Run{Pass: pass, Entity: ent.Name, System: sm.Name, Object: sm.Object, Started: time.Now()}
		n, err := e.pull(ctx, ent, sm)
		r.Pulled = n
		if err != nil {
			fail(r, err)
		}
	}
	for i, sm := range ent.Systems {
		r := &runs[i]
		if r.Error != "" {
			continue
		}
		w, f, err := e.push(ctx, ent, sm)
		r.Written, r.Failed = w, f
		if err != nil {
			fail(r, err)
		}
	}
	for i := range runs {
		runs[i].Finished = time.Now()
		if err := e.Store.AddRun(ctx, runs[i]); err != nil && firstErr == nil {
			firstErr = err
		}
		log.Info("pass", "system", runs[i].System, "object", runs[i].Object, "pulled", runs[i].Pulled,
			"written", runs[i].Written, "failed", runs[i].Failed)
	}
	return runs, firstErr
}

func (e *Engine) conn(name string) (connectors.Connector, error) {
	c, ok := e.Systems[name]
	if !ok {
		return nil, fmt.Errorf("system %s is not open", name)
	}
	return c, nil
}

// pull reads a system's changes after its cursor. Each page is staged in
// one transaction with the cursor that follows it, so the cursor never
// passes a change that is not durably recorded.
func (e *Engine) pull(ctx context.Context, ent *mapping.Entity, sm *mapping.System) (int, error) {
	conn, err := e.conn(sm.Name)
	if err != nil {
		return 0, err
	}
	after, err := e.Store.Cursor(ctx, sm.Name, sm.Object)
	if err != nil {
		return 0, err
	}
	n := 0
	err = conn.Pull(ctx, tandem.Query{Object: sm.Object, Fields: sm.Paths(), After: after}, func(p tandem.Page) error {
		err := e.Store.Update(ctx, func(tx *state.Tx) error {
			for _, rec := range p.Records {
				if err := e.stage(ctx, tx, ent, sm, rec); err != nil {
					return fmt.Errorf("%s %s %s: %w", sm.Name, sm.Object, rec.ID, err)
				}
			}
			e.step("pull:before-commit")
			return tx.SetCursor(ctx, sm.Name, sm.Object, p.Cursor)
		})
		if err == nil {
			n += len(p.Records)
			e.step("pull:after-commit")
		}
		return err
	})
	return n, err
}

// stage maps one pulled record, links it to an entity, merges it into the
// golden record, updates its snapshot and queues the writes that follow.
func (e *Engine) stage(ctx context.Context, tx *state.Tx, ent *mapping.Entity, sm *mapping.System, rec tandem.Record) error {
	if rec.Deleted {
		// Deletes pass a policy (DESIGN invariant 5); until that exists,
		// a delete is recorded nowhere and propagated nowhere.
		e.log().Warn("delete ignored: no delete policy yet", "system", sm.Name, "object", sm.Object, "id", rec.ID)
		return nil
	}
	view, err := sm.In(rec.Raw)
	if err != nil {
		e.log().Warn("record set aside", "system", sm.Name, "object", sm.Object, "id", rec.ID, "err", err)
		return tx.AddDeadLetter(ctx, sm.Name, sm.Object, rec.ID, rec.Raw, err.Error())
	}
	side := Side{System: sm.Name, RecordID: rec.ID, View: view, Modified: rec.Modified}
	link, err := tx.Link(ctx, sm.Name, sm.Object, rec.ID)
	if err != nil {
		return err
	}
	var golden tandem.Golden
	if link != nil {
		side.Snapshot = link.Snapshot
		if golden, err = tx.Golden(ctx, link.EntityID); err != nil {
			return err
		}
	} else {
		id, g, ok, err := e.identify(ctx, tx, ent, sm, side)
		if err != nil || !ok {
			return err
		}
		link = &tandem.Link{EntityID: id, System: sm.Name, Object: sm.Object, ExternalID: rec.ID}
		golden = g
	}
	out := Merge(ent.Name, link.EntityID, golden, side, readFields(ent, sm), ent.Policy)
	link.Snapshot = overlay(link.Snapshot, view)
	link.Raw, link.Modified = rec.Raw, rec.Modified
	if err := tx.PutLink(ctx, link); err != nil {
		return err
	}
	if out.Changed || golden == nil {
		if err := tx.PutGolden(ctx, ent.Name, link.EntityID, out.Golden, ent.MatchKeys(out.Golden.Values())); err != nil {
			return err
		}
	}
	for i := range out.Conflicts {
		c := &out.Conflicts[i]
		for sys, v := range c.Values {
			if v.RecordID == "" {
				if l, err := tx.LinkOf(ctx, link.EntityID, sys, ent.System(sys).Object); err == nil && l != nil {
					v.RecordID = l.ExternalID
					c.Values[sys] = v
				}
			}
		}
		e.log().Info("conflict decided", "entity", ent.Name, "id", link.EntityID, "field", c.Field, "policy", c.Policy, "winner", c.Decided)
		if err := tx.AddConflict(ctx, c, nil); err != nil {
			return err
		}
	}
	return e.enqueue(ctx, tx, ent, link.EntityID, out.Golden)
}

// identify finds the entity of a record seen for the first time by its
// match keys, or makes a new one. Several candidates, or a candidate
// already linked to another record of the same system, are an identity
// conflict: recorded, and the record is not merged (ok is false).
func (e *Engine) identify(ctx context.Context, tx *state.Tx, ent *mapping.Entity, sm *mapping.System, side Side) (string, tandem.Golden, bool, error) {
	keys := ent.MatchKeys(side.View)
	cands, err := tx.Candidates(ctx, ent.Name, keys)
	if err != nil {
		return "", nil, false, err
	}
	if len(cands) == 0 {
		id, err := tx.NewEntity(ctx, ent.Name, tandem.Golden{}, nil)
		return id, nil, err == nil, err
	}
	reason := fmt.Sprintf("%d entities match %v", len(cands), keys)
	if len(cands) == 1 {
		other, err := tx.LinkOf(ctx, cands[0], sm.Name, sm.Object)
		if err != nil {
			return "", nil, false, err
		}
		if other == nil {
			g, err := tx.Golden(ctx, cands[0])
			return cands[0], g, err == nil, err
		}
		reason = fmt.Sprintf("record %s of %s has the same %v as record %s, already linked", side.RecordID, sm.Name, keys, other.ExternalID)
	}
	e.log().Warn("identity conflict: record not merged", "system", sm.Name, "id", side.RecordID, "reason", reason)
	return "", nil, false, tx.AddConflict(ctx, &tandem.Conflict{
		Entity: ent.Name, Kind: tandem.ConflictIdentity, Policy: "match", Status: tandem.ConflictOpen, Decided: reason,
		Values: map[string]tandem.SideValue{sm.Name: {Value: side.View, ModifiedAt: side.Modified, RecordID: side.RecordID}},
	}, nil)
}

// readFields lists the canonical fields read from a system.
func readFields(ent *mapping.Entity, sm *mapping.System) []string {
	var fs []string
	for _, f := range ent.Fields {
		if sm.Reads(f) {
			fs = append(fs, f)
		}
	}
	return fs
}

// overlay returns base with every key of top set over it.
func overlay(base, top tandem.Values) tandem.Values {
	out := make(tandem.Values, len(base)+len(top))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range top {
		out[k] = v
	}
	return out
}

// enqueue queues an intent for every system of the entity whose record is
// missing or differs from the golden record on a field written to it.
func (e *Engine) enqueue(ctx context.Context, tx *state.Tx, ent *mapping.Entity, id string, golden tandem.Golden) error {
	for _, t := range ent.Systems {
		l, err := tx.LinkOf(ctx, id, t.Name, t.Object)
		if err != nil {
			return err
		}
		if len(diff(ent, t, golden, l)) > 0 {
			if err := tx.Enqueue(ctx, ent.Name, id, t.Name, t.Object); err != nil {
				return err
			}
		}
	}
	return nil
}

// diff lists the fields to write to a system's record so it agrees with the
// golden record: for a record not yet created, every non-empty field.
func diff(ent *mapping.Entity, t *mapping.System, golden tandem.Golden, l *tandem.Link) []string {
	var fs []string
	for _, f := range ent.Fields {
		g, ok := golden[f]
		if !ok || !t.Writes(f) {
			continue
		}
		if l == nil {
			if g.Value != nil {
				fs = append(fs, f)
			}
			continue
		}
		s, seen := l.Snapshot[f]
		if !seen && g.Value == nil {
			continue // nothing known there, nothing to set: no write
		}
		if !seen || !tandem.Equal(s, g.Value) {
			fs = append(fs, f)
		}
	}
	return fs
}
