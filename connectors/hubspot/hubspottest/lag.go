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
	seq  uint64 // the write's place in the table's order of writes
}

// SetSearchLag changes the search index's lag for the writes made from
// now on, as HubSpot's lag varies with its load: a write made with a long
// lag and then one with a short lag reach search in the other order, and
// a search can then show a record modified later than one it does not
// show yet. A write never replaces a later one of the same record in the
// index. Zero indexes at once (only when no write is pending).
func (e *Emulator) SetSearchLag(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, tb := range e.tables {
		if d <= 0 && len(tb.pending) > 0 {
			d = time.Nanosecond // what is pending stays ahead of what comes
		}
		if tb.lag <= 0 && d > 0 {
			// From the index of the records themselves to one of copies.
			for _, r := range tb.rows {
				if r.ix != nil {
					tb.unindex(r)
					v := r.snapshot()
					tb.shown[r] = v
					tb.index(v)
				}
			}
		}
		if tb.lag > 0 && d <= 0 {
			// Back to the index of the records themselves.
			for r, v := range tb.shown {
				tb.unindex(v)
				tb.index(r)
			}
			clear(tb.shown)
			clear(tb.shownSeq)
		}
		tb.lag = d
	}
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
	tb.writes++
	tb.pending = append(tb.pending, pendingIx{r: r, snap: r.snapshot(), at: now.Add(tb.lag), seq: tb.writes})
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
		if p.seq < tb.shownSeq[p.r] {
			continue // a later write of the record is indexed already
		}
		if old := tb.shown[p.r]; old != nil {
			tb.unindex(old)
		}
		tb.shown[p.r], tb.shownSeq[p.r] = p.snap, p.seq
		tb.index(p.snap) // leaves it out when archived
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
