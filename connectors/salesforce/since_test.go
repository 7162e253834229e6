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
// stamped in its second or after, deletes included, and nothing older:
// SystemModstamp has whole seconds, so a record stamped in since's second
// may have been modified after since. Every page's cursor resumes exactly
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
	// The second before since's: left out.
	f.clk.Add(-time.Second)
	update(0)
	del(1)
	f.clk.Add(time.Second - 401*time.Millisecond)
	update(2) // a millisecond before since, but stamped in its second
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
	// By stamp (whole seconds), then id: 5 moved to the next second.
	want := []string{ids[2], ids[3], ids[4], ids[6], ids[7], ids[8], ids[5], ids[9], ids[10]}

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

// TestSinceCursor: since is rounded down to the second SystemModstamp
// holds, and the cursor it makes round-trips.
func TestSinceCursor(t *testing.T) {
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, tc := range []struct {
		since, floor time.Time
	}{
		{t0, t0},
		{t0.Add(time.Nanosecond), t0},
		{t0.Add(999 * time.Millisecond), t0},
		{t0.In(time.FixedZone("CEST", 2*3600)), t0},
	} {
		cur := sinceCursor(tc.since)
		if !cur.Mark.Floor.Equal(tc.floor) || !cur.Mark.Stamp.IsZero() || cur.Mark.Seen != nil {
			t.Errorf("sinceCursor(%v) = %+v, want floor %v", tc.since, cur, tc.floor)
		}
		back, err := decodeCursor(cur.encode())
		if err != nil || !back.Mark.Floor.Equal(cur.Mark.Floor) || len(back.Mark.Seen) != 0 {
			t.Errorf("sinceCursor(%v) does not round-trip: %+v, %v", tc.since, back, err)
		}
	}
}

// TestPullSinceSubSecond: a record stamped in since's second, even before
// since, comes (its stamp cannot say when in the second it changed); one
// stamped in the second before does not.
func TestPullSinceSubSecond(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	t0 := f.clk.Now() // 07:08:09.250
	f.clk.Add(-time.Second)
	before := f.create(t, "Contact", map[string]any{"LastName": "Before"})
	f.clk.Add(time.Second)
	early := f.create(t, "Contact", map[string]any{"LastName": "Early"})
	f.clk.Add(time.Millisecond)
	late := f.create(t, "Contact", map[string]any{"LastName": "Late"})
	if got := f.pullQuery(t, tandem.Query{Object: "Contact", Since: t0.Add(500 * time.Microsecond)}).ids(); !slices.Equal(got, []string{early, late}) {
		t.Errorf("since half a millisecond after %s: %v, want [%s %s]", early, got, early, late)
	}
	if got := f.pullQuery(t, tandem.Query{Object: "Contact", Since: t0.Add(-time.Second)}).ids(); !slices.Equal(got, []string{before, early, late}) {
		t.Errorf("since the first stamp: %v, want [%s %s %s]", got, before, early, late)
	}
}
