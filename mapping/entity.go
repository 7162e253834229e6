package mapping

import (
	"tandem/conflict/policy"
)

// Direction says which way a field flows between Tandem and a system.
type Direction string

const (
	Both Direction = "both"
	In   Direction = "in"  // read from the system, never written to it
	Out  Direction = "out" // written to the system, never read from it
)

// Entity is one canonical record type and how each system maps to it.
type Entity struct {
	Name  string
	Match []string // canonical fields whose normalised values identify a record
	// Fallback are the fields that identify a record that has none of
	// Match (a company by its name when it has no domain).
	Fallback []string
	Types    map[string]*Type // canonical field -> type
	Fields   []string         // canonical fields in config order
	Systems  []*System        // in config order
	// Policy and Deletes are the entity's conflict and delete policies,
	// parsed by the loader into the merge's own types (conflict/policy).
	Policy  policy.Conflict
	Deletes policy.Deletes
	// Referrers are the ref fields, of any entity, that point to this
	// one (a contact's company points to the company entity).
	Referrers []Referrer
}

// System returns the entity's mapping for the named system.
func (e *Entity) System(name string) *System {
	for _, s := range e.Systems {
		if s.Name == name {
			return s
		}
	}
	return nil
}
