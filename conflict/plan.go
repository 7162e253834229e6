package conflict

import (
	"context"
	"fmt"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/mapping"
)

// Planned lists, field by field, the writes the outbox holds for an
// entity's systems: what a push would send now. It writes nothing.
// `tandem plan` runs Pull on a copy of the state file, then Planned.
func (e *Engine) Planned(ctx context.Context, ent *mapping.Entity) ([]Change, error) {
	var out []Change
	for _, sm := range ent.Systems {
		var after int64
		for {
			intents, err := e.Store.Pending(ctx, sm.Name, sm.Object, after, 500)
			if err != nil {
				return nil, err
			}
			if len(intents) == 0 {
				break
			}
			after = intents[len(intents)-1].ID
			v, err := e.loadPlans(ctx, ent, sm, intents)
			if err != nil {
				return nil, err
			}
			for _, in := range intents {
				p, err := plan(v, ent, sm, in)
				if err != nil {
					return nil, err
				}
				if p.write != nil && p.write.Op == tandem.OpDelete {
					if err := e.holdDelete(ctx, ent, sm, &p); err != nil {
						return nil, err
					}
				}
				out = append(out, p.changes(sm)...)
			}
		}
	}
	return out, nil
}

// changes is a planned write as lines of a plan: one per path it sets.
func (p planned) changes(sm *mapping.System) []Change {
	c := Change{EntityID: p.intent.EntityID, System: sm.Name}
	if p.link != nil {
		c.RecordID = p.link.ExternalID
	}
	var wait []Change // a reference or a delete that waits (refs.go)
	if p.waits != "" {
		w := c
		w.Note = "waits: " + p.waits
		wait = []Change{w}
	}
	switch {
	case p.mapErr != nil:
		c.Note = "would be set aside: " + p.mapErr.Error()
		return []Change{c}
	case p.write == nil:
		return wait
	case p.write.Op == tandem.OpDelete:
		c.Note = "delete"
		return []Change{c}
	}
	var out []Change
	for _, w := range writtenPaths(p.write.Payload) {
		c := c
		c.Field, c.To = w.path, w.value
		if p.link == nil {
			c.Note = "create"
		} else if r := gjson.GetBytes(p.link.Raw, w.path); r.Exists() {
			c.From = r.Raw
		}
		if c.From != c.To {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		c.Note = fmt.Sprintf("%s with no field change", p.write.Op)
		out = append(out, c)
	}
	return append(out, wait...)
}
