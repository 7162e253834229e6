package mapping

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
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

	region string // phone_region: the default region of phone numbers
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

func (p *parser) deletes(d *Deletes, n *yaml.Node, key string) {
	var holdNode *yaml.Node
	p.mapping(n, key, map[string]func(string, *yaml.Node){
		"policy": func(k string, v *yaml.Node) {
			d.Policy = p.str(v, k)
			switch d.Policy {
			case DeletePropagate, DeleteIgnore, DeleteQuarantine:
			default:
				p.errf(v, k, "unknown delete policy %q (known: propagate, ignore, quarantine)", d.Policy)
			}
		},
		"hold": func(k string, v *yaml.Node) {
			holdNode = v
			if d.Hold = p.duration(v, k); d.Hold < 0 {
				p.errf(v, k, "must not be negative")
			}
		},
		"max_share": func(k string, v *yaml.Node) {
			if v.Kind != yaml.ScalarNode || v.Decode(&d.MaxShare) != nil || d.MaxShare < 0 || d.MaxShare > 1 {
				p.errf(v, k, "must be a number from 0 to 1")
			}
		},
	})
	if holdNode != nil && d.Policy != DeleteQuarantine {
		p.errf(holdNode, key+".hold", "only a quarantine holds deletes (policy is %s)", d.Policy)
	}
}

func (p *parser) entity(name string, n *yaml.Node, cfg *Config) *Entity {
	key := "entities." + name
	e := &Entity{Name: name, Types: map[string]*Type{}, Policy: Policy{Default: "newest"}, Deletes: DefaultDeletes}
	var systemsNode, fieldsNode *yaml.Node
	policyNodes := map[string]*yaml.Node{} // key -> node, checked once systems are known
	p.mapping(n, key, map[string]func(string, *yaml.Node){
		"match":          func(k string, v *yaml.Node) { e.Match = p.strs(v, k) },
		"match_fallback": func(k string, v *yaml.Node) { e.Fallback = p.strs(v, k) },
		"fields":         func(k string, v *yaml.Node) { fieldsNode = v },
		"phone_region":   func(k string, v *yaml.Node) { e.region = p.region(v, k) },
		"empty_never_overwrites": func(k string, v *yaml.Node) {
			e.Policy.EmptyNeverOverwrites = p.boolean(v, k)
		},
		"systems":   func(k string, v *yaml.Node) { systemsNode = v },
		"conflict":  func(k string, v *yaml.Node) { p.policy(&e.Policy, v, k, policyNodes) },
		"deletes":   func(k string, v *yaml.Node) { p.deletes(&e.Deletes, v, k) },
		"schedule":  func(k string, v *yaml.Node) { e.Schedule = p.cronSpec(v, k) },
		"reconcile": func(k string, v *yaml.Node) { e.Reconcile = p.cronSpec(v, k) },
	})
	if fieldsNode != nil {
		p.each(fieldsNode, key+".fields", func(f string, kn, tv *yaml.Node) {
			if strings.HasPrefix(f, "@") {
				p.errf(kn, key+".fields."+f, "a field name cannot start with @")
			}
			e.Types[f] = p.fieldType(tv, key+".fields."+f, e.region)
			e.Fields = append(e.Fields, f)
		})
	}
	if len(e.Fields) == 0 {
		p.errf(n, key+".fields", "no canonical fields declared")
	}
	for i, m := range e.Match {
		if _, ok := e.Types[m]; !ok {
			p.errf(n, fmt.Sprintf("%s.match[%d]", key, i), "%q is not a declared field", m)
		}
	}
	for i, m := range e.Fallback {
		if _, ok := e.Types[m]; !ok {
			p.errf(n, fmt.Sprintf("%s.match_fallback[%d]", key, i), "%q is not a declared field", m)
		}
	}
	if len(e.Fallback) > 0 && len(e.Match) == 0 {
		p.errf(n, key+".match_fallback", "a fallback needs match: it identifies the records that have no match key")
	}
	if systemsNode == nil {
		p.errf(n, key+".systems", "required")
		return e
	}
	p.each(systemsNode, key+".systems", func(sys string, kn, sv *yaml.Node) {
		if _, ok := cfg.System(sys); !ok {
			p.errf(kn, key+".systems."+sys, "no system %q under systems:", sys)
		}
		if s := p.system(e, sys, sv, key+".systems."+sys); s != nil {
			e.Systems = append(e.Systems, s)
		}
	})
	for k, pn := range policyNodes {
		if f, isField := strings.CutPrefix(k, key+".conflict.fields."); isField {
			if _, ok := e.Types[f]; !ok {
				p.errf(pn, k, "%q is not a declared field", f)
			}
		}
		p.checkPolicy(pn, k, pn.Value, e)
	}
	return e
}

func (p *parser) policy(pol *Policy, n *yaml.Node, key string, nodes map[string]*yaml.Node) {
	p.mapping(n, key, map[string]func(string, *yaml.Node){
		"policy": func(k string, v *yaml.Node) {
			pol.Default = p.str(v, k)
			nodes[k] = v
		},
		"clock_tolerance": func(k string, v *yaml.Node) { pol.ClockTolerance = p.duration(v, k) },
		"fields": func(k string, v *yaml.Node) {
			pol.Fields = map[string]string{}
			p.each(v, k, func(f string, _, pv *yaml.Node) {
				pol.Fields[f] = p.str(pv, k+"."+f)
				nodes[k+"."+f] = pv
			})
		},
	})
}

func (p *parser) checkPolicy(n *yaml.Node, key, pol string, e *Entity) {
	if pol == "newest" || pol == "manual" {
		return
	}
	if rest, ok := strings.CutPrefix(pol, "prefer:"); ok && rest != "" {
		for _, s := range strings.Split(rest, ",") {
			if e.System(strings.TrimSpace(s)) == nil {
				p.errf(n, key, "prefer: system %q is not mapped on entity %s", s, e.Name)
			}
		}
		return
	}
	p.errf(n, key, "unknown policy %q (known: newest, manual, prefer:<system>[,<system>...])", pol)
}
