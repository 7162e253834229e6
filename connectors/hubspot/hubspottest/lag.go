package hubspottest

import (
	"maps"
	"time"
)

// The search index's lag. HubSpot serves search from an index that trails
// the writes: a record created or edited shows in /search only seconds
// later, with the values it had when it was indexed, while reads by id
// (GET, batch/read) and the recycle bin see the write at once. With
// Options.SearchLag set, each write is queued and reaches the table's
// search view SearchLag after it was made; until then /search shows the
// record as it was before (or not at all, if it is new, and still as a
// live record, if it was archived). Without it the search view is the
// records themselves, as before, and costs nothing.

// pendingIx is a write on its way to the search index.
type pendingIx struct {
	r    *record // the live record
	snap *record // the record as the write left it
	at   time.Time
}

// snapshot is r as the search index stores it: what render and the
// filters read, without the history.
func (r *record) snapshot() *record {
	return &record{id: r.id, num: r.num, props: maps.Clone(r.props), created: r.created, updated: r.updated, archived: r.archived, archivedAt: r.archivedAt}
}

// reindex is called after every change of r: with no lag the index
// follows the record at once; with one, the change is queued.
func (tb *table) reindex(r *record, now time.Time) {
	if tb.lag <= 0 {
		tb.index(r) // moves it to its new time, or out when archived
		return
	}
	tb.pending = append(tb.pending, pendingIx{r: r, snap: r.snapshot(), at: now.Add(tb.lag)})
}

// catchUp indexes the queued writes whose time has come, in the order
// they were made.
func (tb *table) catchUp(now time.Time) {
	if len(tb.pending) == 0 {
		return
	}
	left := tb.pending[:0]
	for _, p := range tb.pending {
		if p.at.After(now) {
			left = append(left, p)
			continue
		}
		if old := tb.shown[p.r]; old != nil {
			tb.unindex(old)
		}
		tb.shown[p.r] = p.snap
		tb.index(p.snap) // no-op when archived
	}
	clear(tb.pending[len(left):])
	tb.pending = left
}

// searchView is r as /search sees it: nil when search does not show it.
func (tb *table) searchView(r *record) *record {
	if tb.lag <= 0 {
		if r.archived {
			return nil
		}
		return r
	}
	v := tb.shown[r]
	if v == nil || v.archived {
		return nil
	}
	return v
}
