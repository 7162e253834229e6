package config

import "tandem"

// MaskConflicts masks the sensitive values of conflicts of any of the
// config's entities.
func (c *Config) MaskConflicts(cs []tandem.Conflict) []tandem.Conflict {
	out := make([]tandem.Conflict, len(cs))
	for i, x := range cs {
		out[i] = x
		if e, ok := c.Entity(x.Entity); ok {
			out[i] = e.MaskConflict(x)
		}
	}
	return out
}
