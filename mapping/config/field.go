package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"go.yaml.in/yaml/v3"

	"tandem/mapping"
)

// fieldType reads a canonical field's type: a name, or a mapping with the
// name under type and the type's options (region, values).
func (p *parser) fieldType(n *yaml.Node, key, region string) *mapping.Type {
	t := &mapping.Type{Region: region}
	if n.Kind == yaml.ScalarNode {
		t.Name = n.Value
	} else {
		p.mapping(n, key, map[string]func(string, *yaml.Node){
			"type":      func(k string, v *yaml.Node) { t.Name = p.str(v, k) },
			"region":    func(k string, v *yaml.Node) { t.Region = p.region(v, k) },
			"values":    func(k string, v *yaml.Node) { t.Values = p.strs(v, k) },
			"sensitive": func(k string, v *yaml.Node) { t.Sensitive = p.boolean(v, k) },
			"entity":    func(k string, v *yaml.Node) { t.Entity = p.str(v, k); p.refNodes[t] = v },
		})
	}
	switch {
	case !slices.Contains(mapping.TypeNames, t.Name):
		p.errf(n, key, "unknown field type %q (known: %s)", t.Name, strings.Join(mapping.TypeNames, ", "))
	case t.Name == "enum" && len(t.Values) == 0:
		p.errf(n, key, "an enum needs its values: { type: enum, values: [...] }")
	case t.Name != "enum" && t.Values != nil:
		p.errf(n, key+".values", "only an enum has values")
	case t.Name == "ref" && t.Entity == "":
		p.errf(n, key, "a ref names its target entity: { type: ref, entity: company }")
	case t.Name != "ref" && t.Entity != "":
		p.errf(n, key+".entity", "only a ref has an entity")
	}
	return t
}

// region validates a phone region code.
func (p *parser) region(n *yaml.Node, key string) string {
	r := strings.ToUpper(p.str(n, key))
	if r != "" && !phonenumbers.GetSupportedRegions()[r] {
		p.errf(n, key, "unknown phone region %q (an ISO 3166 code such as US, GB, DE)", r)
	}
	return r
}

func (p *parser) boolean(n *yaml.Node, key string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		p.errf(n, key, "must be true or false")
	}
	return b
}

// scalar is a YAML scalar as a JSON value: numbers become float64, true
// and false bool, null nil, anything else a string.
func (p *parser) scalar(n *yaml.Node, key string) any {
	if n.Kind != yaml.ScalarNode {
		p.errf(n, key, "must be a single value")
		return nil
	}
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		b, _ := strconv.ParseBool(n.Value)
		return b
	case "!!int", "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f
		}
	}
	return n.Value
}

