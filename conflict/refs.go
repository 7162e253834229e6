package conflict

import (
	"context"
	"fmt"
	"slices"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors"
	"tandem/mapping"
	"tandem/state"
)

// References (a contact's company) are translated at the edge of the
// engine. A system holds its own id of the target record; the canonical
// value, the golden record's and every snapshot's, is the target's entity
// id. Records are translated as they are read (refsIn, before anything
// compares or stages them) and values as they are written (refsOut, in
// plan), so merges, conflicts and echoes see one value in every system.

// refDepth is how deep a record read for a reference may itself send for
// the targets of its own references.
const refDepth = 2

// refsIn translates, in place, the references of records just read from
// sm: a system's record id becomes the target's entity id, through its
// link. A target not linked yet (made after its entity's pull of this
// pass, or a webhook of the contact before the company's) is read by id
// and staged first, in a transaction of its own; if the contact's staging
// then fails, the company stays known and nothing is lost. A target the
// system no longer has reads as no reference; one that could not be read
// (unreadable, no read by id, a chain of references too deep) leaves the
// field out of the record, as if the system had said nothing of it.
func (e *Engine) refsIn(ctx context.Context, ent *mapping.Entity, sm *mapping.System, recs []tandem.Record) error {
	return e.refsInAt(ctx, ent, sm, recs, 0)
}

