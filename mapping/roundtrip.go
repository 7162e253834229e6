package mapping

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tidwall/gjson"

	"tandem"
)

// ReadBack returns the canonical values the system will show for the given
// fields once Tandem has written them: the values mapped out, then mapped
// in again. A mapping that round-trips gives the values back. A lossy one
// (a split/join of several fields, lower, trim, a map with a default)
// gives what the next read of the record will be, so that the read is
// known as Tandem's own echo and not taken for an edit. It covers every
// field the write sets (all the fields of a split/join entry); a field not
// read from the system keeps the value written.
func (s *System) ReadBack(values tandem.Values, fields []string) (tandem.Values, error) {
	payload, set, err := s.Out(values, fields, false)
	if err != nil {
		return nil, err
	}
	back, err := s.In(payload)
	if err != nil {
		return nil, fmt.Errorf("reading back what is written: %w", err)
	}
	out := make(tandem.Values, len(set))
	for _, f := range set {
		if v, ok := back[f]; ok {
			out[f] = v
		} else {
			out[f] = values[f]
		}
	}
	return out, nil
}

// Entry lists the canonical fields read together with field from one
// value of the system's record: all the fields of a split/join entry, or
// the field alone. An edit of that value is an edit of all of them.
func (s *System) Entry(field string) []string {
	for _, f := range s.reads {
		if slices.Contains(f.Names(), field) {
			return f.Names()
		}
	}
	return []string{field}
}

// Lossy lists the entries, written to the system and read back from it,
// whose values may not read back as they were written (canonical -> system
// -> canonical), one line each naming the path, the fields and the
// transform. Tandem copes (the snapshot of a write is its ReadBack, so the
// read-back is no edit), but the other systems then hold what the
// canonical value was, not what this system shows: tandem doctor warns.
func (s *System) Lossy() []string { return s.lossy(nil) }

// Lossy is System.Lossy for one of the entity's systems, leaving out what
// cannot happen in this entity: a trim, lower or upper that every system
// reading the field applies on the way in loses nothing, since no
// canonical value can then have spaces around it, or capitals.
func (e *Entity) Lossy(s *System) []string {
	return s.lossy(func(f *FieldMap, st Step) bool {
		if f.Field == "" || (st.name != "trim" && st.name != "lower" && st.name != "upper") {
			return false
		}
		for _, o := range e.Systems {
			if !o.appliesIn(f.Field, st.name) {
				return false
			}
		}
		return true
	})
}

// appliesIn reports whether the system reads field through the named step.
func (s *System) appliesIn(field, name string) bool {
	if !s.Reads(field) {
		return true // not read from it: it brings no value in
	}
	for _, f := range s.reads {
		switch {
		case f.Field == field:
			return slices.ContainsFunc(f.Steps, func(st Step) bool { return st.name == name })
		case f.Field == "" && slices.Contains(f.Fields, field):
			return name == "trim" // a split trims every part
		}
	}
	return false
}

// lossy is Lossy, skipping the steps harmless says lose nothing.
func (s *System) lossy(harmless func(*FieldMap, Step) bool) []string {
	if s.ReadOnly {
		return nil
	}
	var out []string
	for _, f := range s.Fields {
		if f.Dir != Both || f.IsConst {
			continue
		}
		where := fmt.Sprintf("%s (%s)", f.Path, strings.Join(f.Names(), ", "))
		if f.Field == "" {
			out = append(out, fmt.Sprintf("%s: split/join: %s", where, s.splitExample(f)))
		}
		for _, st := range f.Steps {
			if st.lossy != "" && !enumCovered(f, st) && (harmless == nil || !harmless(f, st)) {
				out = append(out, fmt.Sprintf("%s: transform %s: %s", where, st.name, st.lossy))
			}
		}
	}
	return out
}

// enumCovered reports whether a map step reads back every value of the
// enum it maps to: each is listed in the table or is its default, so no
// canonical value is lost, whatever system values read as the default.
func enumCovered(f *FieldMap, st Step) bool {
	if st.name != "map" || f.Type == nil || f.Type.Name != "enum" {
		return false
	}
	for _, v := range f.Type.Values {
		if !slices.Contains(st.targets, v) {
			return false
		}
	}
	return true
}

// splitExample shows how a split/join entry loses where its parts end: a
// part holding the separator moves on to the next field.
func (s *System) splitExample(f *FieldMap) string {
	v := tandem.Values{}
	for i, n := range f.Fields {
		v[n] = []string{"Ann" + f.Join + "Marie", "Lee", "Jr"}[min(i, 2)]
	}
	back, err := s.ReadBack(v, f.Fields)
	payload, _, err2 := s.Out(v, f.Fields, false)
	if err != nil || err2 != nil {
		return fmt.Sprintf("a part holding %q moves to the next field on the way back", f.Join)
	}
	var was, is []string
	for _, n := range f.Fields {
		was, is = append(was, fmt.Sprintf("%q", v[n])), append(is, fmt.Sprintf("%q", back[n]))
	}
	return fmt.Sprintf("a part holding %q moves to the next field on the way back (%s is written as %s and reads back as %s)",
		f.Join, strings.Join(was, " + "), gjson.GetBytes(payload, f.Path).Raw, strings.Join(is, " + "))
}
