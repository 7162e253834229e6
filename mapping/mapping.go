// Package mapping turns a system's raw payloads into canonical values and
// back, as an entity's compiled field mappings say: raw payload ->
// canonical view (gjson paths), canonical -> payload (sjson paths), value
// tables and other transforms, canonical types, directions and match-key
// normalisation. The config file is read, and the mappings compiled from
// it, by package tandem/mapping/config.
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
	index    *pathNode   // the plain paths of reads, as a tree of keys
	queries  []int       // the reads whose paths are not plain (see plainPath)
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

	Steps     []Step // the transforms, in config order
	Split     string // split/join entry: the separator of the parts, each way
	Join      string
	Constant  any     // written when Tandem creates a record
	IsConst   bool    // a constant: written on create, never read
	PartTypes []*Type // split/join entry: the type of each field
}

// Names lists the canonical fields an entry maps.
func (f *FieldMap) Names() []string {
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

// SourcePaths lists the payload paths a canonical field is read from.
func (s *System) SourcePaths(field string) []string {
	var ps []string
	for _, f := range s.reads {
		if slices.Contains(f.Names(), field) {
			ps = append(ps, f.Path)
		}
	}
	return ps
}

// Reads reports whether the field is read from this system.
func (s *System) Reads(field string) bool {
	for _, f := range s.reads {
		if slices.Contains(f.Names(), field) {
			return true
		}
	}
	return false
}

// FieldsAt lists the canonical fields written at a payload path, or
// inside it (a path into a jsonb column is inside the column's path): a
// system that refuses a value names it by its path.
func (s *System) FieldsAt(path string) []string {
	var fs []string
	for _, f := range s.Fields {
		if f.Dir != In && !f.IsConst && (f.Path == path || strings.HasPrefix(f.Path, path+".")) {
			fs = append(fs, f.Names()...)
		}
	}
	return fs
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
		if f.Dir != In && !f.IsConst && slices.Contains(f.Names(), field) {
			return f
		}
	}
	return nil
}

// In maps a raw payload to the canonical view of the record. Paths absent
// from the payload are absent from the view; null and "" are nil (empty).
// A value that cannot be mapped fails the whole record (InFields does not).
func (s *System) In(raw []byte) (tandem.Values, error) {
	v, bad, err := s.in(raw, true)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, bad[0]
	}
	return v, nil
}

