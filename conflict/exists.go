package conflict

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors"
	"tandem/mapping"
	"tandem/state"
)

// Creates and unique values. A create is an upsert by Tandem's key where
// the connector keeps one (connectors.Keyed), so it is safe to repeat; but
// a system that keeps a match key unique (HubSpot's email) refuses a write
// that would give a record a value another record holds, and names that
// record (tandem.ExistsError). What follows from the refusal:
//
//   - a create whose key someone else's record holds, not linked to any
//     entity (a person made it meanwhile): that record is linked with no
//     base and merged under the entity's policy, its values never
//     overwritten (adopt);
//   - a write whose value a record of another entity holds (a match key
//     edited onto another person's, a split entity): an open identity
//     conflict naming both records; an update holds the field and the other
//     fields go on syncing, a create waits until the value is free (clash).
//
// And a record Tandem created whose answer was lost is found again by the
// key it holds (find), not taken for a new person when its email changed.

// uniquePolicy marks the identity conflicts a refused unique value makes,
// apart from the ones matching makes ("match").
const uniquePolicy = "unique"

// keyPath is where sm's records hold Tandem's key; "" when its connector
// keeps none, or Tandem creates nothing there (read_only: the field need
// not exist).
func (e *Engine) keyPath(sm *mapping.System) string {
	if k, ok := e.Systems[sm.Name].(connectors.Keyed); ok && !sm.ReadOnly {
		return k.KeyPath(sm.Object)
	}
	return ""
}

// paths are the payload paths a read of sm asks for: the mapped ones and
// Tandem's key.
func (e *Engine) paths(sm *mapping.System) []string {
	ps := sm.Paths()
	if k := e.keyPath(sm); k != "" && !slices.Contains(ps, k) {
		ps = append(ps, k)
	}
	return ps
}

// createdByTandem reports whether a linked record holds Tandem's key for
// its entity: Tandem created it.
func (d *decider) createdByTandem(sm *mapping.System, l *tandem.Link) bool {
	k := d.keyPath(sm)
	return k != "" && l != nil && gjson.GetBytes(l.Raw, k).String() == l.EntityID
}

// find is identify for a record seen for the first time that holds
// Tandem's key: it belongs to the entity it was created for (a create
// whose answer was lost), linked with no base, whatever its match keys
// say now. Any other record is identified by its match keys.
func (d *decider) find(ent *mapping.Entity, sm *mapping.System, side Side, rec tandem.Record) (id string, ok, isNew bool, err error) {
	if id, err := d.keyed(sm, rec); err != nil || id != "" {
		if id != "" {
			d.log.Info("record found by Tandem's key: linked to the entity it was created for", "system", sm.Name, "id", rec.ID, "entity_id", id)
		}
		return id, id != "", false, err
	}
	return d.identify(ent, sm, side, rec)
}

// keyed is the entity whose key rec holds, when that entity lives and has
// no record in sm yet; "" otherwise.
func (d *decider) keyed(sm *mapping.System, rec tandem.Record) (string, error) {
	k := d.keyPath(sm)
	if k == "" {
		return "", nil
	}
	id := gjson.GetBytes(rec.Raw, k).String()
	if id == "" {
		return "", nil
	}
	if _, err := d.v.Golden(id); errors.Is(err, sql.ErrNoRows) {
		return "", nil // a key from another state file
	} else if err != nil {
		return "", err
	}
	if l, err := d.v.LinkOf(id, sm.Name, sm.Object); err != nil || l != nil {
		return "", err
	}
	if dl, err := d.v.DeleteOf(id); err != nil || (dl != nil && dl.State == state.DeleteDeleted) {
		return "", err
	}
	return id, nil
}

// withKey notes in a created record's stored payload the key the
// connector wrote with it, so the record is known as Tandem's
// (createdByTandem) before its echo is read.
func withKey(k string, raw []byte, key string) []byte {
	if k == "" {
		return raw
	}
	if len(raw) == 0 || !gjson.ValidBytes(raw) {
		raw = []byte("{}")
	}
	if out, err := sjson.SetBytes(raw, k, key); err == nil {
		return out
	}
	return raw
}

