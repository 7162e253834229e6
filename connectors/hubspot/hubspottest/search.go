package hubspottest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// HubSpot's search limits.
const (
	searchDefaultLimit = 10
	searchMaxLimit     = 200
	searchMaxResults   = 10_000 // no query pages past this many results
	maxFilterGroups    = 5
	maxGroupFilters    = 6
	maxFilters         = 18
)

// flexString is a JSON string that also accepts a number or a boolean,
// which HubSpot's deserialiser turns into its text.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	s, ok := coerce(v)
	if !ok {
		return fmt.Errorf("expected a string, got %s", b)
	}
	*f = flexString(s)
	return nil
}

type filter struct {
	PropertyName string       `json:"propertyName"`
	Operator     string       `json:"operator"`
	Value        *flexString  `json:"value,omitempty"`
	HighValue    *flexString  `json:"highValue,omitempty"`
	Values       []flexString `json:"values,omitempty"`
}

// sortSpec is one entry of sorts: {"propertyName","direction"}, or the
// legacy string form "prop" ("-prop" for descending).
type sortSpec struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction,omitempty"`
}

func (s *sortSpec) UnmarshalJSON(b []byte) error {
	var str string
	if json.Unmarshal(b, &str) == nil {
		s.PropertyName, s.Direction = str, "ASCENDING"
		if name, ok := strings.CutPrefix(str, "-"); ok {
			s.PropertyName, s.Direction = name, "DESCENDING"
		}
		return nil
	}
	type plain sortSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode((*plain)(s))
}

type searchRequest struct {
	FilterGroups []struct {
		Filters []filter `json:"filters"`
	} `json:"filterGroups"`
	Sorts      []sortSpec  `json:"sorts"`
	Properties []string    `json:"properties"`
	Limit      *int        `json:"limit"`
	After      *flexString `json:"after"`
	Query      string      `json:"query"`
}

// key is a property value prepared for comparison: numbers and times as
// numbers (times in epoch ms), everything else lower-cased, as HubSpot's
// search compares strings without case.
type key struct {
	ok  bool // the record has a value
	num float64
	str string
}

func numeric(k kind) bool { return k == kindNumber || k == kindDateTime || k == kindDate }

// parseKey reads a value of a property of kind k.
func parseKey(k kind, v string) (key, bool) {
	switch k {
	case kindDateTime, kindDate:
		t, ok := parseTime(v)
		return key{ok: true, num: float64(t.UnixMilli())}, ok
	case kindNumber:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return key{ok: true, num: f}, err == nil
	}
	return key{ok: true, str: strings.ToLower(v)}, true
}

// keyOf is a record's value of a property, read from the record's own
// fields for the server-maintained ones (no parsing on the hot path).
func (t *objectType) keyOf(d *propDef, r *record) key {
	switch d.name {
	case "createdate":
		return key{ok: true, num: float64(r.created.UnixMilli())}
	case t.modProp:
		return key{ok: true, num: float64(r.updated.UnixMilli())}
	case "hs_object_id":
		return key{ok: true, num: float64(r.num)}
	}
	v, set := r.props[d.name]
	if !set {
		return key{}
	}
	k, _ := parseKey(d.kind, v) // stored values were validated on write
	return k
}

func compare(k kind, a, b key) int {
	if numeric(k) {
		switch {
		case a.num < b.num:
			return -1
		case a.num > b.num:
			return 1
		}
		return 0
	}
	return strings.Compare(a.str, b.str)
}

// cond is a compiled filter.
type cond struct {
	def      *propDef
	op       string
	val, hi  key
	vals     []key
	rawValue string
}

var operators = map[string]bool{"EQ": true, "NEQ": true, "GT": true, "GTE": true, "LT": true, "LTE": true,
	"HAS_PROPERTY": true, "NOT_HAS_PROPERTY": true, "IN": true, "NOT_IN": true, "BETWEEN": true,
	"CONTAINS_TOKEN": true, "NOT_CONTAINS_TOKEN": true}

