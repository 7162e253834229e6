package conflict

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/mapping"
	"tandem/state"
)

// Change is one line of a replay plan.
type Change struct {
	EntityID string `json:"entity_id"`
	// System is where the change lands; "" for the golden record itself.
	System   string `json:"system,omitempty"`
	RecordID string `json:"record_id,omitempty"` // "" for a record that would be created
	// Field is the canonical field (golden) or the system's path (a write).
	Field string `json:"field"`
	From  string `json:"from"` // JSON text; "" when absent
	To    string `json:"to"`   // JSON text
	Note  string `json:"note,omitempty"`
}

// Replay re-maps the raw payload stored with every snapshot of an entity's
// records through the current mapping, and returns what that would change:
// in each golden record, and, field by field, in each system. It reads the
// state file only; nothing is fetched and nothing written.
//
// Each stored payload is read with the new mapping and merged into the
// golden record as a pull would, with the stored snapshot (what the old
// mapping saw) as the base: a field that the new mapping reads differently
// counts as an edit in that system. The writes are what a push would then
// send to bring every system to the new golden record.
func Replay(ctx context.Context, store *state.Store, ent *mapping.Entity) ([]Change, error) {
	ids, err := store.EntityIDs(ctx, ent.Name)
	if err != nil {
		return nil, err
	}
	var out []Change
	for _, id := range ids {
		golden, err := store.Golden(ctx, id)
		if err != nil {
			return nil, err
		}
		links, err := store.Links(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, replayOne(ent, id, golden, links)...)
	}
	return out, nil
}

func replayOne(ent *mapping.Entity, id string, golden tandem.Golden, links []*tandem.Link) []Change {
	var out []Change
	views := map[string]tandem.Values{}
	merged := golden
	for _, l := range links {
		sm := ent.System(l.System)
		if sm == nil || sm.Object != l.Object {
			continue // no longer mapped: nothing is read from it
		}
		view := l.Snapshot
		if len(l.Raw) > 0 {
			v, bad, err := sm.InFields(l.Raw)
			if err != nil {
				out = append(out, Change{EntityID: id, System: l.System, RecordID: l.ExternalID, Note: "would be set aside: " + err.Error()})
			} else {
				view = v // without the values that cannot be read: a pass holds those fields
			}
			for _, fe := range bad {
				out = append(out, Change{EntityID: id, System: l.System, RecordID: l.ExternalID, Field: strings.Join(fe.Fields, ", "),
					Note: "would be held: " + fe.Error()})
			}
		}
		views[l.System] = view
		res := Merge(ent.Name, id, merged, Side{System: l.System, RecordID: l.ExternalID, View: view, Snapshot: l.Snapshot, Modified: l.Modified}, readFields(ent, sm), ent.Policy)
		merged = res.Golden
		for _, c := range res.Conflicts {
			ch := Change{EntityID: id, System: l.System, RecordID: l.ExternalID, Field: c.Field, To: text(c.Values[l.System].Value),
				Note: fmt.Sprintf("conflict: %s decides for %s", c.Policy, c.Decided)}
			for sys, v := range c.Values {
				if sys != l.System {
					ch.From = text(v.Value)
				}
			}
			out = append(out, ch)
		}
	}
	for _, f := range ent.Fields {
		was, had := golden[f]
		now, has := merged[f]
		if has && (!had || !tandem.Equal(was.Value, now.Value)) {
			from := ""
			if had {
				from = text(was.Value)
			}
			out = append(out, Change{EntityID: id, Field: f, From: from, To: text(now.Value)})
		}
	}
	for _, sm := range ent.Systems {
		var l *tandem.Link
		for _, x := range links {
			if x.System == sm.Name && x.Object == sm.Object {
				l = x
			}
		}
		if l != nil {
			l = &tandem.Link{ExternalID: l.ExternalID, Raw: l.Raw, Snapshot: views[sm.Name]}
		}
		fields := diff(ent, sm, merged, l)
		if len(fields) == 0 {
			continue
		}
		payload, _, err := sm.Out(merged.Values(), fields, l == nil)
		c := Change{EntityID: id, System: sm.Name}
		if l != nil {
			c.RecordID = l.ExternalID
		}
		if err != nil {
			c.Note = "write would fail: " + err.Error()
			out = append(out, c)
			continue
		}
		if l == nil {
			c.Note = "create"
			out = append(out, c)
			continue
		}
		for _, p := range writtenPaths(payload) {
			c := c
			c.Field, c.To = p.path, p.value
			if r := gjson.GetBytes(l.Raw, p.path); r.Exists() {
				c.From = r.Raw
			}
			if c.From != c.To {
				out = append(out, c)
			}
		}
	}
	return out
}

// text is a canonical value as JSON text.
func text(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(string(b))
}
