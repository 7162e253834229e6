package salesforce

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
	"tandem/connectors/salesforce/salesforcetest"
)

// lastNames is what a pull emitted: LastName by id.
func (p pulled) lastNames() map[string]string {
	out := map[string]string{}
	for _, pg := range p.pages {
		for _, r := range pg.Records {
			out[r.ID] = gjson.GetBytes(r.Raw, "LastName").String()
		}
	}
	return out
}

// Salesforce stamps whole seconds. A record edited again within the second
// a pull read it at keeps its stamp; the next pull must still emit the
// edit, since skipping depends on the version seen, never on the id alone.
func TestPullEditInTheSameSecond(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	id := f.create(t, "Contact", map[string]any{"LastName": "Lee"}) // 07:08:09.250
	p := f.pull(t, "Contact", "", "LastName")
	if got := p.lastNames(); got[id] != "Lee" {
		t.Fatalf("first pull: %v", got)
	}
	f.clk.Add(500 * time.Millisecond) // 07:08:09.750: the same second
	if err := f.sf.Update("Contact", id, map[string]any{"LastName": "Lee-Smith"}); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.sf.Get("Contact", id); r.SystemModstamp.Nanosecond() != 0 {
		t.Fatalf("the emulator stamped %v: Salesforce stamps whole seconds", r.SystemModstamp)
	}
	p = f.pull(t, "Contact", p.last(), "LastName")
	if got := p.lastNames(); got[id] != "Lee-Smith" {
		t.Fatalf("the pull after an edit in the second of the last read emitted %v; want %s: Lee-Smith", got, id)
	}
	// Read once: the pull after that has nothing new to say.
	f.clk.Add(2 * time.Second)
	if again := f.pull(t, "Contact", p.last(), "LastName"); len(again.ids()) != 0 {
		t.Fatalf("a third pull emitted %v again", again.ids())
	}
}

// A transaction that began before a query and commits after it stamps its
// record earlier than records the query returned. The next pull re-reads
// the overlap window and emits it.
func TestPullRecordCommittedLate(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	a := f.create(t, "Contact", map[string]any{"LastName": "A"}) // 07:08:09
	began := f.clk.Now().Add(3 * time.Second)                    // a long job begins at 07:08:12
	f.clk.Add(10 * time.Second)
	b := f.create(t, "Contact", map[string]any{"LastName": "B"}) // 07:08:19
	p := f.pull(t, "Contact", "", "LastName")
	if got := p.lastNames(); len(got) != 2 {
		t.Fatalf("first pull: %v", got)
	}
	// The job commits at 07:08:20, after that query, its edit of A stamped
	// 07:08:12, before B.
	f.clk.Add(time.Second)
	if _, err := f.sf.CommitLate("Contact", a, map[string]any{"LastName": "A-late"}, began); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.sf.Get("Contact", a); !r.SystemModstamp.Equal(began.Truncate(time.Second)) {
		t.Fatalf("A stamped %v, want %v", r.SystemModstamp, began.Truncate(time.Second))
	}
	f.clk.Add(time.Minute)
	p = f.pull(t, "Contact", p.last(), "LastName")
	if got := p.lastNames(); got[a] != "A-late" || got[b] != "" {
		t.Fatalf("the pull after a late commit emitted %v; want only %s: A-late", got, a)
	}
}

// The cursor never passes the server's time when the query began: a
// record committed late within that second is still ahead of it, even
// without an overlap window.
func TestPullCursorBelowQueryStart(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	f.c.overlap = 0
	f.create(t, "Contact", map[string]any{"LastName": "A"}) // 07:08:09
	f.clk.Add(time.Second)                                  // 07:08:10.250
	// The query runs at 07:08:10.250; a job that began at 07:08:10.100
	// commits just after it.
	var late string
	p := pulledWith(t, f, "", func() {
		var err error
		late, err = f.sf.CommitLate("Contact", "", map[string]any{"LastName": "Late"}, f.clk.Now())
		if err != nil {
			t.Error(err)
		}
	})
	f.clk.Add(time.Minute)
	p = f.pull(t, "Contact", p.last(), "LastName")
	if got := p.lastNames(); got[late] != "Late" {
		t.Fatalf("the pull after a commit in the query's second emitted %v; want %s: Late", got, late)
	}
}

// pulledWith pulls Contacts, calling after once the first batch is in.
func pulledWith(t *testing.T, f *fixture, from tandem.Cursor, after func()) pulled {
	t.Helper()
	var p pulled
	err := f.c.Pull(context.Background(), tandem.Query{Object: "Contact", Fields: []string{"LastName"}, After: from}, func(pg tandem.Page) error {
		p.pages = append(p.pages, pg)
		if len(p.pages) == 1 {
			after()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A cursor written before the shared watermark ({"stamp", "ids"}) resumes
// without losing anything: the records at its stamp come once more (for
// the engine, records equal to their snapshot), the newer ones once.
func TestPullFromOldCursor(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	a := f.create(t, "Contact", map[string]any{"LastName": "A"}) // 07:08:09
	f.clk.Add(20 * time.Minute)
	b := f.create(t, "Contact", map[string]any{"LastName": "B"}) // 07:28:09
	f.clk.Add(time.Second)
	c := f.create(t, "Contact", map[string]any{"LastName": "C"})
	old := tandem.Cursor(`{"stamp":"2024-05-06T07:28:09.000Z","ids":["` + b + `"]}`)
	p := f.pull(t, "Contact", old, "LastName")
	if got := p.ids(); !slices.Equal(got, []string{b, c}) {
		t.Fatalf("pull from an old cursor: %v, want [%s %s] (not %s, older than the overlap)", got, b, c, a)
	}
	if again := f.pull(t, "Contact", p.last(), "LastName"); len(again.ids()) != 0 {
		t.Fatalf("the pull after: %v", again.ids())
	}
}

// Re-reading the overlap window costs a query, not records: a pull whose
// window holds only versions already emitted emits nothing, even past
// the versions the cursor remembers one by one (the digests of the seconds
// vouch for the rest), and the cursor stays small. A record committed late
// into that second makes the second come again, whole: nothing is lost.
func TestPullOverlapBounded(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	for i := range 1500 {
		f.create(t, "Contact", map[string]any{"LastName": fmt.Sprint("L", i)})
	}
	second := f.clk.Now()
	p := f.pull(t, "Contact", "", "LastName")
	if len(p.ids()) != 1500 {
		t.Fatalf("first pull: %d records", len(p.ids()))
	}
	if n := len(p.last()); n > 50_000 {
		t.Fatalf("cursor of %d bytes after 1500 records in one second", n)
	}
	f.clk.Add(time.Minute)
	again := f.pull(t, "Contact", p.last(), "LastName")
	if n := len(again.ids()); n != 0 {
		t.Fatalf("the pull after: %d records again, want 0", n)
	}
	late, err := f.sf.CommitLate("Contact", "", map[string]any{"LastName": "Late"}, second)
	if err != nil {
		t.Fatal(err)
	}
	third := f.pull(t, "Contact", again.last(), "LastName")
	if got := third.lastNames(); got[late] != "Late" || len(got) != 1500+1-connectors.DefaultMaxSeen {
		t.Fatalf("after a late commit into the bulk load's second: %d records (Late: %q); want that second but the %d remembered, %d",
			len(got), got[late], connectors.DefaultMaxSeen, 1500+1-connectors.DefaultMaxSeen)
	}
	if fourth := f.pull(t, "Contact", third.last(), "LastName"); len(fourth.ids()) != 0 {
		t.Fatalf("the pull after that: %d records", len(fourth.ids()))
	}
}
