package conflict

import (
	"time"

	"github.com/tidwall/sjson"

	"tandem"
	"tandem/mapping"
)

// mergeOverwritten merges the values a confirmed write replaced, that
// someone set in the record after Tandem's re-read and before the write
// (tandem.Result.Overwritten, the write gap, issue 11 case 13), as the
// edits of that system they were, made at their time, against base (the
// record's snapshot before the write). Each that differs from what the
// write set is a conflict, decided by the policy and recorded; where it
// wins, the golden record takes it and it is queued back to every system,
// this one included (whose record now holds the written value).
func (d *decider) mergeOverwritten(ent *mapping.Entity, sm *mapping.System, p planned, base tandem.Values, res tandem.Result) error {
	if len(res.Overwritten) == 0 || p.link == nil {
		return nil
	}
	link, err := d.v.LinkOf(p.intent.EntityID, sm.Name, sm.Object)
	if err != nil || link == nil {
		return err
	}
	// The record as it was just before the write: what it holds now, with
	// the overwritten values back.
	raw := []byte(link.Raw)
	at := map[string]time.Time{}
	var latest time.Time
	for _, o := range res.Overwritten {
		if raw, err = sjson.SetRawBytes(raw, o.Path, o.Value); err != nil {
			return err
		}
		at[o.Path] = o.At
		if o.At.After(latest) {
			latest = o.At
		}
	}
	full, err := sm.In(raw)
	if err != nil {
		d.log.Warn("values overwritten by a write cannot be read; not merged", "system", sm.Name, "object", sm.Object, "id", link.ExternalID, "err", err)
		return nil
	}
	side := Side{System: sm.Name, RecordID: link.ExternalID, View: tandem.Values{}, Snapshot: base, Modified: latest, FieldTimes: map[string]time.Time{}}
	var fields []string
	for _, f := range readFields(ent, sm) {
		for _, path := range sm.SourcePaths(f) {
			if t, ok := at[path]; ok {
				side.View[f], side.FieldTimes[f] = full[f], t
				fields = append(fields, f)
				break
			}
		}
	}
	if len(fields) == 0 {
		return nil
	}
	d.log.Warn("a write replaced an edit made after the re-read (the write gap): merged as that edit", "system", sm.Name, "object", sm.Object,
		"id", link.ExternalID, "entity_id", link.EntityID, "fields", fields)
	golden, err := d.v.Golden(link.EntityID)
	if err != nil {
		return err
	}
	del, err := d.v.DeleteOf(link.EntityID)
	if err != nil {
		return err
	}
	out := Merge(ent.Name, link.EntityID, golden, side, fields, ent.Policy)
	if out.Changed {
		if err := d.putGoldenAs(ent, link.EntityID, out.Golden, del); err != nil {
			return err
		}
	}
	for i := range out.Conflicts {
		if err := d.record(ent, &out.Conflicts[i]); err != nil {
			return err
		}
	}
	return d.enqueueAs(ent, link.EntityID, out.Golden, del, map[string]*tandem.Link{sm.Name: link})
}
