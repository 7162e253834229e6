// Package conflict decides what happens when systems disagree. Merge is the
// pure three-way field merge with its policies; Engine is the pass that
// turns pulled changes into golden records and intents, and pushes intents
// through connectors while state checkpoints each step.
package conflict

import (
	"strings"
	"time"

	"tandem"
	"tandem/mapping"
)

// Side is one system's fresh view of a record, with the snapshot of what
// Tandem last saw in, or wrote to, that record.
type Side struct {
	System   string
	RecordID string
	View     tandem.Values
	Snapshot tandem.Values // nil when the record is newly linked: no common base
	Modified time.Time
}

// Outcome is what a merge decided.
type Outcome struct {
	Golden    tandem.Golden
	Changed   bool
	Conflicts []tandem.Conflict // decisions the policy made; record them all
}

// Merge folds one side's view into the golden record, for the given
// canonical fields (those the side's system is read for).
//
// Per field: the side changed it if its view differs from its snapshot; the
// golden value moved if it differs from that same snapshot (another system
// changed it since this one last agreed). One side changed: take it. Both
// changed to different values: a conflict, decided by the field's policy and
// recorded. A newly linked record has no base, so each of its values that
// disagrees with a non-empty golden value is a conflict too.
func Merge(entity, entityID string, golden tandem.Golden, side Side, fields []string, pol mapping.Policy) Outcome {
	out := Outcome{Golden: make(tandem.Golden, len(golden))}
	for k, f := range golden {
		out.Golden[k] = f
	}
	take := func(field string, v any) {
		out.Golden[field] = tandem.Field{Value: v, Modified: side.Modified, Source: side.System}
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
		case tandem.Equal(v, g.Value):
			// agreed already
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
			policy := pol.For(field)
			won := decide(policy, g, side)
			if won {
				take(field, v)
			}
			c := tandem.Conflict{
				Entity: entity, EntityID: entityID, Kind: tandem.ConflictField, Field: field, Policy: policy,
				Status: tandem.ConflictAuto, Decided: g.Source,
				Values: map[string]tandem.SideValue{
					side.System: {Value: v, ModifiedAt: side.Modified, RecordID: side.RecordID},
				},
			}
			if hasBase {
				c.Base = base
			}
			if won {
				c.Decided = side.System
			}
			if g.Source != side.System {
				c.Values[g.Source] = tandem.SideValue{Value: g.Value, ModifiedAt: g.Modified}
			}
			out.Conflicts = append(out.Conflicts, c)
		}
	}
	return out
}

// decide reports whether the side's value beats the golden value.
func decide(policy string, g tandem.Field, side Side) bool {
	if list, ok := strings.CutPrefix(policy, "prefer:"); ok {
		rank := func(sys string) int {
			for i, s := range strings.Split(list, ",") {
				if strings.TrimSpace(s) == sys {
					return i
				}
			}
			return -1
		}
		rs, rg := rank(side.System), rank(g.Source)
		switch {
		case rs >= 0 && (rg < 0 || rs < rg):
			return true
		case rg >= 0:
			return false
		}
		// neither system is listed: fall through to newest
	}
	// newest: the later modification wins; on an exact tie the golden value
	// stays (issue 4 holds such ties for a person via clock_tolerance).
	return side.Modified.After(g.Modified)
}
