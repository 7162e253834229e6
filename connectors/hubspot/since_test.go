package hubspot

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
)

// pullQuery runs one Pull of q and returns its pages.
func pullQuery(t *testing.T, c *Client, q tandem.Query) []tandem.Page {
	t.Helper()
	if q.Fields == nil {
		q.Fields = contactFields
	}
	var pages []tandem.Page
	if err := c.Pull(context.Background(), q, func(p tandem.Page) error {
		pages = append(pages, p)
		return nil
	}); err != nil {
		t.Fatalf("pull %+v: %v", q, err)
	}
	return pages
}

// TestPullSince: a pull from a time, without a cursor, returns the live
// records modified at or after it and the records archived at or after
// it, as deletes; nothing older. Every page's cursor resumes exactly
// after that page, and a cursor makes Since irrelevant.
func TestPullSince(t *testing.T) {
	clk := &fixedClock{}
	t0 := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
	clk.Set(t0)
	srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
	defer srv.Close()
	since := t0.Add(time.Hour)

	// Created one a second, before since.
	var ids []string
	for i := 0; i < 20; i++ {
		clk.Set(t0.Add(time.Duration(i) * time.Second))
		id, err := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%02d@x.com", i), "firstname": "P"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	at := func(d time.Duration, f func()) { clk.Set(since.Add(d)); f() }
	update := func(i int) func() {
		return func() { srv.Update("contacts", ids[i], map[string]any{"firstname": "Q" + strconv.Itoa(i)}) }
	}
	del := func(i int) func() { return func() { srv.Delete("contacts", ids[i]) } }

	at(-time.Millisecond, update(0)) // just before: left out
	at(-time.Minute, del(1))         // archived before: left out
	at(-time.Minute, update(2))      // modified before, archived after: a delete
	at(time.Second, del(2))
	at(0, update(3)) // exactly at since: in
	for i := 4; i < 12; i++ {
		at(time.Duration(i)*time.Second, update(i)) // after: in, in this order
	}
	at(20*time.Second, update(5)) // again, later: it moves to the end
	at(30*time.Second, del(6))    // modified after, then archived: only the delete
	at(40*time.Second, del(7))
	at(40*time.Second, del(8)) // two archives in one millisecond

	wantLive := []string{ids[3], ids[4], ids[9], ids[10], ids[11], ids[5]}
	wantDeleted := []string{ids[2], ids[6], ids[7], ids[8]}
	if compareIDs(ids[7], ids[8]) > 0 {
		wantDeleted[2], wantDeleted[3] = ids[8], ids[7]
	}

	c := open(t, srv, "page_size: 2\n")
	clk.Set(since.Add(2 * time.Hour))
	pages := pullQuery(t, c, tandem.Query{Object: "contacts", Since: since})
	got := pageIDs(pages)
	if dels := deletes(t, pages); !slices.Equal(got[:len(got)-len(dels)], wantLive) || !slices.Equal(dels, wantDeleted) {
		t.Fatalf("pull since %v: %v, deletes %v; want live %v, then deletes %v", since, got, dels, wantLive, wantDeleted)
	}
	for _, p := range pages {
		for _, r := range p.Records {
			if r.Modified.Before(since) {
				t.Errorf("record %s modified %v, before since %v", r.ID, r.Modified, since)
			}
		}
	}
	// The search itself starts at since: nothing older is read and dropped.
	for _, q := range srv.Requests() {
		if strings.HasSuffix(q.Path, "/search") {
			if v := gjson.GetBytes(q.Body, "filterGroups.0.filters.0.value").String(); v != strconv.FormatInt(since.UnixMilli(), 10) {
				t.Errorf("first search from %s, want since, %d", v, since.UnixMilli())
			}
			break
		}
	}

	// Resumable: from every page's cursor, exactly the rest.
	n := 0
	for i, p := range pages {
		n += len(p.Records)
		if rest := pageIDs(pullAll(t, c, "contacts", p.Cursor)); !slices.Equal(rest, got[n:]) {
			t.Errorf("resume after page %d (cursor %s): %v, want %v", i, p.Cursor, rest, got[n:])
		}
	}
	// A cursor wins over Since, from whichever side: an early Since does
	// not replay what the cursor has passed, a late one does not skip
	// what it has not.
	last := pages[len(pages)-1].Cursor
	if rest := pullQuery(t, c, tandem.Query{Object: "contacts", After: last, Since: t0}); len(rest) != 0 {
		t.Errorf("pull after the last cursor with an early since: %v", pageIDs(rest))
	}
	mid := pages[1].Cursor
	if rest := pageIDs(pullQuery(t, c, tandem.Query{Object: "contacts", After: mid, Since: since.Add(time.Hour)})); !slices.Equal(rest, got[len(pages[0].Records)+len(pages[1].Records):]) {
		t.Errorf("pull after page 1 with a late since: %v", rest)
	}
	// What changes after the backfill comes from its last cursor.
	clk.Set(since.Add(3 * time.Hour))
	srv.Update("contacts", ids[0], map[string]any{"firstname": "R"})
	srv.Delete("contacts", ids[9])
	if rest := pageIDs(pullAll(t, c, "contacts", last)); !slices.Equal(rest, []string{ids[0], ids[9]}) {
		t.Errorf("after the backfill: %v, want [%s %s]", rest, ids[0], ids[9])
	}
}

// TestSinceCursor: since is rounded up to HubSpot's millisecond, and the
// cursor it makes is a cursor like any other.
func TestSinceCursor(t *testing.T) {
	t0 := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		since time.Time
		ms    int64
		arch  int64
	}{
		{t0, t0.UnixMilli(), t0.UnixMilli()},
		{t0.Add(time.Nanosecond), t0.UnixMilli() + 1, t0.UnixMilli() + 1},
		{t0.Add(999 * time.Microsecond), t0.UnixMilli() + 1, t0.UnixMilli() + 1},
		{time.Unix(0, 0), 0, 1},                             // 0 would mean "no watermark yet"
		{time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), 0, 1}, // before the epoch: everything
	} {
		cur := sinceCursor(tc.since)
		if !cur.Live.Floor.Equal(time.UnixMilli(tc.ms)) || !cur.Live.Stamp.IsZero() || cur.Arch != tc.arch || cur.Live.Seen != nil || cur.AIDs != nil {
			t.Errorf("sinceCursor(%v) = %+v, want ts %d, arch %d", tc.since, cur, tc.ms, tc.arch)
		}
		var c Client
		if back, err := c.parseCursor("pull", cur.encode()); err != nil || !back.Live.Floor.Equal(cur.Live.Floor) || back.Arch != cur.Arch {
			t.Errorf("sinceCursor(%v) does not round-trip: %+v, %v", tc.since, back, err)
		}
	}
}

// TestPullSinceSubMillisecond: a record stamped in since's millisecond,
// but before since, was not modified at or after it.
func TestPullSinceSubMillisecond(t *testing.T) {
	clk := &fixedClock{}
	t0 := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
	clk.Set(t0)
	srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
	defer srv.Close()
	early, _ := srv.Create("contacts", map[string]any{"email": "a@x.com"})
	clk.Set(t0.Add(time.Millisecond))
	late, _ := srv.Create("contacts", map[string]any{"email": "b@x.com"})
	c := open(t, srv, "")
	clk.Set(t0.Add(time.Hour))
	if got := pageIDs(pullQuery(t, c, tandem.Query{Object: "contacts", Since: t0.Add(500 * time.Microsecond)})); !slices.Equal(got, []string{late}) {
		t.Errorf("since half a millisecond after %s: %v, want [%s]", early, got, late)
	}
	if got := pageIDs(pullQuery(t, c, tandem.Query{Object: "contacts", Since: t0})); !slices.Equal(got, []string{early, late}) {
		t.Errorf("since the first stamp: %v, want [%s %s]", got, early, late)
	}
}
