package mapping

import (
	"fmt"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
)

// A Step is one transform of a field's pipeline. On the way in a field's
// steps run in config order, from the system's value towards the
// canonical one; on the way out they run in reverse, each undoing itself
// where it can.
type Step struct {
	name    string
	targets []string // map: the canonical values it yields, to check against an enum
	sources []string // map: the system values it knows, to check against the system's options
	// lossy says how a canonical value written out by this step can read
	// back as another one ("" when it always reads back the same): what
	// tandem doctor warns about (System.Lossy).
	lossy string
	in    func(v any, env *exprEnv) (any, error)
	out   func(v any, env *exprEnv) (any, error)
}

// exprEnv is what an expr transform sees besides the value itself: on the
// way in the whole record as the system sent it, on the way out the
// canonical values of the entity.
type exprEnv struct {
	record func() map[string]any
	fields map[string]any
}

func pass(v any, _ *exprEnv) (any, error) { return v, nil }

// onText applies f to strings; nil and other values pass unchanged.
func onText(f func(string) string) func(any, *exprEnv) (any, error) {
	return func(v any, _ *exprEnv) (any, error) {
		if s, ok := v.(string); ok {
			if t := f(s); t != s {
				return t, nil
			}
		}
		return v, nil
	}
}

// TransformNames are the transforms written by name alone.
var TransformNames = []string{"trim", "lower", "upper", "e164"}

// ArgTransforms are the transforms that take an argument.
var ArgTransforms = []string{"map", "default", "split", "join", "expr"}

// NamedStep is the transform written by name alone (trim, lower, upper,
// e164); region is the default region of e164's phone numbers.
func NamedStep(name, region string) (Step, bool) {
	switch name {
	case "trim":
		return Step{name: name, in: onText(strings.TrimSpace), out: onText(strings.TrimSpace),
			lossy: `a value with spaces around it (" Ann ") is written and read back without them ("Ann")`}, true
	case "lower":
		return Step{name: name, in: onText(strings.ToLower), out: pass,
			lossy: `a value is written as it is ("Ann") and read back in lower case ("ann")`}, true
	case "upper":
		return Step{name: name, in: onText(strings.ToUpper), out: pass,
			lossy: `a value is written as it is ("Ann") and read back in upper case ("ANN")`}, true
	case "e164":
		norm := func(v any, _ *exprEnv) (any, error) {
			if v == nil {
				return nil, nil
			}
			s, err := scalarText(v)
			if err != nil {
				return nil, err
			}
			return e164(s.(string), region)
		}
		return Step{name: name, in: norm, out: norm}, true
	}
	return Step{}, false
}

// valueMap is a value table: system value -> canonical value, and back.
type valueMap struct {
	in, out     map[string]string
	def         any  // the canonical value of an unmapped system value, if set
	hasDef      bool // def is set
	passthrough bool // unmapped values pass unchanged (both ways)
}

func (m *valueMap) step() Step {
	lookup := func(table map[string]string, dir string, useDef bool) func(any, *exprEnv) (any, error) {
		return func(v any, _ *exprEnv) (any, error) {
			if v == nil {
				return nil, nil
			}
			s, err := scalarText(v)
			if err != nil {
				return nil, err
			}
			if to, ok := table[s.(string)]; ok {
				return to, nil
			}
			switch {
			case useDef && m.hasDef:
				return m.def, nil
			case m.passthrough:
				return v, nil
			}
			return nil, fmt.Errorf("%s value %q is not in the map (add it, a default, or passthrough: true)", dir, s)
		}
	}
	st := Step{name: "map", in: lookup(m.in, "system", true), out: lookup(m.out, "canonical", false)}
	if m.hasDef {
		// Not one-to-one: every system value the table does not list reads
		// as the default, so a canonical value it does not list, written
		// out as it is, reads back as the default.
		st.lossy = fmt.Sprintf("every value the table does not list reads back as its default %v", m.def)
		if !m.passthrough {
			st.lossy = fmt.Sprintf("every system value the table does not list reads as its default %v, and the default is written as %q", m.def, m.out[fmt.Sprint(m.def)])
		}
	}
	for to, from := range m.out {
		st.targets = append(st.targets, to)
		st.sources = append(st.sources, from)
	}
	slices.Sort(st.sources)
	if s, ok := m.def.(string); ok && m.hasDef {
		st.targets = append(st.targets, s)
	}
	slices.Sort(st.targets)
	return st
}

// DefaultStep fills an empty value (null or ""), both ways.
func DefaultStep(def any) Step {
	f := func(v any, _ *exprEnv) (any, error) {
		if v == nil || v == "" {
			return def, nil
		}
		return v, nil
	}
	return Step{name: "default", in: f, out: f, lossy: fmt.Sprintf("an empty value is written, and read back, as %v", def)}
}

// SplitStep reads a delimited string as a list; it does nothing on the
// way out (join does).
func SplitStep(sep string) Step {
	return Step{name: "split", out: pass, lossy: fmt.Sprintf("an item holding %q, empty, or with spaces around it does not read back as the same items", sep), in: func(v any, _ *exprEnv) (any, error) {
		if v == nil {
			return nil, nil
		}
		s, ok := v.(string)
		if !ok {
			return v, nil // already a list: nothing to split
		}
		var items []any
		for _, p := range strings.Split(s, sep) {
			if p = strings.TrimSpace(p); p != "" {
				items = append(items, p)
			}
		}
		if len(items) == 0 {
			return nil, nil
		}
		return items, nil
	}}
}

// JoinStep writes a list as a delimited string; it does nothing on the way
// in (split does).
func JoinStep(sep string) Step {
	return Step{name: "join", in: pass, out: func(v any, _ *exprEnv) (any, error) {
		items, ok := v.([]any)
		if !ok {
			return v, nil
		}
		parts := make([]string, 0, len(items))
		for _, it := range items {
			s, err := scalarText(it)
			if err != nil {
				return nil, err
			}
			parts = append(parts, s.(string))
		}
		return strings.Join(parts, sep), nil
	}}
}

// ExprStep evaluates an expression compiled once at load. It is one-way:
// the field must be mapped in or out, and the step runs that way only.
// On the way in it sees value and record (the system's whole payload); on
// the way out value and fields (the canonical values).
func ExprStep(src string, dir Direction) (Step, error) {
	prog, err := expr.Compile(src, expr.Env(exprVars{}))
	if err != nil {
		return Step{}, err
	}
	usesRecord := strings.Contains(src, "record")
	run := func(v any, e *exprEnv) (any, error) {
		vars := exprVars{Value: v}
		if e != nil {
			vars.Fields = e.fields
			if usesRecord && e.record != nil {
				vars.Record = e.record()
			}
		}
		out, err := expr.Run(prog, vars)
		if err != nil {
			return nil, fmt.Errorf("expr: %w", err)
		}
		return jsonValue(out)
	}
	s := Step{name: "expr", in: pass, out: pass}
	if dir == In {
		s.in = run
	} else {
		s.out = run
	}
	return s, nil
}

// exprVars is what an expression sees. Value is typed any, so the
// expression decides at run time what it is (a number, a text ...).
type exprVars struct {
	Value  any            `expr:"value"`
	Record map[string]any `expr:"record"`
	Fields map[string]any `expr:"fields"`
}

// jsonValue turns an expression's result into a JSON value.
func jsonValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, float64:
		return x, nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case float32:
		return float64(x), nil
	case []any:
		return x, nil
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, nil
	case map[string]any:
		return x, nil
	}
	return nil, fmt.Errorf("expr: result %T is not a JSON value", v)
}
