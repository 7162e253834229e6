package connectors

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func sec(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

// read is one record as a pull meets it.
type read struct {
	id    string
	stamp time.Time
	body  string
}

func TestWatermarkTake(t *testing.T) {
	win := Window{Precision: time.Second}
	tests := []struct {
		name    string
		start   Watermark
		ceiling time.Time
		reads   []read
		want    []string // ids emitted, in order
		stamp   time.Time
	}{
		{name: "empty cursor emits everything", reads: []read{{"a", sec(0), "1"}, {"b", sec(1), "1"}}, want: []string{"a", "b"}, stamp: sec(1)},
		{
			name:  "a version seen is skipped",
			start: Watermark{Stamp: sec(0), Seen: []Version{{"a", sec(0), Fingerprint([]byte("1"))}}},
			reads: []read{{"a", sec(0), "1"}, {"b", sec(0), "1"}}, want: []string{"b"}, stamp: sec(0),
		},
		{
			// The bug of a cursor that skips by id: the record was edited
			// again within the second it was read at.
			name:  "same id, same stamp, other bytes is emitted",
			start: Watermark{Stamp: sec(0), Seen: []Version{{"a", sec(0), Fingerprint([]byte("1"))}}},
			reads: []read{{"a", sec(0), "2"}}, want: []string{"a"}, stamp: sec(0),
		},
		{
			name:  "the stamp never moves past the ceiling",
			start: Watermark{Stamp: sec(0)}, ceiling: sec(5),
			reads: []read{{"a", sec(3), "1"}, {"b", sec(9), "1"}}, want: []string{"a", "b"}, stamp: sec(5),
		},
		{
			name:  "the stamp never moves back",
			start: Watermark{Stamp: sec(10)}, ceiling: sec(5),
			reads: []read{{"a", sec(3), "1"}}, want: []string{"a"}, stamp: sec(10),
		},
		{
			name:  "a record read twice in one pull is emitted once",
			reads: []read{{"a", sec(0), "1"}, {"a", sec(0), "1"}}, want: []string{"a"}, stamp: sec(0),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := tc.start.Track(win, tc.ceiling)
			var got []string
			for _, r := range tc.reads {
				for _, p := range tr.Read(r.id, r.stamp, Fingerprint([]byte(r.body)), r.id) {
					got = append(got, p.(string))
				}
			}
			for _, p := range tr.Close() {
				got = append(got, p.(string))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("emitted %v, want %v", got, tc.want)
			}
			if w := tr.Watermark(); !w.Stamp.Equal(tc.stamp) {
				t.Errorf("stamp %v, want %v", w.Stamp, tc.stamp)
			}
		})
	}
}

func TestWatermarkFrom(t *testing.T) {
	tests := []struct {
		name string
		w    Watermark
		win  Window
		want time.Time
	}{
		{"empty reads everything", Watermark{}, Window{Overlap: time.Minute}, time.Time{}},
		{"floor only", Watermark{Floor: sec(7)}, Window{Overlap: time.Minute}, sec(7)},
		{"overlap", Watermark{Stamp: sec(60)}, Window{Overlap: 30 * time.Second}, sec(30)},
		{"rounded down to the precision", Watermark{Stamp: sec(60)}, Window{Overlap: 1500 * time.Millisecond, Precision: time.Second}, sec(58)},
		{"to the second with milliseconds", Watermark{Stamp: sec(60)}, Window{Overlap: 1500 * time.Millisecond, Precision: time.Millisecond}, sec(58)},
		{"never before the floor", Watermark{Stamp: sec(60), Floor: sec(50)}, Window{Overlap: time.Minute}, sec(50)},
	}
	for _, tc := range tests {
		if got := tc.w.From(tc.win); !got.Equal(tc.want) {
			t.Errorf("%s: From %v, want %v", tc.name, got, tc.want)
		}
	}
}

// emitted runs one pull from w over reads and returns the ids emitted and
// the watermark after it.
func emitted(w Watermark, win Window, reads []read) ([]string, Watermark) {
	tr := w.Track(win, time.Time{})
	var got []string
	for _, r := range reads {
		for _, p := range tr.Read(r.id, r.stamp, Fingerprint([]byte(r.body)), r.id) {
			got = append(got, p.(string))
		}
	}
	for _, p := range tr.Close() {
		got = append(got, p.(string))
	}
	return got, tr.Watermark()
}

