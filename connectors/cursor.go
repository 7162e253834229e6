package connectors

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Watermark is the tie-safe cursor every connector that pulls by a
// modified stamp shares (Salesforce's SystemModstamp, HubSpot's
// lastmodifieddate): one tested implementation instead of one per
// connector.
//
// A stamp alone cannot be a cursor. Many records share one (a bulk load
// stamps a thousand rows alike), a record can be edited again within the
// stamp it was read at (Salesforce stamps whole seconds), and a record can
// become readable after records stamped later than it (a Salesforce
// transaction that commits after a query ran, HubSpot's search index that
// lags writes by seconds). So a pull reads again from a window before its
// position (Window.Overlap), and skips only what it has seen: the
// versions it emitted, each an id and a fingerprint of the record's bytes.
// Never the id alone: an id seen at a stamp says nothing of an edit made
// later within that stamp.
//
// The versions are kept one by one up to Window.MaxSeen, the newest. So
// that a window holding more (a bulk load) is not emitted again on every
// pull, the watermark also keeps a digest of each whole second of the
// window it has read (how many versions, and the XOR of their hashes):
// a second read again whose versions have the same digest holds nothing
// new, and what it holds that is not remembered one by one is skipped;
// any other digest, and all of it is emitted (see Tracker.Read).
//
// Invariant: every version stamped before From (see Window) has been
// emitted, or will be read again by the next pull; every version in Seen,
// and every version of a second whose digest is in Sums and matches, has
// been emitted. A version read again that the watermark cannot vouch for
// is emitted again: that costs the engine a comparison with its snapshot,
// never an edit.
type Watermark struct {
	// Stamp is the newest stamp emitted, never past the server's time when
	// the pull's read began (the ceiling given to Track).
	Stamp time.Time
	// Floor, when set, is where a pull from a time (tandem.Query.Since)
	// started: nothing stamped before it is read, whatever the overlap.
	Floor time.Time
	// Seen are the versions emitted that the next read may meet again,
	// oldest stamp first.
	Seen []Version
	// Sums are the digests of the seconds read whole, keyed by the
	// second's start in Unix milliseconds (not time.Time, whose == also
	// compares locations).
	Sums map[int64]Digest
}

// Version is one state of a record as a pull emitted it.
type Version struct {
	ID    string
	Stamp time.Time
	Sum   string // Fingerprint of the record's bytes
}

// Digest is what a second of the window held when it was last read: how
// many versions, and the XOR of their 64-bit hashes. Two different sets
// of versions have the same digest but by chance once in 2^64.
type Digest struct {
	N int
	X uint64
}

func (d *Digest) add(key string) {
	h := sha256.Sum256([]byte(key))
	d.N++
	d.X ^= binary.BigEndian.Uint64(h[:8])
}

// Window is how a connector reads from a watermark.
type Window struct {
	// Overlap is how far before the watermark's stamp each pull reads
	// again, for records that become readable late (a transaction
	// committed after the query, a search index behind the writes).
	Overlap time.Duration
	// Precision is that of the system's stamps and of its query's
	// comparisons (Salesforce: a second; HubSpot: a millisecond).
	Precision time.Duration
	// MaxSeen bounds the versions a watermark keeps one by one (default
	// DefaultMaxSeen); past it the oldest are forgotten, and vouched for
	// by their second's digest.
	MaxSeen int
}

// DefaultMaxSeen is Window.MaxSeen when unset: 40 to 65 KB of cursor
// (versions that share a stamp are written together).
const DefaultMaxSeen = 1000

// maxSums bounds the seconds a watermark keeps a digest of (some 50 KB):
// in a window of more seconds than this, the oldest are emitted again.
const maxSums = 1200

// pruneAbove is how many times MaxSeen versions a pull keeps before it
// prunes (a test turns pruning off, to compare).
var pruneAbove = 2

// noOpen is Tracker.open before the first record and after Close.
const noOpen = int64(-1 << 63)

// span is what a digest covers: a second (or the precision, if coarser).
// A digest is kept only of a second the read met whole (it began at or
// before the second's start) and used only by a read that meets it whole.
func (win Window) span() time.Duration { return max(win.Precision, time.Second) }

// From is where the next read starts (inclusive): the stamp less the
// overlap, rounded down to the second (so that the read meets every
// second whole, and its digest can vouch for it), never before the
// floor. Zero when the watermark is empty: read everything.
func (w Watermark) From(win Window) time.Time {
	if w.Stamp.IsZero() {
		return w.Floor
	}
	from := w.Stamp.Add(-win.Overlap).Truncate(win.span())
	if from.Before(w.Floor) {
		from = w.Floor
	}
	return from
}

