package conflict

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"tandem"
	"tandem/mapping"
	"tandem/state"
)

// Decision is what a person decided about an open conflict (tandem
// resolve). Exactly one of its parts is set.
type Decision struct {
	Take     string // field or delete: this system's side wins
	Value    any    // field: this value wins (with HasValue)
	HasValue bool
	Link     bool   // identity: the held record is the entity's record in its system
	To       string // identity, with Link: the entity to link it to, when several matched
	Split    bool   // identity: the held record is an entity of its own
	// Actor is who decided (the OS user, a console token's name): the
	// decision goes into the audit trail, in its own transaction. ""
	// records none (tests, internal callers).
	Actor string
}

// String is the decision as tandem resolve's flags say it, the value of
// a sensitive field masked.
func (d Decision) String(ent *mapping.Entity, field string) string {
	switch {
	case d.Take != "":
		return "--take " + d.Take
	case d.HasValue:
		v := any(mapping.Masked)
		if field == "" || !ent.Sensitive(field) {
			v = d.Value
		}
		b, _ := json.Marshal(v)
		return "--value " + string(b)
	case d.Link && d.To != "":
		return "--link --to " + d.To
	case d.Link:
		return "--link"
	case d.Split:
		return "--split"
	}
	return ""
}

// Resolve applies a person's decision to an open conflict in one
// transaction. Nothing is written to any system here: the decision goes
// into the golden record (or the links) and the outbox, and the next pass
// writes it everywhere.
func (e *Engine) Resolve(ctx context.Context, ent *mapping.Entity, id int64, d Decision) (*tandem.Conflict, error) {
	var c *tandem.Conflict
	err := e.Store.Update(ctx, func(tx *state.Tx) error {
		var held *state.Pending
		var err error
		if c, held, err = tx.Conflict(ctx, id); err != nil {
			return err
		}
		if c.Status != tandem.ConflictOpen {
			return fmt.Errorf("conflict %d is %s (decided: %s); only open conflicts wait for a decision", id, c.Status, c.Decided)
		}
		if c.Entity != ent.Name {
			return fmt.Errorf("conflict %d is about entity %s, not %s", id, c.Entity, ent.Name)
		}
		switch c.Kind {
		case tandem.ConflictField:
			err = e.resolveField(ctx, tx, ent, c, d)
		case tandem.ConflictDelete:
			err = e.resolveDelete(ctx, tx, ent, c, d)
		case tandem.ConflictIdentity:
			err = e.resolveIdentity(ctx, tx, ent, c, held, d)
		case tandem.ConflictValue:
			if c.HeldWrite() {
				err = e.resolveHeldWrite(ctx, tx, ent, c, d)
				break
			}
			// Tandem cannot read the value, so it cannot take it; the
			// system's own record is where it is fixed.
			err = fmt.Errorf("%s; the next pass that reads it fixed closes this conflict", c.Decided)
		default:
			err = fmt.Errorf("conflict %d has unknown kind %q", id, c.Kind)
		}
		if err != nil {
			return fmt.Errorf("conflict %d: %w", id, err)
		}
		c.Status, c.Resolved = tandem.ConflictResolved, e.now()
		if d.Actor != "" {
			err := tx.Audit(ctx, state.AuditEntry{Actor: d.Actor, Action: "resolve",
				Subject: strings.TrimSpace(fmt.Sprintf("conflict %d: %s %s %s", id, c.Kind, c.Entity, c.Field)),
				Detail:  fmt.Sprintf("%s: %s", d.String(ent, c.Field), c.Decided)})
			if err != nil {
				return err
			}
		}
		return tx.UpdateConflict(ctx, c)
	})
	return c, err
}

func (e *Engine) resolveField(ctx context.Context, tx *state.Tx, ent *mapping.Entity, c *tandem.Conflict, d Decision) error {
	if d.Link || d.Split {
		return fmt.Errorf("--link and --split decide identity conflicts; this is a field conflict: use --take SYSTEM or --value JSON")
	}
	golden, err := tx.Golden(ctx, c.EntityID)
	if err != nil {
		return err
	}
	f := golden[c.Field]
	switch {
	case d.HasValue:
		t := ent.Types[c.Field]
		if t == nil {
			return fmt.Errorf("field %s is no longer declared on entity %s", c.Field, ent.Name)
		}
		v, err := t.Canonical(d.Value)
		if err != nil {
			return fmt.Errorf("--value for %s (%s): %w", c.Field, t.Name, err)
		}
		f = tandem.Field{Value: v, Modified: e.now(), Source: "resolve"}
		c.Decided = "value"
	default:
		side, ok := c.Values[d.Take]
		if !ok {
			return fmt.Errorf("--take %q: the sides are %v", d.Take, sides(c))
		}
		f = tandem.Field{Value: side.Value, Modified: side.ModifiedAt, Source: d.Take}
		c.Decided = d.Take
	}
	golden[c.Field] = f
	if err := e.over(ctx, tx).putGolden(ent, c.EntityID, golden); err != nil {
		return err
	}
	if c.Kind == tandem.ConflictField {
		if err := e.over(ctx, tx).closeRefusals(c.EntityID, c.Field); err != nil {
			return err
		}
	}
	return e.over(ctx, tx).enqueue(ent, c.EntityID)
}

