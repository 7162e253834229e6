package config

import (
	"fmt"
	"slices"

	"tandem/mapping"
)

// refs resolves each ref field's target entity and checks how systems map
// it: every system that maps a ref must map its target entity too (the
// value it holds is one of that system's records), by a plain path (the
// value is an id, not something to transform). It then orders the
// entities so that each comes after the entities it refers to: a pass
// syncs companies before the contacts that point to them, so a contact's
// company is linked when the contact is read, and created before the
// contact is written. A cycle keeps the config's order; the references
// that find no target yet are written by a later pass.
func (p *parser) refs(cfg *Config) {
	byName := map[string]*mapping.Entity{}
	for _, e := range cfg.Entities {
		byName[e.Name] = e
	}
	for _, e := range cfg.Entities {
		for _, f := range e.Fields {
			t := e.Types[f]
			if t.Name != "ref" || t.Entity == "" {
				continue
			}
			key := "entities." + e.Name + ".fields." + f
			if slices.Contains(e.Match, f) || slices.Contains(e.Fallback, f) {
				p.errf(p.refNodes[t], key, "a ref cannot be a match key (its value is Tandem's id of the %s)", t.Entity)
			}
			if t.Target = byName[t.Entity]; t.Target == nil {
				p.errf(p.refNodes[t], key+".entity", "no entity %q under entities:", t.Entity)
				continue
			}
			t.Target.Referrers = append(t.Target.Referrers, mapping.Referrer{Entity: e, Field: f})
			for _, sm := range e.Systems {
				for _, fm := range sm.Fields {
					if !slices.Contains(fm.Names(), f) {
						continue
					}
					at := fmt.Sprintf("entities.%s.systems.%s.fields.%s", e.Name, sm.Name, f)
					switch {
					case fm.Field != f || len(fm.Steps) > 0:
						p.errf(p.refNodes[t], at, "a ref is mapped by a plain path to the record id, with no transform, split or join")
					case t.Target.System(sm.Name) == nil:
						p.errf(p.refNodes[t], at, "entity %s is not synced with %s: a ref there needs its target entity there too", t.Entity, sm.Name)
					}
				}
			}
		}
	}
	cfg.Entities = refOrder(cfg.Entities)
}

// refOrder orders entities so that each comes after the entities its refs
// name, keeping the given order otherwise; entities in a cycle keep it.
func refOrder(ents []*mapping.Entity) []*mapping.Entity {
	out := make([]*mapping.Entity, 0, len(ents))
	placed := map[*mapping.Entity]bool{}
	for len(out) < len(ents) {
		progress := false
		for _, e := range ents {
			if placed[e] || !refsPlaced(e, placed) {
				continue
			}
			out, placed[e], progress = append(out, e), true, true
		}
		if !progress { // a cycle: the first one left goes next
			for _, e := range ents {
				if !placed[e] {
					out, placed[e] = append(out, e), true
					break
				}
			}
		}
	}
	return out
}

func refsPlaced(e *mapping.Entity, placed map[*mapping.Entity]bool) bool {
	for _, t := range e.Types {
		if t.Target != nil && t.Target != e && !placed[t.Target] {
			return false
		}
	}
	return true
}
