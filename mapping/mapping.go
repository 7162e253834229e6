package mapping

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
)

// System is how one system's object maps to an entity.
type System struct {
	Name     string // the system (a key under systems:)
	Object   string // the system's record type
	ReadOnly bool   // Tandem never writes to this system
	Fields   []*FieldMap

	reads    []*FieldMap // the entries read, in config order
	needsRec bool        // an expr reads the whole record
}

// FieldMap maps canonical fields to one path of the system's payload.
// Most map one field; a split/join entry maps several (Fields), and a
// constant maps none.
type FieldMap struct {
	Field  string   // the canonical field, or "" for a split/join entry or a constant
	Fields []string // a split/join entry: the fields, in the order of their parts
	Type   *Type    // the canonical type (nil for split/join entries and constants)
	Path   string   // gjson path to read, sjson path to write
	Dir    Direction
	Format string // the system's layout of a date or datetime: a Go layout, epoch_ms or epoch_s

	steps    []step
	split    string // split/join entry: the separator of the parts, each way
	join     string
	constant any // written when Tandem creates a record
	isConst  bool
	types    []*Type // split/join entry: the type of each field
}

// names lists the canonical fields an entry maps.
func (f *FieldMap) names() []string {
	if f.Field != "" {
		return []string{f.Field}
	}
	return f.Fields
}

// Paths lists the payload paths Tandem reads from the system.
func (s *System) Paths() []string {
	ps := make([]string, 0, len(s.reads))
	for _, f := range s.reads {
		ps = append(ps, f.Path)
	}
	return ps
}

// Reads reports whether the field is read from this system.
func (s *System) Reads(field string) bool {
	for _, f := range s.reads {
		if slices.Contains(f.names(), field) {
			return true
		}
	}
	return false
}

// Writes reports whether the field is written to this system.
func (s *System) Writes(field string) bool {
	return s.writer(field) != nil
}

func (s *System) writer(field string) *FieldMap {
	if s.ReadOnly {
		return nil
	}
	for _, f := range s.Fields {
		if f.Dir != In && !f.isConst && slices.Contains(f.names(), field) {
			return f
		}
	}
	return nil
}

// In maps a raw payload to the canonical view of the record. Paths absent
// from the payload are absent from the view; null and "" are nil (empty).
func (s *System) In(raw []byte) (tandem.Values, error) {
	if !gjson.ValidBytes(raw) {
		return nil, fmt.Errorf("%s %s: payload is not valid JSON", s.Name, s.Object)
	}
	env := &exprEnv{}
	if s.needsRec {
		var rec map[string]any
		env.record = func() map[string]any {
			if rec == nil {
				json.Unmarshal(raw, &rec)
			}
			return rec
		}
	}
	v := make(tandem.Values, len(s.reads))
	for _, f := range s.reads {
		r := gjson.GetBytes(raw, f.Path)
		if !r.Exists() {
			continue
		}
		if err := f.in(r.Value(), env, v); err != nil {
			return nil, fmt.Errorf("%s %s: %s (%s): %w", s.Name, s.Object, f.Path, strings.Join(f.names(), ", "), err)
		}
	}
	return v, nil
}

// in runs one entry's pipeline on a value read from the system and sets
// the canonical fields it yields in v.
func (f *FieldMap) in(val any, env *exprEnv, v tandem.Values) error {
	var err error
	for _, st := range f.steps {
		if val, err = st.in(val, env); err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
	}
	if f.Field != "" {
		c, err := f.Type.in(val, f.Format)
		if err != nil {
			return err
		}
		v[f.Field] = c
		return nil
	}
	// A split entry: the value's parts, in order, are the fields; the last
	// takes what remains.
	var parts []string
	if val != nil {
		s, err := scalarText(val)
		if err != nil {
			return err
		}
		if s != "" {
			parts = strings.SplitN(strings.TrimSpace(s.(string)), f.split, len(f.Fields))
		}
	}
	for i, name := range f.Fields {
		var p any
		if i < len(parts) {
			p = strings.TrimSpace(parts[i])
		}
		c, err := f.types[i].in(p, f.Format)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		v[name] = c
	}
	return nil
}

// out runs one entry's pipeline backwards on canonical values, giving the
// value to write to the system.
func (f *FieldMap) out(values tandem.Values, env *exprEnv) (any, error) {
	var val any
	var err error
	switch {
	case f.isConst:
		return f.constant, nil
	case f.Field != "":
		if val, err = f.Type.out(values[f.Field], f.Format); err != nil {
			return nil, err
		}
	default:
		var parts []string
		for i, name := range f.Fields {
			p, err := f.types[i].out(values[name], f.Format)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if p == nil {
				continue
			}
			s, err := scalarText(p)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if s != "" {
				parts = append(parts, s.(string))
			}
		}
		if len(parts) > 0 {
			val = strings.Join(parts, f.join)
		}
	}
	for i := len(f.steps) - 1; i >= 0; i-- {
		if val, err = f.steps[i].out(val, env); err != nil {
			return nil, fmt.Errorf("%s: %w", f.steps[i].name, err)
		}
	}
	return val, nil
}

// Out builds the payload that sets the given canonical fields to their
// values, for the fields written to this system (partial updates: nothing
// else is sent). create adds the constants, which are set when Tandem
// creates a record. It returns the fields it set.
func (s *System) Out(values tandem.Values, fields []string, create bool) (json.RawMessage, []string, error) {
	if s.ReadOnly {
		return nil, nil, fmt.Errorf("%s %s: read_only: Tandem does not write to it", s.Name, s.Object)
	}
	payload := []byte("{}")
	var set []string
	env := &exprEnv{fields: values}
	for _, f := range s.Fields {
		if f.Dir == In {
			continue
		}
		want := f.isConst && create
		if !f.isConst {
			for _, n := range f.names() {
				if _, has := values[n]; has && slices.Contains(fields, n) {
					want = true
				}
			}
		}
		if !want {
			continue
		}
		v, err := f.out(values, env)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: %s (%s): %w", s.Name, s.Object, f.Path, strings.Join(f.names(), ", "), err)
		}
		if payload, err = sjson.SetBytes(payload, f.Path, v); err != nil {
			return nil, nil, fmt.Errorf("%s %s: setting %s: %w", s.Name, s.Object, f.Path, err)
		}
		set = append(set, f.names()...)
	}
	return payload, set, nil
}

// MatchKeys returns the normalised match-key values of a record: trimmed,
// lower-cased text, empty ones left out.
func (e *Entity) MatchKeys(v tandem.Values) map[string]string {
	keys := map[string]string{}
	for _, m := range e.Match {
		var s string
		switch x := v[m].(type) {
		case string:
			s = x
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			s = strconv.FormatBool(x)
		}
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			keys[m] = s
		}
	}
	return keys
}
