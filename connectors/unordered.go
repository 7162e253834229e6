package connectors

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Unordered gathers the versions a read emits in no order of their
// stamps (a full read listed by id), for the watermark that vouches for
// them when the read ends (Watermark): the next pull, reading from it,
// skips what it vouches for as if the read had gone in stamp order
// through a Tracker.
//
// A watermark keeps one by one only the newest MaxSeen versions, and a
// digest of each second for the rest. So Unordered keeps every second's
// digest as it goes, and the versions themselves only of the newest whole
// seconds: a read of half a million records stamped within the window (a
// bulk load just before an initial sync) holds a few thousand versions
// and a digest a second, not half a million versions.
type Unordered struct {
	win   Window
	sums  map[int64]Digest // every second's versions, by its start (Unix ms)
	kept  []Version        // the versions of the seconds from floor on
	floor int64            // the oldest second kept one by one (noOpen: all)
	next  int              // len(kept) past which to prune again
}

// NewUnordered starts gathering for a watermark read with win.
func NewUnordered(win Window) *Unordered {
	if win.MaxSeen <= 0 {
		win.MaxSeen = DefaultMaxSeen
	}
	return &Unordered{win: win, sums: map[int64]Digest{}, floor: noOpen, next: pruneAbove * win.MaxSeen}
}

// Add offers a version the read emitted. It keeps copies of id. A
// version offered twice (a list that served a record twice) counts twice
// in its second's digest, which then matches no read of that second: the
// next pull emits the second again, a comparison each, never a skip.
func (u *Unordered) Add(id string, stamp time.Time, sum Sum) {
	b := stamp.Truncate(u.win.span()).UnixMilli()
	s := sum.String()
	d := u.sums[b]
	d.add(id + "\x00" + s)
	u.sums[b] = d
	if b < u.floor {
		return
	}
	u.kept = append(u.kept, Version{ID: strings.Clone(id), Stamp: stamp, Sum: s})
	if len(u.kept) > u.next {
		u.prune()
	}
}

// prune forgets the versions of the oldest seconds, keeping whole seconds
// that hold at least MaxSeen versions. What it keeps sets when it prunes
// again: at twice as many, so that a second holding more than MaxSeen (a
// bulk load) costs a sort now and then, not one per version.
func (u *Unordered) prune() {
	u.sort()
	at := len(u.kept) - u.win.MaxSeen
	first := u.kept[at].Stamp.Truncate(u.win.span())
	for at > 0 && !u.kept[at-1].Stamp.Before(first) {
		at--
	}
	if at > 0 {
		u.kept = slices.Clone(u.kept[at:])
		u.floor = first.UnixMilli()
	}
	u.next = max(pruneAbove*u.win.MaxSeen, 2*len(u.kept))
}

func (u *Unordered) sort() { slices.SortFunc(u.kept, byStampThenID) }

// byStampThenID orders versions by stamp, and those of one stamp by id
// (a shorter id first: numeric ids in their order), so that the versions
// kept of a stamp are always the same ones.
func byStampThenID(a, b Version) int {
	return cmp.Or(byStamp(a, b), cmp.Compare(len(a.ID), len(b.ID)), strings.Compare(a.ID, b.ID))
}

// Watermark is the watermark after the read, whose ceiling is the
// server's time when the read began: the versions kept, offered to a
// Tracker in stamp order, and the digests of the seconds not kept one by
// one that the next read from it meets.
func (u *Unordered) Watermark(ceiling time.Time) Watermark {
	u.sort()
	tr := Watermark{}.Track(u.win, ceiling)
	for _, v := range u.kept {
		tr.Read(v.ID, v.Stamp, v.Sum, nil)
	}
	tr.Close()
	w := tr.Watermark()
	if u.floor == noOpen {
		return w
	}
	from := w.From(u.win).UnixMilli()
	var keys []int64
	for b := range u.sums {
		if b < u.floor && b >= from {
			keys = append(keys, b)
		}
	}
	slices.Sort(keys)
	if n := len(w.Sums) + len(keys) - maxSums; n > 0 {
		keys = keys[min(n, len(keys)):]
	}
	for _, b := range keys {
		if w.Sums == nil {
			w.Sums = map[int64]Digest{}
		}
		w.Sums[b] = u.sums[b]
	}
	return w
}
