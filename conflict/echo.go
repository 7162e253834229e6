package conflict

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"tandem"
	"tandem/mapping"
	"tandem/state"

	"github.com/tidwall/gjson"
)

// Writes in flight (issue 11, case 4). A write the system applies but
// whose answer Tandem never gets (a crash before the checkpoint, a dropped
// connection) leaves the record's snapshot at the old value; read back,
// Tandem's own value would differ from it and pass for an edit made in
// that system at the record's modified time, able to beat a newer edit
// made elsewhere. So the values a write sets are recorded on its outbox
// row before it is sent (markSent), and any read of the record (a pull, a
// webhook's fetch, the re-read before a write) that shows one of them
// takes it for the echo it is (confirmEcho): the snapshot moves to it and
// the merge sees no edit. A read that differs is an edit, merged as ever.

// markSent records, in one transaction committed before the writes go out,
// the values each planned update or create sets, as a read of the record
// will show them: what confirmed puts in the snapshot (readBack; a lossy
// mapping shows something other than what was sent). A delete is marked
// too (state.SentDelete): the record found deleted before the delete was
// confirmed is its echo, not a person's delete (see deleted).
func (e *Engine) markSent(ctx context.Context, sm *mapping.System, plans []planned) error {
	some := false
	for _, p := range plans {
		if p.write != nil && (p.write.Op == tandem.OpDelete || len(p.sent) > 0) {
			some = true
			break
		}
	}
	if !some {
		return nil
	}
	sent := map[int64]tandem.Values{}
	for _, p := range plans {
		switch {
		case p.write == nil:
		case p.write.Op == tandem.OpDelete:
			sent[p.intent.ID] = tandem.Values{state.SentDelete: true}
		default:
			sent[p.intent.ID] = readBack(sm, p.sent)
		}
	}
	err := e.Store.Update(ctx, func(tx *state.Tx) error { return tx.MarkSentAll(ctx, sent) })
	if err != nil {
		return fmt.Errorf("%s %s: record the writes in flight: %w", sm.Name, sm.Object, err)
	}
	return nil
}

// confirmEcho moves a linked record's snapshot to the values of view that
// a write in flight to it set, and reports whether it moved any. Only the
// fields whose view differs from the snapshot are looked at, so a record
// that shows nothing new costs no query.
func (d *decider) confirmEcho(sm *mapping.System, link *tandem.Link, view tandem.Values) (bool, error) {
	if link.Snapshot == nil || !link.Deleted.IsZero() || !changedFrom(view, link.Snapshot) {
		return false, nil
	}
	fl, err := d.v.InFlight(link.EntityID, sm.Name, sm.Object)
	if err != nil || fl == nil {
		return false, err
	}
	var echoed []string
	snap := maps.Clone(link.Snapshot)
	for f, v := range view {
		if s, ok := snap[f]; (!ok || !tandem.Equal(v, s)) && fl.Has(f, v) {
			snap[f] = v
			echoed = append(echoed, f)
		}
	}
	if len(echoed) == 0 {
		return false, nil
	}
	edited := editedSince(fl, link.Snapshot, view)
	for f, v := range edited {
		snap[f] = v
	}
	link.Snapshot = snap
	d.log.Info("read back a write in flight: Tandem's echo, not an edit", "system", sm.Name, "object", sm.Object,
		"id", link.ExternalID, "entity_id", link.EntityID, "fields", echoed)
	if len(edited) > 0 {
		d.log.Info("edited since a write in flight landed", "system", sm.Name, "object", sm.Object,
			"id", link.ExternalID, "entity_id", link.EntityID, "fields", slices.Sorted(maps.Keys(edited)))
	}
	return true, nil
}

// editedSince are the fields a person edited in the system after a write
// in flight landed there, each with the value that write set (the base
// the edit is measured from). A write lands whole: when a read shows one
// of an attempt's values where the record held something else before,
// and no earlier attempt sent that value, that attempt landed; a field it
// set that now shows none of the values in flight was edited since, even
// back to what it held before (which, measured from the old snapshot,
// would look like no edit at all, and the person's edit would be lost to
// Tandem's value). The last attempt shown to have landed counts. Nil when
// no attempt is known or shown to have landed.
func editedSince(fl state.InFlight, old, view tandem.Values) tandem.Values {
	attempts := fl.Attempts()
	for i := len(attempts) - 1; i >= 0; i-- {
		a := attempts[i]
		landed := false
		for f, v := range a {
			s, ok := old[f]
			if w, read := view[f]; !read || !tandem.Equal(w, v) || (ok && tandem.Equal(v, s)) {
				continue
			}
			if !slices.ContainsFunc(attempts[:i], func(e tandem.Values) bool { w, ok := e[f]; return ok && tandem.Equal(w, v) }) {
				landed = true
				break
			}
		}
		if !landed {
			continue
		}
		var out tandem.Values
		for f, v := range a {
			if _, read := view[f]; read && !fl.Has(f, view[f]) {
				if out == nil {
					out = tandem.Values{}
				}
				out[f] = v
			}
		}
		return out
	}
	return nil
}

// sentBase is the base of a record Tandem created whose answer was lost
// (it holds the key of the entity it is linked to, found by find): the
// values its create set, still in flight, as a read shows them. Without
// it, the record is linked with no base and its values, Tandem's own,
// pass for the system's assertion at its stamp, later than an edit made
// elsewhere meanwhile, which they would then beat. A field the record
// holds as one of the values sent is that value; one sent otherwise was
// edited since, against the last value sent; one not sent was empty.
// Nil when nothing is in flight (the record is linked with no base, as
// before).
func (d *decider) sentBase(ent *mapping.Entity, sm *mapping.System, rec tandem.Record, entityID string) (tandem.Values, error) {
	k := d.keyPath(sm)
	if k == "" || gjson.GetBytes(rec.Raw, k).String() != entityID {
		return nil, nil
	}
	fl, err := d.v.InFlight(entityID, sm.Name, sm.Object)
	if err != nil || len(fl) == 0 {
		return nil, err
	}
	view, _, err := sm.InFields(rec.Raw)
	if err != nil {
		return nil, nil
	}
	base := tandem.Values{}
	for _, f := range readFields(ent, sm) {
		switch sent := fl[f]; {
		case fl.Has(f, view[f]):
			base[f] = view[f]
		case len(sent) > 0:
			base[f] = sent[len(sent)-1]
		default:
			base[f] = nil
		}
	}
	d.log.Info("a record Tandem created, found by its key: the create's values are its base", "system", sm.Name,
		"object", sm.Object, "id", rec.ID, "entity_id", entityID)
	return base, nil
}
