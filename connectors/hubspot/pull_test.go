package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
)

var contactFields = []string{"id", "properties.email", "properties.firstname", "updatedAt"}

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
	pages := pullAll(t, c, "contacts", "")
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

// TestPullTieRunAtCap: a run of ties is paged by offset up to the search
// cap (lowered here), and a longer one is a clear error, not a loop.
func TestPullTieRunAtCap(t *testing.T) {
	clk := &fixedClock{}
	srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
	defer srv.Close()
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	clk.Set(t0)
	for i := 0; i < 95; i++ {
		srv.Create("contacts", map[string]any{"email": fmt.Sprintf("tie%d@x.com", i)})
	}
	for i := 0; i < 20; i++ {
		clk.Set(t0.Add(time.Duration(i+1) * time.Millisecond))
		srv.Create("contacts", map[string]any{"email": fmt.Sprintf("after%d@x.com", i)})
	}
	c := open(t, srv, "page_size: 40\n")
	c.searchCap = 100
	pages := pullAll(t, c, "contacts", "")
	if got := pageIDs(pages); len(got) != 115 || len(slices.Compact(slices.Sorted(slices.Values(got)))) != 115 {
		t.Fatalf("pulled %d records, want 115 distinct", len(got))
	}
	for _, q := range srv.Requests() {
		if q.Status != 200 || gjson.GetBytes(q.Body, "after").Int()+gjson.GetBytes(q.Body, "limit").Int() > 100 {
			t.Errorf("a request reached past the cap: %d %s", q.Status, q.Body)
		}
	}

	clk.Set(t0)
	for i := 95; i < 105; i++ {
		srv.Create("contacts", map[string]any{"email": fmt.Sprintf("tie%d@x.com", i)})
	}
	err := c.Pull(context.Background(), tandem.Query{Object: "contacts"}, func(tandem.Page) error { return nil })
	var te *tandem.Error
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "more than 100 records share lastmodifieddate 2024-05-06T07:08:09Z") {
		t.Fatalf("105 ties with a cap of 100: %v", err)
	}
}

// TestPullPastTenThousand reads more records than one search can return,
// without any request hitting HubSpot's 10,000 cap.
func TestPullPastTenThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("10,500 records")
	}
	srv := hubspottest.NewServer(hubspottest.Options{Now: newStepClock().Now})
	defer srv.Close()
	for i := 0; i < 10_500; i++ {
		if _, err := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@example.com", i)}); err != nil {
			t.Fatal(err)
		}
	}
	c := open(t, srv, "page_size: 200\n")
	pages := pullAll(t, c, "contacts", "")
	if got := pageIDs(pages); !slices.Equal(got, inModifiedOrder(srv.Emulator, "contacts")) {
		t.Fatalf("pulled %d of 10500 records", len(got))
	}
	for _, q := range srv.Requests() {
		if q.Status != 200 {
			t.Fatalf("request failed: %d %s", q.Status, q.Body)
		}
	}
	searches := 0
	for _, q := range srv.Requests() {
		if strings.HasSuffix(q.Path, "/search") {
			searches++
		}
	}
	if searches > 10_500/199+1 {
		t.Errorf("%d search requests for 10,500 records at 200 a page", searches)
	}
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

// TestPullMalformedRecords uses a hand-made server: the emulator never
// sends such records, HubSpot might.
func TestPullMalformedRecords(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"no updatedAt", `{"total":2,"results":[{"id":"1","properties":{},"updatedAt":"2024-01-01T00:00:00Z"},{"id":"77","properties":{}}]}`, "pull contacts: record 77: updatedAt (missing)"},
		{"bad updatedAt", `{"total":1,"results":[{"id":"78","properties":{},"updatedAt":"yesterday"}]}`, `record 78: updatedAt "yesterday"`},
		{"no id", `{"total":1,"results":[{"properties":{},"updatedAt":"2024-01-01T00:00:00Z"}]}`, "record without an id"},
		{"bad modified date", `{"total":1,"results":[{"id":"79","properties":{"lastmodifieddate":"soon"},"updatedAt":"2024-01-01T00:00:00Z"}]}`, "record 79: lastmodifieddate"},
		{"not JSON", `<html>`, "not a page of results"},
		{"no results", `{"total":0}`, "not a page of results"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(tc.body))
			}))
			defer hs.Close()
			c, err := newClient(config(t, "type: hubspot\ntoken: t\nbase_url: "+hs.URL+"\n"), connectorsTestHTTP)
			if err != nil {
				t.Fatal(err)
			}
			var got []tandem.Record
			err = c.Pull(context.Background(), tandem.Query{Object: "contacts"}, func(p tandem.Page) error {
				got = append(got, p.Records...)
				return nil
			})
			var te *tandem.Error
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.want) || tandem.IsRetryable(err) {
				t.Errorf("error %v, want a permanent one with %q", err, tc.want)
			}
			if len(got) != 0 {
				t.Errorf("a page with a bad record was partly delivered: %d records", len(got))
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
	err := c.Pull(context.Background(), tandem.Query{Object: "contacts"}, func(p tandem.Page) error {
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