func (p *parser) system(e *mapping.Entity, name string, n *yaml.Node, key string) *mapping.System {
	s := &mapping.System{Name: name}
	p.mapping(n, key, map[string]func(string, *yaml.Node){
		"object":    func(k string, v *yaml.Node) { s.Object = p.str(v, k) },
		"read_only": func(k string, v *yaml.Node) { s.ReadOnly = p.boolean(v, k) },
		"fields": func(k string, v *yaml.Node) {
			p.each(v, k, func(f string, fk, fv *yaml.Node) {
				if fm := p.field(e, f, fk, fv, k+"."+f); fm != nil {
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
	// One entry reads a field, and one writes it: two of either would race.
	readBy, writtenBy := map[string]string{}, map[string]string{}
	for _, f := range s.Fields {
		if f.IsConst {
			continue
		}
		for _, c := range f.Names() {
			if f.Dir != mapping.Out {
				if prev, dup := readBy[c]; dup {
					p.errf(n, key+".fields", "%s is read from both %s and %s; set direction on one of them", c, prev, f.Path)
				}
				readBy[c] = f.Path
			}
			if f.Dir != mapping.In {
				if prev, dup := writtenBy[c]; dup {
					p.errf(n, key+".fields", "%s is written to both %s and %s; set direction on one of them", c, prev, f.Path)
				}
				writtenBy[c] = f.Path
			}
		}
	}
	return mapping.NewSystem(s.Name, s.Object, s.ReadOnly, s.Fields)
}

// field compiles one entry of a system's fields: name is its key, a
// canonical field except for split/join entries and constants.
func (p *parser) field(e *mapping.Entity, name string, kn, n *yaml.Node, key string) *mapping.FieldMap {
	fm := &mapping.FieldMap{Dir: mapping.Both}
	type stepNode struct {
		key string // the full key, ending in the transform's name
		v   *yaml.Node
	}
	var stepNodes []stepNode // in config order
	addStep := func(k string, v *yaml.Node) { stepNodes = append(stepNodes, stepNode{k, v}) }
	var fieldsNode, splitNode, joinNode, constNode *yaml.Node
	if n.Kind == yaml.ScalarNode {
		fm.Path = n.Value
	} else {
		p.mapping(n, key, map[string]func(string, *yaml.Node){
			"path": func(k string, v *yaml.Node) { fm.Path = p.str(v, k) },
			"direction": func(k string, v *yaml.Node) {
				switch d := mapping.Direction(p.str(v, k)); d {
				case mapping.Both, mapping.In, mapping.Out:
					fm.Dir = d
				default:
					p.errf(v, k, "unknown direction %q (known: both, in, out)", d)
				}
			},
			"format":    func(k string, v *yaml.Node) { fm.Format = p.str(v, k) },
			"fields":    func(k string, v *yaml.Node) { fieldsNode = v },
			"constant":  func(k string, v *yaml.Node) { constNode = v },
			"split":     func(k string, v *yaml.Node) { splitNode = v; addStep(k, v) },
			"join":      func(k string, v *yaml.Node) { joinNode = v; addStep(k, v) },
			"transform": addStep,
			"map":       addStep,
			"default":   addStep,
			"expr":      addStep,
		})
	}
	if fm.Path == "" {
		p.errf(n, key, "path required")
		return nil
	}
	p.checkPath(n, key, fm.Path)

	region := ""
	switch {
	case constNode != nil:
		if fm.Dir == mapping.In || fieldsNode != nil || len(stepNodes) > 0 || fm.Format != "" {
			p.errf(n, key, "a constant is written as it is: it takes path and constant only")
		}
		fm.Dir, fm.IsConst, fm.Constant = mapping.Out, true, p.scalar(constNode, key+".constant")
	case fieldsNode != nil:
		fm.Fields = p.strs(fieldsNode, key+".fields")
		if len(fm.Fields) < 2 {
			p.errf(fieldsNode, key+".fields", "list two or more fields to split a value into (or map the one field by its own name)")
		}
		for _, f := range fm.Fields {
			t, ok := e.Types[f]
			if !ok {
				p.errf(fieldsNode, key+".fields", "%q is not a declared field of entity %s", f, e.Name)
				t = &mapping.Type{Name: "string"}
			} else if slices.Contains([]string{"list", "bool", "number"}, t.Name) {
				p.errf(fieldsNode, key+".fields", "%s is a %s: only text fields can be parts of a split value", f, t.Name)
			}
			fm.PartTypes = append(fm.PartTypes, t)
		}
		// A many-to-one value needs its inverse: split to read it, join to
		// write it back.
		if fm.Dir != mapping.Out && splitNode == nil {
			p.errf(n, key, "several fields read from one value need split: the separator between their parts (or direction: out)")
		}
		if fm.Dir != mapping.In && joinNode == nil {
			p.errf(n, key, "several fields written to one value need join: how to put the parts back together (or direction: in)")
		}
		if splitNode != nil {
			fm.Split = p.str(splitNode, key+".split")
		}
		if joinNode != nil {
			fm.Join = p.str(joinNode, key+".join")
		}
		if fm.Split == "" && splitNode != nil {
			p.errf(splitNode, key+".split", "empty separator")
		}
		// Here split and join are the separators of the parts, not steps.
		stepNodes = slices.DeleteFunc(stepNodes, func(n stepNode) bool { return n.v == splitNode || n.v == joinNode })
	default:
		t, ok := e.Types[name]
		if !ok {
			p.errf(kn, key, "%q is not a declared field of entity %s", name, e.Name)
			return nil
		}
		fm.Field, fm.Type, region = name, t, t.Region
		if fm.Format != "" && t.Name != "date" && t.Name != "datetime" {
			p.errf(n, key+".format", "format applies to date and datetime fields; %s is a %s", name, t.Name)
		}
		if fm.Format != "" {
			p.checkLayout(n, key+".format", fm.Format)
		}
		if splitNode != nil && joinNode == nil && fm.Dir != mapping.In {
			p.errf(splitNode, key+".split", "split without join: the way back is unknown; add join, or direction: in")
		}
	}
	if region == "" {
		region = p.regions[e]
	}
	if fm.Dir != mapping.In && strings.ContainsAny(fm.Path, "#*?|") {
		p.errf(n, key, "path %q is a query: it can be read, not written; set direction: in", fm.Path)
	}
	for _, n := range stepNodes {
		fm.Steps = append(fm.Steps, p.steps(n.key, n.v, key, fm, region)...)
	}
	if fm.Type != nil && fm.Type.Name == "enum" {
		p.checkEnumMap(n, key, fm)
	}
	return fm
}

// steps compiles the transform under key k (a full key ending in its name).
func (p *parser) steps(k string, v *yaml.Node, key string, fm *mapping.FieldMap, region string) []mapping.Step {
	name := k[strings.LastIndexByte(k, '.')+1:]
	switch name {
	case "transform":
		var out []mapping.Step
		items := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			items = v.Content
		}
		for i, it := range items {
			ik := k
			if v.Kind == yaml.SequenceNode {
				ik = fmt.Sprintf("%s[%d]", k, i)
			}
			switch {
			case it.Kind == yaml.ScalarNode:
				if st, ok := mapping.NamedStep(it.Value, region); ok {
					out = append(out, st)
				} else if slices.Contains(mapping.ArgTransforms, it.Value) {
					p.errf(it, ik, "transform %q takes an argument: write { %s: ... }", it.Value, it.Value)
				} else {
					p.errf(it, key, "unknown transform %q (known: %s)", it.Value, strings.Join(append(slices.Clone(mapping.TransformNames), mapping.ArgTransforms...), ", "))
				}
			case it.Kind == yaml.MappingNode && len(it.Content) == 2:
				out = append(out, p.steps(ik+"."+it.Content[0].Value, it.Content[1], key, fm, region)...)
			default:
				p.errf(it, ik, "a transform is a name (trim) or one name with its argument ({ map: {...} })")
			}
		}
		return out
	case "map":
		m := p.valueMap(v, k)
		if m.hasDef && !m.passthrough && fm.Dir != mapping.In {
			if _, back := m.out[fmt.Sprint(m.def)]; !back {
				p.errf(v, k+".default", "the default %v has no way back to a system value: map it, add passthrough: true, or set direction: in", m.def)
			}
		}
		return []mapping.Step{m.step()}
	case "default":
		return []mapping.Step{mapping.DefaultStep(p.scalar(v, k))}
	case "split":
		return []mapping.Step{mapping.SplitStep(p.sep(v, k))}
	case "join":
		return []mapping.Step{mapping.JoinStep(p.sep(v, k))}
	case "expr":
		if fm.Dir == mapping.Both {
			p.errf(v, k, "expr computes a value one way only: set direction: in or out")
			return nil
		}
		st, err := mapping.ExprStep(p.str(v, k), fm.Dir)
		if err != nil {
			p.errf(v, k, "%s", oneLine(err.Error()))
			return nil
		}
		return []mapping.Step{st}
	}
	if st, ok := mapping.NamedStep(name, region); ok {
		return []mapping.Step{st}
	}
	p.errf(v, key, "unknown transform %q (known: %s)", name, strings.Join(append(slices.Clone(mapping.TransformNames), mapping.ArgTransforms...), ", "))
	return nil
}

func (p *parser) sep(v *yaml.Node, k string) string {
	s := p.str(v, k)
	if s == "" {
		p.errf(v, k, "empty separator")
		return ","
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// valueMap is a value table as the file gives it: system value ->
// canonical value, and back (mapping.MapStep).
type valueMap struct {
	in, out     map[string]string
	def         any  // the canonical value of an unmapped system value, if set
	hasDef      bool // def is set
	passthrough bool // unmapped values pass unchanged (both ways)
}

func (m *valueMap) step() mapping.Step {
	return mapping.MapStep(m.in, m.out, m.def, m.hasDef, m.passthrough)
}

// valueMap reads a value table: { a: A, b: B } or, with options,
// { values: { a: A }, default: X, passthrough: true }.
func (p *parser) valueMap(n *yaml.Node, key string) *valueMap {
	m := &valueMap{in: map[string]string{}, out: map[string]string{}}
	table, tableKey := n, key
	if vals := child(n, "values"); vals != nil && vals.Kind == yaml.MappingNode {
		table = nil
		p.mapping(n, key, map[string]func(string, *yaml.Node){
			"values":      func(k string, v *yaml.Node) { table, tableKey = v, k },
			"default":     func(k string, v *yaml.Node) { m.def, m.hasDef = p.scalar(v, k), true },
			"passthrough": func(k string, v *yaml.Node) { m.passthrough = p.boolean(v, k) },
		})
	}
	if table == nil {
		return m
	}
	p.each(table, tableKey, func(from string, _, tv *yaml.Node) {
		to := p.str(tv, tableKey+"."+from)
		if prev, dup := m.out[to]; dup {
			p.errf(tv, tableKey+"."+from, "%q and %q both map to %q: the way back would be ambiguous", prev, from, to)
		}
		m.in[from], m.out[to] = to, from
	})
	return m
}

// checkEnumMap reports map targets that are not values of the enum: they
// would fail every record they meet.
func (p *parser) checkEnumMap(n *yaml.Node, key string, fm *mapping.FieldMap) {
	for _, st := range fm.Steps {
		for _, v := range st.Targets() {
			if !slices.Contains(fm.Type.Values, v) {
				p.errf(n, key+".map", "maps to %q, which is not a value of enum %s (%s)", v, fm.Field, strings.Join(fm.Type.Values, ", "))
			}
		}
	}
}

// checkPath rejects paths gjson or sjson would misread. Query and wildcard
// paths can be read but not written.
func (p *parser) checkPath(n *yaml.Node, key, path string) {
	if strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") && !strings.HasSuffix(path, `\.`) || strings.Contains(path, "..") {
		p.errf(n, key, "path %q has an empty segment", path)
	}
	if strings.ContainsAny(path, "@") {
		p.errf(n, key, "path %q uses a gjson modifier; map plain paths", path)
	}
}

// checkLayout validates a date format: a named one, or a Go layout that
// round-trips a date.
func (p *parser) checkLayout(n *yaml.Node, key, layout string) {
	if layout == mapping.EpochMillis || layout == mapping.EpochSeconds {
		return
	}
	ref := time.Date(2024, 11, 5, 0, 0, 0, 0, time.UTC)
	if back, err := time.Parse(layout, ref.Format(layout)); err != nil || !back.Equal(ref) && back.Format(mapping.DateLayout) != ref.Format(mapping.DateLayout) {
		p.errf(n, key, "format %q is not a date layout (a Go layout such as 02/01/2006, or epoch_ms, epoch_s)", layout)
	}
}
