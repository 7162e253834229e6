package hubspottest

import "math"

// The modified-time index. A pull searches "modified >= the cursor, sorted
// by modified, ascending", one page at a time, each page a fresh search
// from the cursor. Answered by filtering and sorting every record, a page
// costs O(n log n) and a full read of n records O(n² log n / page): at a
// million contacts the emulator, not the client, would be what a benchmark
// measures. So each table keeps its live records ordered by (modified ms,
// id number) — the order the scan produces, ties by id — in an
// order-statistic treap, and such a search costs O(log n + page).
//
// It is an implementation detail: the answers are the scan's, byte for
// byte (index_test.go compares them on random workloads).

// useIndex lets the tests and the benchmark compare the index with the
// scan it replaces.
var useIndex = true

// ixNode is one live record in a table's modified-time index.
type ixNode struct {
	ms, num     int64 // the key: modified time (epoch ms), then id number
	prio        uint64
	size        int
	left, right *ixNode
	r           *record
}

func (n *ixNode) less(ms, num int64) bool { return n.ms < ms || n.ms == ms && n.num < num }

func size(n *ixNode) int {
	if n == nil {
		return 0
	}
	return n.size
}

func (n *ixNode) fix() { n.size = 1 + size(n.left) + size(n.right) }

// split cuts t into the nodes with keys below (ms, num) and the rest.
func split(t *ixNode, ms, num int64) (lo, hi *ixNode) {
	if t == nil {
		return nil, nil
	}
	if t.less(ms, num) {
		t.right, hi = split(t.right, ms, num)
		t.fix()
		return t, hi
	}
	lo, t.left = split(t.left, ms, num)
	t.fix()
	return lo, t
}

// join joins two treaps, every key of a below every key of b.
func join(a, b *ixNode) *ixNode {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.prio > b.prio:
		a.right = join(a.right, b)
		a.fix()
		return a
	default:
		b.left = join(a, b.left)
		b.fix()
		return b
	}
}

// mix is splitmix64: a record's priority from its id number, so the
// treap's shape does not depend on a random source.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// index puts a record under its current modified time (taking it from
// its old place first), or leaves it out when it is archived.
func (tb *table) index(r *record) {
	if r.ix != nil || r.archived {
		tb.unindex(r)
	}
	if r.archived {
		return
	}
	n := &ixNode{ms: r.updated.UnixMilli(), num: r.num, prio: mix(uint64(r.num)), size: 1, r: r}
	lo, hi := split(tb.ix, n.ms, n.num)
	tb.ix = join(join(lo, n), hi)
	r.ix = n
}

// unindex removes a record, before its modified time changes, or when it
// is archived (index leaves it out then).
func (tb *table) unindex(r *record) {
	n := r.ix
	if n == nil {
		return
	}
	lo, rest := split(tb.ix, n.ms, n.num)
	_, hi := split(rest, n.ms, n.num+1)
	tb.ix = join(lo, hi)
	r.ix = nil
}

// countBelow is the number of indexed records whose modified time (as the
// search compares it, a float64 of epoch ms) is below v, or at most v when
// orEqual.
func (tb *table) countBelow(v float64, orEqual bool) int {
	c := 0
	for n := tb.ix; n != nil; {
		if x := float64(n.ms); x < v || orEqual && x == v {
			c += size(n.left) + 1
			n = n.right
		} else {
			n = n.left
		}
	}
	return c
}

// each calls fn for the records at positions [from, to) of the index.
func each(n *ixNode, from, to int, fn func(*record)) {
	if n == nil || from >= to || to <= 0 || from >= n.size {
		return
	}
	l := size(n.left)
	each(n.left, from, to, fn)
	if from <= l && l < to {
		fn(n.r)
	}
	each(n.right, from-l-1, to-l-1, fn)
}

