package mapping

import (
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
)

// Masked stands for a sensitive field's value wherever Tandem shows it.
const Masked = "••••••"

// Sensitive reports whether the entity's canonical field is marked
// sensitive: true.
func (e *Entity) Sensitive(field string) bool {
	t := e.Types[field]
	return t != nil && t.Sensitive
}

// MaskValues returns vals with the sensitive fields' values masked (an
// empty value stays empty: that it is empty is no secret).
func (e *Entity) MaskValues(vals tandem.Values) tandem.Values {
	var out tandem.Values
	for f, v := range vals {
		if v == nil || !e.Sensitive(f) {
			continue
		}
		if out == nil {
			out = make(tandem.Values, len(vals))
			for k, v := range vals {
				out[k] = v
			}
		}
		out[f] = Masked
	}
	if out == nil {
		return vals
	}
	return out
}

// MaskConflict returns c with its values masked when its field is
// sensitive, and the sensitive fields of the records it carries whole
// (identity and delete conflicts) masked.
func (e *Entity) MaskConflict(c tandem.Conflict) tandem.Conflict {
	field := c.Field != "" && e.Sensitive(c.Field)
	vals := make(map[string]tandem.SideValue, len(c.Values))
	for sys, sv := range c.Values {
		switch v := sv.Value.(type) {
		case nil:
		case map[string]any: // a whole record's view (identity, delete)
			sv.Value = map[string]any(e.MaskValues(tandem.Values(v)))
		default:
			if field {
				sv.Value = Masked
			}
		}
		vals[sys] = sv
	}
	if !field {
		c.Values = vals
		return c
	}
	c.Values = vals
	if c.Base != nil {
		c.Base = Masked
	}
	return c
}

// MaskRaw returns a record of the system as its API sent it, with the
// payload paths of sensitive fields masked.
func (s *System) MaskRaw(e *Entity, raw []byte) []byte {
	for _, f := range e.Fields {
		if !e.Sensitive(f) {
			continue
		}
		for _, path := range s.SourcePaths(f) {
			if v := gjson.GetBytes(raw, path); !v.Exists() || v.Type == gjson.Null {
				continue
			}
			if out, err := sjson.SetBytes(raw, path, Masked); err == nil {
				raw = out
			}
		}
	}
	return raw
}
