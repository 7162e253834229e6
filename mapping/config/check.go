package config

import (
	"fmt"
	"slices"
	"strings"

	"tandem/connectors"
	"tandem/mapping"
)

// Check compares a system's mapped paths with the fields the system
// describes (connectors.Describer) and returns one problem per line: a
// path that names no field, a field written that the system keeps
// read-only, a value table that writes values the field does not allow.
func Check(s *mapping.System, described []connectors.FieldInfo) []string {
	var problems []string
	for _, f := range s.Fields {
		fi, ok := fieldAt(f.Path, described)
		if !ok {
			msg := fmt.Sprintf("%s: no such field in %s %s", f.Path, s.Name, s.Object)
			if near := nearest(f.Path, described); near != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", near)
			}
			problems = append(problems, msg)
			continue
		}
		if fi.ReadOnly && f.Dir != mapping.In && !s.ReadOnly {
			problems = append(problems, fmt.Sprintf("%s: %s keeps %s read-only, but it is mapped to be written; set direction: in", f.Path, s.Name, fi.Label+" ("+fi.Path+")"))
		}
		if len(fi.Options) == 0 || f.Dir == mapping.In || s.ReadOnly {
			continue
		}
		for _, st := range f.Steps {
			for _, v := range st.Sources() {
				if !slices.Contains(fi.Options, v) {
					problems = append(problems, fmt.Sprintf("%s: the map writes %q, which %s does not allow (allowed: %s)", f.Path, v, s.Name, strings.Join(fi.Options, ", ")))
				}
			}
		}
	}
	return problems
}

// fieldAt finds the described field a path reads: the one whose path it
// equals or continues (a nested value, an array element, a query).
func fieldAt(path string, described []connectors.FieldInfo) (connectors.FieldInfo, bool) {
	for _, fi := range described {
		if path == fi.Path || strings.HasPrefix(path, fi.Path+".") || strings.HasPrefix(path, fi.Path+"|") {
			return fi, true
		}
	}
	return connectors.FieldInfo{}, false
}

// nearest suggests a described field that differs from the path in case
// only, the commonest slip with Salesforce's CamelCase names.
func nearest(path string, described []connectors.FieldInfo) string {
	for _, fi := range described {
		if strings.EqualFold(path, fi.Path) || strings.HasPrefix(strings.ToLower(path), strings.ToLower(fi.Path)+".") {
			return fi.Path
		}
	}
	return ""
}
