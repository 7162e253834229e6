package conflict

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"tandem"
	"tandem/connectors"
	"tandem/mapping"
	"tandem/state"
)

// maxResend bounds how many times one push sends writes again without
// the fields a system refused (unwritable.go).
const maxResend = 3

// planned is one intent turned into a write, or found to need none.
type planned struct {
	intent state.Intent
	link   *tandem.Link  // nil for a create
	sent   tandem.Values // canonical values the write sets
	write  *tandem.Write // nil when the record already agrees
	mapErr error         // the golden record cannot be written to this system
	// deferred: a delete, while pulls are still running (see pushEarly):
	// it waits in the outbox for the mass-delete guard.
	deferred bool
	// waits says which reference was left out of the write because its
	// target has no record in the system yet (refsOut), or why a delete
	// waits (holdDelete): the intent stays in the outbox until then.
	waits string
	// letGo are the records whose references to the entity its delete
	// waits for are cleared when the write is checkpointed (holdDelete).
	letGo []referrers
	// found is the record a refused create named as holding its key,
	// read back (readExisting); nil when there is none.
	found *tandem.Record
	// golden and del are the golden record and the delete the write was
	// planned from: if either moved before the checkpoint, the intent is
	// not done (behind).
	golden tandem.Golden
	del    *state.Delete
	// held are the fields left out of the write because the mapping
	// cannot write their values (outHeld): held when it is checkpointed.
	held []writeHold
}

// push drains a system's outbox for one object in batches. A write is
// computed from the golden record and the snapshot when it is sent, so an
// intent repeated after a crash sends the same thing, or nothing.
//
// With early set (pushEarly), deletes stay in the outbox: they are only
// sent once every pull is done and the mass-delete guard has passed.
func (e *Engine) push(ctx context.Context, ent *mapping.Entity, sm *mapping.System, early bool) (written, failed int, err error) {
	conn, err := e.conn(sm.Name)
	if err != nil {
		return 0, 0, err
	}
	size := e.BatchSize
	if b, ok := conn.(connectors.Batcher); size <= 0 && ok {
		size = b.WriteBatch()
	}
	if size <= 0 {
		size = 100
	}
	if err := e.requeueMapped(ctx, ent, sm); err != nil {
		return 0, 0, err
	}
	var after int64
	var again []string // entities whose writes a system refused fields of: sent again without them
	resent := 0
	for {
		var intents []state.Intent
		var err error
		if len(again) > 0 && resent < maxResend {
			// Queued again by the checkpoint; bounded, in case the
			// golden record keeps moving to values the system refuses.
			resent++
			intents, err = e.Store.PendingOf(ctx, sm.Name, sm.Object, again)
		} else {
			intents, err = e.Store.Pending(ctx, sm.Name, sm.Object, after, size)
			if len(intents) > 0 {
				after = max(after, intents[len(intents)-1].ID)
			}
		}
		again = nil
		if err != nil || len(intents) == 0 {
			if err == nil && resent > 0 {
				resent = 0
				continue // the resend found nothing to do: on with the outbox
			}
			return written, failed, err
		}
		drafts, err := e.planAll(ctx, ent, sm, intents)
		if err != nil {
			return written, failed, err
		}
		fresh, aside, edited, err := e.refresh(ctx, ent, sm, conn, drafts)
		if err != nil {
			return written, failed, err
		}
		found, err := e.refind(ctx, ent, sm, conn, intents)
		if err != nil {
			return written, failed, err
		}
		if edited || found {
			// What the system holds now was merged: plan from there.
			if drafts, err = e.planAll(ctx, ent, sm, intents); err != nil {
				return written, failed, err
			}
		}
		plans := make([]planned, 0, len(intents))
		var writes []tandem.Write
		for _, p := range drafts {
			if p.link != nil && aside[p.link.ExternalID] {
				continue // unreadable in the re-read: the write waits in the outbox
			}
			if early && p.write != nil && p.write.Op == tandem.OpDelete {
				p.write, p.deferred = nil, true
			}
			if p.write != nil && p.write.Op == tandem.OpDelete {
				if err := e.holdDelete(ctx, ent, sm, &p); err != nil {
					return written, failed, err
				}
			}
			if p.write != nil && p.write.Op == tandem.OpUpdate {
				p.write.Unmodified = fresh[p.write.ID] // see tandem.Write.Unmodified
			}
			if p.write != nil {
				writes = append(writes, *p.write)
			}
			plans = append(plans, p)
		}
		var results []tandem.Result
		if len(writes) > 0 {
			if err := e.markSent(ctx, sm, plans); err != nil {
				return written, failed, err
			}
			e.step("push:before-apply")
			results, err = conn.Apply(ctx, sm.Object, writes)
			if err != nil && len(results) != len(writes) {
				return written, failed, fmt.Errorf("%s %s: apply: %w", sm.Name, sm.Object, err)
			}
			if len(results) != len(writes) {
				return written, failed, fmt.Errorf("%s %s: connector returned %d results for %d writes", sm.Name, sm.Object, len(results), len(writes))
			}
			e.step("push:after-apply")
			if err := e.refsInResults(ctx, ent, sm, results); err != nil {
				return written, failed, err
			}
			e.readExisting(ctx, ent, sm, conn, plans, results)
			i := 0
			for _, p := range plans {
				if p.write == nil {
					continue
				}
				if _, ok := refusedFields(ent, sm, p, results[i].Err); ok {
					again = append(again, p.intent.EntityID)
				}
				i++
			}
		}
		w, f, err := e.checkpoint(ctx, ent, sm, plans, results)
		written, failed = written+w, failed+f
		if err != nil {
			return written, failed, err
		}
		e.step("push:after-checkpoint")
	}
}

