package conflict

import (
	"context"
	"fmt"
	"time"

	"tandem"
	"tandem/conflict/policy"
	"tandem/mapping"
	"tandem/state"
)

// deleted handles a record deleted in its system, by the entity's delete
// policy. The link stays as a tombstone either way, and every delete is
// recorded as a conflict of kind delete:
//
//   - ignore: the other systems keep the entity; the deleted record is
//     never written again.
//   - propagate: the entity is deleted in every system, unless another
//     system edited it after the delete (the edit wins, and the record is
//     created again where it was deleted).
//   - quarantine: held (an open conflict) until deletes.hold has passed,
//     then propagated, unless the record came back or was edited meanwhile.
func (d *decider) deleted(ent *mapping.Entity, sm *mapping.System, rec tandem.Record) error {
	link, err := d.v.Link(sm.Name, sm.Object, rec.ID)
	if err != nil || link == nil || !link.Deleted.IsZero() {
		return err // never linked, or a delete seen already (our own, echoed)
	}
	at := rec.Modified
	if fl, err := d.v.InFlight(link.EntityID, sm.Name, sm.Object); err != nil {
		return err
	} else if fl.Has(state.SentDelete, true) {
		// Tandem's own delete, sent and not yet confirmed (a crash or a
		// lost answer since): its echo. Taken for a person's delete, it
		// would move the entity's delete time to Tandem's, and an edit
		// made elsewhere between the two would lose to it.
		link.Deleted = at
		if at.IsZero() {
			link.Deleted = d.now() // as confirmed marks it
		}
		d.log.Info("read back a delete in flight: Tandem's echo, not a delete", "system", sm.Name, "object", sm.Object,
			"id", rec.ID, "entity_id", link.EntityID)
		return d.v.PutLink(link)
	}
	if at.IsZero() {
		// The system does not say when (a record purged, a connector
		// that cannot tell): the record was last seen alive at its own
		// modified time, so the delete loses to every edit made after
		// it, never to none (Tandem's clock would say only when the
		// delete was noticed, later than edits it should lose to).
		at = link.Modified
	}
	link.Deleted = at
	if err := d.v.PutLink(link); err != nil {
		return err
	}
	del, err := d.v.DeleteOf(link.EntityID)
	if err != nil {
		return err
	}
	if del != nil {
		return d.deletedAgain(link.EntityID, del, sm.Name, rec.ID, at)
	}
	c := &tandem.Conflict{Entity: ent.Name, EntityID: link.EntityID, Kind: tandem.ConflictDelete, Policy: string(ent.Deletes.Policy),
		Values: map[string]tandem.SideValue{sm.Name: {Value: nil, ModifiedAt: at, RecordID: rec.ID}}}
	if err := d.sidesOf(ent, link.EntityID, c); err != nil {
		return err
	}
	golden, err := d.v.Golden(link.EntityID)
	if err != nil {
		return err
	}
	if by, ok := editedAfter(golden, sm.Name, at); ok && ent.Deletes.Policy != policy.Ignore {
		// Edited elsewhere after the delete: the edit wins, and the
		// record is created again where it was deleted.
		c.Status, c.Decided = tandem.ConflictAuto, by
		if err := d.addConflict(c); err != nil {
			return err
		}
		if err := d.v.DropLink(sm.Name, sm.Object, rec.ID); err != nil {
			return err
		}
		return d.enqueue(ent, link.EntityID)
	}
	dl := &state.Delete{By: sm.Name, At: at}
	switch ent.Deletes.Policy {
	case policy.Ignore:
		c.Status, c.Decided = tandem.ConflictAuto, "ignored"
		return d.addConflict(c)
	case policy.Propagate:
		c.Status, c.Decided = tandem.ConflictAuto, sm.Name
		dl.State = state.DeleteDeleted
	default:
		dl.State, dl.After = state.DeleteHeld, d.now().Add(ent.Deletes.Hold)
		c.Status, c.Decided = tandem.ConflictOpen, "held: quarantined until "+dl.After.UTC().Format("2006-01-02 15:04:05Z")
	}
	if err := d.addConflict(c); err != nil {
		return err
	}
	dl.Conflict = c.ID
	return d.setDelete(ent, link.EntityID, dl)
}

// deletedAgain adds a delete in one more system to an entity already
// being deleted. The delete's time becomes the latest of them: only an edit
// made after every delete cancels it.
func (d *decider) deletedAgain(id string, del *state.Delete, system, recordID string, at time.Time) error {
	if del.Conflict != 0 {
		c, err := d.v.Conflict(del.Conflict)
		if err != nil {
			return err
		}
		c.Values[system] = tandem.SideValue{Value: nil, ModifiedAt: at, RecordID: recordID}
		if err := d.v.UpdateConflict(c); err != nil {
			return err
		}
	}
	if !at.After(del.At) {
		return nil
	}
	del.At = at
	return d.v.SetDelete(id, del)
}

// setDelete records an entity's delete state, drops its match keys once
// it is deleted, and queues the writes that follow.
func (d *decider) setDelete(ent *mapping.Entity, id string, dl *state.Delete) error {
	if err := d.v.SetDelete(id, dl); err != nil {
		return err
	}
	golden, err := d.v.Golden(id)
	if err != nil {
		return err
	}
	if err := d.putGolden(ent, id, golden); err != nil {
		return err
	}
	return d.enqueue(ent, id)
}

// editedAfter reports the system of a golden field set after t by a
// system other than the one that deleted the record.
func editedAfter(g tandem.Golden, deleter string, t time.Time) (string, bool) {
	for _, f := range g {
		if f.Source != deleter && t.Before(f.Modified) {
			return f.Source, true
		}
	}
	return "", false
}

