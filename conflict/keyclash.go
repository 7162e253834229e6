package conflict

import (
	"fmt"
	"slices"
	"strings"

	"tandem"
	"tandem/mapping"
)

// heldKeys holds the match keys a merge moved onto a value another
// entity holds (a person typed a second person's email into the first's
// record; issue 11, case 7). Not every system keeps its match keys
// unique, so a refusal (clash, in exists.go) cannot be waited for: a
// system that keeps none would take the write, and then hold two people
// under one key. The field keeps its agreed value, held: written nowhere
// until a person decides; the record's other fields go on syncing; an
// open identity conflict names the records on both sides.
func (d *decider) heldKeys(ent *mapping.Entity, sm *mapping.System, link *tandem.Link, side Side, before, after tandem.Golden) error {
	if len(before) == 0 {
		return nil // a new entity, matched by identify already
	}
	was, now := ent.MatchKeys(before.Values()), ent.MatchKeys(after.Values())
	for _, f := range ent.Match {
		v := now[f]
		if v == "" || v == was[f] || before[f].Held {
			continue
		}
		owners, err := d.v.Candidates(ent.Name, map[string]string{f: v})
		if err != nil {
			return err
		}
		owners = slices.DeleteFunc(owners, func(id string) bool { return id == link.EntityID })
		if len(owners) == 0 {
			continue
		}
		g := before[f]
		g.Held = true
		after[f] = g
		if err := d.keyClash(ent, sm, link, side, f, v, owners); err != nil {
			return err
		}
	}
	return nil
}

// keyClash records (or refreshes) the open identity conflict of a held
// match key: the record edited onto the key, and the other entities'
// records holding it.
func (d *decider) keyClash(ent *mapping.Entity, sm *mapping.System, link *tandem.Link, side Side, field, value string, owners []string) error {
	c := &tandem.Conflict{Entity: ent.Name, EntityID: link.EntityID, Kind: tandem.ConflictIdentity, Policy: uniquePolicy,
		Status: tandem.ConflictOpen, Field: field, Values: map[string]tandem.SideValue{
			sm.Name + ":" + link.ExternalID: {Value: side.View, ModifiedAt: side.Modified, RecordID: link.ExternalID},
		}}
	var own, named []string
	for _, t := range ent.Systems {
		l, err := d.v.LinkOf(link.EntityID, t.Name, t.Object)
		if err != nil {
			return err
		}
		if l != nil && !(t.Name == sm.Name && l.ExternalID == link.ExternalID) {
			c.Values[t.Name+":"+l.ExternalID] = tandem.SideValue{Value: l.Snapshot, ModifiedAt: l.Modified, RecordID: l.ExternalID}
			own = append(own, t.Name+" "+l.ExternalID)
		}
	}
	for _, id := range owners {
		for _, t := range ent.Systems {
			l, err := d.v.LinkOf(id, t.Name, t.Object)
			if err != nil {
				return err
			}
			if l != nil {
				c.Values[t.Name+":"+l.ExternalID] = tandem.SideValue{Value: l.Snapshot, ModifiedAt: l.Modified, RecordID: l.ExternalID}
				named = append(named, t.Name+" "+l.ExternalID)
			}
		}
	}
	also := ""
	if len(own) > 0 {
		also = " (this entity's, as are " + strings.Join(own, ", ") + ")"
	}
	c.Decided = fmt.Sprintf("%s record %s%s was edited to %s=%s, which entity %s holds already (%s). "+
		"Held, written nowhere, while the other fields go on syncing: change it on one of them, or decide it with tandem resolve ID --value JSON",
		sm.Name, link.ExternalID, also, field, value, owners[0], strings.Join(named, ", "))
	d.log.Warn("identity conflict: a match key edited onto another entity's", "system", sm.Name, "entity_id", link.EntityID, "reason", c.Decided)
	prev, err := d.v.OpenConflict(c.EntityID, c.Kind, c.Field)
	if err != nil {
		return err
	}
	if prev != nil {
		prev.Decided, prev.Values = c.Decided, c.Values
		return d.v.UpdateConflict(prev)
	}
	return d.addConflict(c)
}
