package salesforce

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/connectors/salesforce/salesforcetest"
)

func (f *fixture) pullQuery(t *testing.T, q tandem.Query) pulled {
	t.Helper()
	var p pulled
	if err := f.c.Pull(context.Background(), q, func(pg tandem.Page) error {
		p.pages = append(p.pages, pg)
		return nil
	}); err != nil {
		t.Fatalf("pull %+v: %v", q, err)
	}
	return p
}

// TestPullSince: a pull from a time, without a cursor, returns the records
// stamped at or after it, deletes included, and nothing older, though the
// query's literal has whole seconds. Every page's cursor resumes exactly
// after that page, and a cursor makes Since irrelevant.
func TestPullSince(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{BatchSize: 3})
	var ids []string
	for i := 0; i < 16; i++ {
		ids = append(ids, f.create(t, "Contact", map[string]any{"LastName": fmt.Sprintf("L%d", i)}))
		f.clk.Add(100 * time.Millisecond)
	}
	f.clk.Add(time.Hour)
	since := f.clk.Now().Add(-400 * time.Millisecond) // in the same second as the edits around it
	update := func(i int) {
		t.Helper()
		if err := f.sf.Update("Contact", ids[i], map[string]any{"Title": "T"}); err != nil {
			t.Fatal(err)
		}
	}
	del := func(i int) {
		t.Helper()
		if err := f.sf.Delete("Contact", ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	// Before since: left out, though some share its second.
	f.clk.Add(-time.Second)
	update(0)
	del(1)
	f.clk.Add(time.Second - 401*time.Millisecond)
	update(2) // a millisecond before since
	f.clk.Add(time.Millisecond)
	update(3) // at since
	del(4)    // deleted at since
	f.clk.Add(time.Millisecond)
	for _, i := range []int{5, 6, 7, 8, 9} {
		update(i)
		f.clk.Add(150 * time.Millisecond)
	}
	del(10)
	f.clk.Add(time.Millisecond)
	update(5) // again: it moves to the end
	want := []string{ids[3], ids[4], ids[6], ids[7], ids[8], ids[9], ids[10], ids[5]}
	if ids[4] < ids[3] {
		want[0], want[1] = ids[4], ids[3]
	}

	f.clk.Add(time.Minute)
	full := f.pullQuery(t, tandem.Query{Object: "Contact", Since: since})
	if got := full.ids(); !slices.Equal(got, want) {
		t.Fatalf("pull since %v: %v, want %v", since, got, want)
	}
	for _, pg := range full.pages {
		for _, r := range pg.Records {
			if r.Deleted != (r.ID == ids[4] || r.ID == ids[10]) {
				t.Errorf("record %s: Deleted %v", r.ID, r.Deleted)
			}
		}
	}
	// The query starts at since's second; the cursor drops the rest.
	if q := firstQuery(t, f); !strings.HasSuffix(q, " FROM Contact WHERE SystemModstamp >= "+since.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z")+" ORDER BY SystemModstamp, Id") {
		t.Errorf("SOQL sent: %s", q)
	}

	// Resumable: from every page's cursor, exactly the rest.
	seen := 0
	for i, pg := range full.pages {
		seen += len(pg.Records)
		if rest := f.pull(t, "Contact", pg.Cursor).ids(); !slices.Equal(rest, want[seen:]) {
			t.Errorf("resume after page %d (cursor %s): %v, want %v", i, pg.Cursor, rest, want[seen:])
		}
	}
	// A cursor wins over Since, from whichever side.
	last := full.last()
	if rest := f.pullQuery(t, tandem.Query{Object: "Contact", After: last, Since: since.Add(-time.Hour)}); len(rest.ids()) != 0 {
		t.Errorf("pull after the last cursor with an early since: %v", rest.ids())
	}
	first := full.pages[0]
	if rest := f.pullQuery(t, tandem.Query{Object: "Contact", After: first.Cursor, Since: since.Add(time.Hour)}).ids(); !slices.Equal(rest, want[len(first.Records):]) {
		t.Errorf("pull after page 0 with a late since: %v, want %v", rest, want[len(first.Records):])
	}
	// What changes after the backfill comes from its last cursor.
	f.clk.Add(time.Second)
	update(0)
	if rest := f.pull(t, "Contact", last).ids(); !slices.Equal(rest, ids[:1]) {
		t.Errorf("after the backfill: %v, want [%s]", rest, ids[0])
	}
}

// TestSinceCursor: since is rounded up to the millisecond a cursor and
// SystemModstamp hold, and the cursor it makes round-trips.
func TestSinceCursor(t *testing.T) {
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 250_000_000, time.UTC)
	for _, tc := range []struct {
		since, stamp time.Time
	}{
		{t0, t0},
		{t0.Add(time.Nanosecond), t0.Add(time.Millisecond)},
		{t0.Add(999 * time.Microsecond), t0.Add(time.Millisecond)},
		{t0.In(time.FixedZone("CEST", 2*3600)), t0},
	} {
		cur := sinceCursor(tc.since)
		if !cur.Stamp.Equal(tc.stamp) || cur.IDs != nil {
			t.Errorf("sinceCursor(%v) = %+v, want stamp %v", tc.since, cur, tc.stamp)
		}
		back, err := decodeCursor(cur.encode())
		if err != nil || !back.Stamp.Equal(cur.Stamp) || len(back.IDs) != 0 {
			t.Errorf("sinceCursor(%v) does not round-trip: %+v, %v", tc.since, back, err)
		}
	}
}

// TestPullSinceSubMillisecond: a record stamped in since's millisecond,
// but before since, was not modified at or after it.
func TestPullSinceSubMillisecond(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	t0 := f.clk.Now()
	early := f.create(t, "Contact", map[string]any{"LastName": "Early"})
	f.clk.Add(time.Millisecond)
	late := f.create(t, "Contact", map[string]any{"LastName": "Late"})
	if got := f.pullQuery(t, tandem.Query{Object: "Contact", Since: t0.Add(500 * time.Microsecond)}).ids(); !slices.Equal(got, []string{late}) {
		t.Errorf("since half a millisecond after %s: %v, want [%s]", early, got, late)
	}
	if got := f.pullQuery(t, tandem.Query{Object: "Contact", Since: t0}).ids(); !slices.Equal(got, []string{early, late}) {
		t.Errorf("since the first stamp: %v, want [%s %s]", got, early, late)
	}
}
