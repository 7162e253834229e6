package connectors

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
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
// Invariant: every version stamped before From (see Window) has been
// emitted, or will be read again by the next pull; every version in Seen
// has been emitted. A record read again whose version is not in Seen (the
// set is bounded, see Window.MaxSeen) is emitted again: that costs the
// engine a comparison with its snapshot, never an edit.
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
}

// Version is one state of a record as a pull emitted it.
type Version struct {
	ID    string
	Stamp time.Time
	Sum   string // Fingerprint of the record's bytes
}

// Window is how a connector reads from a watermark.
type Window struct {
	// Overlap is how far before the watermark's stamp each pull reads
	// again, for records that become readable late (a transaction
	// committed after the query, a search index behind the writes).
	Overlap time.Duration
	// Precision is that of the system's stamps and of its query's
	// comparisons (Salesforce: a second; HubSpot: a millisecond). The read
	// starts at a multiple of it, and the watermark keeps what that read
	// can meet.
	Precision time.Duration
	// MaxSeen bounds the versions a watermark keeps (default
	// DefaultMaxSeen), so that a cursor stays small when a bulk load
	// stamps more records than that inside the overlap: past it the oldest
	// are forgotten and, read again, emitted again.
	MaxSeen int
}

// DefaultMaxSeen is Window.MaxSeen when unset: some 40 KB of cursor.
const DefaultMaxSeen = 1000

// From is where the next read starts (inclusive): the stamp less the
// overlap, rounded down to the precision, never before the floor. Zero
// when the watermark is empty: read everything.
func (w Watermark) From(win Window) time.Time {
	if w.Stamp.IsZero() {
		return w.Floor
	}
	from := w.Stamp.Add(-win.Overlap)
	if win.Precision > 0 {
		from = from.Truncate(win.Precision)
	}
	if from.Before(w.Floor) {
		from = w.Floor
	}
	return from
}

// Fingerprint names a record's exact bytes, for Version.Sum: 64 bits of
// SHA-256, so two versions of one record are told apart but by chance
// once in 2^64.
func Fingerprint(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8])
}

// Tracker is a watermark as one pull moves it.
type Tracker struct {
	win     Window
	ceiling time.Time
	cur     Watermark
	seen    map[string]bool // "id\x00sum" of cur.Seen
}

// Track starts a pull from w. ceiling is the server's time when the read
// began (the Date of a response received before the query), or zero when
// unknown: the stamp never moves past it, so a record committed later
// with an earlier stamp is still ahead of the cursor.
func (w Watermark) Track(win Window, ceiling time.Time) *Tracker {
	if win.MaxSeen <= 0 {
		win.MaxSeen = DefaultMaxSeen
	}
	t := &Tracker{win: win, ceiling: ceiling, cur: Watermark{Stamp: w.Stamp, Floor: w.Floor, Seen: slices.Clone(w.Seen)}, seen: map[string]bool{}}
	for _, v := range w.Seen {
		t.seen[v.ID+"\x00"+v.Sum] = true
	}
	return t
}

// SetCeiling sets the ceiling once it is known (HubSpot learns the
// server's time from the first search's answer).
func (t *Tracker) SetCeiling(c time.Time) { t.ceiling = c }

// Take reports whether a record read at stamp with fingerprint sum is new
// (not emitted before), and records it as emitted when it is.
func (t *Tracker) Take(id string, stamp time.Time, sum string) bool {
	k := id + "\x00" + sum
	if t.seen[k] {
		return false
	}
	t.seen[k] = true
	t.cur.Seen = append(t.cur.Seen, Version{ID: id, Stamp: stamp, Sum: sum})
	if !t.ceiling.IsZero() && stamp.After(t.ceiling) {
		stamp = t.ceiling
	}
	if stamp.After(t.cur.Stamp) {
		t.cur.Stamp = stamp
	}
	return true
}

// Watermark is the position after what has been taken so far: the
// versions the next read from it cannot meet are dropped, and the oldest
// of the rest past MaxSeen.
func (t *Tracker) Watermark() Watermark {
	w := Watermark{Stamp: t.cur.Stamp, Floor: t.cur.Floor}
	from := w.From(t.win)
	for _, v := range t.cur.Seen {
		if !v.Stamp.Before(from) {
			w.Seen = append(w.Seen, v)
		}
	}
	slices.SortStableFunc(w.Seen, func(a, b Version) int { return a.Stamp.Compare(b.Stamp) })
	if n := len(w.Seen) - t.win.MaxSeen; n > 0 {
		w.Seen = w.Seen[n:]
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
}

// MarshalJSON writes the watermark as {"v":1,"stamp":…,"seen":{stamp:[id:sum…]}}.
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
	slices.SortStableFunc(out.Seen, func(a, b Version) int {
		if c := a.Stamp.Compare(b.Stamp); c != 0 {
			return c
		}
		return strings.Compare(a.ID+a.Sum, b.ID+b.Sum)
	})
	*w = out
	return nil
}