// resolveHeldWrite decides a value a system refused (unwritable.go):
// --take that system writes the value to it again (its column was
// widened, say), --value JSON sets another value everywhere. Either way
// the hold closes and the entity is queued; a value refused again is
// held again.
func (e *Engine) resolveHeldWrite(ctx context.Context, tx *state.Tx, ent *mapping.Entity, c *tandem.Conflict, d Decision) error {
	switch {
	case d.HasValue:
		return e.resolveField(ctx, tx, ent, c, d)
	case d.Link || d.Split || d.Take == "":
		return fmt.Errorf("a value a system refused is decided with --take %s (write it again) or --value JSON (write another value)", strings.Join(sides(c), "|"))
	}
	if _, ok := c.Values[d.Take]; !ok {
		return fmt.Errorf("--take %q: the value was refused by %s; --take %s writes it again", d.Take, strings.Join(sides(c), ", "), strings.Join(sides(c), "|"))
	}
	c.Decided = "write again to " + d.Take
	return e.over(ctx, tx).enqueue(ent, c.EntityID)
}

func (e *Engine) resolveDelete(ctx context.Context, tx *state.Tx, ent *mapping.Entity, c *tandem.Conflict, d Decision) error {
	del, err := tx.DeleteOf(ctx, c.EntityID)
	if err != nil {
		return err
	}
	if del == nil || del.State != state.DeleteHeld {
		return fmt.Errorf("the delete is no longer held")
	}
	if _, ok := c.Values[d.Take]; !ok || d.HasValue || d.Link || d.Split {
		return fmt.Errorf("a delete is decided with --take: %s to delete the record everywhere, or another of %v to keep it", del.By, sides(c))
	}
	c.Decided = d.Take
	if d.Take == del.By {
		return e.over(ctx, tx).propagate(ent, c.EntityID, del, "decided by a person")
	}
	// Keep it: the record is created again where it was deleted.
	return e.over(ctx, tx).revive(ent, c.EntityID, "")
}

func (e *Engine) resolveIdentity(ctx context.Context, tx *state.Tx, ent *mapping.Entity, c *tandem.Conflict, held *state.Pending, d Decision) error {
	if c.Policy == uniquePolicy && c.Field != "" && (d.HasValue || d.Take != "") {
		// A held match key a system refused (see clash): decided as a field.
		return e.resolveField(ctx, tx, ent, c, d)
	}
	if !d.Link && !d.Split {
		return fmt.Errorf("an identity conflict is decided with --link (the record is that entity's) or --split (an entity of its own)")
	}
	if held == nil {
		return fmt.Errorf("no record was held back with this conflict (it came from a create that landed on a linked record); merge the two records in %v by hand", sides(c))
	}
	sm := ent.System(held.System)
	if sm == nil || sm.Object != held.Object {
		return fmt.Errorf("%s %s is no longer mapped on entity %s", held.System, held.Object, ent.Name)
	}
	if l, err := tx.Link(ctx, held.System, held.Object, held.ExternalID); err != nil {
		return err
	} else if l != nil {
		return fmt.Errorf("%s %s %s is already linked to entity %s", held.System, held.Object, held.ExternalID, l.EntityID)
	}
	target := d.To
	if d.Split {
		id, err := tx.NewEntity(ctx, ent.Name, tandem.Golden{}, nil)
		if err != nil {
			return err
		}
		target, c.Decided = id, "split: entity "+id
	} else {
		if target == "" {
			target = c.EntityID
		}
		if target == "" {
			return fmt.Errorf("several entities match: say which with --to ENTITY_ID")
		}
		if _, err := tx.Golden(ctx, target); err != nil {
			return fmt.Errorf("--to: %w", err)
		}
		if l, err := tx.LinkOf(ctx, target, sm.Name, sm.Object); err != nil {
			return err
		} else if l != nil {
			if _, ours := c.Values[sm.Name+":"+l.ExternalID]; c.Policy != duplicatePolicy || !ours {
				return fmt.Errorf("entity %s already has %s record %s; merge the two records in %s first, or --split", target, sm.Name, l.ExternalID, sm.Name)
			}
			// Tandem's own record is the duplicate: the person's is kept.
			if err := e.over(ctx, tx).retire(ent, l); err != nil {
				return err
			}
			c.Decided = fmt.Sprintf("linked: entity %s; Tandem's duplicate %s is deleted from %s", target, l.ExternalID, sm.Name)
		} else {
			c.Decided = "linked: entity " + target
		}
	}
	c.EntityID = target
	rec := tandem.Record{ID: held.ExternalID, Raw: held.Raw, Modified: held.Modified}
	view, err := sm.In(rec.Raw)
	if err != nil {
		return fmt.Errorf("the held record no longer maps: %w", err)
	}
	link := &tandem.Link{EntityID: target, System: sm.Name, Object: sm.Object, ExternalID: rec.ID}
	return e.over(ctx, tx).merge(ent, sm, link, sideOf(sm, rec, view), rec, false)
}

func sides(c *tandem.Conflict) []string {
	var s []string
	for sys := range c.Values {
		s = append(s, sys)
	}
	slices.Sort(s)
	return s
}