// The watermark keeps the versions the next read can meet, and no more
// than MaxSeen of them: the cursor stays small however many records a
// bulk load stamps inside the overlap. The seconds it read whole vouch for
// the versions it forgot, so a window read again unchanged emits nothing;
// a second that changed (a record committed late into it) is emitted
// whole, and nothing in it is lost.
func TestWatermarkBounded(t *testing.T) {
	win := Window{Overlap: time.Minute, Precision: time.Second, MaxSeen: 50}
	var bulk []read
	for i := range 500 {
		bulk = append(bulk, read{fmt.Sprint("r", i), sec(i / 100), "f"})
	}
	got, w := emitted(Watermark{}, win, bulk)
	if len(got) != 500 || len(w.Seen) != 50 || len(w.Sums) != 5 || !w.Stamp.Equal(sec(4)) {
		t.Fatalf("first read: %d emitted, %d versions and %d digests kept, stamp %v", len(got), len(w.Seen), len(w.Sums), w.Stamp)
	}
	if w.Seen[0].ID != "r450" || w.Seen[49].ID != "r499" {
		t.Fatalf("kept %s … %s, want the newest r450 … r499", w.Seen[0].ID, w.Seen[49].ID)
	}
	if b, _ := json.Marshal(w); len(b) > 5000 {
		t.Fatalf("a cursor of %d bytes", len(b))
	}
	got, w2 := emitted(w, win, bulk)
	if len(got) != 0 {
		t.Fatalf("the same window read again emitted %d records", len(got))
	}
	// A record committed late into second 1, and one edited in second 3.
	late := append(bulk[:0:0], bulk[:200]...)
	late = append(late, read{"late", sec(1), "f"})
	late = append(late, bulk[200:]...)
	late[350].body = "edited"
	got, _ = emitted(w2, win, late)
	if !slices.Contains(got, "late") || !slices.Contains(got, "r350") || len(got) != 101+100 {
		t.Fatalf("after a late commit into second 1 and an edit in second 3: %d emitted (late: %v, r350: %v); want seconds 1 and 3 whole, 201",
			len(got), slices.Contains(got, "late"), slices.Contains(got, "r350"))
	}
	// Outside the window versions go; with none forgotten, no digest is kept.
	got, w = emitted(Watermark{}, Window{Overlap: 10 * time.Second, Precision: time.Second}, []read{{"old", sec(0), "f"}, {"new", sec(30), "f"}})
	if len(got) != 2 || len(w.Seen) != 1 || w.Seen[0].ID != "new" || len(w.Sums) != 0 {
		t.Fatalf("kept %v and %v, want only what is inside the window", w.Seen, w.Sums)
	}
	// A version forgotten, in a second without a digest, is emitted again,
	// never lost.
	if got, _ := emitted(w, Window{Overlap: time.Hour}, []read{{"old", sec(0), "f"}}); len(got) != 1 {
		t.Fatal("a forgotten version read again must be emitted again")
	}
}

// A page's watermark while a second is being read keeps that second's old
// digest, so a pull resumed from it decides the second as this one would.
func TestWatermarkMidSecond(t *testing.T) {
	win := Window{Overlap: time.Minute, Precision: time.Second, MaxSeen: 2}
	reads := []read{{"a", sec(0), "1"}, {"b", sec(0), "1"}, {"c", sec(0), "1"}, {"d", sec(1), "1"}}
	_, w := emitted(Watermark{}, win, reads)
	tr := w.Track(win, time.Time{})
	for _, r := range reads[:2] {
		if out := tr.Read(r.id, r.stamp, Fingerprint([]byte(r.body)), r.id); len(out) != 0 {
			t.Fatalf("emitted %v", out)
		}
	}
	mid := tr.Watermark()
	if _, ok := mid.Sums[sec(0).UnixMilli()]; !ok {
		t.Fatalf("the watermark mid-second lost the second's digest: %v", mid.Sums)
	}
	if got, _ := emitted(mid, win, reads); len(got) != 0 {
		t.Fatalf("resumed mid-second, the unchanged window emitted %v", got)
	}
}