// Fingerprint names a record's exact bytes, for Version.Sum: 64 bits of
// SHA-256, so two versions of one record are told apart but by chance
// once in 2^64.
func Fingerprint(raw []byte) string { return SumOf(raw).String() }

// Sum is a Fingerprint in its 8 bytes, for a pull that keeps many (a full
// read's versions) until it can offer them in stamp order: a quarter of
// the memory of the text.
type Sum [8]byte

// SumOf is the Sum of a record's bytes.
func SumOf(raw []byte) Sum {
	h := sha256.Sum256(raw)
	return Sum(h[:8])
}

// String is the Fingerprint.
func (s Sum) String() string { return hex.EncodeToString(s[:]) }

// Tracker is a watermark as one pull moves it. The pull offers it every
// record it reads, in the order of its stamps (Read), and ends with Close.
type Tracker struct {
	win     Window
	ceiling time.Time
	cur     Watermark
	seen    map[string]bool  // "id\x00sum" of cur.Seen
	prior   map[int64]Digest // the digests the pull started with
	closed  map[int64]Digest // the seconds this pull read whole
	open    int64            // the second being read, Unix ms (noOpen: none yet)
	openSet map[string]bool
	openSum Digest
	held    []held // read in the open second, decided when it closes
	changed bool   // the open second holds more than it did: nothing is held
	forgot  bool   // the watermark began with versions forgotten (digests)
	from    int64  // where the read began, Unix ms: the seconds from it on are met whole
	// dropped is the newest stamp of the versions prune forgot for being
	// past MaxSeen (zero: none), so that Watermark knows it forgot them.
	dropped time.Time
}

type held struct {
	v       Version
	payload any
}

// Track starts a pull from w. ceiling is the server's time when the read
// began (the Date of a response received before the query), or zero when
// unknown: the stamp never moves past it, so a record committed later
// with an earlier stamp is still ahead of the cursor.
func (w Watermark) Track(win Window, ceiling time.Time) *Tracker {
	if win.MaxSeen <= 0 {
		win.MaxSeen = DefaultMaxSeen
	}
	t := &Tracker{win: win, ceiling: ceiling, cur: Watermark{Stamp: w.Stamp, Floor: w.Floor, Seen: slices.Clone(w.Seen)},
		seen: map[string]bool{}, prior: maps.Clone(w.Sums), closed: map[int64]Digest{}, open: noOpen, forgot: len(w.Sums) > 0, from: noOpen}
	if f := w.From(win); !f.IsZero() {
		t.from = f.UnixMilli()
	}
	for _, v := range w.Seen {
		t.seen[v.ID+"\x00"+v.Sum] = true
	}
	return t
}

// SetCeiling sets the ceiling once it is known (HubSpot learns the
// server's time from the first search's answer).
func (t *Tracker) SetCeiling(c time.Time) { t.ceiling = c }

// Read offers a record read at stamp with fingerprint sum, and returns the
// payloads to emit now, in order: this one when it is new, and those of an
// earlier second held until that second was read whole (see Watermark).
// A version emitted before is not returned. A record read out of stamp
// order (edited while the query ran) is decided on its own.
func (t *Tracker) Read(id string, stamp time.Time, sum string, payload any) []any {
	b := stamp.Truncate(t.win.span()).UnixMilli()
	var out []any
	if t.open == noOpen || b > t.open {
		out = t.closeOpen()
		t.open, t.openSet, t.openSum = b, map[string]bool{}, Digest{}
		t.prune()
	}
	k := id + "\x00" + sum
	if b == t.open {
		if t.openSet[k] {
			return out // read before in this second: emitted, skipped or held
		}
		t.openSet[k] = true
		t.openSum.add(k)
		if d, ok := t.prior[b]; ok && b >= t.from && !t.changed && t.openSum.N > d.N {
			// More versions than the second had: its digest cannot match,
			// so what it holds goes now, and nothing more is held.
			t.changed = true
			out = append(out, t.release()...)
		}
	}
	if t.seen[k] {
		return out
	}
	if _, vouched := t.prior[b]; vouched && b == t.open && b >= t.from && !t.changed {
		t.held = append(t.held, held{v: Version{ID: id, Stamp: stamp, Sum: sum}, payload: payload})
		return out
	}
	t.emit(Version{ID: id, Stamp: stamp, Sum: sum})
	return append(out, payload)
}

// release emits what the open second holds.
func (t *Tracker) release() []any {
	var out []any
	for _, h := range t.held {
		t.emit(h.v)
		out = append(out, h.payload)
	}
	t.held = nil
	return out
}

