package mapping

// What the config loader (mapping/config) builds a mapping with: the
// compiled forms of what the file says, checked there, so that this
// package turns payloads into canonical values and back without reading
// the file itself.

// MapStep is a value table's transform: in maps system values to
// canonical ones, out canonical values back (the loader builds both and
// reports a value mapped twice). def, when hasDef, is the canonical value
// of a system value the table does not list; passthrough lets unlisted
// values through unchanged, both ways.
func MapStep(in, out map[string]string, def any, hasDef, passthrough bool) Step {
	m := &valueMap{in: in, out: out, def: def, hasDef: hasDef, passthrough: passthrough}
	return m.step()
}

// Name is the transform's name, as the config writes it.
func (st Step) Name() string { return st.name }

// Targets are the canonical values a map yields (nil for other
// transforms), sorted.
func (st Step) Targets() []string { return st.targets }

// Sources are the system values a map writes (nil for other transforms),
// sorted.
func (st Step) Sources() []string { return st.sources }

// NewSystem is a system's mapping of an entity, from its entries in config
// order.
func NewSystem(name, object string, readOnly bool, fields []*FieldMap) *System {
	s := &System{Name: name, Object: object, ReadOnly: readOnly, Fields: fields}
	for _, f := range fields {
		if f.IsConst {
			continue
		}
		if f.Dir != Out {
			s.reads = append(s.reads, f)
		}
		for _, st := range f.Steps {
			if st.name == "expr" && f.Dir == In {
				s.needsRec = true
			}
		}
	}
	s.index, s.queries = indexPaths(s.reads)
	return s
}
