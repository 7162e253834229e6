package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
)

// deletes lists the ids of the Deleted records of pages, in order, and
// fails the test if a live record comes after a delete: deletes come last.
func deletes(t *testing.T, pages []tandem.Page) []string {
	t.Helper()
	var ids []string
	for _, p := range pages {
		for _, r := range p.Records {
			if r.Deleted {
				ids = append(ids, r.ID)
			} else if len(ids) > 0 {
				t.Errorf("live record %s after the deletes", r.ID)
			}
		}
	}
	return ids
}

func decodeCursor(t *testing.T, c tandem.Cursor) cursor {
	t.Helper()
	var cur cursor
	if err := json.Unmarshal([]byte(c), &cur); err != nil {
		t.Fatalf("cursor %s: %v", c, err)
	}
	return cur
}

// TestPullDeletes: an archive made in HubSpot after the cursor comes out
// once, as a Deleted record with the archived object and its archivedAt;
// the recycle bin's older contents never do.
func TestPullDeletes(t *testing.T) {
	clk := &fixedClock{}
	t0 := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
	clk.Set(t0)
	srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
	defer srv.Close()
	var ids []string
	for i := 0; i < 6; i++ {
		clk.Set(t0.Add(time.Duration(i) * time.Second))
		id, _ := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@x.com", i), "firstname": "P"})
		ids = append(ids, id)
	}
	clk.Set(t0.Add(time.Hour))
	srv.Delete("contacts", ids[0]) // long before the first pull
	srv.Delete("contacts", ids[1])
	clk.Set(t0.Add(2 * time.Hour))
	srv.Update("contacts", ids[3], map[string]any{"firstname": "Q"})
	c := open(t, srv, "page_size: 2\n")

	clk.Set(t0.Add(3 * time.Hour))
	first := pullAll(t, c, "contacts", "")
	if got := pageIDs(first); !slices.Equal(got, ids[2:]) || len(deletes(t, first)) != 0 { // a full read: by id
		t.Fatalf("first pull: %v, want the 4 live records and no deletes", got)
	}
	last := first[len(first)-1].Cursor
	if cur := decodeCursor(t, last); cur.Arch != t0.Add(3*time.Hour-archiveMargin).UnixMilli() {
		t.Errorf("first pull's watermark %d, want the pull's start less %v", cur.Arch, archiveMargin)
	}

	clk.Set(t0.Add(4 * time.Hour))
	srv.Delete("contacts", ids[2])
	pages := pullAll(t, c, "contacts", last)
	if len(pages) != 1 || !slices.Equal(deletes(t, pages), ids[2:3]) {
		t.Fatalf("pull after an archive: %d pages, deletes %v, want [%s]", len(pages), deletes(t, pages), ids[2])
	}
	r := pages[0].Records[0]
	obj, _ := srv.Get("contacts", r.ID)
	raw := gjson.ParseBytes(r.Raw)
	if !r.Deleted || !r.Modified.Equal(obj.ArchivedAt) || !obj.ArchivedAt.Equal(t0.Add(4*time.Hour)) || raw.Get("archived").Type != gjson.True ||
		raw.Get("archivedAt").String() != "2024-05-06T11:00:00.000Z" || raw.Get("properties.email").String() != "p2@x.com" || !raw.Get("properties.firstname").Exists() {
		t.Errorf("delete record %+v: %s", r, r.Raw)
	}

	// Once: not again from its own cursor, now or much later.
	after := pages[0].Cursor
	if got := pullAll(t, c, "contacts", after); len(got) != 0 {
		t.Errorf("the delete came again: %d pages", len(got))
	}
	clk.Set(t0.Add(10 * time.Hour))
	if got := pullAll(t, c, "contacts", after); len(got) != 0 {
		t.Errorf("the delete came again hours later: %d pages", len(got))
	}
	// An edit and a delete in one pull: the edit first, then the delete.
	srv.Update("contacts", ids[4], map[string]any{"firstname": "Q"})
	srv.Delete("contacts", ids[5])
	clk.Set(t0.Add(12 * time.Hour))
	pages = pullAll(t, c, "contacts", after)
	if got := pageIDs(pages); !slices.Equal(got, []string{ids[4], ids[5]}) || !slices.Equal(deletes(t, pages), ids[5:6]) {
		t.Errorf("edit and delete: %v, deletes %v", got, deletes(t, pages))
	}
	// The watermark moved to this pull's start less the margin, and the
	// cursor no longer carries the deletes behind it.
	if cur := decodeCursor(t, pages[len(pages)-1].Cursor); cur.Arch != t0.Add(12*time.Hour-archiveMargin).UnixMilli() || len(cur.AIDs) != 0 {
		t.Errorf("cursor after the deletes: %+v", cur)
	}

	// A cursor from before deletes were pulled ({"ts", "ids"} only) still
	// parses; it gets the deletes since its own time (the update of
	// ids[3]), not the older ones.
	old, _ := json.Marshal(map[string]any{"ts": decodeCursor(t, last).Live.Stamp.UnixMilli(), "ids": []string{}})
	pages = pullAll(t, c, "contacts", tandem.Cursor(old))
	if got := deletes(t, pages); !slices.Equal(got, []string{ids[2], ids[5]}) {
		t.Errorf("deletes after a cursor of the old form: %v, want [%s %s]", got, ids[2], ids[5])
	}
	// And a first pull now replays none of the recycle bin.
	if got := deletes(t, pullAll(t, c, "contacts", "")); len(got) != 0 {
		t.Errorf("a first pull emitted deletes %v", got)
	}
	if _, err := c.parseCursor("pull", `{"ts":1,"arch":-5}`); err == nil {
		t.Errorf("a negative watermark was accepted")
	}
}