// Close ends the read: the second being read is read whole, and what it
// held is decided. It returns the payloads to emit.
func (t *Tracker) Close() []any {
	out := t.closeOpen()
	t.open = noOpen
	return out
}

// closeOpen decides the open second: its digest as read now against the
// one it had, and records the new one.
func (t *Tracker) closeOpen() []any {
	if t.open == noOpen {
		return nil
	}
	out := t.release()
	if d, ok := t.prior[t.open]; ok && d == t.openSum {
		out = nil // emitted before, all of them: known again, not emitted
	}
	t.held, t.changed = nil, false
	if t.open >= t.from { // met whole
		t.closed[t.open] = t.openSum
	}
	return out
}

// prune keeps a long read's memory bounded (a full read of a million
// records): past twice MaxSeen versions, it forgets those of the seconds
// the read has left behind (it reads in stamp order and meets them no
// more) that Watermark would not keep: stamped before From, or older
// than the newest MaxSeen.
func (t *Tracker) prune() {
	if len(t.cur.Seen) <= pruneAbove*t.win.MaxSeen {
		return
	}
	slices.SortStableFunc(t.cur.Seen, byStamp)
	from, over := t.cur.From(t.win), len(t.cur.Seen)-t.win.MaxSeen
	kept := make([]Version, 0, t.win.MaxSeen)
	for i, v := range t.cur.Seen {
		behind := v.Stamp.Truncate(t.win.span()).UnixMilli() < t.open
		if !behind || !v.Stamp.Before(from) && i >= over {
			kept = append(kept, v)
			continue
		}
		delete(t.seen, v.ID+"\x00"+v.Sum)
		if !v.Stamp.Before(from) && v.Stamp.After(t.dropped) {
			t.dropped = v.Stamp
		}
	}
	t.cur.Seen = kept
}

// byStamp orders versions by their stamps alone.
func byStamp(a, b Version) int { return a.Stamp.Compare(b.Stamp) }

func (t *Tracker) emit(v Version) {
	// Copies: an id cut from a page would keep the whole page in memory.
	v.ID, v.Sum = strings.Clone(v.ID), strings.Clone(v.Sum)
	t.seen[v.ID+"\x00"+v.Sum] = true
	t.cur.Seen = append(t.cur.Seen, v)
	stamp := v.Stamp
	if !t.ceiling.IsZero() && stamp.After(t.ceiling) {
		stamp = t.ceiling
	}
	if stamp.After(t.cur.Stamp) {
		t.cur.Stamp = stamp
	}
}

// Watermark is the position after what has been emitted so far: the
// versions and digests the next read from it cannot meet are dropped, and
// the oldest of the rest past the bounds.
func (t *Tracker) Watermark() Watermark {
	w := Watermark{Stamp: t.cur.Stamp, Floor: t.cur.Floor}
	from := w.From(t.win)
	// The versions from From on, oldest first, of which the newest
	// MaxSeen are kept. A pull calls this for every page, and the second
	// being read is never pruned (a bulk load: tens of thousands of
	// versions), so only what is kept is copied: Seen is in stamp order
	// already unless a record came out of order.
	seen := t.cur.Seen
	if !slices.IsSortedFunc(seen, byStamp) {
		seen = slices.Clone(seen)
		slices.SortStableFunc(seen, byStamp)
	}
	i, _ := slices.BinarySearchFunc(seen, from, func(v Version, at time.Time) int { return cmp.Or(v.Stamp.Compare(at), 1) })
	seen = seen[i:]
	forgot := len(seen) > t.win.MaxSeen || !t.dropped.IsZero() && !t.dropped.Before(from)
	if n := len(seen) - t.win.MaxSeen; n > 0 {
		seen = seen[n:]
	}
	if len(seen) > 0 {
		w.Seen = slices.Clone(seen)
	}
	// The seconds read whole by this pull, and those it has not reached
	// yet (the open one included) as the pull began. A second before the
	// open one that this pull did not read is empty now: its old digest
	// is dropped.
	sums := map[int64]Digest{}
	for b, d := range t.prior {
		if t.open != noOpen && b >= t.open || t.open == noOpen && len(t.closed) == 0 {
			sums[b] = d
		}
	}
	for b, d := range t.closed {
		if b != t.open {
			sums[b] = d
		}
	}
	// A digest is needed only where versions were forgotten: up to the
	// stamp of the oldest version kept.
	var keys []int64
	for b := range sums {
		if (from.IsZero() || b >= from.UnixMilli()) && (forgot || t.forgot) && (len(w.Seen) == 0 || b <= w.Seen[0].Stamp.Truncate(t.win.span()).UnixMilli()) {
			keys = append(keys, b)
		}
	}
	slices.Sort(keys)
	if n := len(keys) - maxSums; n > 0 {
		keys = keys[n:]
	}
	for _, b := range keys {
		if w.Sums == nil {
			w.Sums = map[int64]Digest{}
		}
		w.Sums[b] = sums[b]
	}
	return w
}