// indexRange is the positions [lo, hi) of the index a search selects, and
// whether the index can answer it: no free-text query, at most one filter
// group whose filters are all comparisons of the modified-date property,
// sorted by that property ascending. Anything else is scanned.
//
// It also answers the search that pages a run of ties by id (modified EQ
// T, hs_object_id GT or GTE x, sorted by hs_object_id ascending; see
// tieRange), since within one modified time the index is in id order.
func (t *objectType) indexRange(tb *table, groups [][]cond, sortBy *propDef, desc bool, query string) (lo, hi int, ok bool) {
	if !useIndex || query != "" || desc || sortBy == nil {
		return 0, 0, false
	}
	if len(groups) == 2 && sortBy.name == t.modProp {
		return t.tailRange(tb, groups)
	}
	if len(groups) > 1 {
		return 0, 0, false
	}
	if sortBy.name == "hs_object_id" {
		return t.tieRange(tb, groups)
	}
	if sortBy.name != t.modProp {
		return 0, 0, false
	}
	lo, hi = 0, size(tb.ix)
	if len(groups) == 0 {
		return lo, hi, true
	}
	for _, c := range groups[0] {
		if c.def.name != t.modProp {
			return 0, 0, false
		}
		l, h := 0, size(tb.ix)
		switch c.op {
		case "HAS_PROPERTY": // every record has a modified time
		case "GTE":
			l = tb.countBelow(c.val.num, false)
		case "GT":
			l = tb.countBelow(c.val.num, true)
		case "LT":
			h = tb.countBelow(c.val.num, false)
		case "LTE":
			h = tb.countBelow(c.val.num, true)
		case "EQ":
			l, h = tb.countBelow(c.val.num, false), tb.countBelow(c.val.num, true)
		case "BETWEEN":
			l, h = tb.countBelow(c.val.num, false), tb.countBelow(c.hi.num, true)
		default:
			return 0, 0, false
		}
		if math.IsNaN(c.val.num) || math.IsNaN(c.hi.num) {
			return 0, 0, false // NaN compares as the scan's compare does, not as ranks do
		}
		lo, hi = max(lo, l), min(hi, h)
	}
	return lo, max(lo, hi), true
}

// tieRange is indexRange for a run of ties paged by id: exactly one
// modified EQ T, any number of hs_object_id GT or GTE x, nothing else.
func (t *objectType) tieRange(tb *table, groups [][]cond) (lo, hi int, ok bool) {
	if len(groups) != 1 {
		return 0, 0, false
	}
	var eq *cond
	var ids []cond
	for i, c := range groups[0] {
		switch {
		case c.def.name == t.modProp && c.op == "EQ" && eq == nil:
			eq = &groups[0][i]
		case c.def.name == "hs_object_id" && (c.op == "GT" || c.op == "GTE"):
			ids = append(ids, c)
		default:
			return 0, 0, false
		}
	}
	if eq == nil || math.IsNaN(eq.val.num) {
		return 0, 0, false
	}
	lo, hi = tb.countBelow(eq.val.num, false), tb.countBelow(eq.val.num, true)
	ms := int64(eq.val.num) // every record of [lo, hi) has it
	for _, c := range ids {
		x := c.val.num
		if math.IsNaN(x) || math.Abs(x) > 1e15 {
			return 0, 0, false // left to the scan's float comparison
		}
		first := int64(math.Ceil(x)) // the least id the filter takes
		if c.op == "GT" {
			first = int64(math.Floor(x)) + 1
		}
		lo = max(lo, tb.countKeyBelow(ms, first))
	}
	return lo, max(lo, hi), true
}

// countKeyBelow is the number of indexed records whose key (modified ms,
// id number) is below (ms, num).
func (tb *table) countKeyBelow(ms, num int64) int {
	c := 0
	for n := tb.ix; n != nil; {
		if n.less(ms, num) {
			c += size(n.left) + 1
			n = n.right
		} else {
			n = n.left
		}
	}
	return c
}

// tailRange is indexRange for the rest of a run of ties and what follows
// it, sorted by modified: one group a run paged by id (tieRange's) at T,
// the other modified GT T. In the index they are one range: the run's
// records past the id, then every later time.
func (t *objectType) tailRange(tb *table, groups [][]cond) (lo, hi int, ok bool) {
	for i := range 2 {
		run, past := groups[i], groups[1-i]
		if len(past) != 1 || past[0].def.name != t.modProp || past[0].op != "GT" {
			continue
		}
		l, _, ok := t.tieRange(tb, [][]cond{run})
		if !ok {
			continue
		}
		var at float64
		for _, c := range run {
			if c.def.name == t.modProp {
				at = c.val.num
			}
		}
		if at != past[0].val.num {
			continue
		}
		return l, size(tb.ix), true
	}
	return 0, 0, false
}
