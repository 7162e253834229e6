package mapping

// Referrer is a ref field of an entity: Entity's Field points to another.
type Referrer struct {
	Entity *Entity
	Field  string
}

// RefKey is the name under which an entity's state keeps the target of its
// ref field, beside its match keys, so the records pointing to an entity
// can be found (a match field's name never starts with "@").
func RefKey(field string) string { return "@ref." + field }

// Refs lists the entity's ref fields that sm maps, in field order.
func (e *Entity) Refs(sm *System) []string {
	var fs []string
	for _, f := range e.Fields {
		if t := e.Types[f]; t.Target != nil && (sm.Reads(f) || sm.Writes(f)) {
			fs = append(fs, f)
		}
	}
	return fs
}

// Path is the payload path sm maps a plain field to, "" for none.
func (s *System) Path(field string) string {
	for _, fm := range s.Fields {
		if fm.Field == field {
			return fm.Path
		}
	}
	return ""
}
