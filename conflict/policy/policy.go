// Package policy holds the policies an entity's config names for its
// conflicts and its deletes, parsed once when the config is read
// (tandem/mapping/config), so that the merge (package conflict) decides
// each field by a value, not by text it would parse again. It is
// conflict's vocabulary, kept in a package of its own so that the loader
// and the compiled entity can hold it without importing the engine.
package policy

import (
	"fmt"
	"strings"
	"time"
)

// Kind is how a rule decides a field that two systems changed.
type Kind uint8

const (
	// Newest: the later edit wins; edits closer than the clock tolerance
	// are held for a person.
	Newest Kind = iota
	// Prefer: the system listed first wins; between two unlisted
	// systems, Newest decides.
	Prefer
	// Manual: always held for a person.
	Manual
)

// Rule decides one field's conflicts. The zero Rule is newest.
type Rule struct {
	Kind    Kind
	Systems []string // Prefer: the systems, the first one winning

	text string // as the config wrote it, recorded with each conflict
}

// Parse reads a rule as the config writes it: "newest", "manual" or
// "prefer:<system>[,<system>...]" (spaces around a system are dropped).
func Parse(s string) (Rule, error) {
	switch s {
	case "newest":
		return Rule{Kind: Newest, text: s}, nil
	case "manual":
		return Rule{Kind: Manual, text: s}, nil
	}
	if rest, ok := strings.CutPrefix(s, "prefer:"); ok && rest != "" {
		r := Rule{Kind: Prefer, text: s}
		for _, sys := range strings.Split(rest, ",") {
			r.Systems = append(r.Systems, strings.TrimSpace(sys))
		}
		return r, nil
	}
	return Rule{}, fmt.Errorf("unknown policy %q (known: newest, manual, prefer:<system>[,<system>...])", s)
}

// MustParse is Parse for a rule known to be good; it panics on a bad one.
func MustParse(s string) Rule {
	r, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return r
}

// String is the rule as the config wrote it (a conflict records it).
func (r Rule) String() string {
	switch {
	case r.text != "":
		return r.text
	case r.Kind == Manual:
		return "manual"
	case r.Kind == Prefer:
		return "prefer:" + strings.Join(r.Systems, ",")
	}
	return "newest"
}

// Rank is a system's place in a Prefer rule's list, or -1.
func (r Rule) Rank(system string) int {
	for i, s := range r.Systems {
		if s == system {
			return i
		}
	}
	return -1
}

// Conflict is an entity's conflict policy: a default rule and per-field
// overrides. The zero Conflict decides every field by newest.
type Conflict struct {
	Default Rule
	// ClockTolerance: under newest, two edits whose times are closer than
	// this are held for a person instead of guessed (clocks of different
	// systems disagree by about this much).
	ClockTolerance time.Duration
	Fields         map[string]Rule
	// EmptyNeverOverwrites keeps a field's value when a system empties
	// it: the empty value is not merged, so it reaches no other system.
	EmptyNeverOverwrites bool
}

// For returns the rule that decides field.
func (p Conflict) For(field string) Rule {
	if r, ok := p.Fields[field]; ok {
		return r
	}
	return p.Default
}

// OnDelete is what a delete seen in one system does to the entity's
// records in the others.
type OnDelete string

// Delete policies.
const (
	Propagate  OnDelete = "propagate"  // delete the entity's record everywhere
	Ignore     OnDelete = "ignore"     // forget the deleted record; the others live on
	Quarantine OnDelete = "quarantine" // hold the delete for Hold, then propagate unless the record came back
)

// ParseOnDelete reads a delete policy as the config writes it.
func ParseOnDelete(s string) (OnDelete, error) {
	switch d := OnDelete(s); d {
	case Propagate, Ignore, Quarantine:
		return d, nil
	}
	return "", fmt.Errorf("unknown delete policy %q (known: propagate, ignore, quarantine)", s)
}

// Deletes is how an entity's deletes are handled.
type Deletes struct {
	Policy OnDelete
	Hold   time.Duration // quarantine: how long a delete is held
	// MaxShare: a pass that would delete more than this share of the
	// records linked in one system stops (exit 3) unless forced.
	MaxShare float64
}

// DefaultDeletes is what an entity without a deletes: key gets: nothing is
// deleted for a day, and no pass deletes more than a fifth of a system.
var DefaultDeletes = Deletes{Policy: Quarantine, Hold: 24 * time.Hour, MaxShare: 0.2}