func (t *objectType) compile(f filter) (cond, *reply) {
	c := cond{def: t.props[f.PropertyName], op: f.Operator}
	if c.def == nil {
		return c, validation("Invalid filter: property %q does not exist on %s", f.PropertyName, t.name)
	}
	if !operators[f.Operator] {
		return c, validation("Invalid filter operator %q for property %s", f.Operator, f.PropertyName)
	}
	parse := func(what string, v *flexString) (key, *reply) {
		if v == nil {
			return key{}, validation("Invalid filter: operator %s on %s needs a %s", f.Operator, f.PropertyName, what)
		}
		k, ok := parseKey(c.def.kind, string(*v))
		if !ok {
			want := "a number"
			if c.def.kind == kindDateTime || c.def.kind == kindDate {
				want = "a timestamp (epoch milliseconds or ISO 8601)"
			}
			return key{}, validation("Invalid filter value %q for %s: expected %s", string(*v), f.PropertyName, want)
		}
		return k, nil
	}
	var rep *reply
	switch f.Operator {
	case "HAS_PROPERTY", "NOT_HAS_PROPERTY":
	case "IN", "NOT_IN":
		if len(f.Values) == 0 {
			return c, validation("Invalid filter: operator %s on %s needs values", f.Operator, f.PropertyName)
		}
		for _, v := range f.Values {
			k, rep := parse("value", &v)
			if rep != nil {
				return c, rep
			}
			c.vals = append(c.vals, k)
		}
	case "BETWEEN":
		if c.val, rep = parse("value", f.Value); rep == nil {
			c.hi, rep = parse("highValue", f.HighValue)
		}
	default:
		if c.val, rep = parse("value", f.Value); rep == nil {
			c.rawValue = strings.ToLower(string(*f.Value))
		}
	}
	return c, rep
}

func (c *cond) match(t *objectType, r *record) bool {
	k := t.keyOf(c.def, r)
	switch c.op {
	case "HAS_PROPERTY":
		return k.ok
	case "NOT_HAS_PROPERTY":
		return !k.ok
	case "NEQ": // a record without the property is not equal to anything
		return !k.ok || compare(c.def.kind, k, c.val) != 0
	case "NOT_IN":
		return !k.ok || !slices.ContainsFunc(c.vals, func(v key) bool { return compare(c.def.kind, k, v) == 0 })
	case "NOT_CONTAINS_TOKEN":
		return !k.ok || !containsToken(r.props[c.def.name], c.rawValue)
	}
	if !k.ok {
		return false
	}
	d := compare(c.def.kind, k, c.val)
	switch c.op {
	case "EQ":
		return d == 0
	case "GT":
		return d > 0
	case "GTE":
		return d >= 0
	case "LT":
		return d < 0
	case "LTE":
		return d <= 0
	case "BETWEEN":
		return d >= 0 && compare(c.def.kind, k, c.hi) <= 0
	case "IN":
		return slices.ContainsFunc(c.vals, func(v key) bool { return compare(c.def.kind, k, v) == 0 })
	case "CONTAINS_TOKEN":
		return containsToken(r.props[c.def.name], c.rawValue)
	}
	return false
}

// containsToken matches a token pattern (with * wildcards) against the
// whole value or any of its words.
func containsToken(value, pattern string) bool {
	value = strings.ToLower(value)
	if ok, _ := path.Match(pattern, value); ok || value == pattern {
		return true
	}
	for _, tok := range strings.FieldsFunc(value, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if ok, _ := path.Match(pattern, tok); ok {
			return true
		}
	}
	return false
}