// TestPullDeleteDuringFirstPull: a record the first pull has emitted and
// that is archived before the pull ends comes out as a delete in the same
// pull, though the first pull replays nothing older.
func TestPullDeleteDuringFirstPull(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Now: newStepClock().Now})
	defer srv.Close()
	for i := 0; i < 9; i++ {
		srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@x.com", i)})
	}
	c := open(t, srv, "page_size: 4\n")
	var pages []tandem.Page
	gone := ""
	err := c.Pull(context.Background(), tandem.Query{Object: "contacts", Fields: contactFields}, func(p tandem.Page) error {
		pages = append(pages, p)
		if gone == "" {
			gone = p.Records[0].ID
			return srv.Delete("contacts", gone)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := deletes(t, pages); !slices.Equal(got, []string{gone}) {
		t.Errorf("deletes %v, want [%s]", got, gone)
	}
	if got := pullAll(t, c, "contacts", pages[len(pages)-1].Cursor); len(got) != 0 {
		t.Errorf("the delete came again: %d pages", len(got))
	}
}

// TestPullDeleteTies: deletes sharing one millisecond, cut by page
// boundaries, come out once each, in archive order, and every page's
// cursor resumes exactly after it: while the archives are recent (the
// cursor carries them) and once they are older than the margin (the
// watermark itself sits on the tie).
func TestPullDeleteTies(t *testing.T) {
	for _, tc := range []struct {
		name string
		wait time.Duration // between the archives and the pull
	}{
		{"recent", 0},
		{"older than the margin", 2 * archiveMargin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fixedClock{}
			t0 := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
			clk.Set(t0)
			srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
			defer srv.Close()
			var ids []string
			for i := 0; i < 12; i++ {
				id, _ := srv.Create("companies", map[string]any{"name": strconv.Itoa(i)})
				ids = append(ids, id)
			}
			c := open(t, srv, "page_size: 3\n")
			clk.Set(t0.Add(time.Hour))
			start := pullAll(t, c, "companies", "")
			from := start[len(start)-1].Cursor

			// Seven at one millisecond, out of id order; two a millisecond later.
			at := t0.Add(2 * time.Hour)
			clk.Set(at)
			for _, i := range []int{9, 1, 4, 7, 2, 8, 5} {
				srv.Delete("companies", ids[i])
			}
			clk.Set(at.Add(time.Millisecond))
			srv.Delete("companies", ids[0])
			srv.Delete("companies", ids[11])
			want := []string{ids[1], ids[2], ids[4], ids[5], ids[7], ids[8], ids[9], ids[0], ids[11]}

			clk.Set(at.Add(tc.wait))
			pages := pullAll(t, c, "companies", from)
			if got := deletes(t, pages); !slices.Equal(got, want) || len(pages) != 3 {
				t.Fatalf("deletes %v in %d pages, want %v in 3", got, len(pages), want)
			}
			n := 0
			for i, p := range pages {
				n += len(p.Records)
				if rest := deletes(t, pullAll(t, c, "companies", p.Cursor)); !slices.Equal(rest, want[n:]) {
					t.Errorf("resume after page %d (cursor %s): %v, want %v", i, p.Cursor, rest, want[n:])
				}
			}
			end := decodeCursor(t, pages[len(pages)-1].Cursor)
			if tc.wait == 0 && len(end.AIDs) != len(want) {
				t.Errorf("recent deletes should ride in the cursor: %+v", end)
			}
			if tc.wait > 0 && (len(end.AIDs) != 0 || end.Arch != at.Add(tc.wait-archiveMargin).UnixMilli()) {
				t.Errorf("old deletes should be behind the watermark: %+v", end)
			}
			if mid := decodeCursor(t, pages[0].Cursor); tc.wait > 0 && (mid.Arch != at.UnixMilli() || len(mid.AIDs) != 3) {
				t.Errorf("a page inside the tie should hold the watermark at the tie, with the tie's ids: %+v", mid)
			}
		})
	}
}

// TestPullDeletesPaging: the recycle bin is read through every page of
// 100, with the properties the caller reads.
func TestPullDeletesPaging(t *testing.T) {
	clk := &fixedClock{}
	t0 := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
	clk.Set(t0)
	srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
	defer srv.Close()
	var ids []string
	for i := 0; i < 250; i++ {
		id, _ := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%03d@x.com", i)})
		ids = append(ids, id)
	}
	c := open(t, srv, "page_size: 200\n")
	clk.Set(t0.Add(time.Hour))
	from := pullAll(t, c, "contacts", "")
	clk.Set(t0.Add(2 * time.Hour))
	for _, id := range ids[:230] {
		srv.Delete("contacts", id)
	}
	srv.ResetRequests()
	pages := pullAll(t, c, "contacts", from[len(from)-1].Cursor)
	if got := deletes(t, pages); len(got) != 230 || len(pages) != 2 {
		t.Fatalf("%d deletes in %d pages, want 230 in 2", len(got), len(pages))
	}
	var afters []string
	for _, r := range srv.Requests() {
		if r.Method != "GET" {
			continue
		}
		v, _ := url.ParseQuery(r.RawQuery)
		if r.Status != 200 || v.Get("archived") != "true" || v.Get("limit") != "100" || v.Get("properties") != "lastmodifieddate,email,firstname" {
			t.Errorf("listing request %s?%s: %d", r.Path, r.RawQuery, r.Status)
		}
		afters = append(afters, v.Get("after"))
	}
	if len(afters) != 3 || afters[0] != "" || afters[1] == "" || afters[2] == afters[1] {
		t.Errorf("listing of 230 archived records at 100 a page: afters %q", afters)
	}
}

// TestPullDeletesRejected: a record of the recycle bin that cannot be read
// (here its archivedAt is garbled on the way) is set aside once, on the
// first page of deletes or on a page of its own, and not again on later
// pulls, though the whole bin is listed on each.
func TestPullDeletesRejected(t *testing.T) {
	clk := &fixedClock{}
	t0 := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
	clk.Set(t0)
	srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
	defer srv.Close()
	var ids []string
	for i := 0; i < 6; i++ {
		id, _ := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@x.com", i)})
		ids = append(ids, id)
	}
	garbled := map[string]bool{ids[1]: true, ids[4]: true}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		b := rec.Body.Bytes()
		if r.Method == http.MethodGet {
			for i, obj := range gjson.GetBytes(b, "results").Array() {
				if garbled[obj.Get("id").String()] {
					b, _ = sjson.SetBytes(b, fmt.Sprintf("results.%d.archivedAt", i), "a while ago")
				}
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		w.Write(b)
	}))
	defer hs.Close()
	c, err := testClient(t, "type: hubspot\ntoken: test-token\nbase_url: "+hs.URL+"\n")
	if err != nil {
		t.Fatal(err)
	}
	rejectedIDs := func(pages []tandem.Page) []string {
		var out []string
		for _, p := range pages {
			for _, r := range p.Rejected {
				out = append(out, r.ID)
				if !strings.Contains(r.Reason, "archivedAt") || gjson.GetBytes(r.Raw, "archivedAt").String() != "a while ago" {
					t.Errorf("rejected %s: %s (%s)", r.ID, r.Reason, r.Raw)
				}
			}
		}
		return out
	}
	clk.Set(t0.Add(time.Hour))
	first := pullAll(t, c, "contacts", "")
	last := first[len(first)-1].Cursor

	clk.Set(t0.Add(2 * time.Hour))
	srv.Delete("contacts", ids[1])
	srv.Delete("contacts", ids[2])
	pages := pullAll(t, c, "contacts", last)
	if len(pages) != 1 || !slices.Equal(deletes(t, pages), ids[2:3]) || !slices.Equal(rejectedIDs(pages), ids[1:2]) {
		t.Fatalf("%d pages, deletes %v, rejected %v; want one page with delete %s and %s set aside", len(pages), deletes(t, pages), rejectedIDs(pages), ids[2], ids[1])
	}
	last = pages[0].Cursor
	if got := pullAll(t, c, "contacts", last); len(got) != 0 {
		t.Errorf("the next pull gave %d pages (rejected %v)", len(got), rejectedIDs(got))
	}

	// A bad record alone gets a page of its own, and the cursor keeps
	// both keys while the bin lists them.
	clk.Set(t0.Add(3 * time.Hour))
	srv.Delete("contacts", ids[4])
	pages = pullAll(t, c, "contacts", last)
	if len(pages) != 1 || len(pages[0].Records) != 0 || !slices.Equal(rejectedIDs(pages), ids[4:5]) {
		t.Fatalf("%d pages, rejected %v; want one page setting %s aside", len(pages), rejectedIDs(pages), ids[4])
	}
	if cur := decodeCursor(t, pages[0].Cursor); len(cur.Rej) != 2 {
		t.Errorf("cursor %s: want both bad records in rej", pages[0].Cursor)
	}
	last = pages[0].Cursor
	clk.Set(t0.Add(4 * time.Hour))
	srv.Delete("contacts", ids[5])
	pages = pullAll(t, c, "contacts", last)
	if !slices.Equal(deletes(t, pages), ids[5:6]) || len(rejectedIDs(pages)) != 0 {
		t.Errorf("deletes %v, rejected %v; want only %s deleted", deletes(t, pages), rejectedIDs(pages), ids[5])
	}
}

// TestListArchivedLoops: a listing whose paging token comes round again
// stops with an error instead of listing forever.
func TestListArchivedLoops(t *testing.T) {
	n := 0
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Write([]byte(`{"total":0,"results":[]}`))
			return
		}
		n++
		fmt.Fprintf(w, `{"results":[{"id":"%d","properties":{},"updatedAt":"2024-01-01T00:00:00Z","archived":true,"archivedAt":"2024-01-01T00:00:00Z"}],"paging":{"next":{"after":"%d"}}}`, n, n%3+1)
	}))
	defer hs.Close()
	c, err := testClient(t, "type: hubspot\ntoken: t\nbase_url: "+hs.URL+"\n")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Pull(context.Background(), tandem.Query{Object: "contacts", After: searchFromStart}, func(tandem.Page) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "seen before") || n > 5 {
		t.Errorf("after %d listing requests: %v", n, err)
	}
}