func TestWatermarkJSON(t *testing.T) {
	w := Watermark{Stamp: sec(3), Floor: sec(1), Seen: []Version{{"a", sec(2), "00ff"}, {"b", sec(3), "0a0b"}, {"c", sec(3), "0c0d"}},
		Sums: map[int64]Digest{sec(2).UnixMilli(): {N: 1, X: 0xff}}}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"stamp":"2026-01-05T10:00:03.000Z","floor":"2026-01-05T10:00:01.000Z","seen":{"2026-01-05T10:00:02.000Z":["a:00ff"],"2026-01-05T10:00:03.000Z":["b:0a0b","c:0c0d"]},"sums":{"2026-01-05T10:00:02.000Z":"1:00000000000000ff"}}`
	if string(b) != want {
		t.Fatalf("encoded\n%s\nwant\n%s", b, want)
	}
	var back Watermark
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back) != fmt.Sprint(w) {
		t.Fatalf("decoded %v, want %v", back, w)
	}
	for _, bad := range []struct{ in, err string }{
		{`{"ts":5,"ids":["1"]}`, "version 0, want 1"},
		{`{"v":2}`, "version 2"},
		{`{"v":1,"stamp":"yesterday"}`, `stamp "yesterday" is not a time`},
		{`{"v":1,"seen":{"2026-01-05T10:00:03.000Z":["nofingerprint"]}}`, "is not id:fingerprint"},
		{`{"v":1,"sums":{"2026-01-05T10:00:03.000Z":"x"}}`, "is not count:hex"},
		{`[1]`, "watermark:"},
	} {
		var w Watermark
		err := json.Unmarshal([]byte(bad.in), &w)
		if err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("%s: error %v, want one saying %q", bad.in, err, bad.err)
		}
	}
}

// A long pull (a full read of a million records) keeps a bounded number
// of versions while it reads, not one per record, and comes to the same
// payloads and the same watermark as a pull that kept them all: with
// ties, records read twice (paging), late commits into earlier seconds,
// and a watermark to start from.
func TestTrackerPrunes(t *testing.T) {
	win := Window{Overlap: 20 * time.Second, Precision: time.Second, MaxSeen: 40}
	for seed := range 20 {
		var reads []read
		for i := range 3000 {
			s := i / 25 // 120 seconds of 25 records each
			id := fmt.Sprint("r", (i*7+seed)%1500)
			// The bytes hold the stamp, as a record's do.
			reads = append(reads, read{id, sec(s), fmt.Sprint("b", i%3, "@", s)})
			switch {
			case (i+seed)%97 == 0: // read again: a page boundary met twice
				reads = append(reads, reads[len(reads)-1])
			case (i+seed)%131 == 0 && s > 3: // committed late, stamped earlier
				reads = append(reads, read{fmt.Sprint("late", i), sec(s - 3), "l"})
			}
		}
		pull := func(w Watermark, prune bool) ([]string, Watermark, int) {
			if !prune {
				defer func(p int) { pruneAbove = p }(pruneAbove)
				pruneAbove = 1 << 30
			}
			tr := w.Track(win, time.Time{})
			var got []string
			most := 0
			for _, r := range reads {
				for _, p := range tr.Read(r.id, r.stamp, Fingerprint([]byte(r.body)), r.id) {
					got = append(got, p.(string))
				}
				most = max(most, len(tr.cur.Seen), len(tr.seen))
			}
			for _, p := range tr.Close() {
				got = append(got, p.(string))
			}
			return got, tr.Watermark(), most
		}
		for _, start := range []Watermark{{}, {Stamp: sec(30)}} {
			all, wAll, _ := pull(start, false)
			got, w, most := pull(start, true)
			if !slices.Equal(got, all) {
				t.Fatalf("seed %d from %v: pruned pull emitted %d payloads, the full one %d", seed, start.Stamp, len(got), len(all))
			}
			if !sameWatermark(w, wAll) {
				t.Fatalf("seed %d from %v: watermarks differ:\npruned %+v\nfull   %+v", seed, start.Stamp, w, wAll)
			}
			// Twice MaxSeen, and a second's worth more (the open second
			// is never pruned), with room for a few out of order.
			if bound := 2*win.MaxSeen + 60; most > bound {
				t.Fatalf("seed %d: kept up to %d versions while reading %d, want at most %d", seed, most, len(reads), bound)
			}
		}
	}
}
