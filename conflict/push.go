package conflict

import (
	"context"
	"fmt"

	"tandem"
	"tandem/mapping"
	"tandem/state"
)

// planned is one intent turned into a write, or found to need none.
type planned struct {
	intent state.Intent
	link   *tandem.Link  // nil for a create
	sent   tandem.Values // canonical values the write sets
	write  *tandem.Write // nil when the record already agrees
	mapErr error         // the golden record cannot be written to this system
}

// push drains a system's outbox for one object in batches. A write is
// computed from the golden record and the snapshot when it is sent, so an
// intent repeated after a crash sends the same thing, or nothing.
func (e *Engine) push(ctx context.Context, ent *mapping.Entity, sm *mapping.System) (written, failed int, err error) {
	conn, err := e.conn(sm.Name)
	if err != nil {
		return 0, 0, err
	}
	size := e.BatchSize
	if size <= 0 {
		size = 100
	}
	var after int64
	for {
		intents, err := e.Store.Pending(ctx, sm.Name, sm.Object, after, size)
		if err != nil || len(intents) == 0 {
			return written, failed, err
		}
		after = intents[len(intents)-1].ID
		plans := make([]planned, 0, len(intents))
		var writes []tandem.Write
		for _, in := range intents {
			p, err := e.plan(ctx, ent, sm, in)
			if err != nil {
				return written, failed, err
			}
			if p.write != nil {
				writes = append(writes, *p.write)
			}
			plans = append(plans, p)
		}
		var results []tandem.Result
		if len(writes) > 0 {
			e.step("push:before-apply")
			results, err = conn.Apply(ctx, sm.Object, writes)
			if err != nil && len(results) != len(writes) {
				return written, failed, fmt.Errorf("%s %s: apply: %w", sm.Name, sm.Object, err)
			}
			if len(results) != len(writes) {
				return written, failed, fmt.Errorf("%s %s: connector returned %d results for %d writes", sm.Name, sm.Object, len(results), len(writes))
			}
			e.step("push:after-apply")
		}
		w, f, err := e.checkpoint(ctx, ent, sm, plans, results)
		written, failed = written+w, failed+f
		if err != nil {
			return written, failed, err
		}
		e.step("push:after-checkpoint")
	}
}

// plan turns an intent into the write that brings the system's record up
// to date: a create with every field, or an update with the changed ones.
func (e *Engine) plan(ctx context.Context, ent *mapping.Entity, sm *mapping.System, in state.Intent) (planned, error) {
	p := planned{intent: in}
	golden, err := e.Store.Golden(ctx, in.EntityID)
	if err != nil {
		return p, err
	}
	if p.link, err = e.Store.LinkOf(ctx, in.EntityID, sm.Name, sm.Object); err != nil {
		return p, err
	}
	fields := diff(ent, sm, golden, p.link)
	if len(fields) == 0 {
		return p, nil
	}
	payload, set, err := sm.Out(golden.Values(), fields, p.link == nil)
	if err != nil {
		// A value the mapping cannot write (an unmapped enum value, a
		// wrong type): this write is set aside, the others go on.
		p.mapErr = &tandem.Error{Op: "map out", System: sm.Name, Message: err.Error()}
		return p, nil
	}
	p.sent = tandem.Values{}
	for _, f := range set {
		p.sent[f] = golden[f].Value
	}
	w := tandem.Write{Op: tandem.OpCreate, Key: in.EntityID, Payload: payload}
	if p.link != nil {
		w.Op, w.ID = tandem.OpUpdate, p.link.ExternalID
	}
	p.write = &w
	return p, nil
}

// checkpoint records, in one transaction, what each write did: a done write
// updates the snapshot (so its echo is recognised) and the link; a
// retryable failure stays queued; a permanent one becomes a dead letter.
func (e *Engine) checkpoint(ctx context.Context, ent *mapping.Entity, sm *mapping.System, plans []planned, results []tandem.Result) (written, failed int, err error) {
	err = e.Store.Update(ctx, func(tx *state.Tx) error {
		written, failed = 0, 0
		i := 0
		for _, p := range plans {
			if p.mapErr != nil {
				failed++
				e.log().Warn("write set aside", "system", sm.Name, "object", sm.Object, "entity_id", p.intent.EntityID, "err", p.mapErr)
				if err := tx.Dead(ctx, p.intent.ID, p.mapErr.Error()); err != nil {
					return err
				}
				continue
			}
			if p.write == nil {
				if err := tx.Done(ctx, p.intent.ID); err != nil {
					return err
				}
				continue
			}
			res := results[i]
			i++
			if res.Err != nil {
				failed++
				if err := e.failed(ctx, tx, sm, p, res.Err); err != nil {
					return err
				}
				continue
			}
			written++
			if err := e.confirmed(ctx, tx, ent, sm, p, res); err != nil {
				return err
			}
		}
		return nil
	})
	return written, failed, err
}

func (e *Engine) failed(ctx context.Context, tx *state.Tx, sm *mapping.System, p planned, err error) error {
	e.log().Warn("write failed", "system", sm.Name, "object", sm.Object, "entity_id", p.intent.EntityID,
		"op", p.write.Op, "retryable", tandem.IsRetryable(err), "err", err)
	if tandem.IsRetryable(err) {
		return tx.Retry(ctx, p.intent.ID, err.Error())
	}
	return tx.Dead(ctx, p.intent.ID, err.Error())
}

func (e *Engine) confirmed(ctx context.Context, tx *state.Tx, ent *mapping.Entity, sm *mapping.System, p planned, res tandem.Result) error {
	l := p.link
	if l == nil {
		if res.ID == "" {
			return tx.Dead(ctx, p.intent.ID, "create confirmed without a record id")
		}
		// An idempotent create may land on a record that already exists
		// (upsert by match key); if that record belongs to another entity,
		// linking it would merge two entities silently.
		other, err := tx.Link(ctx, sm.Name, sm.Object, res.ID)
		if err != nil {
			return err
		}
		if other != nil && other.EntityID != p.intent.EntityID {
			reason := fmt.Sprintf("create landed on %s %s %s, already linked to entity %s", sm.Name, sm.Object, res.ID, other.EntityID)
			if err := tx.AddConflict(ctx, &tandem.Conflict{Entity: ent.Name, EntityID: p.intent.EntityID, Kind: tandem.ConflictIdentity,
				Policy: "match", Status: tandem.ConflictOpen, Decided: reason,
				Values: map[string]tandem.SideValue{sm.Name: {Value: p.sent, RecordID: res.ID}}}, nil); err != nil {
				return err
			}
			return tx.Dead(ctx, p.intent.ID, reason)
		}
		l = other
		if l == nil {
			l = &tandem.Link{EntityID: p.intent.EntityID, System: sm.Name, Object: sm.Object, ExternalID: res.ID}
		}
	}
	l.Snapshot = overlay(l.Snapshot, p.sent)
	// The stored payload follows the write, so a replay re-maps what the
	// system holds now, not what it held before Tandem wrote to it.
	l.Raw = overlayJSON(l.Raw, p.write.Payload)
	if res.Record != nil {
		l.Raw, l.Modified = overlayJSON(l.Raw, res.Record.Raw), res.Record.Modified
	}
	if err := tx.PutLink(ctx, l); err != nil {
		return err
	}
	if err := tx.Done(ctx, p.intent.ID); err != nil {
		return err
	}
	// The golden record may have moved while the write was in flight.
	golden, err := tx.Golden(ctx, p.intent.EntityID)
	if err != nil {
		return err
	}
	return e.enqueue(ctx, tx, ent, p.intent.EntityID, golden)
}
