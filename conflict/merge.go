// Package conflict decides what happens when systems disagree. Merge is the
// pure three-way field merge with its policies; Engine is the pass that
// turns pulled changes into golden records and intents, and pushes intents
// through connectors while state checkpoints each step. A chunk of pulled
// records, and a batch of confirmed writes, goes load → decide → save
// (chunk.go): the decisions (a decider over a view) never hold a database
// handle.
package conflict

import (
	"fmt"
	"time"

	"tandem"
	"tandem/conflict/policy"
)

// Side is one system's fresh view of a record, with the snapshot of what
// Tandem last saw in, or wrote to, that record.
type Side struct {
	System   string
	RecordID string
	View     tandem.Values
	Snapshot tandem.Values // nil when the record is newly linked: no common base
	Modified time.Time
	// FieldTimes are per-field modified times, when the system gives them;
	// a field without one was modified at Modified.
	FieldTimes map[string]time.Time
	// Precision of Modified and FieldTimes (tandem.Record.Precision).
	Precision time.Duration
}

// At returns when the side's field was last set, as well as it is known.
func (s Side) At(field string) time.Time {
	if t, ok := s.FieldTimes[field]; ok && !t.IsZero() {
		return t
	}
	return s.Modified
}

// field is the side's value of field as a golden field: what it sets,
// when and from where.
func (s Side) field(field string, v any) tandem.Field {
	return tandem.Field{Value: v, Modified: s.At(field), Source: s.System, Precision: s.Precision}
}

// Outcome is what a merge decided.
type Outcome struct {
	Golden  tandem.Golden
	Changed bool
	// Conflicts are the decisions a policy made (status auto) or could not
	// make (status open: the field is held). Each names the side and the
	// golden value's source; record them all.
	Conflicts []tandem.Conflict
}

// Merge folds one side's view into the golden record, for the given
// canonical fields (those the side's system is read for). Merging the
// systems of an entity one after another is the N-way merge: the golden
// record carries, per field, the value agreed so far, its time and its
// source.
//
// Per field: the side changed it if its view differs from its snapshot; the
// golden value moved if it differs from that same snapshot (another system
// changed it since this one last agreed). One side changed: take it. Both
// changed to different values: a conflict, decided by the field's policy
// and recorded. A newly linked record has no base, so each of its values
// that disagrees with a non-empty golden value is a conflict too. A held
// field takes nothing until a person decides; a side that changes it again
// adds its value to the open conflict.
func Merge(entity, entityID string, golden tandem.Golden, side Side, fields []string, pol policy.Conflict) Outcome {
	out := Outcome{Golden: make(tandem.Golden, len(golden))}
	for k, f := range golden {
		out.Golden[k] = f
	}
	take := func(field string, v any) {
		out.Golden[field] = side.field(field, v)
		out.Changed = true
	}
	for _, field := range fields {
		v, seen := side.View[field]
		if !seen {
			continue // absent: the system said nothing about it
		}
		g, known := golden[field]
		base, hasBase := side.Snapshot[field]
		switch {
		case !known:
			take(field, v)
		case g.Held:
			if !hasBase || !tandem.Equal(v, base) {
				c := conflictOf(entity, entityID, field, g, side, v)
				c.Policy, c.Status, c.Decided = pol.For(field).String(), tandem.ConflictOpen, "held: waiting for tandem resolve"
				if hasBase {
					c.Base = base
				}
				out.Conflicts = append(out.Conflicts, c)
			}
		case tandem.Equal(v, g.Value):
			// Agreed already. If this side set the value too, since it last
			// agreed (or as a record newly linked, with no base: it set
			// every value it holds), the golden field carries whichever
			// assertion the policy ranks higher: a later one for newest, a
			// preferred system for prefer. (Else a third system's older
			// value could beat it, and the outcome would hang on the order
			// of the systems in the config.)
			if (side.Snapshot == nil || hasBase && !tandem.Equal(v, base)) && outranks(pol.For(field), side.field(field, v), g) {
				g.Modified, g.Source, g.Precision = side.At(field), side.System, side.Precision
				out.Golden[field] = g
				out.Changed = true
			}
		case v == nil && pol.EmptyNeverOverwrites:
			// empty_never_overwrites: an emptied field clears nothing; the
			// golden value stays, and is written back where it was emptied
		case hasBase && tandem.Equal(v, base):
			// this side did not change it; the golden value moved and will be written here
		case hasBase && tandem.Equal(g.Value, base):
			take(field, v) // only this side changed it
		case side.Snapshot == nil && g.Value == nil:
			take(field, v) // new record fills a gap
		case side.Snapshot == nil && v == nil:
			// new record lacks a value others have: keep it, write it there
		default:
			rule := pol.For(field)
			c := conflictOf(entity, entityID, field, g, side, v)
			c.Policy = rule.String()
			if hasBase {
				c.Base = base
			}
			switch won, why := Decide(rule, pol.ClockTolerance, g, side.field(field, v)); {
			case why != "":
				c.Status, c.Decided = tandem.ConflictOpen, why
				g.Held = true
				out.Golden[field] = g
				out.Changed = true
			case won:
				c.Status, c.Decided = tandem.ConflictAuto, side.System
				take(field, v)
			default:
				c.Status, c.Decided = tandem.ConflictAuto, g.Source
			}
			out.Conflicts = append(out.Conflicts, c)
		}
	}
	return out
}