// FieldError is a value of a record that the mapping cannot read: a phone
// that does not parse, a value a map does not list.
type FieldError struct {
	System, Object string
	Path           string   // where the value is in the payload
	Fields         []string // the canonical fields it maps to
	Value          any      // the value, as the payload holds it
	Err            error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s %s: %s (%s): %v", e.System, e.Object, e.Path, strings.Join(e.Fields, ", "), e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// InFields is In for a record whose values are read one by one: a value
// that cannot be mapped is left out of the view (as if the payload did not
// hold it) and reported, and the other fields are read. Only a payload
// that is not JSON fails the whole record.
func (s *System) InFields(raw []byte) (tandem.Values, []*FieldError, error) {
	return s.in(raw, false)
}

// in maps a payload; first stops at the first value that cannot be mapped.
func (s *System) in(raw []byte, first bool) (tandem.Values, []*FieldError, error) {
	if !gjson.ValidBytes(raw) {
		return nil, nil, fmt.Errorf("%s %s: payload is not valid JSON", s.Name, s.Object)
	}
	var env *exprEnv // only an expr reading the record needs one
	if s.needsRec {
		var rec map[string]any
		env = &exprEnv{}
		env.record = func() map[string]any {
			if rec == nil {
				json.Unmarshal(raw, &rec)
			}
			return rec
		}
	}
	// One copy of the payload: the values found point into it, not into
	// raw, which the caller may reuse.
	found, ok := s.lookup(string(raw))
	v := make(tandem.Values, len(s.reads))
	var bad []*FieldError
	for i, f := range s.reads {
		if !ok[i] {
			continue
		}
		if err := f.in(found[i], env, v); err != nil {
			bad = append(bad, &FieldError{System: s.Name, Object: s.Object, Path: f.Path, Fields: f.Names(), Value: found[i], Err: err})
			for _, n := range f.Names() {
				delete(v, n) // a split entry may have set some parts
			}
			if first {
				return nil, bad, nil
			}
		}
	}
	return v, bad, nil
}

// lookup finds the value of each read's path in a payload already
// checked by gjson.ValidBytes (the scan below trusts its structure), and
// whether it exists: what gjson.Get(raw, path) finds, in one pass over the
// payload rather than one scan from the top per path. (gjson.GetBytes per
// path was a third of In's time with 15 fields, and gjson.GetManyBytes is
// the same loop; one gjson ForEach pass was still half of it.) The tests
// and FuzzIn hold it to gjson.Get.
func (s *System) lookup(raw string) (values []any, exists []bool) {
	res := results{make([]any, len(s.reads)), make([]bool, len(s.reads))}
	for _, i := range s.queries {
		res.set(i, gjson.Get(raw, s.reads[i].Path))
	}
	if i := skipSpace(raw, 0); i < len(raw) && raw[i] == '{' {
		s.index.walk(raw, i, res)
	} else {
		for _, b := range s.index.below { // no keys to walk: gjson decides
			res.set(b.read, gjson.Get(raw, b.rest))
		}
	}
	return res.values, res.exists
}

// results are the values lookup found, by read.
type results struct {
	values []any
	exists []bool
}

func (r results) set(i int, v gjson.Result) {
	if v.Exists() {
		r.values[i], r.exists[i] = v.Value(), true
	}
}

// pathNode is one key of the plain paths a system reads; the root stands
// for the payload itself.
type pathNode struct {
	children map[string]*pathNode // by key, unescaped
	ends     []int                // the reads whose paths end at this key
	below    []pathRest           // the reads whose paths go on below it
}

// pathRest is a read whose path goes on below a node, and the rest of its
// path from there, escaped as gjson reads it.
type pathRest struct {
	read int
	rest string
}

// indexPaths builds the tree of the reads' plain paths; the others are
// queries, left to gjson.Get.
func indexPaths(reads []*FieldMap) (root *pathNode, queries []int) {
	root = &pathNode{}
	for i, f := range reads {
		keys, starts, ok := plainPath(f.Path)
		if !ok {
			queries = append(queries, i)
			continue
		}
		n := root
		for j, k := range keys {
			n.below = append(n.below, pathRest{read: i, rest: f.Path[starts[j]:]})
			c := n.children[k]
			if c == nil {
				if n.children == nil {
					n.children = map[string]*pathNode{}
				}
				c = &pathNode{}
				n.children[k] = c
			}
			n = c
		}
		n.ends = append(n.ends, i)
	}
	return root, queries
}

// plainPath splits a gjson path of object keys ("properties.email",
// `custom\.field`) into its unescaped keys and where each starts in path.
// Paths with wildcards, queries, modifiers, multipaths or empty keys are
// not plain.
func plainPath(path string) (keys []string, starts []int, ok bool) {
	var key []byte
	start := 0
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '\\':
			if i++; i == len(path) {
				return nil, nil, false
			}
			key = append(key, path[i])
		case '.':
			if len(key) == 0 {
				return nil, nil, false
			}
			keys, starts, key, start = append(keys, string(key)), append(starts, start), key[:0], i+1
		case '*', '?', '#', '|', '@', '!', '[', ']', '{', '}', '(', ')', '=', '<', '>', '%', '"':
			return nil, nil, false
		default:
			key = append(key, c)
		}
	}
	if len(key) == 0 {
		return nil, nil, false
	}
	return append(keys, string(key)), append(starts, start), true
}

// walk scans the JSON value at raw[i] (valid JSON, no space before it),
// filling res with the reads at and below n, and returns the index past
// the value. As with gjson.Get, a key that occurs twice is taken from the
// first occurrence under which the rest of the path exists.
func (n *pathNode) walk(raw string, i int, res results) int {
	pending := false
	for _, b := range n.below {
		pending = pending || !res.exists[b.read]
	}
	var end int
	switch {
	case pending && raw[i] == '{':
		end = n.members(raw, i, res)
	case pending && raw[i] == '[':
		// The rest of the path indexes or queries the array: gjson
		// decides what it finds there.
		end = valueEnd(raw, i)
		for _, b := range n.below {
			if !res.exists[b.read] {
				res.set(b.read, gjson.Get(raw[i:end], b.rest))
			}
		}
	default:
		end = valueEnd(raw, i)
	}
	for _, r := range n.ends {
		if !res.exists[r] {
			res.values[r], res.exists[r] = leafValue(raw[i:end]), true
		}
	}
	return end
}