// refind looks, before a create is sent again, for the record an earlier
// try made whose answer was lost: found by the key it holds, it is staged
// as a pull stages it (linked to its entity with no base, and merged), so
// the create becomes an update of what the record holds now instead of
// writing the create's values over a person's edits since. A pull finds
// such a record too; this covers one the pull missed (HubSpot's search
// lags writes). A create's first try, and one after a crash between the
// write and its checkpoint (its attempts are not counted), cost nothing
// here. found says whether a record was found and staged.
func (e *Engine) refind(ctx context.Context, ent *mapping.Entity, sm *mapping.System, conn connectors.Connector, intents []state.Intent) (found bool, err error) {
	kf, ok := conn.(connectors.KeyFetcher)
	if !ok || e.keyPath(sm) == "" {
		return false, nil
	}
	var keys []string
	for _, in := range intents {
		if in.Attempts == 0 {
			continue
		}
		if l, err := e.Store.LinkOf(ctx, in.EntityID, sm.Name, sm.Object); err != nil {
			return false, err
		} else if l == nil {
			keys = append(keys, in.EntityID)
		}
	}
	if len(keys) == 0 {
		return false, nil
	}
	recs, err := kf.FetchKeys(ctx, tandem.Query{Object: sm.Object, Fields: e.paths(sm)}, keys)
	if err != nil || len(recs) == 0 {
		if err != nil {
			return false, fmt.Errorf("%s %s: look for the records of creates tried before: %w", sm.Name, sm.Object, err)
		}
		return false, nil
	}
	if err := e.refsIn(ctx, ent, sm, recs); err != nil {
		return false, err
	}
	return true, e.Store.Update(ctx, func(tx *state.Tx) error {
		for _, rec := range recs {
			e.log().Info("a create tried before found its record: merged before writing", "system", sm.Name, "object", sm.Object, "id", rec.ID)
			if err := e.over(ctx, tx).stage(ent, sm, rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// readExisting reads, in one batch, the records that refused creates named
// as holding their key (see adopt): the writes are planned from what the
// system holds now. A record it cannot read leaves its create to retry.
func (e *Engine) readExisting(ctx context.Context, ent *mapping.Entity, sm *mapping.System, conn connectors.Connector, plans []planned, results []tandem.Result) {
	f, ok := conn.(connectors.Fetcher)
	if !ok {
		return
	}
	at := map[string][]int{}
	var ids []string
	i := 0
	for k := range plans {
		if plans[k].write == nil {
			continue
		}
		var x *tandem.ExistsError
		if res := results[i]; plans[k].write.Op == tandem.OpCreate && errors.As(res.Err, &x) {
			if _, seen := at[x.RecordID]; !seen {
				ids = append(ids, x.RecordID)
			}
			at[x.RecordID] = append(at[x.RecordID], k)
		}
		i++
	}
	if len(ids) == 0 {
		return
	}
	recs, _, err := e.fetch(ctx, ent, f, sm, tandem.Query{Object: sm.Object, Fields: e.paths(sm)}, ids)
	if err != nil {
		e.log().Warn("could not read the records creates met; they are tried again", "system", sm.Name, "err", err)
		return
	}
	for _, rec := range recs {
		for _, k := range at[rec.ID] {
			r := rec
			plans[k].found = &r
		}
	}
}

// refused handles a write the system refused because another record holds
// a unique value it sets. It reports false for any other failure.
func (d *decider) refused(ent *mapping.Entity, sm *mapping.System, p planned, werr error) (bool, error) {
	var x *tandem.ExistsError
	if !errors.As(werr, &x) || p.write.Op == tandem.OpDelete {
		return false, nil
	}
	other, err := d.v.Link(sm.Name, sm.Object, x.RecordID)
	if err != nil {
		return true, err
	}
	switch {
	case other != nil && other.EntityID == p.intent.EntityID:
		return false, nil // its own record: nothing to decide
	case other == nil && p.write.Op == tandem.OpCreate:
		if p.found == nil {
			return true, d.v.Retry(p.intent.ID, werr.Error()) // not read yet
		}
		return true, d.adopt(ent, sm, p, *p.found)
	}
	return true, d.clash(ent, sm, p, x, other)
}

// adopt links the record a create found (made by a person meanwhile) to
// the entity with no base, and merges it under the entity's policy: where
// the two disagree, a conflict is recorded and decided, and the record's
// values are never overwritten unasked.
func (d *decider) adopt(ent *mapping.Entity, sm *mapping.System, p planned, rec tandem.Record) error {
	view, err := sm.In(rec.Raw)
	if err != nil {
		return d.v.Dead(p.intent.ID, fmt.Sprintf("create met %s %s %s, which cannot be read: %v", sm.Name, sm.Object, rec.ID, err))
	}
	d.log.Info("create met a record made meanwhile: linked with no base and merged", "system", sm.Name, "object", sm.Object,
		"id", rec.ID, "entity_id", p.intent.EntityID)
	// Done first: the merge queues the writes that follow, this system's
	// included, and a pending intent would swallow that.
	if err := d.v.Done(p.intent.ID); err != nil {
		return err
	}
	if err := d.closeRefusals(p.intent.EntityID, ""); err != nil {
		return err
	}
	link := &tandem.Link{EntityID: p.intent.EntityID, System: sm.Name, Object: sm.Object, ExternalID: rec.ID}
	return d.merge(ent, sm, link, sideOf(sm, rec, view), rec, false)
}

// clash records that a write's value is held by another entity's record:
// an open identity conflict naming both records. An update holds the
// clashing field (written nowhere until a person decides) and is queued
// again without it, so the other fields go on syncing; a create waits,
// since no record may be made with a key another holds, until the entity
// changes.
func (d *decider) clash(ent *mapping.Entity, sm *mapping.System, p planned, x *tandem.ExistsError, other *tandem.Link) error {
	owner := "not linked to any entity"
	if other != nil {
		owner = "linked to entity " + other.EntityID
	}
	fields := clashing(ent, sm, p, x)
	var shown []string
	for _, f := range fields {
		shown = append(shown, fmt.Sprintf("%s=%v", f, p.sent[f]))
	}
	what := strings.Join(shown, ", ")
	if what == "" {
		what = "a unique value"
	}
	c := &tandem.Conflict{Entity: ent.Name, EntityID: p.intent.EntityID, Kind: tandem.ConflictIdentity, Policy: uniquePolicy,
		Status: tandem.ConflictOpen, Values: map[string]tandem.SideValue{}}
	var theirs tandem.Values
	if other != nil {
		theirs = other.Snapshot
	}
	c.Values[sm.Name+":"+x.RecordID] = tandem.SideValue{Value: theirs, RecordID: x.RecordID}
	if p.write.Op == tandem.OpCreate {
		c.Values[sm.Name] = tandem.SideValue{Value: p.sent}
		c.Decided = fmt.Sprintf("not created in %s: %s %s record %s (%s) holds %s already, and %s keeps it unique. "+
			"It is created once the value is free: change it on one of them", sm.Name, sm.Name, sm.Object, x.RecordID, owner, what, sm.Name)
	} else {
		c.Field = fieldOrNone(fields)
		c.Values[sm.Name+":"+p.write.ID] = tandem.SideValue{Value: p.sent, RecordID: p.write.ID}
		c.Decided = fmt.Sprintf("%s refused %s on %s record %s (this entity): record %s (%s) holds it already. "+
			"Held, written nowhere, while the other fields go on syncing: change it on one of them, or decide it with tandem resolve ID --value JSON",
			sm.Name, what, sm.Object, p.write.ID, x.RecordID, owner)
	}
	d.log.Warn("identity conflict: a unique value is another record's", "system", sm.Name, "entity_id", p.intent.EntityID, "reason", c.Decided)
	if prev, err := d.v.OpenConflict(c.EntityID, c.Kind, c.Field); err != nil {
		return err
	} else if prev != nil && prev.Policy == uniquePolicy {
		prev.Decided, prev.Values = c.Decided, c.Values
		if err := d.v.UpdateConflict(prev); err != nil {
			return err
		}
	} else if err := d.addConflict(c); err != nil {
		return err
	}
	if err := d.v.Done(p.intent.ID); err != nil {
		return err
	}
	if p.write.Op == tandem.OpCreate || len(fields) == 0 {
		return nil
	}
	golden, err := d.v.Golden(p.intent.EntityID)
	if err != nil {
		return err
	}
	for _, f := range fields {
		g := golden[f]
		g.Held = true
		golden[f] = g
	}
	if err := d.putGolden(ent, p.intent.EntityID, golden); err != nil {
		return err
	}
	return d.enqueue(ent, p.intent.EntityID)
}

// clashing lists the canonical fields a refused write set at the path the
// system named, or, when it named none, the match keys it set.
func clashing(ent *mapping.Entity, sm *mapping.System, p planned, x *tandem.ExistsError) []string {
	var out []string
	for _, f := range ent.Fields {
		if _, sent := p.sent[f]; sent && x.Path != "" && slices.Contains(sm.SourcePaths(f), x.Path) {
			out = append(out, f)
		}
	}
	if len(out) > 0 || x.Path != "" {
		return out
	}
	for _, f := range ent.Match {
		if _, sent := p.sent[f]; sent {
			out = append(out, f)
		}
	}
	return out
}

func fieldOrNone(fields []string) string {
	if len(fields) == 1 {
		return fields[0]
	}
	return ""
}

// closeRefusals closes the open conflicts clash recorded on an entity:
// field "" once its create goes through, a field once a person decided it
// (it was held, so no write carried it meanwhile).
func (d *decider) closeRefusals(entityID string, fields ...string) error {
	for _, f := range fields {
		c, err := d.v.OpenConflict(entityID, tandem.ConflictIdentity, f)
		if err != nil {
			return err
		}
		if c == nil || c.Policy != uniquePolicy {
			continue
		}
		c.Status, c.Resolved = tandem.ConflictAuto, d.now()
		c.Decided = "written: the value is free now (was: " + c.Decided + ")"
		if err := d.v.UpdateConflict(c); err != nil {
			return err
		}
	}
	return nil
}

// duplicatePolicy marks the identity conflicts of a record a person made
// with the match keys of one Tandem created: resolve --link keeps the
// person's and deletes Tandem's.
const duplicatePolicy = "duplicate"

// duplicateReason is the identity conflict of a record made by a person
// with the match keys of a record Tandem created for the same entity (the
// two raced: a system that keeps no key unique, like Salesforce's email,
// holds both). The person's is the one to keep: Tandem's holds nothing
// but what Tandem wrote.
func duplicateReason(sm *mapping.System, keys, theirs, ours string) string {
	return fmt.Sprintf("record %s of %s has the same %s as record %s, which Tandem created for this entity: keep %s, the person's "+
		"(tandem resolve ID --link links it to this entity, merged under the policy, and deletes Tandem's duplicate %s), or keep them apart (--split)",
		theirs, sm.Name, keys, ours, theirs, ours)
}

// retire takes Tandem's duplicate record off its entity (resolve --link
// keeps a person's record instead): it becomes an entity of its own,
// deleted, so the next pass deletes it from its system, through the
// outbox and the mass-delete guard like every delete.
func (d *decider) retire(ent *mapping.Entity, l *tandem.Link) error {
	id, err := d.v.NewEntity(ent.Name)
	if err != nil {
		return err
	}
	d.log.Info("Tandem's duplicate record retired: deleted by the next pass", "system", l.System, "id", l.ExternalID, "entity_id", l.EntityID)
	l.EntityID = id
	if err := d.v.PutLink(l); err != nil {
		return err
	}
	return d.setDelete(ent, id, &state.Delete{State: state.DeleteDeleted, By: "resolve", At: d.now(), After: d.now()})
}