// sidesOf adds the entity's other live records to a delete conflict.
func (d *decider) sidesOf(ent *mapping.Entity, id string, c *tandem.Conflict) error {
	for _, t := range ent.Systems {
		if _, ok := c.Values[t.Name]; ok {
			continue
		}
		l, err := d.v.LinkOf(id, t.Name, t.Object)
		if err != nil {
			return err
		}
		if l != nil && l.Deleted.IsZero() {
			c.Values[t.Name] = tandem.SideValue{Value: l.Snapshot, ModifiedAt: l.Modified, RecordID: l.ExternalID}
		}
	}
	return nil
}

// reviveIfEdited cancels an entity's delete when one of its records is
// seen alive after it: the deleted record came back (undeleted), or
// another system edited the record after the delete. The tombstones are
// dropped so the entity is created again where it was deleted.
// del is the entity's delete state; the one after is returned (nil when
// the delete was cancelled).
func (d *decider) reviveIfEdited(ent *mapping.Entity, link *tandem.Link, side Side, edited bool, del *state.Delete) (*state.Delete, error) {
	cameBack := !link.Deleted.IsZero()
	link.Deleted = time.Time{}
	if del == nil {
		return nil, nil
	}
	if !cameBack && !(edited && side.Modified.After(del.At)) {
		return del, nil // an edit from before the delete: the delete stands
	}
	why := "edited after the delete"
	if cameBack {
		why = "came back after the delete"
	}
	d.log.Info("delete cancelled", "entity", ent.Name, "id", link.EntityID, "system", side.System, "why", why)
	if del.Conflict != 0 {
		c, err := d.v.Conflict(del.Conflict)
		if err != nil {
			return nil, err
		}
		c.Status, c.Decided, c.Resolved = tandem.ConflictAuto, side.System, d.now()
		c.Values[side.System] = tandem.SideValue{Value: side.View, ModifiedAt: side.Modified, RecordID: side.RecordID}
		if err := d.v.UpdateConflict(c); err != nil {
			return nil, err
		}
	}
	return nil, d.revive(ent, link.EntityID, link.System)
}

// revive cancels an entity's delete: its tombstones, but the one in the
// system keep (whose record lives again), are dropped, so the entity is
// created again where it was deleted.
func (d *decider) revive(ent *mapping.Entity, id, keep string) error {
	for _, t := range ent.Systems {
		l, err := d.v.LinkOf(id, t.Name, t.Object)
		if err != nil {
			return err
		}
		if l != nil && !l.Deleted.IsZero() && l.System != keep {
			if err := d.v.DropLink(l.System, l.Object, l.ExternalID); err != nil {
				return err
			}
		}
	}
	return d.setDelete(ent, id, nil)
}

// releaseDeletes propagates the quarantined deletes whose hold is over.
func (e *Engine) releaseDeletes(ctx context.Context, ent *mapping.Entity) error {
	// Most of the time none is due: look before taking the write lock.
	if ids, err := e.Store.HeldDeletes(ctx, ent.Name, e.now()); err != nil || len(ids) == 0 {
		return err
	}
	return e.Store.Update(ctx, func(tx *state.Tx) error {
		ids, err := tx.HeldDeletes(ctx, ent.Name, e.now())
		if err != nil {
			return err
		}
		for _, id := range ids {
			d, err := tx.DeleteOf(ctx, id)
			if err != nil {
				return err
			}
			if err := e.over(ctx, tx).propagate(ent, id, d, "quarantine over"); err != nil {
				return err
			}
		}
		return nil
	})
}

// propagate turns a held delete into a delete of every record of the
// entity, and closes its conflict with the deleting system as decided.
func (d *decider) propagate(ent *mapping.Entity, id string, dl *state.Delete, why string) error {
	d.log.Info("delete propagated", "entity", ent.Name, "id", id, "deleted_by", dl.By, "why", why)
	if dl.Conflict != 0 {
		c, err := d.v.Conflict(dl.Conflict)
		if err != nil {
			return err
		}
		c.Status, c.Decided, c.Resolved = tandem.ConflictAuto, dl.By, d.now()
		if err := d.v.UpdateConflict(c); err != nil {
			return err
		}
	}
	dl.State, dl.After = state.DeleteDeleted, d.now()
	return d.setDelete(ent, id, dl)
}

// GuardError stops a pass that would delete more than an entity's
// deletes.max_share of a system's records.
type GuardError struct {
	Entity, System, Object string
	Deletes, Linked        int
	MaxShare               float64
}

func (g *GuardError) Error() string {
	return fmt.Sprintf("stopped: this pass would delete %d of the %d records of %s %s linked to %s (%.0f%%, more than deletes.max_share %.0f%%); "+
		"no delete was sent. Check them with `tandem conflicts --kind delete --all`, then run again with --force to delete them",
		g.Deletes, g.Linked, g.System, g.Object, g.Entity, 100*float64(g.Deletes)/float64(max(1, g.Linked)), 100*g.MaxShare)
}

// Guard checks, before anything is pushed, that no system would lose more
// than the entity's max_share of its linked records in this pass.
func (e *Engine) Guard(ctx context.Context, ent *mapping.Entity) error {
	if e.Force {
		return nil
	}
	for _, sm := range ent.Systems {
		n, linked, err := e.Store.DeleteShare(ctx, sm.Name, sm.Object)
		if err != nil {
			return err
		}
		if n > 0 && float64(n) > ent.Deletes.MaxShare*float64(linked) {
			return &GuardError{Entity: ent.Name, System: sm.Name, Object: sm.Object, Deletes: n, Linked: linked, MaxShare: ent.Deletes.MaxShare}
		}
	}
	return nil
}