// search is POST /crm/v3/objects/{type}/search: live records only, filter
// groups OR'ed, filters in a group AND'ed, one sort, offset paging capped
// at 10,000 results.
func (e *Emulator) search(_ *http.Request, t *objectType, _ string, body []byte) *reply {
	var req searchRequest
	if rep := decode(body, &req); rep != nil {
		return rep
	}
	limit := searchDefaultLimit
	if req.Limit != nil {
		limit = *req.Limit
	}
	if limit < 0 || limit > searchMaxLimit {
		return validation("limit must be between 0 and %d, got %d", searchMaxLimit, limit)
	}
	after := 0
	if req.After != nil && *req.After != "" {
		n, err := strconv.Atoi(string(*req.After))
		if err != nil || n < 0 {
			return validation("Invalid after %q: expected the after value of a previous page", string(*req.After))
		}
		after = n
	}
	if after+limit > searchMaxResults {
		return validation("Search results are limited to %d per query: after=%d with limit=%d goes past that. Narrow the query with filters instead of paging further.", searchMaxResults, after, limit)
	}
	groups, rep := t.compileGroups(req)
	if rep != nil {
		return rep
	}
	if len(req.Sorts) > 1 {
		return validation("Only one sort is supported per search, got %d", len(req.Sorts))
	}
	sortBy, desc := t.props["hs_object_id"], false
	if len(req.Sorts) == 1 {
		s := req.Sorts[0]
		if sortBy = t.props[s.PropertyName]; sortBy == nil {
			return validation("Invalid sort: property %q does not exist on %s", s.PropertyName, t.name)
		}
		switch s.Direction {
		case "", "ASCENDING":
		case "DESCENDING":
			desc = true
		default:
			return validation("Invalid sort direction %q: use ASCENDING or DESCENDING", s.Direction)
		}
	}
	query := strings.ToLower(strings.TrimSpace(req.Query))

	type result struct {
		Total   int         `json:"total"`
		Results []apiObject `json:"results"`
		Paging  *struct {
			Next nextPage `json:"next"`
		} `json:"paging,omitempty"`
	}
	page := func(total int, at func(i int) *record) *reply {
		out := result{Total: total, Results: []apiObject{}}
		for i := after; i < total && i < after+limit; i++ {
			out.Results = append(out.Results, t.render(at(i), req.Properties))
		}
		if limit > 0 && after+limit < total {
			out.Paging = &struct {
				Next nextPage `json:"next"`
			}{nextPage{After: strconv.Itoa(after + limit)}}
		}
		return &reply{status: http.StatusOK, body: out}
	}
	tb := e.tables[t.name]
	tb.catchUp(e.now())
	if lo, hi, ok := t.indexRange(tb, groups, sortBy, desc, query); ok {
		var recs []*record
		each(tb.ix, lo+after, min(lo+after+limit, hi), func(r *record) { recs = append(recs, r) })
		return page(hi-lo, func(i int) *record { return recs[i-after] })
	}

	type hit struct {
		r *record
		k key
	}
	var hits []hit
	for _, r := range tb.rows {
		if r = tb.searchView(r); r != nil && t.matches(r, groups, query) {
			hits = append(hits, hit{r, t.keyOf(sortBy, r)})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool { // rows are in id order: ties stay by id
		a, b := hits[i].k, hits[j].k
		if a.ok != b.ok {
			return a.ok // records without a value last
		}
		d := compare(sortBy.kind, a, b)
		if desc {
			d = -d
		}
		return d < 0
	})

	return page(len(hits), func(i int) *record { return hits[i].r })
}

func (t *objectType) compileGroups(req searchRequest) ([][]cond, *reply) {
	if len(req.FilterGroups) > maxFilterGroups {
		return nil, validation("Too many filter groups: %d (at most %d)", len(req.FilterGroups), maxFilterGroups)
	}
	total := 0
	groups := make([][]cond, 0, len(req.FilterGroups))
	for _, g := range req.FilterGroups {
		if len(g.Filters) > maxGroupFilters {
			return nil, validation("Too many filters in a filter group: %d (at most %d)", len(g.Filters), maxGroupFilters)
		}
		if total += len(g.Filters); total > maxFilters {
			return nil, validation("Too many filters: at most %d across all filter groups", maxFilters)
		}
		conds := make([]cond, 0, len(g.Filters))
		for _, f := range g.Filters {
			c, rep := t.compile(f)
			if rep != nil {
				return nil, rep
			}
			conds = append(conds, c)
		}
		groups = append(groups, conds)
	}
	return groups, nil
}

// matches: any group whose filters all hold (no groups: everything), and
// the free-text query found in one of the searchable properties.
func (t *objectType) matches(r *record, groups [][]cond, query string) bool {
	if query != "" && !slices.ContainsFunc(t.searchable, func(p string) bool {
		return strings.Contains(strings.ToLower(r.props[p]), query)
	}) {
		return false
	}
	if len(groups) == 0 {
		return true
	}
	return slices.ContainsFunc(groups, func(g []cond) bool {
		for i := range g {
			if !g[i].match(t, r) {
				return false
			}
		}
		return true
	})
}
