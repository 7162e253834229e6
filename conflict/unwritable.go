package conflict

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"tandem"
	"tandem/mapping"
	"tandem/state"
)

// The write-side twin of a value held because it cannot be read
// (values.go): a value that cannot be written to a system (a text too
// long for its column, a number out of range, a value a map does not
// list) holds that one field of that one entity for that system, not the
// whole write. The mapping says so while planning the write (sm.Out), or
// the system in its answer (*tandem.UnwritableError); either way an open
// conflict of kind value, policy "write", names the system, the field,
// the value and why, and the write goes again without it in the same
// push, so the record's other fields land. While it is open, the field
// is left out of writes to that system as long as the value is the one
// refused (writable); a new value is tried, and closes it once written.
// tandem resolve closes it too: --take SYSTEM writes the value again (a
// column widened since), --value JSON sets another value everywhere.

// writeHold is a field a write could not set, and why.
type writeHold struct {
	fields []string
	reason string
	policy string // tandem.PolicyWrite: the system refused it; PolicyMapOut: the mapping
}

// heldOut lists the fields of fs held back from a system's record because
// the system refused their current golden value. (A value the mapping
// cannot write is found again by outHeld each time: once the mapping
// is fixed, it is written.)
func heldOut(v view, sm *mapping.System, entityID string, golden tandem.Golden, fs []string) ([]string, error) {
	held, err := v.WriteHolds(entityID, sm.Name, sm.Object)
	if err != nil || len(held) == 0 {
		return fs, err
	}
	return slices.DeleteFunc(fs, func(f string) bool {
		return slices.ContainsFunc(held, func(c tandem.Conflict) bool {
			return c.Field == f && c.Policy == tandem.PolicyWrite && tandem.Equal(c.Values[sm.Name].Value, golden[f].Value)
		})
	}), nil
}

// outHeld is sm.Out, leaving out the fields whose value the mapping
// cannot write (held: recorded when the write is checkpointed). A field
// that cannot be named, or a match key of a record not created yet
// (created without it, it could be created twice), fails the write
// whole, as before: err.
func outHeld(ent *mapping.Entity, sm *mapping.System, values tandem.Values, fields []string, create bool) (json.RawMessage, []string, []string, []writeHold, error) {
	var held []writeHold
	for {
		payload, set, err := sm.Out(values, fields, create)
		var fe *mapping.FieldError
		if err == nil || !errors.As(err, &fe) || len(fe.Fields) == 0 || (create && identifying(ent, fe.Fields)) {
			return payload, set, fields, held, err
		}
		held = append(held, writeHold{fields: fe.Fields, reason: fmt.Sprintf("%s %s: %s: %v", sm.Name, sm.Object, fe.Path, fe.Err), policy: tandem.PolicyMapOut})
		fields = slices.DeleteFunc(fields, func(f string) bool { return slices.Contains(fe.Fields, f) })
		if len(fields) == 0 {
			return nil, nil, nil, held, nil
		}
	}
}

// identifying reports whether one of fields is a match key of the entity.
func identifying(ent *mapping.Entity, fields []string) bool {
	return slices.ContainsFunc(fields, func(f string) bool {
		return slices.Contains(ent.Match, f) || slices.Contains(ent.Fallback, f)
	})
}

// refusedFields turns a system's refusal of some values into holds on
// the fields the write sent there; ok is false when the error is not
// such a refusal, or names a path the write did not send (or a match key
// of a create): the write then fails whole.
func refusedFields(ent *mapping.Entity, sm *mapping.System, p planned, err error) ([]writeHold, bool) {
	var ue *tandem.UnwritableError
	if !errors.As(err, &ue) || len(ue.Fields) == 0 || p.write == nil || p.write.Op == tandem.OpDelete {
		return nil, false
	}
	var hs []writeHold
	for _, u := range ue.Fields {
		var fs []string
		for _, f := range sm.FieldsAt(u.Path) {
			if _, sent := p.sent[f]; sent {
				fs = append(fs, f)
			}
		}
		if len(fs) == 0 || (p.write.Op == tandem.OpCreate && identifying(ent, fs)) {
			return nil, false
		}
		hs = append(hs, writeHold{fields: fs, reason: fmt.Sprintf("%s %s: %s", sm.Name, sm.Object, u.Reason), policy: tandem.PolicyWrite})
	}
	return hs, true
}

