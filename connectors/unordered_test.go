package connectors

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// An Unordered offered a read's versions in any order makes the watermark
// a Tracker makes of the same versions offered in stamp order, while it
// keeps only the newest seconds' versions.
func TestUnorderedIsATrackerInStampOrder(t *testing.T) {
	win := Window{Overlap: 30 * time.Second, Precision: time.Millisecond, MaxSeen: 40}
	for seed := range 30 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		n := []int{0, 5, 40, 41, 300, 5000}[seed%6]
		seconds := 1 + rng.IntN(90)
		var vs []Version
		sums := map[string]Sum{}
		most := 0
		perSecond := map[int]int{}
		for i := range n {
			s := rng.IntN(seconds)
			if seed%5 == 0 {
				s = 0 // a bulk load: every version in one second
			}
			perSecond[s]++
			most = max(most, perSecond[s])
			stamp := sec(s).Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
			id, sum := fmt.Sprint(1000+i), SumOf([]byte(fmt.Sprint("body", i)))
			sums[id] = sum
			vs = append(vs, Version{ID: id, Stamp: stamp, Sum: sum.String()})
		}
		ceiling := sec(seconds)
		if seed%3 == 0 {
			ceiling = sec(seconds / 2) // records modified while the read ran
		}

		u := NewUnordered(win)
		kept := 0
		for _, v := range vs { // vs is in no order of stamps
			u.Add(v.ID, v.Stamp, sums[v.ID])
			kept = max(kept, len(u.kept))
		}
		got := u.Watermark(ceiling)

		inOrder := slices.Clone(vs)
		slices.SortFunc(inOrder, byStampThenID)
		tr := Watermark{}.Track(win, ceiling)
		for _, v := range inOrder {
			tr.Read(v.ID, v.Stamp, v.Sum, nil)
		}
		tr.Close()
		want := tr.Watermark()

		if !sameWatermark(got, want) {
			t.Fatalf("seed %d (%d versions in %d seconds): watermarks differ:\nunordered %+v\ntracker   %+v", seed, n, seconds, got, want)
		}
		// Twice MaxSeen and a second's versions (a second is kept whole,
		// and prune runs again at twice what it kept).
		if bound := 2 * (win.MaxSeen + most); kept > bound {
			t.Fatalf("seed %d: kept up to %d versions of %d, want at most %d", seed, kept, n, bound)
		}
	}
}

// The next pull from an Unordered's watermark emits nothing of what the
// read emitted, and everything edited since, as from a Tracker's.
func TestUnorderedVouchesForTheNextRead(t *testing.T) {
	win := Window{Overlap: 20 * time.Second, Precision: time.Second, MaxSeen: 10}
	u := NewUnordered(win)
	var reads []read
	for i := range 400 {
		r := read{fmt.Sprint("r", i), sec(i % 40), fmt.Sprint("b", i)}
		reads = append(reads, r)
	}
	for _, i := range rand.New(rand.NewPCG(1, 2)).Perm(len(reads)) {
		r := reads[i]
		u.Add(r.id, r.stamp, SumOf([]byte(r.body)))
	}
	if len(u.kept) >= len(reads) {
		t.Fatalf("kept all %d versions", len(u.kept))
	}
	w := u.Watermark(sec(40))

	// r27 is edited (same second, new bytes); r401 is new. A search from
	// the watermark reads the window again in stamp order.
	reads[27].body = "edited"
	reads = append(reads, read{"r401", sec(39), "new"})
	slices.SortStableFunc(reads, func(a, b read) int { return a.stamp.Compare(b.stamp) })
	tr := w.Track(win, time.Time{})
	from := w.From(win)
	var got []string
	for _, r := range reads {
		if r.stamp.Before(from) {
			continue
		}
		for _, p := range tr.Read(r.id, r.stamp, Fingerprint([]byte(r.body)), r.id) {
			got = append(got, p.(string))
		}
	}
	for _, p := range tr.Close() {
		got = append(got, p.(string))
	}
	// r27's second changed, so all of it is emitted again (a comparison
	// each for the engine); every other second is vouched for, by its
	// digest or, for the newest, version by version.
	if from.After(sec(27)) {
		t.Fatalf("the next read starts at %v, after the edit", from)
	}
	var want []string
	for _, r := range reads {
		if r.stamp.Equal(sec(27)) || r.id == "r401" {
			want = append(want, r.id)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the next read emitted %v, want %v", got, want)
	}
}

// A bulk load: every version in one second, which prune cannot shorten.
// (Before prune ran again only at twice what it kept, this sorted the
// whole second on every Add: a million-record initial sync did not end.)
func BenchmarkUnorderedBulkLoad(b *testing.B) {
	sums := make([]Sum, 100_000)
	ids := make([]string, len(sums))
	for i := range sums {
		sums[i], ids[i] = SumOf([]byte(fmt.Sprint(i))), fmt.Sprint(i)
	}
	for b.Loop() {
		u := NewUnordered(Window{Precision: time.Millisecond})
		for i := range sums {
			u.Add(ids[i], t0, sums[i])
		}
		u.Watermark(t0)
	}
}