// conflictOf is a field conflict between a side's value and the golden
// value, with both sides filled in (the golden source's record id is left
// for the caller, who knows the links).
func conflictOf(entity, entityID, field string, g tandem.Field, side Side, v any) tandem.Conflict {
	c := tandem.Conflict{
		Entity: entity, EntityID: entityID, Kind: tandem.ConflictField, Field: field,
		Values: map[string]tandem.SideValue{
			side.System: {Value: v, ModifiedAt: side.At(field), RecordID: side.RecordID},
		},
	}
	if g.Source != side.System && g.Source != "" {
		c.Values[g.Source] = tandem.SideValue{Value: g.Value, ModifiedAt: g.Modified}
	}
	return c
}

// outranks reports whether a system's assertion s of the golden value
// should stand for it instead of g's source and time.
func outranks(rule policy.Rule, s, g tandem.Field) bool {
	if rule.Kind == policy.Prefer {
		rs, rg := rule.Rank(s.Source), rule.Rank(g.Source)
		if rs >= 0 || rg >= 0 {
			return rs >= 0 && (rg < 0 || rs < rg)
		}
	}
	return later(s, g) > 0
}

// later is how much later s was set than g, as well as their stamps tell.
// A stamp of coarse precision (Salesforce's whole seconds) stands for any
// time within its span; when the two spans overlap, the stamps cannot
// order the edits, and the spans' middles stand for them: the likelier
// order, and one that does not depend on which system was merged first.
func later(s, g tandem.Field) time.Duration {
	gap := s.Modified.Sub(g.Modified)
	if s.Precision == 0 && g.Precision == 0 {
		return gap
	}
	end := func(f tandem.Field) time.Time { return f.Modified.Add(max(f.Precision, time.Nanosecond)) }
	if s.Modified.Before(end(g)) && g.Modified.Before(end(s)) {
		return gap + (s.Precision-g.Precision)/2
	}
	return gap
}

// Decide applies a policy to a field both the golden record (from
// g.Source, set at g.Modified) and a system (s: from s.Source, set at
// s.Modified) changed. It reports whether the system's value wins, or,
// when the policy holds the field for a person, why ("" when it decided).
//
//   - prefer:a,b,c — the system listed first wins; when neither is listed,
//     newest decides.
//   - newest — the later time wins; times closer than the clock tolerance
//     (or equal, with a tolerance set) are held: the systems' clocks cannot
//     tell them apart. With no tolerance an exact tie keeps the golden value.
//     Stamps whose precision spans overlap are ordered by the spans'
//     middles (later).
//   - manual — always held.
func Decide(rule policy.Rule, tolerance time.Duration, g, s tandem.Field) (bool, string) {
	system := s.Source
	if rule.Kind == policy.Manual {
		return false, "held: manual policy"
	}
	if rule.Kind == policy.Prefer {
		rs, rg := rule.Rank(system), rule.Rank(g.Source)
		switch {
		case rs >= 0 && (rg < 0 || rs < rg):
			return true, ""
		case rg >= 0:
			return false, ""
		}
		// neither system is listed: newest decides
	}
	if gap := s.Modified.Sub(g.Modified); tolerance > 0 && gap.Abs() <= tolerance {
		return false, fmt.Sprintf("held: edits %s apart, within clock_tolerance %s", gap.Abs(), tolerance)
	}
	return later(s, g) > 0, ""
}