// holdRefused records the fields a system refused in a write and queues
// the write again without them: done, the other fields go in this push.
func (d *decider) holdRefused(ent *mapping.Entity, sm *mapping.System, p planned, err error) (bool, error) {
	hs, ok := refusedFields(ent, sm, p, err)
	if !ok {
		return false, nil
	}
	if err := d.settleHolds(ent, sm, p, hs, false); err != nil {
		return true, err
	}
	if err := d.v.Done(p.intent.ID); err != nil {
		return true, err
	}
	return true, d.v.Enqueue(ent.Name, p.intent.EntityID, sm.Name, sm.Object)
}

// settleHolds records the holds a write met (new ones opened, changed
// ones updated) and closes those it outlived: a field written (written),
// or whose value changed since it was refused (it is tried again when it
// needs writing; if refused again, it is held again).
func (d *decider) settleHolds(ent *mapping.Entity, sm *mapping.System, p planned, met []writeHold, written bool) error {
	open, err := d.v.WriteHolds(p.intent.EntityID, sm.Name, sm.Object)
	if err != nil {
		return err
	}
	if len(open) == 0 && len(met) == 0 {
		return nil
	}
	byField := map[string]*tandem.Conflict{}
	for i := range open {
		byField[open[i].Field] = &open[i]
	}
	var rid string
	if p.link != nil {
		rid = p.link.ExternalID
	}
	for _, h := range met {
		for _, f := range h.fields {
			g := p.golden[f]
			side := tandem.SideValue{Value: g.Value, ModifiedAt: g.Modified, RecordID: rid}
			reason := h.reason
			if ent.Sensitive(f) {
				reason = fmt.Sprintf("%s %s: the value of %s does not fit", sm.Name, sm.Object, f)
			}
			reason = "held: cannot be written to " + reason + "; the record's other fields are written; tried again when the value changes (or tandem resolve)"
			if c := byField[f]; c != nil {
				delete(byField, f)
				if c.Decided == reason && c.Policy == h.policy && tandem.Equal(c.Values[sm.Name].Value, g.Value) {
					continue
				}
				c.Values[sm.Name], c.Decided, c.Policy = side, reason, h.policy
				if err := d.v.UpdateConflict(c); err != nil {
					return err
				}
				continue
			}
			d.log.Warn("field held: its value cannot be written", "system", sm.Name, "object", sm.Object, "entity_id", p.intent.EntityID, "field", f, "err", h.reason)
			c := &tandem.Conflict{Entity: ent.Name, EntityID: p.intent.EntityID, Kind: tandem.ConflictValue, Field: f, Policy: h.policy,
				Status: tandem.ConflictOpen, Decided: reason, Values: map[string]tandem.SideValue{sm.Name: side}, Pass: d.pass, Created: d.now()}
			if err := d.v.AddConflict(c, &state.Pending{System: sm.Name, Object: sm.Object}); err != nil {
				return err
			}
		}
	}
	for f, c := range byField {
		_, sent := p.sent[f]
		switch {
		case written && sent:
			c.Decided = fmt.Sprintf("written to %s: %s", sm.Name, shown(ent, f, p.golden[f].Value))
		case !tandem.Equal(c.Values[sm.Name].Value, p.golden[f].Value):
			c.Decided = fmt.Sprintf("the value changed since (now %s): no longer held", shown(ent, f, p.golden[f].Value))
		default:
			continue
		}
		c.Status, c.Resolved = tandem.ConflictResolved, d.now()
		d.log.Info("held field released", "system", sm.Name, "object", sm.Object, "entity_id", p.intent.EntityID, "field", f, "why", c.Decided)
		if err := d.v.UpdateConflict(c); err != nil {
			return err
		}
	}
	return nil
}

// shown is a value as a message shows it: JSON, masked for a sensitive
// field.
func shown(ent *mapping.Entity, f string, v any) string {
	if ent.Sensitive(f) {
		v = mapping.Masked
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// requeueMapped queues again the entities whose values the mapping could
// not write to a system and now can (the mapping was fixed): their held
// fields are written by this push, which closes the holds.
func (e *Engine) requeueMapped(ctx context.Context, ent *mapping.Entity, sm *mapping.System) error {
	held, err := e.Store.HeldWrites(ctx, sm.Name, sm.Object, tandem.PolicyMapOut)
	if err != nil || len(held) == 0 {
		return err
	}
	var ids []string
	for _, c := range held {
		if c.Entity != ent.Name || !sm.Writes(c.Field) {
			continue
		}
		if _, _, err := sm.Out(tandem.Values{c.Field: c.Values[sm.Name].Value}, []string{c.Field}, false); err == nil {
			ids = append(ids, c.EntityID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return e.Store.Update(ctx, func(tx *state.Tx) error {
		for _, id := range ids {
			if err := tx.Enqueue(ctx, ent.Name, id, sm.Name, sm.Object); err != nil {
				return err
			}
		}
		return nil
	})
}
