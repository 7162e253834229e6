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

// Field types this version normalises. Issue-driven growth adds more.
var fieldTypes = map[string]bool{"string": true, "email": true}

// Entity is one canonical record type and how each system maps to it.
type Entity struct {
	Name     string
	Match    []string          // canonical fields whose normalised values identify a record
	Types    map[string]string // canonical field -> type
	Fields   []string          // canonical fields in config order
	Systems  []*System         // in config order
	Policy   Policy
	Schedule string // cron spec for incremental passes (the daemon's)
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
	Default        string // "newest" or "prefer:<system>[,<system>...]"
	ClockTolerance time.Duration
	Fields         map[string]string
}

// For returns the policy that decides field.
func (p Policy) For(field string) string {
	if s, ok := p.Fields[field]; ok {
		return s
	}
	return p.Default
}

func (p *parser) entity(name string, n *yaml.Node, cfg *Config) *Entity {
	key := "entities." + name
	e := &Entity{Name: name, Types: map[string]string{}, Policy: Policy{Default: "newest"}}
	var systemsNode *yaml.Node
	policyNodes := map[string]*yaml.Node{} // key -> node, checked once systems are known
	p.mapping(n, key, map[string]func(string, *yaml.Node){
		"match": func(k string, v *yaml.Node) { e.Match = p.strs(v, k) },
		"fields": func(k string, v *yaml.Node) {
			p.each(v, k, func(f string, _, tv *yaml.Node) {
				t := p.str(tv, k+"."+f)
				if !fieldTypes[t] {
					p.errf(tv, k+"."+f, "unknown field type %q (known: email, string)", t)
				}
				e.Types[f] = t
				e.Fields = append(e.Fields, f)
			})
		},
		"systems":   func(k string, v *yaml.Node) { systemsNode = v },
		"conflict":  func(k string, v *yaml.Node) { p.policy(&e.Policy, v, k, policyNodes) },
		"schedule":  func(k string, v *yaml.Node) { e.Schedule = p.cronSpec(v, k) },
		"reconcile": func(k string, v *yaml.Node) { p.cronSpec(v, k) },
	})
	if len(e.Fields) == 0 {
		p.errf(n, key+".fields", "no canonical fields declared")
	}
	for i, m := range e.Match {
		if _, ok := e.Types[m]; !ok {
			p.errf(n, fmt.Sprintf("%s.match[%d]", key, i), "%q is not a declared field", m)
		}
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
	if pol == "newest" {
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
	p.errf(n, key, "unknown policy %q (known: newest, prefer:<system>[,<system>...])", pol)
}

func (p *parser) system(e *Entity, name string, n *yaml.Node, key string) *System {
	s := &System{Name: name}
	p.mapping(n, key, map[string]func(string, *yaml.Node){
		"object": func(k string, v *yaml.Node) { s.Object = p.str(v, k) },
		"fields": func(k string, v *yaml.Node) {
			p.each(v, k, func(f string, fk, fv *yaml.Node) {
				if _, ok := e.Types[f]; !ok {
					p.errf(fk, k+"."+f, "%q is not a declared field of entity %s", f, e.Name)
					return
				}
				if fm := p.field(f, e.Types[f], fv, k+"."+f); fm != nil {
					s.Fields = append(s.Fields, fm)
				}
			})
		},
	})
	if s.Object == "" {
		p.errf(n, key+".object", "required")
	}
	if len(s.Fields) == 0 {
		p.errf(n, key+".fields", "no fields mapped")
	}
	return s
}

func (p *parser) field(name, typ string, n *yaml.Node, key string) *FieldMap {
	fm := &FieldMap{Field: name, Type: typ, Dir: Both}
	if n.Kind == yaml.ScalarNode {
		fm.Path = n.Value
	} else {
		p.mapping(n, key, map[string]func(string, *yaml.Node){
			"path": func(k string, v *yaml.Node) { fm.Path = p.str(v, k) },
			"direction": func(k string, v *yaml.Node) {
				switch d := Direction(p.str(v, k)); d {
				case Both, In, Out:
					fm.Dir = d
				default:
					p.errf(v, k, "unknown direction %q (known: both, in, out)", d)
				}
			},
			"map": func(k string, v *yaml.Node) {
				fm.in, fm.out = map[string]string{}, map[string]string{}
				p.each(v, k, func(from string, _, tv *yaml.Node) {
					to := p.str(tv, k+"."+from)
					if prev, dup := fm.out[to]; dup {
						p.errf(tv, k+"."+from, "%q and %q both map to %q: the way back would be ambiguous", prev, from, to)
					}
					fm.in[from], fm.out[to] = to, from
				})
			},
		})
	}
	if fm.Path == "" {
		p.errf(n, key, "path required")
		return nil
	}
	return fm
}
