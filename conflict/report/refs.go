package report

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"tandem"
	"tandem/mapping"
	"tandem/mapping/config"
)

// Ref names the record a reference points to (a ref field's value is its
// entity id), for a person who would not know a company by its id.
type Ref struct {
	Entity string // the target's entity: company
	Name   string // its display field's golden value: Acme
}

// label is how a reference to id reads: "Acme (company 7d3f2a10-…)".
// short cuts the id to its first 8 characters, where room is scarce;
// elsewhere it stays whole, to be copied into a command.
func (r Ref) label(id string, short bool) string {
	if short && len(id) > 8 {
		id = id[:8] + "…"
	}
	return fmt.Sprintf("%s (%s %s)", visible(r.Name), visible(r.Entity), visible(id))
}

// refOf is the reference v is, if it is the entity id of a target in refs.
func refOf(refs map[string]Ref, v any) (string, Ref, bool) {
	id, ok := v.(string)
	if !ok || id == "" {
		return "", Ref{}, false
	}
	r, ok := refs[id]
	return id, r, ok
}

// Goldens reads entities' golden records (a *state.Store): an entity that
// is not there is an error that wraps sql.ErrNoRows.
type Goldens interface {
	Golden(ctx context.Context, entityID string) (tandem.Golden, error)
}

// RefNames reads, for Options.Refs, the names of the records that cs's
// values refer to: a field conflict on a ref field (its base and sides),
// and the ref fields of the records an identity or delete conflict
// carries. A target's name is its entity's display field (DisplayField)
// in its golden record, masked when that field is sensitive; a target
// merged away since, or with no name, is left out, and shows as its id.
// One read per target, as for the conflicts' own records (conflict.WhoIs).
func RefNames(ctx context.Context, store Goldens, cfg *config.Config, cs []tandem.Conflict) (map[string]Ref, error) {
	targets := map[string]*mapping.Entity{} // entity id -> its entity
	add := func(t *mapping.Type, v any) {
		if id, ok := v.(string); ok && id != "" && t != nil && t.Target != nil {
			targets[id] = t.Target
		}
	}
	for _, c := range cs {
		ent, ok := cfg.Entity(c.Entity)
		if !ok {
			continue
		}
		if c.Kind == tandem.ConflictField {
			t := ent.Types[c.Field]
			add(t, c.Base)
			for _, s := range c.Values {
				add(t, s.Value)
			}
			continue
		}
		for _, s := range c.Values {
			if view, ok := s.Value.(map[string]any); ok {
				for f, v := range view {
					add(ent.Types[f], v)
				}
			}
		}
	}
	out := make(map[string]Ref, len(targets))
	for _, id := range slices.Sorted(maps.Keys(targets)) {
		target := targets[id]
		g, err := store.Golden(ctx, id)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		field := DisplayField(target)
		name, _ := target.MaskValues(g.Values())[field].(string)
		if name = strings.TrimSpace(name); name != "" {
			out[id] = Ref{Entity: target.Name, Name: name}
		}
	}
	return out, nil
}

// DisplayField is the field that names an entity's records to a person:
// the first of name, title, domain and email it declares, else its first
// match key ("" for none).
func DisplayField(e *mapping.Entity) string {
	for _, f := range []string{"name", "title", "domain", "email"} {
		if _, ok := e.Types[f]; ok {
			return f
		}
	}
	if len(e.Match) > 0 {
		return e.Match[0]
	}
	return ""
}

// refsIn are the references among a conflict's values (base, sides, and
// the fields of the records it carries), by entity id.
func refsIn(c tandem.Conflict, refs map[string]Ref) map[string]Ref {
	if len(refs) == 0 {
		return nil
	}
	var out map[string]Ref
	add := func(v any) {
		if id, r, ok := refOf(refs, v); ok {
			if out == nil {
				out = map[string]Ref{}
			}
			out[id] = r
		}
	}
	add(c.Base)
	for _, s := range c.Values {
		add(s.Value)
		if view, ok := s.Value.(map[string]any); ok {
			for _, v := range view {
				add(v)
			}
		}
	}
	return out
}
