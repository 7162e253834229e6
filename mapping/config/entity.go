package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"tandem/conflict/policy"
	"tandem/mapping"
)

func (p *parser) deletes(d *policy.Deletes, n *yaml.Node, key string) {
	var holdNode *yaml.Node
	p.mapping(n, key, map[string]func(string, *yaml.Node){
		"policy": func(k string, v *yaml.Node) {
			s := p.str(v, k)
			var err error
			if d.Policy, err = policy.ParseOnDelete(s); err != nil {
				p.errf(v, k, "%v", err)
				d.Policy = policy.OnDelete(s) // as written, for the hold's error
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
	if holdNode != nil && d.Policy != policy.Quarantine {
		p.errf(holdNode, key+".hold", "only a quarantine holds deletes (policy is %s)", d.Policy)
	}
}

func (p *parser) entity(name string, n *yaml.Node, cfg *Config) *mapping.Entity {
	key := "entities." + name
	e := &mapping.Entity{Name: name, Types: map[string]*mapping.Type{}, Deletes: policy.DefaultDeletes}
	var systemsNode, fieldsNode *yaml.Node
	policyNodes := map[string]*yaml.Node{} // key -> node, checked once systems are known
	var sched Schedule
	p.mapping(n, key, map[string]func(string, *yaml.Node){
		"match":          func(k string, v *yaml.Node) { e.Match = p.strs(v, k) },
		"match_fallback": func(k string, v *yaml.Node) { e.Fallback = p.strs(v, k) },
		"fields":         func(k string, v *yaml.Node) { fieldsNode = v },
		"phone_region":   func(k string, v *yaml.Node) { p.regions[e] = p.region(v, k) },
		"empty_never_overwrites": func(k string, v *yaml.Node) {
			e.Policy.EmptyNeverOverwrites = p.boolean(v, k)
		},
		"systems":   func(k string, v *yaml.Node) { systemsNode = v },
		"conflict":  func(k string, v *yaml.Node) { p.policy(&e.Policy, v, k, policyNodes) },
		"deletes":   func(k string, v *yaml.Node) { p.deletes(&e.Deletes, v, k) },
		"schedule":  func(k string, v *yaml.Node) { sched.Sync = p.cronSpec(v, k) },
		"reconcile": func(k string, v *yaml.Node) { sched.Reconcile = p.cronSpec(v, k) },
	})
	if sched != (Schedule{}) {
		cfg.Schedules[name] = sched
	}
	if fieldsNode != nil {
		p.each(fieldsNode, key+".fields", func(f string, kn, tv *yaml.Node) {
			if strings.HasPrefix(f, "@") {
				p.errf(kn, key+".fields."+f, "a field name cannot start with @")
			}
			e.Types[f] = p.fieldType(tv, key+".fields."+f, p.regions[e])
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
		r := p.checkPolicy(pn, k, pn.Value, e)
		if f, isField := strings.CutPrefix(k, key+".conflict.fields."); isField {
			e.Policy.Fields[f] = r
		} else {
			e.Policy.Default = r
		}
	}
	return e
}

// policy reads an entity's conflict: section. Its rules (the default and
// the fields') are kept in nodes, parsed once the entity's systems are
// known (checkPolicy).
func (p *parser) policy(pol *policy.Conflict, n *yaml.Node, key string, nodes map[string]*yaml.Node) {
	p.mapping(n, key, map[string]func(string, *yaml.Node){
		"policy": func(k string, v *yaml.Node) {
			p.str(v, k)
			nodes[k] = v
		},
		"clock_tolerance": func(k string, v *yaml.Node) { pol.ClockTolerance = p.duration(v, k) },
		"fields": func(k string, v *yaml.Node) {
			pol.Fields = map[string]policy.Rule{}
			p.each(v, k, func(f string, _, pv *yaml.Node) {
				p.str(pv, k+"."+f)
				nodes[k+"."+f] = pv
			})
		},
	})
}

// checkPolicy parses a conflict rule, and checks that the systems a
// prefer: rule lists are the entity's.
func (p *parser) checkPolicy(n *yaml.Node, key, text string, e *mapping.Entity) policy.Rule {
	r, err := policy.Parse(text)
	if err != nil {
		p.errf(n, key, "%v", err)
		return r
	}
	if r.Kind == policy.Prefer {
		// The names as written, spaces and all, as the error quotes them.
		for _, s := range strings.Split(strings.TrimPrefix(text, "prefer:"), ",") {
			if e.System(strings.TrimSpace(s)) == nil {
				p.errf(n, key, "prefer: system %q is not mapped on entity %s", s, e.Name)
			}
		}
	}
	return r
}