func (e *Engine) refsInAt(ctx context.Context, ent *mapping.Entity, sm *mapping.System, recs []tandem.Record, depth int) error {
	var fields []string
	for _, f := range ent.Refs(sm) {
		if sm.Reads(f) {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 || len(recs) == 0 {
		return nil
	}
	for _, f := range fields {
		path, target := sm.Path(f), ent.Types[f].Target
		tsm := target.System(sm.Name)
		var ids []string
		for _, r := range recs {
			if id := refID(r, path); id != "" && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			continue
		}
		links, err := e.Store.LinksByID(ctx, sm.Name, tsm.Object, ids)
		if err != nil {
			return err
		}
		var gone map[string]bool
		if missing := unlinked(ids, links); len(missing) > 0 && depth < refDepth {
			if gone, err = e.stageTargets(ctx, target, tsm, missing, depth); err != nil {
				return fmt.Errorf("%s %s: the %s its records refer to: %w", sm.Name, sm.Object, tsm.Object, err)
			}
			if links, err = e.Store.LinksByID(ctx, sm.Name, tsm.Object, ids); err != nil {
				return err
			}
		}
		for i, r := range recs {
			id := refID(r, path)
			if id == "" {
				continue
			}
			var raw []byte
			switch l := links[id]; {
			case l != nil:
				raw, err = sjson.SetBytes(r.Raw, path, l.EntityID)
			case gone[id]:
				e.log().Warn("reference to a record the system does not have: read as none", "system", sm.Name, "object", sm.Object,
					"id", r.ID, "field", f, "target", tsm.Object, "target_id", id)
				raw, err = sjson.SetBytes(r.Raw, path, nil)
			default:
				e.log().Warn("reference to a record not read yet: left out of this read", "system", sm.Name, "object", sm.Object,
					"id", r.ID, "field", f, "target", tsm.Object, "target_id", id)
				raw, err = sjson.DeleteBytes(r.Raw, path)
			}
			if err != nil {
				return fmt.Errorf("%s %s %s: %s: %w", sm.Name, sm.Object, r.ID, path, err)
			}
			recs[i].Raw = raw
		}
	}
	return nil
}

// refID is the record id a live record's reference at path holds, "" for
// none.
func refID(r tandem.Record, path string) string {
	if r.Deleted {
		return ""
	}
	v := gjson.GetBytes(r.Raw, path)
	if !v.Exists() || v.Type == gjson.Null || v.Type == gjson.JSON {
		return "" // a list or an object is no id: the mapping says so when it reads it
	}
	return v.String()
}

func unlinked(ids []string, links map[string]*tandem.Link) []string {
	var out []string
	for _, id := range ids {
		if links[id] == nil {
			out = append(out, id)
		}
	}
	return out
}

// stageTargets reads the target records of references by id and stages
// them as their own entity's records, as a webhook's would be. It returns
// the ids the system said it does not have.
func (e *Engine) stageTargets(ctx context.Context, target *mapping.Entity, tsm *mapping.System, ids []string, depth int) (gone map[string]bool, err error) {
	conn, err := e.conn(tsm.Name)
	if err != nil {
		return nil, err
	}
	f, ok := conn.(connectors.Fetcher)
	if !ok {
		return nil, nil // cannot read by id: those references wait for the target's pull
	}
	recs, aside, err := e.fetchRaw(ctx, f, tsm, tandem.Query{Object: tsm.Object, Fields: e.paths(tsm)}, ids)
	if err != nil {
		return nil, err
	}
	gone = map[string]bool{}
	for _, id := range missingIDs(without(ids, aside), recs) {
		gone[id] = true
	}
	if len(recs) == 0 {
		return gone, nil
	}
	if err := e.refsInAt(ctx, target, tsm, recs, depth+1); err != nil {
		return nil, err
	}
	e.log().Info("referenced records read before the records referring to them", "system", tsm.Name, "object", tsm.Object, "records", len(recs))
	return gone, e.Store.Update(ctx, func(tx *state.Tx) error { return e.stageAll(ctx, tx, target, tsm, recs) })
}

// refsOut translates the references among the fields of a write to sm
// from entity ids to sm's record ids, in values. A reference whose target
// has no record in sm yet (its create is still to come, or failed) is
// left out of the write: the field keeps differing from the snapshot, and
// the write waits (why says for what) until the target exists, so a
// reference is neither lost nor written to the wrong record. waiting are
// the fields left out.
func refsOut(v view, ent *mapping.Entity, sm *mapping.System, values tandem.Values, fields []string) (out, waiting []string, why string, err error) {
	out = fields[:0:0]
	for _, f := range fields {
		t := ent.Types[f]
		id, ok := values[f].(string)
		if t.Target == nil || !ok {
			out = append(out, f)
			continue
		}
		tsm := t.Target.System(sm.Name)
		l, err := v.LinkOf(id, sm.Name, tsm.Object)
		if err != nil {
			return nil, nil, "", err
		}
		if l == nil || !l.Deleted.IsZero() {
			why = fmt.Sprintf("%s waits for %s %s to exist in %s", f, t.Target.Name, id, sm.Name)
			waiting = append(waiting, f)
			continue
		}
		values[f] = l.ExternalID
		out = append(out, f)
	}
	return out, waiting, why, nil
}

// refTargets are the entity ids the golden records of entities refer to.
func refTargets(ent *mapping.Entity, rows map[string]*state.EntityRow) []string {
	var ids []string
	for _, r := range rows {
		if r == nil {
			continue
		}
		for _, f := range ent.Fields {
			if ent.Types[f].Target == nil {
				continue
			}
			if id, ok := r.Golden[f].Value.(string); ok && rows[id] == nil && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// refsInResults translates the references of the records writes returned.
func (e *Engine) refsInResults(ctx context.Context, ent *mapping.Entity, sm *mapping.System, results []tandem.Result) error {
	var recs []tandem.Record
	for _, r := range results {
		if r.Record != nil {
			recs = append(recs, *r.Record)
		}
	}
	if len(recs) == 0 || len(ent.Refs(sm)) == 0 {
		return nil
	}
	if err := e.refsIn(ctx, ent, sm, recs); err != nil {
		return err
	}
	for i := range results {
		if results[i].Record != nil {
			rec := recs[0]
			results[i].Record, recs = &rec, recs[1:]
		}
	}
	return nil
}

// referrers are the entities whose ref field points to one entity.
type referrers struct {
	ent   *mapping.Entity
	field string
	ids   []string
}

// holdDelete holds the delete of an entity that records still point to:
// a system may take those records with it (Salesforce deletes an
// Account's Contacts), and elsewhere they would point to nothing. Their
// references are cleared first (letGo, when the batch is checkpointed),
// written like any change by the referring entity's pass, and the delete
// is sent by a later pass, once nothing points to the entity.
func (e *Engine) holdDelete(ctx context.Context, ent *mapping.Entity, sm *mapping.System, p *planned) error {
	var held []referrers
	n := 0
	for _, r := range ent.Referrers {
		ids, err := e.Store.Candidates(ctx, r.Entity.Name, map[string]string{mapping.RefKey(r.Field): p.intent.EntityID})
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			held = append(held, referrers{ent: r.Entity, field: r.Field, ids: ids})
			n += len(ids)
		}
	}
	if n == 0 {
		// Cleared in the golden records, a reference may not be cleared
		// in sm yet (the write that clears it failed, or is not made).
		stale, err := e.staleReferrers(ctx, ent, sm, p.intent.EntityID)
		if err != nil {
			return err
		}
		if stale > 0 {
			p.write = nil
			p.waits = fmt.Sprintf("the delete waits until the %d records in %s that pointed to this %s are written without it", stale, sm.Name, ent.Name)
			return nil
		}
	}
	if n == 0 && p.intent.Attempts == 0 && referredIn(ent, sm) {
		// What points to the entity is known as of the referring
		// entities' last pull, which may be older than this delete: a
		// contact set to the company since would go with it. The first
		// try waits for them to be read once more.
		p.write = nil
		p.waits = fmt.Sprintf("the delete waits for a pass to read the records that may point to this %s in %s", ent.Name, sm.Name)
		return nil
	}
	if n == 0 {
		return nil
	}
	p.write, p.letGo = nil, held
	p.waits = fmt.Sprintf("the delete waits until the %d records pointing to this %s point elsewhere (their reference is cleared first)", n, ent.Name)
	return nil
}

// staleReferrers counts the records of sm whose reference to target was
// cleared (letGo) but whose copy in sm, as last read or written, still
// points to it: the write that clears it has not landed there.
func (e *Engine) staleReferrers(ctx context.Context, ent *mapping.Entity, sm *mapping.System, target string) (int, error) {
	n := 0
	for _, r := range ent.Referrers {
		rsm := r.Entity.System(sm.Name)
		if rsm == nil || !rsm.Reads(r.Field) && !rsm.Writes(r.Field) {
			continue
		}
		cleared, err := e.Store.ClearedReferences(ctx, r.Entity.Name, r.Field)
		if err != nil {
			return 0, err
		}
		seen := map[string]bool{}
		for _, c := range cleared {
			if c.Base != target || seen[c.EntityID] {
				continue
			}
			seen[c.EntityID] = true
			l, err := e.Store.LinkOf(ctx, c.EntityID, sm.Name, rsm.Object)
			if err != nil {
				return 0, err
			}
			if l != nil && l.Deleted.IsZero() && l.Snapshot[r.Field] == target {
				n++
			}
		}
	}
	return n, nil
}

// referredIn reports whether a ref that sm maps points to ent.
func referredIn(ent *mapping.Entity, sm *mapping.System) bool {
	for _, r := range ent.Referrers {
		if rsm := r.Entity.System(sm.Name); rsm != nil && rsm.Reads(r.Field) {
			return true
		}
	}
	return false
}

// letGo clears the references of the referrers to target, a deleted
// entity, and queues the writes that clear them in every system. The
// clearing is no edit of its own: it keeps the time the reference was set,
// so a contact moved elsewhere since then, in a system not read yet, keeps
// its move (it was made after the reference it replaces).
func (d *decider) letGo(target string, refs []referrers) error {
	for _, r := range refs {
		for _, id := range r.ids {
			golden, err := d.v.Golden(id)
			if err != nil {
				return err
			}
			if v, _ := golden[r.field].Value.(string); v != target {
				continue // moved meanwhile
			}
			was := golden[r.field]
			golden[r.field] = tandem.Field{Value: nil, Modified: was.Modified, Precision: was.Precision, Source: was.Source}
			d.log.Info("reference to a deleted record cleared", "entity", r.ent.Name, "entity_id", id, "field", r.field, "target", target)
			// Recorded, as a policy's decision is, for a person to see.
			if err := d.v.AddConflict(&tandem.Conflict{Entity: r.ent.Name, EntityID: id, Kind: tandem.ConflictField, Field: r.field,
				Base: target, Values: map[string]tandem.SideValue{}, Policy: "reference", Status: tandem.ConflictAuto,
				Decided: "cleared: the record it pointed to is deleted", Pass: d.pass, Created: d.now()}, nil); err != nil {
				return err
			}
			if err := d.putGolden(r.ent, id, golden); err != nil {
				return err
			}
			if err := d.enqueue(r.ent, id); err != nil {
				return err
			}
		}
	}
	return nil
}
