package connectors

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzWatermark: a watermark read from any text (a cursor in the state
// file, which a person or another version may have written) never panics
// the reader, and what is read writes back as itself; and a watermark
// that pulls make survives its trip through the state file with its
// meaning: a pull over versions a fuzzed read list describes emits each
// new version once, and a second pull from the watermark, written and
// read back, reading again what the query from it would read, emits
// every version new to it (an edit made since), nothing twice, and
// nothing at all when nothing is new. The
// reads: 3 bytes each, an id (a-h), a second (0-63) and a body (0-3), in
// stamp order as a query returns them. Seeds: the f.Add calls; CI runs it
// for a bounded count (.ci/run).
func FuzzWatermark(f *testing.F) {
	for _, s := range []string{
		``, `{"v":1}`, `{"v":2}`, `{"v":1,"stamp":"2026-01-05T10:00:00.000Z"}`,
		`{"v":1,"stamp":"2026-01-05T10:00:05.000Z","floor":"2026-01-05T09:00:00.000Z","seen":{"2026-01-05T10:00:05.000Z":["a:00112233aabbccdd","b:c:0011"]},"sums":{"2026-01-05T10:00:04.000Z":"2:00000000deadbeef"}}`,
		`{"v":1,"seen":{"2026-01-05T10:00:05.000Z":[":x","a:","nocolon"]}}`, `{"v":1,"sums":{"2026-01-05T10:00:04.000Z":"-1:0"}}`,
		`{"v":1,"sums":{"x":"1:0"}}`, `{"v":1,"stamp":"2026-01-05T10:00:05Z"}`, `{"v":1,"stamp":"2026-01-05T10:00:05.000+01:00"}`,
		`null`, `[]`, `{"v":1,"seen":null,"sums":{}}`, `{"v":1}{"v":1}`,
	} {
		f.Add(s, []byte("a\x00\x00b\x00\x00a\x01\x01"), []byte("a\x01\x02c\x02\x00"), uint8(3), uint8(0))
	}
	f.Add(``, []byte("a\x00\x00b\x00\x00c\x00\x00d\x00\x00e\x01\x00f\x01\x00"), []byte(""), uint8(2), uint8(1))
	f.Add(``, []byte("a\x05\x00a\x05\x01a\x05\x00b\x3f\x03"), []byte("b\x3f\x02h\x3e\x00"), uint8(0), uint8(2))
	f.Fuzz(func(t *testing.T, text string, first, second []byte, maxSeen, overlap uint8) {
		var w Watermark
		if err := json.Unmarshal([]byte(text), &w); err == nil {
			b, err := json.Marshal(w)
			var again Watermark
			if err != nil || json.Unmarshal(b, &again) != nil || !sameWatermark(w, again) {
				t.Fatalf("%q read as %+v, written as %s, read back as %+v (%v)", text, w, b, again, err)
			}
		}

		win := Window{Precision: time.Second, Overlap: time.Duration(overlap%8) * time.Second, MaxSeen: 1 + int(maxSeen%8)}
		pull := func(w Watermark, reads []read) (emitted []read, after Watermark) {
			tr := w.Track(win, time.Time{})
			for _, r := range reads {
				for _, p := range tr.Read(r.id, r.stamp, Fingerprint([]byte(r.key())), r) {
					emitted = append(emitted, p.(read))
				}
			}
			for _, p := range tr.Close() {
				emitted = append(emitted, p.(read))
			}
			after = tr.Watermark()
			b, err := json.Marshal(after)
			var back Watermark
			if err != nil || json.Unmarshal(b, &back) != nil || !sameWatermark(after, back) {
				t.Fatalf("%+v written as %s did not read back (%v)", after, b, err)
			}
			return emitted, back
		}
		reads := fuzzReads(first)
		emitted, w1 := pull(Watermark{}, reads)
		if want := versions(reads); !slices.Equal(versions(emitted), want) {
			t.Fatalf("reads %v: the first pull emitted %v, want every version once: %v", reads, emitted, want)
		}
		// The next query: what the first read from the watermark's From
		// on, and the new reads, in stamp order.
		var again []read
		from := w1.From(win)
		for _, r := range reads {
			if !r.stamp.Before(from) {
				again = append(again, r)
			}
		}
		again = append(again, fuzzReads(second)...)
		slices.SortStableFunc(again, func(a, b read) int { return a.stamp.Compare(b.stamp) })
		emitted2, _ := pull(w1, again)
		old := map[string]bool{}
		for _, v := range versions(reads) {
			old[v] = true
		}
		var want []string
		for _, v := range versions(again) {
			if !old[v] {
				want = append(want, v)
			}
		}
		got := versions(emitted2)
		for _, v := range want {
			if !slices.Contains(got, v) {
				t.Fatalf("window %+v; first reads %v, then %v from %v: the new version %s was not emitted (got %v)", win, reads, again, from, v, got)
			}
		}
		if len(fuzzReads(second)) == 0 && len(emitted2) > 0 {
			t.Fatalf("window %+v; first reads %v, then the same from %v: the second pull emitted %v, want nothing", win, reads, from, emitted2)
		}
		if len(versions(emitted2)) != len(emitted2) {
			t.Fatalf("the second pull emitted a version twice: %v", emitted2)
		}
	})
}

// fuzzReads turns bytes into reads, 3 bytes each (id, second, body), in
// stamp order.
func fuzzReads(b []byte) []read {
	var out []read
	for i := 0; i+2 < len(b); i += 3 {
		out = append(out, read{id: string(rune('a' + b[i]%8)), stamp: sec(int(b[i+1] % 64)), body: fmt.Sprint(b[i+2] % 4)})
	}
	slices.SortStableFunc(out, func(a, b read) int { return a.stamp.Compare(b.stamp) })
	return out
}

// key is what a read's bytes are: a record's bytes hold its stamp
// (SystemModstamp, updatedAt), so an edit back to earlier values is
// another version.
func (r read) key() string { return r.id + "@" + r.stamp.Format(time.RFC3339) + "=" + r.body }

// versions lists the distinct versions of reads, in order.
func versions(reads []read) []string {
	var out []string
	for _, r := range reads {
		v := r.key()
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// sameWatermark compares watermarks as their JSON does: times as
// instants, versions in the order UnmarshalJSON sorts them, an empty map
// or list as none.
func sameWatermark(a, b Watermark) bool {
	sorted := func(vs []Version) []Version {
		vs = slices.Clone(vs)
		slices.SortStableFunc(vs, func(a, b Version) int {
			if c := a.Stamp.Compare(b.Stamp); c != 0 {
				return c
			}
			return strings.Compare(a.ID+a.Sum, b.ID+b.Sum)
		})
		return vs
	}
	as, bs := sorted(a.Seen), sorted(b.Seen)
	if !a.Stamp.Equal(b.Stamp) || !a.Floor.Equal(b.Floor) || len(as) != len(bs) || len(a.Sums) != len(b.Sums) {
		return false
	}
	for i := range as {
		if as[i].ID != bs[i].ID || as[i].Sum != bs[i].Sum || !as[i].Stamp.Equal(bs[i].Stamp) {
			return false
		}
	}
	for k, d := range a.Sums {
		if b.Sums[k] != d {
			return false
		}
	}
	return true
}
