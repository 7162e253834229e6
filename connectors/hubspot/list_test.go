package hubspot

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
)

// TestPullFullReadByList: a pull from no cursor (an initial sync, a
// backfill, a sweep) lists the records (GET /crm/v3/objects/contacts,
// after-cursor paging, at most 100 a page) instead of searching: every
// live record once, in id order, past the search's 10,000-result cap,
// without a single search. A pull from its last cursor emits nothing, and
// the next pull (a search) emits what was edited since.
func TestPullFullReadByList(t *testing.T) {
	if testing.Short() {
		t.Skip("10,050 records")
	}
	clk := &fixedClock{}
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
	defer srv.Close()
	var ids []string
	for i := range 10_050 {
		clk.Set(t0.Add(time.Duration(i/7) * time.Millisecond)) // runs of ties
		id, err := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@example.com", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// Edits reorder records by modified date, away from id order; one
	// record is in the recycle bin.
	clk.Set(t0.Add(2 * time.Second))
	for _, id := range ids[:30] {
		srv.Update("contacts", id, map[string]any{"firstname": "Early"})
	}
	srv.Delete("contacts", ids[40])
	live := slices.Delete(slices.Clone(ids), 40, 41)
	clk.Set(t0.Add(3 * time.Second))
	srv.ResetRequests()

	c := open(t, srv, "page_size: 200\n") // the list's page is 100 at most
	pages := pullAll(t, c, "contacts", "")
	var got []string
	for _, p := range pages {
		for _, r := range p.Records {
			if !r.Deleted {
				got = append(got, r.ID)
			}
		}
	}
	if !slices.Equal(got, live) {
		t.Fatalf("pulled %d records, want the %d live ones in id order", len(got), len(live))
	}
	// Archived a second before the read: within the margin of a first
	// read (firstArch), so it is a delete.
	if d := deletes(t, pages); !slices.Equal(d, ids[40:41]) {
		t.Errorf("deletes %v, want [%s]", d, ids[40])
	}
	for _, q := range srv.Requests() {
		if q.Status != 200 || q.Method != "GET" || q.Path != "/crm/v3/objects/contacts" {
			t.Fatalf("request %s %s %d: want only list requests, answered", q.Method, q.Path, q.Status)
		}
		v, _ := url.ParseQuery(q.RawQuery)
		if n, _ := strconv.Atoi(v.Get("limit")); n < 1 || n > 100 || v.Get("properties") == "" {
			t.Errorf("list request %s: want a limit of 1 to 100 and the properties read", q.RawQuery)
		}
	}
	if n := len(srv.Requests()); n < 101 || n > 103 {
		t.Errorf("%d requests for 10,049 records at 100 a page and the recycle bin", n)
	}
	last := pages[len(pages)-1].Cursor
	if got := pageIDs(pullAll(t, c, "contacts", last)); len(got) != 0 {
		t.Errorf("a pull from the end read %d records: %v", len(got), got[:min(5, len(got))])
	}

	// The next pull searches: only what changed since is emitted.
	clk.Set(t0.Add(4 * time.Second))
	srv.Update("contacts", ids[5000], map[string]any{"firstname": "Later"})
	srv.ResetRequests()
	// The edit moved a record out of a second of more versions than the
	// watermark keeps one by one: that second's digest no longer matches,
	// so its records come again (a comparison each for the engine), and
	// the edit last.
	if got := pageIDs(pullAll(t, c, "contacts", last)); len(got) == 0 || got[len(got)-1] != ids[5000] || slices.Index(got, ids[5000]) != len(got)-1 {
		t.Errorf("a pull after one edit read %d records, want the edited %s once, last", len(got), ids[5000])
	}
	if srv.Requests()[0].Path != "/crm/v3/objects/contacts/search" {
		t.Errorf("an incremental pull did not search: %s", srv.Requests()[0].Path)
	}
}

// TestPullFullReadResumes: a full read stopped after any page resumes
// from that page's cursor with exactly the records after it; a record
// edited behind the list while it runs is emitted by the next pull.
func TestPullFullReadResumes(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Now: newStepClock().Now})
	defer srv.Close()
	var ids []string
	for i := range 230 {
		id, _ := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@example.com", i)})
		ids = append(ids, id)
	}
	c := open(t, srv, "page_size: 50\n")
	pages := pullAll(t, c, "contacts", "")
	if got := pageIDs(pages); !slices.Equal(got, ids) || len(pages) != 5 {
		t.Fatalf("%d pages of %d records, want 5 pages of the 230 in id order", len(pages), len(got))
	}
	for i, p := range pages[:len(pages)-1] {
		if cur := decodeCursor(t, p.Cursor); cur.List == nil || cur.List.At == 0 || cur.List.After == "" {
			t.Errorf("page %d's cursor %s does not hold the list's position", i, p.Cursor)
		}
	}
	checkResume(t, c, "contacts", pages)

	var got []string
	edited := ""
	err := c.Pull(context.Background(), tandem.Query{Object: "contacts", Fields: contactFields}, func(p tandem.Page) error {
		got = append(got, pageIDs([]tandem.Page{p})...)
		if edited == "" {
			edited = p.Records[3].ID // read already: the list will not come back to it
			return srv.Update("contacts", edited, map[string]any{"firstname": "edited mid-read"})
		}
		if len(p.Records) > 0 && p.Records[len(p.Records)-1].ID == ids[len(ids)-1] {
			if next := pageIDs(pullAll(t, c, "contacts", p.Cursor)); !slices.Equal(next, []string{edited}) {
				t.Errorf("the pull after the full read: %v, want the record edited during it, %s", next, edited)
			}
		}
		return nil
	})
	if err != nil || !slices.Equal(got, ids) {
		t.Errorf("full read with an edit during it: %d records (%v)", len(got), err)
	}
}