// refresh re-reads, in one batch, the records the drafts plan a write to,
// when the connector can (these systems have no optimistic concurrency: a
// write would overwrite an edit made since the last pull). An intent that
// plans no write cannot overwrite an edit, and its record is not read (one
// is queued when a record of another system made an entity and the record
// in sm was linked to it before the push: it already agrees). A record
// edited since its snapshot is merged first, as a pull would; a record
// gone is a delete; edited says either happened, and the writes are then
// planned again from what is fresh. It returns each record's modified
// time as read, by id, for the writes' Unmodified (the write gap, issue 11
// case 13), and the ids of records the system sent unreadable (set aside
// as dead letters): their writes wait in the outbox, since they could only
// be planned blind.
func (e *Engine) refresh(ctx context.Context, ent *mapping.Entity, sm *mapping.System, conn connectors.Connector, drafts []planned) (fresh map[string]time.Time, aside map[string]bool, edited bool, err error) {
	f, ok := conn.(connectors.Fetcher)
	if !ok {
		return nil, nil, false, nil
	}
	links := map[string]*tandem.Link{}
	var ids []string
	for _, p := range drafts {
		if l := p.link; p.write != nil && l != nil && l.Deleted.IsZero() {
			links[l.ExternalID] = l
			ids = append(ids, l.ExternalID)
		}
	}
	if len(ids) == 0 {
		return nil, nil, false, nil
	}
	recs, aside, err := e.fetch(ctx, ent, f, sm, tandem.Query{Object: sm.Object, Fields: sm.Paths()}, ids)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%s %s: re-read before writing: %w", sm.Name, sm.Object, err)
	}
	gone, err := e.gone(ctx, conn, sm, missingIDs(without(ids, aside), recs))
	if err != nil {
		return nil, nil, false, err
	}
	fresh = make(map[string]time.Time, len(recs))
	var changed []tandem.Record
	for _, rec := range recs {
		fresh[rec.ID] = rec.Modified
		l := links[rec.ID]
		if l == nil {
			continue // not asked for
		}
		delete(links, rec.ID)
		view, _, err := sm.InFields(rec.Raw) // a field held unreadable does not hide the others' edits
		if err != nil || !changedFrom(view, l.Snapshot) {
			continue // unchanged (or not JSON: the pull sets it aside)
		}
		changed = append(changed, rec)
	}
	if len(changed) == 0 && len(gone) == 0 {
		return fresh, aside, false, nil
	}
	return fresh, aside, true, e.Store.Update(ctx, func(tx *state.Tx) error {
		for _, rec := range changed {
			e.log().Info("edited since the last pull: merged before writing", "system", sm.Name, "object", sm.Object, "id", rec.ID)
			if err := e.over(ctx, tx).stage(ent, sm, rec); err != nil {
				return err
			}
		}
		for _, rec := range gone {
			e.log().Info("deleted since the last pull", "system", sm.Name, "object", sm.Object, "id", rec.ID, "deleted_at", rec.Modified)
			if err := e.over(ctx, tx).stage(ent, sm, rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// planAll plans every intent of a batch (plan) from one load (loadPlans).
func (e *Engine) planAll(ctx context.Context, ent *mapping.Entity, sm *mapping.System, intents []state.Intent) ([]planned, error) {
	v, err := e.loadPlans(ctx, ent, sm, intents)
	if err != nil {
		return nil, err
	}
	plans := make([]planned, len(intents))
	for i, in := range intents {
		if plans[i], err = plan(v, ent, sm, in); err != nil {
			return nil, err
		}
	}
	return plans, nil
}

// plan turns an intent into the write that brings the system's record up
// to date: a create with every field, an update with the changed ones, or
// the delete of a deleted entity's record.
func plan(v view, ent *mapping.Entity, sm *mapping.System, in state.Intent) (planned, error) {
	p := planned{intent: in}
	golden, err := v.Golden(in.EntityID)
	if err != nil {
		return p, err
	}
	p.golden = golden
	if p.link, err = v.LinkOf(in.EntityID, sm.Name, sm.Object); err != nil {
		return p, err
	}
	del, err := v.DeleteOf(in.EntityID)
	p.del = del
	if err != nil || !needsWrite(ent, sm, golden, p.link, del) {
		return p, err
	}
	if del != nil && del.State == state.DeleteDeleted {
		p.write = &tandem.Write{Op: tandem.OpDelete, ID: p.link.ExternalID, Key: in.EntityID}
		return p, nil
	}
	fields, err := writable(v, sm, p.link, diff(ent, sm, golden, p.link))
	if err == nil {
		fields, err = heldOut(v, sm, in.EntityID, golden, fields)
	}
	if err != nil || len(fields) == 0 {
		return p, err // nothing to write but held fields
	}
	values := golden.Values()
	var waiting []string
	if fields, waiting, p.waits, err = refsOut(v, ent, sm, values, fields); err != nil || len(fields) == 0 {
		return p, err // nothing to write but a reference that waits
	}
	// A value the mapping cannot write (a value its map does not list, a
	// wrong type) holds that field (unwritable.go); the others are written.
	payload, set, fields, held, err := outHeld(ent, sm, values, fields, p.link == nil)
	p.held = held
	if err != nil {
		// One that cannot be held alone: this write is set aside, the
		// others go on.
		p.mapErr = &tandem.Error{Op: "map out", System: sm.Name, Message: err.Error()}
		return p, nil
	}
	if len(fields) == 0 {
		return p, nil // nothing to write but the fields now held
	}
	p.sent = tandem.Values{}
	for _, f := range set {
		p.sent[f] = golden[f].Value
	}
	if p.link == nil {
		// A created record holds nothing in the fields not sent: its
		// snapshot says so, so a value set there later is an edit there,
		// and a reference that waits reads back as the nothing it is
		// there, not as someone's clearing it.
		for _, f := range ent.Fields {
			if _, ok := p.sent[f]; !ok && sm.Writes(f) && (golden[f].Value == nil || slices.Contains(waiting, f)) {
				p.sent[f] = nil
			}
		}
	}
	w := tandem.Write{Op: tandem.OpCreate, Key: in.EntityID, Payload: payload}
	if p.link != nil {
		w.Op, w.ID = tandem.OpUpdate, p.link.ExternalID
	}
	p.write = &w
	return p, nil
}

// loadPlans reads, in a few queries, what planning a batch of intents to
// sm needs: the entities, their links, and the open conflicts of their
// records in sm (a field held unreadable there is not written).
func (e *Engine) loadPlans(ctx context.Context, ent *mapping.Entity, sm *mapping.System, intents []state.Intent) (view, error) {
	ids := make([]string, len(intents))
	for i, in := range intents {
		ids[i] = in.EntityID
	}
	in := &Loaded{Entities: map[string]*state.EntityRow{}}
	rows, err := e.Store.Entities(ctx, ids)
	if err != nil {
		return nil, err
	}
	// The entities their references point to, with their links: a
	// reference is written as the target's record id (refsOut).
	if targets := refTargets(ent, rows); len(targets) > 0 {
		more, err := e.Store.Entities(ctx, targets)
		if err != nil {
			return nil, err
		}
		for _, id := range targets {
			rows[id] = more[id]
		}
		ids = append(ids, targets...)
	}
	for _, id := range ids {
		in.Entities[id] = rows[id]
	}
	if in.Links, err = e.Store.LinksOf(ctx, ids); err != nil {
		return nil, err
	}
	var exts []string
	for _, l := range in.Links {
		if l.System == sm.Name && l.Object == sm.Object {
			exts = append(exts, l.ExternalID)
		}
	}
	if in.Conflicts, err = e.Store.ConflictsAbout(ctx, ids, "", sm.Name, sm.Object, exts, nil); err != nil {
		return nil, err
	}
	return newWorkset(in, sm.Name, sm.Object, exts, nil), nil
}

// checkpoint records, in one transaction, what each write did: a done write
// updates the snapshot (so its echo is recognised) and the link; a
// retryable failure stays queued; a permanent one becomes a dead letter.
// Like a chunk of pulled records, the batch is loaded, decided and saved
// at once (confirm); a decision asking what the load did not foresee
// leaves nothing written, and the batch is then checkpointed statement by
// statement.
func (e *Engine) checkpoint(ctx context.Context, ent *mapping.Entity, sm *mapping.System, plans []planned, results []tandem.Result) (written, failed int, err error) {
	err = e.Store.Update(ctx, func(tx *state.Tx) error {
		in, ids, err := e.loadConfirm(ctx, tx, sm, plans, results)
		if err != nil {
			return err
		}
		w := newWorkset(in, sm.Name, sm.Object, ids, nil)
		d := &decider{v: w, pass: e.pass, now: e.now, keyPath: e.keyPath, log: e.log()}
		written, failed, err = d.confirm(ent, sm, plans, results)
		if errors.Is(err, errNotLoaded) {
			e.log().Debug("write batch checkpointed record by record", "system", sm.Name, "object", sm.Object, "why", err)
			written, failed, err = e.over(ctx, tx).confirm(ent, sm, plans, results)
			return err
		}
		if err != nil {
			return err
		}
		return tx.Save(ctx, w.batch())
	})
	return written, failed, err
}

// loadConfirm reads what confirming a batch of writes needs: the entities
// written, with their links and conflicts, and the links of the records
// the answers name (a create's new record, the holder of a refused value).
func (e *Engine) loadConfirm(ctx context.Context, tx *state.Tx, sm *mapping.System, plans []planned, results []tandem.Result) (*Loaded, []string, error) {
	var entityIDs, exts []string
	for _, p := range plans {
		entityIDs = append(entityIDs, p.intent.EntityID)
	}
	for _, r := range results {
		var x *tandem.ExistsError
		switch {
		case errors.As(r.Err, &x):
			exts = append(exts, x.RecordID)
		case r.Err == nil && r.ID != "":
			exts = append(exts, r.ID)
		}
	}
	for _, p := range plans {
		if p.found != nil {
			exts = append(exts, p.found.ID)
		}
	}
	links, err := tx.LinksByID(ctx, sm.Name, sm.Object, exts)
	if err != nil {
		return nil, nil, err
	}
	in := &Loaded{Entities: map[string]*state.EntityRow{}, Keys: map[[2]string][]string{}}
	rows, err := tx.Entities(ctx, entityIDs)
	if err != nil {
		return nil, nil, err
	}
	var deletes []int64
	for _, id := range entityIDs {
		in.Entities[id] = rows[id]
		if r := rows[id]; r != nil && r.Delete != nil && r.Delete.Conflict != 0 {
			deletes = append(deletes, r.Delete.Conflict)
		}
	}
	if in.Links, err = tx.LinksOf(ctx, entityIDs); err != nil {
		return nil, nil, err
	}
	for _, l := range links {
		in.Links = append(in.Links, l) // another entity's, named by an answer
	}
	if in.Conflicts, err = tx.ConflictsAbout(ctx, entityIDs, e.pass, sm.Name, sm.Object, nil, deletes); err != nil {
		return nil, nil, err
	}
	return in, exts, nil
}

// confirm decides what each write of a batch did (see checkpoint).
func (d *decider) confirm(ent *mapping.Entity, sm *mapping.System, plans []planned, results []tandem.Result) (written, failed int, err error) {
	i := 0
	for _, p := range plans {
		if p.mapErr != nil {
			failed++
			d.log.Warn("write set aside", "system", sm.Name, "object", sm.Object, "entity_id", p.intent.EntityID, "err", p.mapErr)
			if err := d.v.Dead(p.intent.ID, p.mapErr.Error()); err != nil {
				return written, failed, err
			}
			continue
		}
		if p.deferred {
			continue
		}
		if len(p.held) > 0 && (p.write == nil || results[i].Err == nil) {
			if err := d.settleHolds(ent, sm, p, p.held, false); err != nil {
				return written, failed, err
			}
		}
		if p.write == nil && p.waits != "" {
			if err := d.v.Retry(p.intent.ID, p.waits); err != nil {
				return written, failed, err
			}
			if err := d.letGo(p.intent.EntityID, p.letGo); err != nil {
				return written, failed, err
			}
			continue
		}
		if p.write == nil {
			if err := d.settleHolds(ent, sm, p, nil, false); err != nil {
				return written, failed, err
			}
			if err := d.v.Done(p.intent.ID); err != nil {
				return written, failed, err
			}
			if err := d.behind(ent, sm, p); err != nil {
				return written, failed, err
			}
			continue
		}
		res := results[i]
		i++
		if res.Err != nil {
			if done, err := d.holdRefused(ent, sm, p, res.Err); done || err != nil {
				if err != nil {
					return written, failed, err
				}
				continue
			}
			if done, err := d.refused(ent, sm, p, res.Err); done || err != nil {
				if err != nil {
					return written, failed, err
				}
				continue
			}
			failed++
			if err := d.failed(sm, p, res.Err); err != nil {
				return written, failed, err
			}
			continue
		}
		written++
		var base tandem.Values // the snapshot before the write (confirmed moves it)
		if p.link != nil {
			base = p.link.Snapshot
		}
		if err := d.confirmed(ent, sm, p, res); err != nil {
			return written, failed, err
		}
		if err := d.settleHolds(ent, sm, p, nil, true); err != nil {
			return written, failed, err
		}
		if err := d.mergeOverwritten(ent, sm, p, base, res); err != nil { // gap.go
			return written, failed, err
		}
	}
	return written, failed, nil
}

// behind queues the system's write again when the golden record or its
// delete moved after an intent was planned from them as needing no write:
// a merge or a delete staged meanwhile (another system's pull or re-read,
// while this batch's writes were in flight) queued the intent into this
// pending one, which is done now. (A confirmed write does the same in
// confirmed.)
func (d *decider) behind(ent *mapping.Entity, sm *mapping.System, p planned) error {
	golden, err := d.v.Golden(p.intent.EntityID)
	if err != nil {
		return err
	}
	del, err := d.v.DeleteOf(p.intent.EntityID)
	if err != nil || (sameGolden(golden, p.golden) && sameDelete(del, p.del)) {
		return err
	}
	l, err := d.v.LinkOf(p.intent.EntityID, sm.Name, sm.Object)
	if err != nil || !needsWrite(ent, sm, golden, l, del) {
		return err
	}
	d.log.Info("golden record moved while the write was in flight: queued again", "system", sm.Name, "object", sm.Object, "entity_id", p.intent.EntityID)
	return d.v.Enqueue(ent.Name, p.intent.EntityID, sm.Name, sm.Object)
}

// sameDelete compares two delete states of an entity.
func sameDelete(a, b *state.Delete) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.State == b.State && a.After.Equal(b.After)
}

// sameGolden compares two golden records' values and held marks.
func sameGolden(a, b tandem.Golden) bool {
	if len(a) != len(b) {
		return false
	}
	for f, x := range a {
		y, ok := b[f]
		if !ok || x.Held != y.Held || !tandem.Equal(x.Value, y.Value) {
			return false
		}
	}
	return true
}

func (d *decider) failed(sm *mapping.System, p planned, err error) error {
	d.log.Warn("write failed", "system", sm.Name, "object", sm.Object, "entity_id", p.intent.EntityID,
		"op", p.write.Op, "retryable", tandem.IsRetryable(err), "err", err)
	if tandem.IsRetryable(err) {
		return d.v.Retry(p.intent.ID, err.Error())
	}
	return d.v.Dead(p.intent.ID, err.Error())
}

func (d *decider) confirmed(ent *mapping.Entity, sm *mapping.System, p planned, res tandem.Result) error {
	l := p.link
	if p.write.Op == tandem.OpDelete {
		// A tombstone: the echo of this delete changes nothing.
		l.Deleted = d.now()
		if err := d.v.PutLink(l); err != nil {
			return err
		}
		return d.v.Done(p.intent.ID)
	}
	if l == nil {
		if res.ID == "" {
			return d.v.Dead(p.intent.ID, "create confirmed without a record id")
		}
		// An idempotent create may land on a record that already exists
		// (upsert by match key); if that record belongs to another entity,
		// linking it would merge two entities silently.
		other, err := d.v.Link(sm.Name, sm.Object, res.ID)
		if err != nil {
			return err
		}
		if other != nil && other.EntityID != p.intent.EntityID {
			reason := fmt.Sprintf("create landed on %s %s %s, already linked to entity %s", sm.Name, sm.Object, res.ID, other.EntityID)
			if err := d.v.AddConflict(&tandem.Conflict{Entity: ent.Name, EntityID: p.intent.EntityID, Kind: tandem.ConflictIdentity,
				Policy: "match", Status: tandem.ConflictOpen, Decided: reason,
				Values: map[string]tandem.SideValue{sm.Name: {Value: p.sent, RecordID: res.ID}}}, nil); err != nil {
				return err
			}
			return d.v.Dead(p.intent.ID, reason)
		}
		l = other
		if l == nil {
			l = &tandem.Link{EntityID: p.intent.EntityID, System: sm.Name, Object: sm.Object, ExternalID: res.ID}
		}
		l.Raw = withKey(d.keyPath(sm), l.Raw, p.intent.EntityID)
	}
	l.Snapshot = overlay(l.Snapshot, readBack(sm, p.sent))
	// The stored payload follows the write, so a replay re-maps what the
	// system holds now, not what it held before Tandem wrote to it.
	l.Raw = overlayJSON(l.Raw, p.write.Payload)
	if res.Record != nil {
		l.Raw, l.Modified = overlayJSON(l.Raw, res.Record.Raw), res.Record.Modified
	}
	if err := d.v.PutLink(l); err != nil {
		return err
	}
	if err := d.v.Done(p.intent.ID); err != nil {
		return err
	}
	if p.link == nil {
		if err := d.closeRefusals(p.intent.EntityID, ""); err != nil {
			return err
		}
	}
	// The golden record may have moved while the write was in flight.
	golden, err := d.v.Golden(p.intent.EntityID)
	if err != nil {
		return err
	}
	del, err := d.v.DeleteOf(p.intent.EntityID)
	if err != nil {
		return err
	}
	return d.enqueueAs(ent, p.intent.EntityID, golden, del, map[string]*tandem.Link{sm.Name: l})
}
