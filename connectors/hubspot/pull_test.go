package hubspot

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors"
	"tandem/connectors/hubspot/hubspottest"
)

var contactFields = []string{"id", "properties.email", "properties.firstname", "updatedAt"}

// searchFromStart is a cursor from which a pull searches every record, as
// a first pull did before full reads went by list: the tests of search
// paging start from it.
const searchFromStart = tandem.Cursor(`{"live":{"v":1,"floor":"1970-01-01T00:00:00.001Z"}}`)

// pullAll runs one Pull and returns its pages.
func pullAll(t *testing.T, c *Client, object string, after tandem.Cursor) []tandem.Page {
	t.Helper()
	var pages []tandem.Page
	err := c.Pull(context.Background(), tandem.Query{Object: object, Fields: contactFields, After: after}, func(p tandem.Page) error {
		pages = append(pages, p)
		return nil
	})
	if err != nil {
		t.Fatalf("pull after %q: %v", after, err)
	}
	return pages
}

func pageIDs(pages []tandem.Page) []string {
	var ids []string
	for _, p := range pages {
		for _, r := range p.Records {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// inModifiedOrder lists the live records oldest first, ties by id.
func inModifiedOrder(e *hubspottest.Emulator, object string) []string {
	objs := e.List(object)
	slices.SortStableFunc(objs, func(a, b hubspottest.Object) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	var ids []string
	for _, o := range objs {
		ids = append(ids, o.ID)
	}
	return ids
}

// checkResume pulls from every page's cursor and wants exactly the records
// after that page.
func checkResume(t *testing.T, c *Client, object string, pages []tandem.Page) {
	t.Helper()
	all := pageIDs(pages)
	n := 0
	for i, p := range pages {
		n += len(p.Records)
		rest := pageIDs(pullAll(t, c, object, p.Cursor))
		if !slices.Equal(rest, all[n:]) {
			t.Fatalf("resume after page %d (cursor %s): got %d records %v..., want the %d after it", i, p.Cursor, len(rest), rest[:min(5, len(rest))], len(all)-n)
		}
	}
}

func TestPullPagesAndResume(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Now: newStepClock().Now})
	defer srv.Close()
	for i := 0; i < 260; i++ {
		if _, err := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%03d@example.com", i), "firstname": fmt.Sprint(i), "phone": "1"}); err != nil {
			t.Fatal(err)
		}
	}
	// Edits reorder records by modified date, away from id order.
	for _, o := range srv.List("contacts")[:30] {
		srv.Update("contacts", o.ID, map[string]any{"city": "Oslo"})
	}
	c := open(t, srv, "page_size: 50\n")
	pages := pullAll(t, c, "contacts", searchFromStart)
	if got, want := pageIDs(pages), inModifiedOrder(srv.Emulator, "contacts"); !slices.Equal(got, want) {
		t.Fatalf("pulled %d records, want all %d oldest first", len(got), len(want))
	}
	if len(pages) < 6 {
		t.Errorf("%d pages for 260 records at 50 a page", len(pages))
	}
	r := pages[0].Records[0]
	raw := gjson.ParseBytes(r.Raw)
	obj, _ := srv.Get("contacts", r.ID)
	if raw.Get("id").String() != r.ID || raw.Get("properties.email").String() != obj.Properties["email"] ||
		!raw.Get("properties.lastmodifieddate").Exists() || raw.Get("properties.phone").Exists() ||
		!raw.Get("createdAt").Exists() || raw.Get("archived").Type != gjson.False {
		t.Errorf("raw record: %s", r.Raw)
	}
	if !r.Modified.Equal(obj.UpdatedAt) || r.Deleted {
		t.Errorf("record %s: Modified %v, want %v", r.ID, r.Modified, obj.UpdatedAt)
	}
	for _, q := range srv.Requests() {
		if q.Method == "GET" { // the recycle bin, once per pull
			v, _ := url.ParseQuery(q.RawQuery)
			if q.Path != "/crm/v3/objects/contacts" || q.Status != 200 || v.Get("archived") != "true" || v.Get("limit") != "100" ||
				v.Get("properties") != "lastmodifieddate,email,firstname" {
				t.Fatalf("unexpected request %s %s?%s %d", q.Method, q.Path, q.RawQuery, q.Status)
			}
			continue
		}
		if !strings.HasSuffix(q.Path, "/search") || q.Status != 200 || gjson.GetBytes(q.Body, "limit").Int() != 50 ||
			gjson.GetBytes(q.Body, "sorts.0.propertyName").String() != "lastmodifieddate" || gjson.GetBytes(q.Body, "filterGroups.0.filters.0.operator").String() != "GTE" {
			t.Fatalf("unexpected request %s %s %d %s", q.Method, q.Path, q.Status, q.Body)
		}
	}
	checkResume(t, c, "contacts", pages)

	// Nothing new: nothing pulled. A change: only it.
	last := pages[len(pages)-1].Cursor
	if got := pullAll(t, c, "contacts", last); len(got) != 0 {
		t.Errorf("pull at the end gave %d pages", len(got))
	}
	first := pages[0].Records[0].ID
	srv.Update("contacts", first, map[string]any{"firstname": "again"})
	if got := pageIDs(pullAll(t, c, "contacts", last)); !slices.Equal(got, []string{first}) {
		t.Errorf("after one edit: %v, want [%s]", got, first)
	}
}

// TestPullTies: records sharing one millisecond, cut by page boundaries,
// come out once each, and the cursor resumes inside the tie.
func TestPullTies(t *testing.T) {
	clk := &fixedClock{}
	srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
	defer srv.Close()
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	add := func(at time.Duration, n int) {
		clk.Set(t0.Add(at))
		for i := 0; i < n; i++ {
			if _, err := srv.Create("companies", map[string]any{"name": fmt.Sprintf("%v-%d", at, i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(0, 30)
	add(time.Millisecond, 120) // a run of ties longer than two pages
	add(2*time.Millisecond, 7)
	add(3*time.Millisecond, 45)
	c := open(t, srv, "page_size: 50\n")
	pages := pullAll(t, c, "companies", "")
	got := pageIDs(pages)
	want := inModifiedOrder(srv.Emulator, "companies")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || len(pageIDs(pages)) != 202 {
		t.Fatalf("pulled %d records (%d distinct), want each of %d once", len(pageIDs(pages)), len(slices.Compact(got)), len(want))
	}
	checkResume(t, c, "companies", pages)

	// A record created later in the same millisecond as the last page is
	// new to the cursor, though it shares its time.
	last := pages[len(pages)-1].Cursor
	id, _ := srv.Create("companies", map[string]any{"name": "late"})
	if got := pageIDs(pullAll(t, c, "companies", last)); !slices.Equal(got, []string{id}) {
		t.Errorf("pull after a tie at the cursor's time: %v, want [%s]", got, id)
	}
}

// TestPullTieRunByID: a run of ties longer than a page is paged by id
// (modified EQ T, hs_object_id GT the last id, sorted by id), never by
// offset, so no length of run meets HubSpot's 10,000-result cap: every
// record comes once, and no search asks for an offset.
func TestPullTieRunByID(t *testing.T) {
	clk := &fixedClock{}
	srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
	defer srv.Close()
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	clk.Set(t0)
	for i := 0; i < 105; i++ {
		srv.Create("contacts", map[string]any{"email": fmt.Sprintf("tie%d@x.com", i)})
	}
	for i := 0; i < 20; i++ {
		clk.Set(t0.Add(time.Duration(i+1) * time.Millisecond))
		srv.Create("contacts", map[string]any{"email": fmt.Sprintf("after%d@x.com", i)})
	}
	c := open(t, srv, "page_size: 40\n")
	pages := pullAll(t, c, "contacts", searchFromStart)
	if got := pageIDs(pages); len(got) != 125 || len(slices.Compact(slices.Sorted(slices.Values(got)))) != 125 {
		t.Fatalf("pulled %d records, want 125 distinct", len(got))
	}
	byID := 0
	for _, q := range srv.Requests() {
		if q.Status != 200 || gjson.GetBytes(q.Body, "after").Int() != 0 {
			t.Errorf("a search with an offset: %d %s", q.Status, q.Body)
		}
		if gjson.GetBytes(q.Body, "sorts.0.propertyName").String() == "hs_object_id" {
			byID++
		}
	}
	if byID == 0 {
		t.Error("the run of 105 ties was not paged by id")
	}
}

// TestPullPastTheSearchCap: an incremental read of 25,000 new records,
// more than twice what one search can return, with runs of ties up to 150
// records long and records already read edited before it, reads every
// record exactly once, in modified order, and never reaches HubSpot's
// 10,000-result cap (whose 400 the emulator gives). Each page is a fresh
// search from the cursor, so the offset of a search only grows inside a
// run of ties. Pulls resumed from cursors along the way read the rest,
// exactly once too.
func TestPullPastTheSearchCap(t *testing.T) {
	if testing.Short() {
		t.Skip("25,000 records")
	}
	clk := &fixedClock{}
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	ms := 0
	tick := func() { ms++; clk.Set(t0.Add(time.Duration(ms) * time.Millisecond)) }
	tick()
	srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
	defer srv.Close()
	n := 0
	create := func(count int) {
		for i := 0; i < count; i++ {
			if _, err := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@example.com", n)}); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	for i := 0; i < 500; i++ {
		create(1)
		tick()
	}
	c := open(t, srv, "page_size: 200\n")
	first := pullAll(t, c, "contacts", "")
	from := first[len(first)-1].Cursor
	old := pageIDs(first)

	// 25,000 new records: runs of 1 to 150 sharing a millisecond; and
	// records already read, edited among them (some more than once).
	edited := map[string]bool{}
	rnd := rand.New(rand.NewPCG(5, 25_000))
	for left, run := 25_000, 0; left > 0; left -= run {
		run = min(left, 1+rnd.IntN(150))
		create(run)
		if rnd.IntN(3) == 0 {
			id := old[rnd.IntN(len(old))]
			if err := srv.Update("contacts", id, map[string]any{"firstname": fmt.Sprint("edited ", left)}); err != nil {
				t.Fatal(err)
			}
			edited[id] = true
		}
		tick()
	}
	isOld := map[string]bool{}
	for _, id := range old {
		isOld[id] = true
	}
	want := slices.DeleteFunc(inModifiedOrder(srv.Emulator, "contacts"), func(id string) bool { return isOld[id] && !edited[id] })
	srv.ResetRequests()
	// The pull runs an hour later: the cursor never moves past the
	// portal's time at the first search (whole seconds).
	clk.Set(t0.Add(time.Hour))

	pages := pullAll(t, c, "contacts", from)
	got := pageIDs(pages)
	if len(got) != len(want) || len(want) < 25_000+len(edited) || len(edited) < 50 {
		t.Fatalf("pulled %d records, want %d", len(got), len(want))
	}
	if !sameModifiedOrder(t, srv.Emulator, got, want) {
		t.Fatalf("not every record exactly once in modified order")
	}
	searches := 0
	for _, q := range srv.Requests() {
		if q.Status != 200 {
			t.Fatalf("request refused: %s %s %d %s", q.Method, q.Path, q.Status, q.Body)
		}
		if strings.HasSuffix(q.Path, "/search") {
			searches++
			if end := gjson.GetBytes(q.Body, "after").Int() + gjson.GetBytes(q.Body, "limit").Int(); end > 10_000 {
				t.Fatalf("a search reached result %d, past the cap", end)
			}
		}
	}
	// A run of ties cut by a page's end is searched again from its time,
	// and its part already read skipped: with runs up to 150 long, pages
	// deliver fewer than 200 new records, never fewer than 50.
	if searches > len(want)/50+2 {
		t.Errorf("%d searches for %d records at 200 a page", searches, len(want))
	}
	t.Logf("%d records in %d searches", len(want), searches)
	// Resumed from a page's cursor, the rest comes: the records after it,
	// each once. With the lookback (the default, a minute, which here
	// spans every record), and even without one, the pull reads again the
	// second its cursor is in; the cursor vouches for what it read before
	// that second (by version, or by digest), so what comes again is at
	// most that second's records, which the engine finds unchanged. (Here
	// a second holds thousands: the clock ticks a millisecond a run.)
	exact := open(t, srv, "page_size: 200\nlookback: 0s\n")
	for _, i := range []int{len(pages) / 3, 2 * len(pages) / 3} {
		done := len(pageIDs(pages[:i+1]))
		sec := decodeCursor(t, pages[i].Cursor).Live.Stamp.Truncate(time.Second)
		for name, cl := range map[string]*Client{"without a lookback": exact, "with the lookback": c} {
			rest := pageIDs(pullAll(t, cl, "contacts", pages[i].Cursor))
			got := map[string]int{}
			for _, id := range rest {
				got[id]++
			}
			for _, id := range want[done:] {
				if got[id] != 1 {
					t.Fatalf("resume after page %d %s: %s read %d times, want once", i, name, id, got[id])
				}
			}
			for _, id := range want[:done] {
				if got[id] == 0 {
					continue
				}
				if o, _ := srv.Get("contacts", id); !o.UpdatedAt.Truncate(time.Second).Equal(sec) || got[id] != 1 {
					t.Fatalf("resume after page %d %s: %s (modified %v) read again, outside the cursor's second %v", i, name, id, o.UpdatedAt, sec)
				}
			}
		}
	}
}

// sameModifiedOrder reports whether got holds the records of want, each
// once, in the same order but for records that share a modified time.
func sameModifiedOrder(t *testing.T, e *hubspottest.Emulator, got, want []string) bool {
	t.Helper()
	if len(got) != len(want) {
		return false
	}
	at := map[string]time.Time{}
	for _, o := range e.List("contacts") {
		at[o.ID] = o.UpdatedAt
	}
	seen := map[string]bool{}
	for i := range got {
		if seen[got[i]] || !at[got[i]].Equal(at[want[i]]) {
			return false
		}
		seen[got[i]] = true
	}
	for _, id := range want {
		if !seen[id] {
			return false
		}
	}
	return true
}

func TestPullBadInput(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{})
	defer srv.Close()
	c := open(t, srv, "")
	pull := func(q tandem.Query) error {
		return c.Pull(context.Background(), q, func(tandem.Page) error { return nil })
	}
	if err := pull(tandem.Query{Object: "contacts", After: "42"}); err == nil || !strings.Contains(err.Error(), "not made by the hubspot connector") {
		t.Errorf("foreign cursor: %v", err)
	}
	if err := pull(tandem.Query{Object: "contacts", Fields: []string{"email"}}); err == nil || !strings.Contains(err.Error(), `"email"`) {
		t.Errorf("field outside properties: %v", err)
	}
	if err := pull(tandem.Query{Object: "contacts", Fields: []string{"properties.first name"}}); err == nil {
		t.Errorf("field with a space accepted")
	}
	if len(srv.Requests()) != 0 {
		t.Errorf("bad queries reached HubSpot")
	}
	stop := errors.New("stop")
	srv.Create("contacts", map[string]any{"email": "a@x.com"})
	if err := c.Pull(context.Background(), tandem.Query{Object: "contacts"}, func(tandem.Page) error { return stop }); err != stop {
		t.Errorf("page error not returned: %v", err)
	}
}

// TestPullRejectsMalformedRecords uses a hand-made server: the emulator
// never sends such records, HubSpot might. A record that cannot be read is
// set aside in Page.Rejected, with its bytes and the reason, and the page
// goes on; the cursor steps over it when its id and time can be read.
func TestPullRejectsMalformedRecords(t *testing.T) {
	results := []string{
		`{"id":"1","properties":{"lastmodifieddate":"2024-01-01T00:00:01Z"},"updatedAt":"2024-01-01T00:00:01Z"}`,
		`{"id":"77","properties":{"lastmodifieddate":"2024-01-01T00:00:02Z"}}`,
		`{"id":"78","properties":{},"updatedAt":"yesterday"}`,
		`{"properties":{"lastmodifieddate":"2024-01-01T00:00:03Z"},"updatedAt":"2024-01-01T00:00:03Z"}`,
		`"not an object"`,
		`{"id":"79","properties":{"lastmodifieddate":"soon"},"updatedAt":"2024-01-01T00:00:03Z"}`,
		`{"id":"80","properties":{"lastmodifieddate":"1704067204000"},"updatedAt":"2024-01-01T00:00:04Z"}`,
	}
	body := `{"total":7,"results":[` + strings.Join(results, ",") + `]}`
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet { // the recycle bin: empty
			w.Write([]byte(`{"results":[]}`))
			return
		}
		w.Write([]byte(body))
	}))
	defer hs.Close()
	c, err := testClient(t, "type: hubspot\ntoken: t\nbase_url: "+hs.URL+"\n")
	if err != nil {
		t.Fatal(err)
	}
	var pages []tandem.Page
	err = c.Pull(context.Background(), tandem.Query{Object: "contacts", After: searchFromStart}, func(p tandem.Page) error {
		pages = append(pages, p)
		return nil
	})
	if err != nil {
		t.Fatalf("a page with bad records failed the pull: %v", err)
	}
	if len(pages) != 1 {
		t.Fatalf("%d pages, want 1", len(pages))
	}
	p := pages[0]
	if got := pageIDs(pages); !slices.Equal(got, []string{"1", "80"}) {
		t.Errorf("records %v, want [1 80]", got)
	}
	want := []struct{ id, raw, reason string }{
		{"77", results[1], "record 77: updatedAt (missing) is not an RFC 3339 timestamp"},
		{"78", results[2], `record 78: updatedAt "yesterday" is not an RFC 3339 timestamp`},
		{"", results[3], "record without an id"},
		{"", results[4], "record is not a JSON object"},
		{"79", results[5], `record 79: lastmodifieddate "soon" is not a timestamp`},
	}
	if len(p.Rejected) != len(want) {
		t.Fatalf("rejected %+v, want %d", p.Rejected, len(want))
	}
	for i, w := range want {
		r := p.Rejected[i]
		if r.ID != w.id || string(r.Raw) != w.raw || !strings.HasPrefix(r.Reason, w.reason) {
			t.Errorf("rejected %d: {%q %s %q}, want {%q %s %q...}", i, r.ID, r.Raw, r.Reason, w.id, w.raw, w.reason)
		}
	}
	// 77 had a time, so the cursor stepped over it; 80 is the newest.
	cur := decodeCursor(t, p.Cursor)
	if !cur.Live.Stamp.Equal(time.UnixMilli(1704067204000)) || !slices.ContainsFunc(cur.Live.Seen, func(v connectors.Version) bool { return v.ID == "80" }) {
		t.Errorf("cursor %s", p.Cursor)
	}
}

// TestPullRejectedOnce: through the emulator, a record whose updatedAt
// HubSpot garbles is set aside once, on the page where it comes, and the
// pulls after it neither set it aside again nor lose the records around.
func TestPullRejectedOnce(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Now: newStepClock().Now})
	defer srv.Close()
	var ids []string
	for i := 0; i < 30; i++ {
		id, _ := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@x.com", i)})
		ids = append(ids, id)
	}
	bad := ids[12]
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		b := rec.Body.Bytes()
		for i, obj := range gjson.GetBytes(b, "results").Array() {
			if obj.Get("id").String() == bad {
				b, _ = sjson.SetBytes(b, fmt.Sprintf("results.%d.updatedAt", i), "garbled")
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
	c, err := testClient(t, "type: hubspot\ntoken: test-token\npage_size: 10\nbase_url: "+hs.URL+"\n")
	if err != nil {
		t.Fatal(err)
	}
	pages := pullAll(t, c, "contacts", searchFromStart)
	var rejected []tandem.Rejected
	for _, p := range pages {
		rejected = append(rejected, p.Rejected...)
	}
	want := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == bad })
	if got := pageIDs(pages); !slices.Equal(got, want) {
		t.Errorf("records %v, want every one but %s", got, bad)
	}
	if len(rejected) != 1 || rejected[0].ID != bad || gjson.GetBytes(rejected[0].Raw, "updatedAt").String() != "garbled" ||
		!strings.Contains(rejected[0].Reason, "updatedAt") {
		t.Fatalf("rejected %+v, want %s once", rejected, bad)
	}
	// Resuming from every page: the bad record is never set aside again
	// once its page is past, and never lost before.
	n := 0
	for i, p := range pages {
		n += len(p.Rejected)
		var again int
		for _, q := range pullAll(t, c, "contacts", p.Cursor) {
			again += len(q.Rejected)
		}
		if n+again != 1 {
			t.Errorf("resume after page %d: the bad record set aside %d times in all", i, n+again)
		}
	}
}

// TestPullNotAPage: a response that is not a page of results fails the
// pull; it is worth another try only when it looks cut short.
func TestPullNotAPage(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
		retryable        bool
	}{
		{"not JSON", `<html>`, "not a page of results", false},
		{"no results", `{"total":0}`, "not a page of results", false},
		{"cut short", `{"total":2,"results":[{"id":"1","properties":{}`, "ends too soon", true},
		{"empty", ``, "ends too soon", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(tc.body))
			}))
			defer hs.Close()
			c, err := testClient(t, "type: hubspot\ntoken: t\nbase_url: "+hs.URL+"\n")
			if err != nil {
				t.Fatal(err)
			}
			var got int
			err = c.Pull(context.Background(), tandem.Query{Object: "contacts"}, func(p tandem.Page) error {
				got += len(p.Records) + len(p.Rejected)
				return nil
			})
			var te *tandem.Error
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.want) || tandem.IsRetryable(err) != tc.retryable {
				t.Errorf("error %v (retryable %v), want one with %q, retryable %v", err, tandem.IsRetryable(err), tc.want, tc.retryable)
			}
			if got != 0 {
				t.Errorf("%d records delivered from a response that is not a page", got)
			}
		})
	}
}

// TestPullEditDuringPull: a record already read is edited between two
// pages and moves to the end of the order. Paging by offset would then
// skip the record that slid into its place; nothing may be skipped.
func TestPullEditDuringPull(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Now: newStepClock().Now})
	defer srv.Close()
	for i := 0; i < 100; i++ {
		srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@example.com", i)})
	}
	before := inModifiedOrder(srv.Emulator, "contacts")
	c := open(t, srv, "page_size: 10\n")
	var got []string
	edited := ""
	err := c.Pull(context.Background(), tandem.Query{Object: "contacts", After: searchFromStart}, func(p tandem.Page) error {
		for _, r := range p.Records {
			got = append(got, r.ID)
		}
		if edited == "" {
			edited = p.Records[3].ID
			return srv.Update("contacts", edited, map[string]any{"firstname": "edited mid-pull"})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range before {
		if !slices.Contains(got, id) {
			t.Errorf("record %s was skipped", id)
		}
	}
	if got[len(got)-1] != edited || len(got) != 101 {
		t.Errorf("the edit should come last, as a change of its own: %d records, last %s", len(got), got[len(got)-1])
	}
}
