package mapping

import (
	"time"
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
	Policy   Policy
	Deletes  Deletes
	// Referrers are the ref fields, of any entity, that point to this
	// one (a contact's company points to the company entity).
	Referrers []Referrer
	Schedule  string // cron spec for incremental passes (the daemon's)
	Reconcile string // cron spec for reconciliation sweeps (the daemon's)
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

// Policy is the entity's conflict policy: a default and per-field overrides.
type Policy struct {
	// Default is "newest", "prefer:<system>[,<system>...]" or "manual".
	Default string
	// ClockTolerance: under newest, two edits whose times are closer than
	// this are held for a person instead of guessed (clocks of different
	// systems disagree by about this much).
	ClockTolerance time.Duration
	Fields         map[string]string
	// EmptyNeverOverwrites keeps a field's value when a system empties
	// it: the empty value is not merged, so it reaches no other system.
	EmptyNeverOverwrites bool
}

// For returns the policy that decides field.
func (p Policy) For(field string) string {
	if s, ok := p.Fields[field]; ok {
		return s
	}
	return p.Default
}

// Delete policies.
const (
	DeletePropagate  = "propagate"  // delete the entity's record everywhere
	DeleteIgnore     = "ignore"     // forget the deleted record; the others live on
	DeleteQuarantine = "quarantine" // hold the delete for Hold, then propagate unless the record came back
)

// Deletes is how an entity's deletes are handled.
type Deletes struct {
	Policy string
	Hold   time.Duration // quarantine: how long a delete is held
	// MaxShare: a pass that would delete more than this share of the
	// records linked in one system stops (exit 3) unless forced.
	MaxShare float64
}

// DefaultDeletes is what an entity without a deletes: key gets: nothing is
// deleted for a day, and no pass deletes more than a fifth of a system.
var DefaultDeletes = Deletes{Policy: DeleteQuarantine, Hold: 24 * time.Hour, MaxShare: 0.2}