// watermarkTime is how a watermark writes its times: UTC, milliseconds,
// so that the text sorts as the times do.
const watermarkTime = "2006-01-02T15:04:05.000Z"

// watermarkJSON is the stored form: the versions grouped by stamp,
// "id:sum" each. V tells a watermark from something else.
type watermarkJSON struct {
	V     int                 `json:"v"`
	Stamp string              `json:"stamp,omitempty"`
	Floor string              `json:"floor,omitempty"`
	Seen  map[string][]string `json:"seen,omitempty"`
	Sums  map[string]string   `json:"sums,omitempty"` // second -> "count:xor (hex)"
}

// MarshalJSON writes the watermark as
// {"v":1,"stamp":…,"seen":{stamp:[id:sum…]},"sums":{second:"n:xor"}}.
func (w Watermark) MarshalJSON() ([]byte, error) {
	j := watermarkJSON{V: 1}
	if !w.Stamp.IsZero() {
		j.Stamp = w.Stamp.UTC().Format(watermarkTime)
	}
	if !w.Floor.IsZero() {
		j.Floor = w.Floor.UTC().Format(watermarkTime)
	}
	for _, v := range w.Seen {
		if j.Seen == nil {
			j.Seen = map[string][]string{}
		}
		s := v.Stamp.UTC().Format(watermarkTime)
		j.Seen[s] = append(j.Seen[s], v.ID+":"+v.Sum)
	}
	for b, d := range w.Sums {
		if j.Sums == nil {
			j.Sums = map[string]string{}
		}
		j.Sums[time.UnixMilli(b).UTC().Format(watermarkTime)] = fmt.Sprintf("%d:%016x", d.N, d.X)
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON wrote, and says what is wrong with
// anything else.
func (w *Watermark) UnmarshalJSON(b []byte) error {
	var j watermarkJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("watermark: %w", err)
	}
	if j.V != 1 {
		return fmt.Errorf("watermark: version %d, want 1", j.V)
	}
	parse := func(what, s string) (time.Time, error) {
		if s == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(watermarkTime, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("watermark: %s %q is not a time like %s", what, s, watermarkTime)
		}
		return t, nil
	}
	var out Watermark
	var err error
	if out.Stamp, err = parse("stamp", j.Stamp); err != nil {
		return err
	}
	if out.Floor, err = parse("floor", j.Floor); err != nil {
		return err
	}
	for s, list := range j.Seen {
		at, err := parse("seen stamp", s)
		if err != nil {
			return err
		}

		for _, v := range list {
			i := strings.LastIndex(v, ":") // the fingerprint is hex; an id may hold a colon
			id, sum := v[:max(i, 0)], v[i+1:]
			if i < 0 || id == "" || sum == "" {
				return fmt.Errorf("watermark: seen %q is not id:fingerprint", v)
			}
			out.Seen = append(out.Seen, Version{ID: id, Stamp: at, Sum: sum})
		}
	}
	for s, v := range j.Sums {
		at, err := parse("sums second", s)
		if err != nil {
			return err
		}

		n, x, ok := strings.Cut(v, ":")
		cnt, err1 := strconv.Atoi(n)
		xor, err2 := strconv.ParseUint(x, 16, 64)
		if !ok || err1 != nil || err2 != nil || cnt < 0 {
			return fmt.Errorf("watermark: sum %q is not count:hex", v)
		}
		if out.Sums == nil {
			out.Sums = map[int64]Digest{}
		}
		out.Sums[at.UnixMilli()] = Digest{N: cnt, X: xor}
	}
	// What was seen, and the sums of seconds read, belong to a stamp: a
	// watermark without one could not write them back.
	for _, v := range out.Seen {
		if v.Stamp.IsZero() || out.Stamp.IsZero() {
			return fmt.Errorf("watermark: seen versions under no stamp")
		}
	}
	if _, zero := out.Sums[(time.Time{}).UnixMilli()]; zero || (len(out.Sums) > 0 && out.Stamp.IsZero()) {
		return fmt.Errorf("watermark: sums under no stamp")
	}
	slices.SortStableFunc(out.Seen, func(a, b Version) int {
		if c := a.Stamp.Compare(b.Stamp); c != 0 {
			return c
		}
		return strings.Compare(a.ID+a.Sum, b.ID+b.Sum)
	})
	*w = out
	return nil
}
