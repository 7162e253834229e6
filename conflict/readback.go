package conflict

import (
	"maps"
	"slices"

	"tandem"
	"tandem/mapping"
)

// A mapping that does not round-trip (a split/join of a name, lower, trim,
// a map with a default) makes a system show something other than the
// canonical value Tandem wrote to it: "Ann Marie" / "Lee" written as one
// name reads back as "Ann" / "Marie Lee". The golden record keeps the
// value decided; the snapshot holds what the system will show, so the
// read-back is no edit and nothing ping-pongs. The helpers below are the
// places that must know it: the snapshot of a confirmed write (readBack),
// the fields a write needs (unechoed), the base of a merge (mergeBase) and
// a record linked without a base (firstLink).

// readBack is the snapshot of a confirmed write: the values sent, as the
// system will show them when they are read back (mapping.System.ReadBack).
func readBack(sm *mapping.System, sent tandem.Values) tandem.Values {
	if len(sent) == 0 {
		return sent
	}
	back, err := sm.ReadBack(sent, slices.Collect(maps.Keys(sent)))
	if err != nil {
		return sent // it was written, so it maps; keep what was sent
	}
	return overlay(sent, back)
}

// unechoed drops from fs, the fields whose snapshot differs from the golden
// value, those where the system already shows what writing the golden
// value would make it show: writing them again would change nothing there.
func unechoed(sm *mapping.System, golden tandem.Golden, snapshot tandem.Values, fs []string) []string {
	var cand []string
	for _, f := range fs {
		if _, seen := snapshot[f]; seen {
			cand = append(cand, f)
		}
	}
	if len(cand) == 0 {
		return fs
	}
	back, err := sm.ReadBack(golden.Values(), cand)
	if err != nil {
		return fs // the write itself will say why it cannot be made
	}
	return slices.DeleteFunc(fs, func(f string) bool {
		s, seen := snapshot[f]
		b, ok := back[f]
		return seen && ok && tandem.Equal(s, b)
	})
}

// mergeBase is the base of a three-way merge of a side whose snapshot may
// be in the system's lossy form. Where the side changed a value and its
// snapshot is what the golden value reads back as there, the system agreed
// with the golden value: the base is the golden value, so the edit is
// taken rather than met as a conflict with a golden value that never
// moved. An edit of one field of a split/join entry is an edit of the
// whole value, so every field of the entry is taken from it (else "Ann
// Marie" / "Lee" with the last part edited would be written back as "Ann
// Marie Marie Leigh").
func mergeBase(sm *mapping.System, golden tandem.Golden, view, snapshot tandem.Values) tandem.Values {
	var cand []string
	for f, v := range view {
		if s, ok := snapshot[f]; !ok || tandem.Equal(v, s) {
			continue
		}
		for _, e := range sm.Entry(f) {
			g, known := golden[e]
			s, seen := snapshot[e]
			if known && !g.Held && seen && !tandem.Equal(s, g.Value) && !slices.Contains(cand, e) {
				cand = append(cand, e)
			}
		}
	}
	if len(cand) == 0 {
		return snapshot
	}
	back, err := sm.ReadBack(golden.Values(), cand)
	if err != nil {
		return snapshot
	}
	base := overlay(snapshot, nil)
	for _, f := range cand {
		if b, ok := back[f]; ok && tandem.Equal(snapshot[f], b) {
			base[f] = golden[f].Value
		}
	}
	return base
}

// firstLink settles, for a record newly linked to an entity (no base), the
// values that differ from the golden record only by a lossy mapping. Where
// the record shows what the golden value reads back as in its system, it
// agrees with it: the view given to the merge holds the golden value. Where
// the golden value is what the record's value reads back as in the system
// the golden value came from, the record says the same more precisely (the
// golden "Ann" / "Marie Lee" read from one full name, the record "Ann
// Marie" / "Lee"): the golden record takes it, and moved says so. Either
// holds for all the fields of a split/join value or for none of them (half
// of one would be written back as a mix). Any other difference is left to
// the merge: a conflict, as for any record linked without a base.
func firstLink(ent *mapping.Entity, sm *mapping.System, golden tandem.Golden, view tandem.Values) (tandem.Golden, tandem.Values, bool) {
	differs := func(f string) bool {
		g, ok := golden[f]
		v, seen := view[f]
		return ok && seen && !g.Held && g.Value != nil && v != nil && !tandem.Equal(v, g.Value)
	}
	var cand []string
	for f := range view {
		if differs(f) {
			cand = append(cand, f)
		}
	}
	if len(cand) == 0 {
		return golden, view, false
	}
	slices.Sort(cand)
	gv := golden.Values()
	out := view
	if here, err := sm.ReadBack(gv, cand); err == nil {
		for _, f := range cand {
			group := sm.Entry(f)
			if allOf(group, func(e string) bool {
				v, seen := view[e]
				b, ok := here[e]
				return !seen || ok && tandem.Equal(v, b)
			}) {
				for _, e := range group {
					if differs(e) {
						out = overlay(out, tandem.Values{e: golden[e].Value})
					}
				}
			}
		}
	}
	values := overlay(gv, view)
	var took tandem.Golden
	done := map[string]bool{}
	for _, f := range cand {
		src := ent.System(golden[f].Source)
		if src == nil || src == sm || !tandem.Equal(out[f], view[f]) || done[f] {
			continue // no other system to read it back through, agreed above, or taken
		}
		group := src.Entry(f)
		back, err := src.ReadBack(values, group)
		if err != nil || !allOf(group, func(e string) bool {
			g, ok := golden[e]
			return ok && !g.Held && tandem.Equal(back[e], g.Value)
		}) {
			continue
		}
		if took == nil {
			took = maps.Clone(golden)
		}
		for _, e := range group {
			if differs(e) {
				g := golden[e]
				g.Value = view[e]
				took[e], done[e] = g, true
			}
		}
	}
	if took == nil {
		return golden, out, false
	}
	return took, out, true
}

func allOf(fs []string, ok func(string) bool) bool {
	for _, f := range fs {
		if !ok(f) {
			return false
		}
	}
	return true
}
