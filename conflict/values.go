package conflict

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"tandem"
	"tandem/mapping"
	"tandem/state"
)

// A value the mapping cannot read (a phone that does not parse, a value a
// map does not list) holds that one field of that one record, not the
// whole record: the field is left out of the record's view, so the other
// fields merge as usual; an open conflict of kind value names the system,
// the record, the field, the value and why, so tandem conflicts and tandem
// status show it; Tandem writes nothing to that field of that record while
// it is held (the person's value is unreadable, not absent); and the first
// read that finds the field readable closes the conflict and merges it as
// an edit made there.

// holdValues records the values of a record read that cannot be mapped
// (bad) and closes the record's open value conflicts on fields read again
// (view). look is false when the record is known to have none open.
func (d *decider) holdValues(ent *mapping.Entity, sm *mapping.System, rec tandem.Record,
	entityID string, view tandem.Values, bad []*mapping.FieldError, look bool) error {
	if len(bad) == 0 && !look {
		return nil
	}
	open, err := d.v.OpenValues(sm.Name, sm.Object, rec.ID)
	if err != nil {
		return err
	}
	byField := map[string]*tandem.Conflict{}
	for i := range open {
		byField[open[i].Field] = &open[i]
	}
	for _, fe := range bad {
		reason := fmt.Sprintf("held: %s %s %s: %s cannot be read (%v); fix it in %s", sm.Name, sm.Object, rec.ID, fe.Path, fe.Err, sm.Name)
		side := tandem.SideValue{Value: fe.Value, ModifiedAt: rec.Modified, RecordID: rec.ID}
		for _, f := range fe.Fields {
			if c := byField[f]; c != nil {
				if c.Decided == reason && tandem.Equal(c.Values[sm.Name].Value, fe.Value) {
					continue // read again, unchanged
				}
				c.Values[sm.Name], c.Decided = side, reason
				if err := d.v.UpdateConflict(c); err != nil {
					return err
				}
				continue
			}
			d.log.Warn("field held: its value cannot be read", "system", sm.Name, "object", sm.Object, "id", rec.ID, "field", f, "err", fe.Err)
			c := &tandem.Conflict{Entity: ent.Name, EntityID: entityID, Kind: tandem.ConflictValue, Field: f, Policy: "mapping",
				Status: tandem.ConflictOpen, Decided: reason, Values: map[string]tandem.SideValue{sm.Name: side}, Pass: d.pass, Created: d.now()}
			if err := d.v.AddConflict(c, &state.Pending{System: sm.Name, Object: sm.Object, ExternalID: rec.ID, Raw: rec.Raw, Modified: rec.Modified}); err != nil {
				return err
			}
		}
	}
	for f, c := range byField {
		v, ok := view[f]
		if !ok {
			continue // still unreadable, or not in this payload
		}
		b, _ := json.Marshal(v)
		c.Status, c.Resolved, c.Decided = tandem.ConflictResolved, d.now(), fmt.Sprintf("fixed in %s: reads as %s", sm.Name, b)
		d.log.Info("held field readable again", "system", sm.Name, "object", sm.Object, "id", rec.ID, "field", f)
		if err := d.v.UpdateConflict(c); err != nil {
			return err
		}
	}
	return nil
}

// unidentifiable reports whether a value that cannot be read is one of the
// entity's match keys: a record not yet linked cannot be matched without
// it, and linking it by the rest could duplicate a person, so such a
// record is set aside whole, as before.
func unidentifiable(ent *mapping.Entity, bad []*mapping.FieldError) bool {
	for _, fe := range bad {
		for _, f := range fe.Fields {
			if slices.Contains(ent.Match, f) || slices.Contains(ent.Fallback, f) {
				return true
			}
		}
	}
	return false
}

// writable leaves out of fs the fields held in a system's record because
// its value there cannot be read: writing them would overwrite what a
// person entered, unread.
func writable(v view, sm *mapping.System, l *tandem.Link, fs []string) ([]string, error) {
	if l == nil || len(fs) == 0 {
		return fs, nil
	}
	held, err := v.OpenValues(sm.Name, sm.Object, l.ExternalID)
	if err != nil || len(held) == 0 {
		return fs, err
	}
	return slices.DeleteFunc(fs, func(f string) bool {
		return slices.ContainsFunc(held, func(c tandem.Conflict) bool { return c.Field == f })
	}), nil
}

// heldMoved reports whether a record's unreadable values differ from its
// open value conflicts: one newly unreadable, one changed, or one readable
// again. A sweep stages such a record (holdValues records it) and passes
// over one whose held values stand as recorded.
func heldMoved(ctx context.Context, tx *state.Tx, sm *mapping.System, id string, view tandem.Values, bad []*mapping.FieldError) (bool, error) {
	open, err := tx.OpenValues(ctx, sm.Name, sm.Object, id)
	if err != nil {
		return false, err
	}
	held := map[string]any{}
	for _, c := range open {
		if _, ok := view[c.Field]; ok {
			return true, nil // readable again
		}
		held[c.Field] = c.Values[sm.Name].Value
	}
	for _, fe := range bad {
		for _, f := range fe.Fields {
			if v, ok := held[f]; !ok || !tandem.Equal(v, fe.Value) {
				return true, nil
			}
		}
	}
	return false, nil
}
