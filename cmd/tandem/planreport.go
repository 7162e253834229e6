package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"tandem"
	"tandem/conflict"
	"tandem/mapping"
	"tandem/mapping/config"
	"tandem/state"
)

// planReport is everything `tandem plan` found a pass would do: the
// writes, and the decisions it would record on the way.
type planReport struct {
	Writes changeList `json:"writes"`
	// Conflicts are the field conflicts the pass would record: held for
	// a person, or decided by the policy, with every side's value.
	Conflicts []planConflict `json:"conflicts"`
	Identity  []planConflict `json:"identity"`
	// Deletes are the deletes it would meet: quarantined (held), propagated,
	// ignored, or undone by a later edit elsewhere.
	Deletes []planConflict `json:"deletes"`
	// Values are fields it would hold because a system's value cannot be read.
	Values []planConflict `json:"values,omitempty"`
	Guards []planGuard    `json:"guards"`
	// Held are the conflicts already waiting for a person before the pass
	// (tandem resolve ID decides one); the pass changes nothing of them.
	Held []planConflict `json:"held"`

	cfg *config.Config // masks the fields marked sensitive
}

type planConflict struct {
	ID       int64                       `json:"id,omitempty"` // only for a conflict already held
	Entity   string                      `json:"entity"`
	EntityID string                      `json:"entity_id,omitempty"`
	Kind     string                      `json:"kind"`
	Field    string                      `json:"field,omitempty"`
	Base     any                         `json:"base"`
	Values   map[string]tandem.SideValue `json:"values"`
	Policy   string                      `json:"policy"`
	Status   string                      `json:"status"`
	Decided  string                      `json:"decided"`
}

type planGuard struct {
	Entity string `json:"entity"`
	Error  string `json:"error"`
}

// changed reports whether the pass would do anything (exit 2).
func (r *planReport) changed() bool {
	return len(r.Writes)+len(r.Conflicts)+len(r.Identity)+len(r.Deletes)+len(r.Values)+len(r.Guards) > 0
}

func toPlanConflict(c tandem.Conflict, withID bool) planConflict {
	p := planConflict{Entity: c.Entity, EntityID: c.EntityID, Kind: c.Kind, Field: c.Field, Base: c.Base, Values: c.Values,
		Policy: c.Policy, Status: c.Status, Decided: c.Decided}
	if withID {
		p.ID = c.ID
	}
	return p
}

