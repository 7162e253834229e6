package conflict

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"tandem"
	"tandem/mapping"
	"tandem/state"
)

// closeIdentity closes the open identity conflict of a record that now
// links without one (it was edited so that it matches one entity, or
// none): the conflict says where it went.
func (d *decider) closeIdentity(sm *mapping.System, recordID, entityID string) error {
	c, err := d.v.OpenIdentity(sm.Name, sm.Object, recordID)
	if err != nil || c == nil {
		return err
	}
	c.Status, c.Decided, c.Resolved = tandem.ConflictAuto, "linked after an edit: entity "+entityID, d.now()
	return d.v.UpdateConflict(c)
}

// identify finds the entity of a record seen for the first time by its
// match keys, or makes a new one. Several candidates, or a candidate
// already linked to another record of the same system, are an identity
// conflict: recorded with the record, which is not merged (ok is false)
// until a person links or splits it (tandem resolve).
func (d *decider) identify(ent *mapping.Entity, sm *mapping.System, side Side, rec tandem.Record) (id string, ok, isNew bool, err error) {
	keys := ent.MatchKeys(side.View)
	cands, err := d.v.Candidates(ent.Name, keys)
	shown := keyText(keys)
	if err != nil {
		return "", false, false, err
	}
	if len(cands) == 0 {
		id, err := d.v.NewEntity(ent.Name)
		return id, err == nil, true, err
	}
	var entityID string
	policy := "match"
	reason := fmt.Sprintf("%d entities match %s: link it to one (--link --to ID) or keep it apart (--split)", len(cands), shown)
	if len(cands) == 1 {
		other, err := d.v.LinkOf(cands[0], sm.Name, sm.Object)
		if err != nil {
			return "", false, false, err
		}
		if other == nil {
			return cands[0], true, false, nil
		}
		entityID = cands[0]
		reason = fmt.Sprintf("record %s of %s has the same %s as record %s, already linked to this entity: merge them in %s, or keep it apart (--split)",
			side.RecordID, sm.Name, shown, other.ExternalID, sm.Name)
		if d.createdByTandem(sm, other) {
			reason, policy = duplicateReason(sm, shown, side.RecordID, other.ExternalID), duplicatePolicy
		}
	}
	d.log.Warn("identity conflict: record not merged", "system", sm.Name, "id", side.RecordID, "reason", reason)
	c := &tandem.Conflict{
		Entity: ent.Name, EntityID: entityID, Kind: tandem.ConflictIdentity, Policy: policy, Status: tandem.ConflictOpen, Decided: reason,
		Values: map[string]tandem.SideValue{sm.Name: {Value: side.View, ModifiedAt: side.Modified, RecordID: side.RecordID}},
		Pass:   d.pass, Created: d.now(),
	}
	for _, id := range cands {
		for _, t := range ent.Systems {
			if l, err := d.v.LinkOf(id, t.Name, t.Object); err != nil {
				return "", false, false, err
			} else if l != nil && !(t.Name == sm.Name && l.ExternalID == side.RecordID) {
				key := t.Name
				if len(cands) > 1 || t.Name == sm.Name {
					key = t.Name + ":" + l.ExternalID
				}
				c.Values[key] = tandem.SideValue{Value: l.Snapshot, ModifiedAt: l.Modified, RecordID: l.ExternalID}
			}
		}
	}
	held := &state.Pending{System: sm.Name, Object: sm.Object, ExternalID: rec.ID, Raw: rec.Raw, Modified: rec.Modified}
	if prev, err := d.v.OpenIdentity(sm.Name, sm.Object, rec.ID); err != nil {
		return "", false, false, err
	} else if prev != nil {
		c.ID = prev.ID
		return "", false, false, d.v.UpdateHeldRecord(c, held)
	}
	return "", false, false, d.v.AddConflict(c, held)
}

// keyText shows match keys as a person reads them: email=ann@example.com.
func keyText(keys map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		parts = append(parts, k+"="+keys[k])
	}
	return strings.Join(parts, ", ")
}
