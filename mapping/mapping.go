package mapping

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
)

// System is how one system's object maps to an entity.
type System struct {
	Name   string // the system (a key under systems:)
	Object string // the system's record type
	Fields []*FieldMap
}

// FieldMap maps one canonical field to a path in the system's payload.
type FieldMap struct {
	Field string
	Type  string
	Path  string // gjson path to read, sjson path to write
	Dir   Direction
	in    map[string]string // system value -> canonical value
	out   map[string]string // canonical value -> system value
}

// Paths lists the payload paths Tandem reads from the system.
func (s *System) Paths() []string {
	var ps []string
	for _, f := range s.Fields {
		if f.Dir != Out {
			ps = append(ps, f.Path)
		}
	}
	return ps
}

// Reads reports whether the field is read from this system.
func (s *System) Reads(field string) bool {
	f := s.field(field)
	return f != nil && f.Dir != Out
}

// Writes reports whether the field is written to this system.
func (s *System) Writes(field string) bool {
	f := s.field(field)
	return f != nil && f.Dir != In
}

func (s *System) field(name string) *FieldMap {
	for _, f := range s.Fields {
		if f.Field == name {
			return f
		}
	}
	return nil
}

// In maps a raw payload to the canonical view of the record. Paths absent
// from the payload are absent from the view; null and "" become nil.
func (s *System) In(raw []byte) (tandem.Values, error) {
	if !gjson.ValidBytes(raw) {
		return nil, fmt.Errorf("%s %s: payload is not valid JSON", s.Name, s.Object)
	}
	v := tandem.Values{}
	for _, f := range s.Fields {
		if f.Dir == Out {
			continue
		}
		r := gjson.GetBytes(raw, f.Path)
		if !r.Exists() {
			continue
		}
		val, err := f.toCanonical(r)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %s (%s): %w", s.Name, s.Object, f.Path, f.Field, err)
		}
		v[f.Field] = val
	}
	return v, nil
}

func (f *FieldMap) toCanonical(r gjson.Result) (any, error) {
	var s string
	switch r.Type {
	case gjson.Null:
		return nil, nil
	case gjson.String:
		s = r.Str
	case gjson.Number, gjson.True, gjson.False:
		s = r.Raw
	default:
		return nil, fmt.Errorf("want a %s, got %s", f.Type, r.Type)
	}
	if m, ok := f.in[s]; ok {
		s = m
	}
	if f.Type == "email" {
		s = strings.ToLower(strings.TrimSpace(s))
	}
	if s == "" {
		return nil, nil
	}
	return s, nil
}

// Out builds the payload that sets the given fields to their values, for
// the fields written to this system. It returns the fields it set.
func (s *System) Out(values tandem.Values, fields []string) (json.RawMessage, []string, error) {
	payload := []byte("{}")
	var set []string
	for _, name := range fields {
		f := s.field(name)
		if f == nil || f.Dir == In {
			continue
		}
		v, ok := values[name]
		if !ok {
			continue
		}
		if str, isStr := v.(string); isStr {
			if m, ok := f.out[str]; ok {
				v = m
			}
		}
		var err error
		payload, err = sjson.SetBytes(payload, f.Path, v)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: setting %s: %w", s.Name, s.Object, f.Path, err)
		}
		set = append(set, name)
	}
	return payload, set, nil
}

// MatchKeys returns the normalised match-key values of a record: trimmed,
// lower-cased strings, empty ones left out.
func (e *Entity) MatchKeys(v tandem.Values) map[string]string {
	keys := map[string]string{}
	for _, m := range e.Match {
		var s string
		switch x := v[m].(type) {
		case string:
			s = x
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		}
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			keys[m] = s
		}
	}
	return keys
}
