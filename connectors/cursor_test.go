package connectors

import (
	"encoding/json"
	"fmt"
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
				if tr.Take(r.id, r.stamp, Fingerprint([]byte(r.body))) {
					got = append(got, r.id)
				}
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
		{"never before the floor", Watermark{Stamp: sec(60), Floor: sec(50)}, Window{Overlap: time.Minute}, sec(50)},
	}
	for _, tc := range tests {
		if got := tc.w.From(tc.win); !got.Equal(tc.want) {
			t.Errorf("%s: From %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The watermark keeps the versions the next read can meet, and no more
// than MaxSeen of them: the cursor stays small however many records a
// bulk load stamps inside the overlap.
func TestWatermarkBounded(t *testing.T) {
	win := Window{Overlap: 10 * time.Second, Precision: time.Second, MaxSeen: 50}
	tr := Watermark{}.Track(win, time.Time{})
	for i := range 500 {
		tr.Take(fmt.Sprint("r", i), sec(i/10), "f")
	}
	w := tr.Watermark()
	if len(w.Seen) != 50 || !w.Stamp.Equal(sec(49)) {
		t.Fatalf("%d versions kept, stamp %v; want 50 and %v", len(w.Seen), w.Stamp, sec(49))
	}
	if w.Seen[0].ID != "r450" || w.Seen[49].ID != "r499" {
		t.Fatalf("kept %s … %s, want the newest r450 … r499", w.Seen[0].ID, w.Seen[49].ID)
	}
	// Outside the window they go even under the bound.
	tr = Watermark{}.Track(win, time.Time{})
	tr.Take("old", sec(0), "f")
	tr.Take("new", sec(30), "f")
	if w := tr.Watermark(); len(w.Seen) != 1 || w.Seen[0].ID != "new" {
		t.Fatalf("kept %v, want only the version inside the window", w.Seen)
	}
	// A version forgotten is emitted again, never lost.
	tr = w.Track(win, time.Time{})
	if !tr.Take("old", sec(0), "f") {
		t.Fatal("a forgotten version read again must be emitted again")
	}
}

func TestWatermarkJSON(t *testing.T) {
	w := Watermark{Stamp: sec(3), Floor: sec(1), Seen: []Version{{"a", sec(2), "00ff"}, {"b", sec(3), "0a0b"}, {"c", sec(3), "0c0d"}}}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"stamp":"2026-01-05T10:00:03.000Z","floor":"2026-01-05T10:00:01.000Z","seen":{"2026-01-05T10:00:02.000Z":["a:00ff"],"2026-01-05T10:00:03.000Z":["b:0a0b","c:0c0d"]}}`
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
		{`[1]`, "watermark:"},
	} {
		var w Watermark
		err := json.Unmarshal([]byte(bad.in), &w)
		if err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("%s: error %v, want one saying %q", bad.in, err, bad.err)
		}
	}
}