// members walks the members of the object at raw[i], and returns the
// index past it.
func (n *pathNode) members(raw string, i int, res results) int {
	i++ // {
	for {
		if i = skipSpace(raw, i); i >= len(raw) || raw[i] == '}' {
			return i + 1
		}
		keyEnd := stringEnd(raw, i)
		key := raw[i+1 : keyEnd-1]
		if strings.IndexByte(key, '\\') >= 0 {
			key = gjson.Parse(raw[i:keyEnd]).Str // unescaped
		}
		i = skipSpace(raw, keyEnd) // and the colon
		if c := n.children[key]; c != nil {
			i = c.walk(raw, i, res)
		} else {
			i = valueEnd(raw, i)
		}
	}
}

// leafValue is the value of a valid JSON text, as gjson's Value gives it:
// strings without escapes (most of them) are cut from the text as they are.
func leafValue(text string) any {
	if text[0] == '"' && strings.IndexByte(text, '\\') < 0 {
		return text[1 : len(text)-1]
	}
	return gjson.Parse(text).Value()
}

// skipSpace skips white space, commas and colons: between the tokens of
// valid JSON, nothing else.
func skipSpace(raw string, i int) int {
	for i < len(raw) {
		switch raw[i] {
		case ' ', '\t', '\n', '\r', ',', ':':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index past the string that starts at raw[i].
func stringEnd(raw string, i int) int {
	for i++; ; i++ {
		q := strings.IndexByte(raw[i:], '"')
		if q < 0 {
			return len(raw)
		}
		i += q
		escapes := 0
		for j := i - 1; raw[j] == '\\'; j-- {
			escapes++
		}
		if escapes%2 == 0 {
			return i + 1
		}
	}
}

// valueEnd returns the index past the JSON value that starts at raw[i].
func valueEnd(raw string, i int) int {
	switch raw[i] {
	case '"':
		return stringEnd(raw, i)
	case '{', '[':
		depth := 0
		for ; i < len(raw); i++ {
			switch raw[i] {
			case '"':
				i = stringEnd(raw, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for ; i < len(raw); i++ { // a number, true, false or null
		switch raw[i] {
		case ' ', '\t', '\n', '\r', ',', '}', ']':
			return i
		}
	}
	return i
}

// in runs one entry's pipeline on a value read from the system and sets
// the canonical fields it yields in v.
func (f *FieldMap) in(val any, env *exprEnv, v tandem.Values) error {
	var err error
	for _, st := range f.Steps {
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
			parts = strings.SplitN(strings.TrimSpace(s.(string)), f.Split, len(f.Fields))
		}
	}
	for i, name := range f.Fields {
		var p any
		if i < len(parts) {
			p = strings.TrimSpace(parts[i])
		}
		c, err := f.PartTypes[i].in(p, f.Format)
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
	case f.IsConst:
		return f.Constant, nil
	case f.Field != "":
		if val, err = f.Type.out(values[f.Field], f.Format); err != nil {
			return nil, err
		}
	default:
		var parts []string
		for i, name := range f.Fields {
			p, err := f.PartTypes[i].out(values[name], f.Format)
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
			val = strings.Join(parts, f.Join)
		}
	}
	for i := len(f.Steps) - 1; i >= 0; i-- {
		if val, err = f.Steps[i].out(val, env); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Steps[i].name, err)
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
		want := f.IsConst && create
		if !f.IsConst {
			for _, n := range f.Names() {
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
			var held any
			if len(f.Names()) == 1 {
				held = values[f.Names()[0]]
			}
			return nil, nil, &FieldError{System: s.Name, Object: s.Object, Path: f.Path, Fields: f.Names(), Value: held, Err: err}
		}
		if payload, err = sjson.SetBytes(payload, f.Path, v); err != nil {
			return nil, nil, fmt.Errorf("%s %s: setting %s: %w", s.Name, s.Object, f.Path, err)
		}
		set = append(set, f.Names()...)
	}
	return payload, set, nil
}

// MatchKeys returns the normalised match-key values of a record: trimmed,
// lower-cased text, empty ones left out; the fallback's when it has none.
func (e *Entity) MatchKeys(v tandem.Values) map[string]string {
	keys := matchKeys(e.Match, v)
	if len(keys) == 0 && len(e.Fallback) > 0 {
		return matchKeys(e.Fallback, v)
	}
	return keys
}

// StoredKeys are the keys an entity is found by: its match keys and its
// fallback's, so a record with no match key finds it by the fallback.
func (e *Entity) StoredKeys(v tandem.Values) map[string]string {
	keys := matchKeys(e.Match, v)
	for f, k := range matchKeys(e.Fallback, v) {
		keys[f] = k
	}
	return keys
}

// matchKeys are the normalised values of fields that v holds.
func matchKeys(fields []string, v tandem.Values) map[string]string {
	keys := map[string]string{}
	for _, m := range fields {
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