// conflictPrints fingerprints every conflict in a state file, so the ones a
// pass records or changes can be told afterwards.
func conflictPrints(ctx context.Context, store *state.Store) (map[int64]string, []tandem.Conflict, error) {
	cs, err := store.Conflicts(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	prints := make(map[int64]string, len(cs))
	for _, c := range cs {
		b, err := json.Marshal(c)
		if err != nil {
			return nil, nil, err
		}
		prints[c.ID] = string(b)
	}
	return prints, cs, nil
}

// recordConflicts files, in r, the conflicts the pass recorded or changed
// (before: the prints taken before it), and those already held before it
// for the entities planned.
func (r *planReport) recordConflicts(ctx context.Context, store *state.Store, before map[int64]string, held []tandem.Conflict, entities map[string]bool) error {
	after, cs, err := conflictPrints(ctx, store)
	if err != nil {
		return err
	}
	cs, held = r.cfg.MaskConflicts(cs), r.cfg.MaskConflicts(held)
	for _, c := range cs {
		if !entities[c.Entity] || before[c.ID] == after[c.ID] {
			continue
		}
		p := toPlanConflict(c, false)
		switch c.Kind {
		case tandem.ConflictField:
			r.Conflicts = append(r.Conflicts, p)
		case tandem.ConflictIdentity:
			r.Identity = append(r.Identity, p)
		case tandem.ConflictDelete:
			r.Deletes = append(r.Deletes, p)
		default:
			r.Values = append(r.Values, p)
		}
	}
	for _, c := range held {
		if entities[c.Entity] && c.Status == tandem.ConflictOpen {
			r.Held = append(r.Held, toPlanConflict(c, true))
		}
	}
	return nil
}

func (r *planReport) write(w io.Writer, format string) error {
	if format == "json" {
		r.Conflicts, r.Identity, r.Deletes, r.Guards, r.Held = nonNil(r.Conflicts),
			nonNil(r.Identity), nonNil(r.Deletes), nonNil(r.Guards), nonNil(r.Held)
		if err := writeJSON(w, r); err != nil {
			return err
		}
	} else {
		r.print(w)
	}
	if r.changed() {
		return &exitError{code: exitChanges, err: errors.New("the next pass would change something")}
	}
	return nil
}

func (r *planReport) print(w io.Writer) {
	if len(r.Writes) > 0 || !r.changed() {
		printChanges(w, r.Writes)
	}
	section := func(title string, cs []planConflict) {
		if len(cs) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tENTITY ID\tFIELD\tVALUES\tDECISION")
		for _, c := range cs {
			id := "-"
			if c.ID != 0 {
				id = fmt.Sprint(c.ID)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", id, dash(c.EntityID), dash(c.Field), sidesText(c), decisionText(c))
		}
		tw.Flush()
	}
	section("Field conflicts the pass would record (both values; the decision its policy makes)", r.Conflicts)
	section("Identity conflicts the pass would open", r.Identity)
	section("Deletes the pass would meet (quarantined, propagated, ignored, or undone by a later edit)", r.Deletes)
	section("Fields the pass would hold: a value cannot be read", r.Values)
	for _, g := range r.Guards {
		fmt.Fprintf(w, "\nGuard, entity %s: the next pass would stop (exit 3): %s\n", g.Entity, g.Error)
	}
	const most = 20
	held := r.Held
	if len(held) > most {
		held = held[:most]
	}
	section("Already held for a person (tandem resolve ID decides one)", held)
	if len(r.Held) > most {
		fmt.Fprintf(w, "  ... and %d more (tandem conflicts)\n", len(r.Held)-most)
	}
}

// sidesText shows every system's value of a conflict, by system name.
func sidesText(c planConflict) string {
	systems := make([]string, 0, len(c.Values))
	for s := range c.Values {
		systems = append(systems, s)
	}
	sort.Strings(systems)
	parts := make([]string, 0, len(systems))
	for _, s := range systems {
		v := plain(c.Values[s].Value)
		if c.Kind == tandem.ConflictDelete {
			v = "kept"
			if c.Values[s].Value == nil {
				v = "deleted"
			}
		}
		parts = append(parts, s+": "+v)
	}
	return strings.Join(parts, " | ")
}

// changeList prints, in JSON, each change's old and new values as JSON
// values (a string, a number, null), not as JSON text inside a string.
type changeList []conflict.Change

func (cl changeList) MarshalJSON() ([]byte, error) {
	type change struct {
		EntityID string          `json:"entity_id"`
		System   string          `json:"system,omitempty"`
		RecordID string          `json:"record_id,omitempty"`
		Field    string          `json:"field"`
		From     json.RawMessage `json:"from"` // null when absent
		To       json.RawMessage `json:"to"`
		Note     string          `json:"note,omitempty"`
	}
	raw := func(s string) json.RawMessage {
		if s == "" || !json.Valid([]byte(s)) {
			b, _ := json.Marshal(nilIfEmpty(s))
			return b
		}
		return json.RawMessage(s)
	}
	out := make([]change, 0, len(cl))
	for _, c := range cl {
		out = append(out, change{c.EntityID, c.System, c.RecordID, c.Field, raw(c.From), raw(c.To), c.Note})
	}
	return json.Marshal(out)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// decisionText says what a delete's decision does; other decisions are
// shown as recorded.
func decisionText(c planConflict) string {
	side, ok := c.Values[c.Decided]
	switch {
	case c.Kind != tandem.ConflictDelete || !ok:
		return c.Decided
	case side.Value == nil:
		return "propagated: deleted everywhere (deleted in " + c.Decided + ")"
	default:
		return "undone: edited in " + c.Decided + " after the delete"
	}
}

// maskChanges masks, in the changes of a plan or replay of entity e, the
// old and new values of fields marked sensitive: a golden field by name, a
// write by the system's path of it.
func maskChanges(e *mapping.Entity, cs []conflict.Change) []conflict.Change {
	masked, _ := json.Marshal(mapping.Masked)
	hide := func(v string) string {
		if v == "" || v == "null" {
			return v
		}
		return string(masked)
	}
	for i, c := range cs {
		if sensitiveAt(e, c) {
			cs[i].From, cs[i].To = hide(c.From), hide(c.To)
		}
	}
	return cs
}

func sensitiveAt(e *mapping.Entity, c conflict.Change) bool {
	if c.System == "" {
		return e.Sensitive(c.Field)
	}
	sm := e.System(c.System)
	if sm == nil {
		return false
	}
	for _, f := range sm.Fields {
		if f.Path != c.Field {
			continue
		}
		for _, name := range append([]string{f.Field}, f.Fields...) {
			if name != "" && e.Sensitive(name) {
				return true
			}
		}
	}
	return false
}
