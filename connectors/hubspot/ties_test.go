package hubspot

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
)

// firstNames is what pages emitted: firstname by id, the last version.
func firstNames(t *testing.T, c *Client, after string) (map[string]string, string) {
	t.Helper()
	pages := pullAll(t, c, "contacts", tandem.Cursor(after))
	out := map[string]string{}
	for _, p := range pages {
		for _, r := range p.Records {
			out[r.ID] = gjson.GetBytes(r.Raw, "properties.firstname").String()
		}
	}
	if len(pages) == 0 {
		return out, after
	}
	return out, string(pages[len(pages)-1].Cursor)
}

// A record of a run of ties (one modified time: a batch write, an import)
// edited between two pages of a pull moves to the end of the order. Paged
// by offset, every record after it moves up one place and the next page
// starts one record late: the record that moved into the gap was never
// read, and the cursor moved past it. Paged by filters, nothing shifts.
func TestPullTiesEditedBetweenPages(t *testing.T) {
	clk := &fixedClock{}
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	clk.Set(t0)
	srv := hubspottest.New(hubspottest.Options{Now: clk.Now})
	var tied []string
	for i := range 10 {
		id, err := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("tie%d@example.com", i), "firstname": "Tie"})
		if err != nil {
			t.Fatal(err)
		}
		tied = append(tied, id)
	}
	clk.Set(t0.Add(time.Second))
	zed, err := srv.Create("contacts", map[string]any{"email": "zed@example.com", "firstname": "Zed"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(2 * time.Second))
	var searches atomic.Int32
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/search") && searches.Add(1) == 3 {
			// A user edits one of the ten just before the third search:
			// the first read the ten, the second read them again from
			// their time (a page of ties, no headway), so the third goes
			// past them: by offset 10 before, by id now.
			clk.Set(t0.Add(3 * time.Second))
			if err := srv.Update("contacts", tied[4], map[string]any{"firstname": "Edited"}); err != nil {
				t.Error(err)
			}
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		srv.ServeHTTP(w, r)
	}))
	defer h.Close()
	c, err := testClient(t, "type: hubspot\nbase_url: "+h.URL+"\ntoken: test-token\npage_size: 10\n")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := firstNames(t, c, string(searchFromStart))
	if searches.Load() < 3 {
		t.Fatal("the pull made fewer than three searches: the test no longer sets the scene")
	}
	if len(got) != 11 || got[zed] != "Zed" || got[tied[4]] != "Edited" {
		t.Fatalf("a pull with an edit between its pages emitted %d of 11 records (%s: %q, %s: %q)", len(got), zed, got[zed], tied[4], got[tied[4]])
	}
}

// HubSpot's search index shows a write seconds after it is made, and not
// always in the order of the writes: an edit indexed late can carry a
// modified time before records a pull already read. The next pull
// searches again the lookback window before its cursor and emits it.
func TestPullEditIndexedLate(t *testing.T) {
	clk := &fixedClock{}
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	clk.Set(t0)
	srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
	defer srv.Close()
	a, _ := srv.Create("contacts", map[string]any{"email": "a@example.com", "firstname": "A1"})
	b, _ := srv.Create("contacts", map[string]any{"email": "b@example.com", "firstname": "B1"})
	c := open(t, srv, "")
	clk.Set(t0.Add(time.Second))
	got, cur := firstNames(t, c, "")
	if len(got) != 2 {
		t.Fatalf("first pull: %v", got)
	}
	srv.SetSearchLag(30 * time.Second) // the index is slow for this write
	clk.Set(t0.Add(10 * time.Second))
	if err := srv.Update("contacts", a, map[string]any{"firstname": "A2"}); err != nil {
		t.Fatal(err)
	}
	srv.SetSearchLag(time.Second) // and quick for the next
	clk.Set(t0.Add(20 * time.Second))
	if err := srv.Update("contacts", b, map[string]any{"firstname": "B2"}); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(25 * time.Second))
	got, cur = firstNames(t, c, cur)
	if !maps1(got, b, "B2") {
		t.Fatalf("second pull: %v, want only %s: B2 (A2 is not searchable yet)", got, b)
	}
	clk.Set(t0.Add(45 * time.Second))
	got, cur = firstNames(t, c, cur)
	if !maps1(got, a, "A2") {
		t.Fatalf("the pull once A2 is indexed emitted %v; want %s: A2", got, a)
	}
	clk.Set(t0.Add(5 * time.Minute))
	if got, _ = firstNames(t, c, cur); len(got) != 0 {
		t.Fatalf("a pull with nothing new emitted %v", got)
	}
}

// maps1 reports whether m is exactly {k: v}.
func maps1(m map[string]string, k, v string) bool { return len(m) == 1 && m[k] == v }

// A cursor written before the watermark ({"ts","ids"}) resumes from its
// time less the lookback; another connector's cursor is refused.
func TestCursorForms(t *testing.T) {
	var c Client
	cur, err := c.parseCursor("pull", `{"ts":1704067204000,"ids":["80"],"arch":5}`)
	if err != nil || !cur.Live.Stamp.Equal(time.UnixMilli(1704067204000)) || len(cur.Live.Seen) != 0 || cur.Arch != 5 {
		t.Fatalf("old cursor: %+v, %v", cur, err)
	}
	for _, bad := range []string{`{"mark":{"v":1}}`, `{"stamp":"2024-05-06T07:08:09.000Z","ids":[]}`, `{"live":{"v":7}}`, `[]`} {
		if _, err := c.parseCursor("pull", tandem.Cursor(bad)); err == nil || !strings.Contains(err.Error(), "was not made by the hubspot connector") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// The searches of a pull, page after page: never an offset, and a run of
// ties paged by id.
func TestSearchNext(t *testing.T) {
	for _, tc := range []struct {
		name           string
		s              search
		full           bool
		oldest, newest int64
		lastID         int64
		want           search
		done           bool
	}{
		{"last page", search{kind: fromTime, from: 5}, false, 6, 9, 40, search{}, true},
		{"headway", search{kind: fromTime, from: 5}, true, 5, 9, 40, search{kind: fromTime, from: 9}, false},
		{"a full page of one time", search{kind: fromTime, from: 5}, true, 9, 9, 40, search{kind: ties, from: 9}, false},
		{"a run's page", search{kind: ties, from: 9, afterID: 10}, true, 9, 9, 40, search{kind: tail, from: 9, afterID: 40}, false},
		{"a run's end", search{kind: ties, from: 9, afterID: 10}, false, 9, 9, 40, search{kind: pastTime, from: 9}, false},
		{"a tail past the run", search{kind: tail, from: 9, afterID: 40}, true, 9, 12, 90, search{kind: fromTime, from: 12}, false},
		{"a tail still in the run", search{kind: tail, from: 9, afterID: 40}, true, 9, 9, 90, search{kind: ties, from: 9, afterID: 40}, false},
		{"a tail of one later time", search{kind: tail, from: 9, afterID: 40}, true, 12, 12, 90, search{kind: ties, from: 12}, false},
		{"a tail's last page", search{kind: tail, from: 9, afterID: 40}, false, 9, 12, 90, search{}, true},
		{"after a run", search{kind: pastTime, from: 9}, true, 10, 10, 90, search{kind: ties, from: 10}, false},
	} {
		got, done, err := tc.s.next(tc.full, tc.oldest, tc.newest, tc.lastID)
		if err != nil || done != tc.done || !done && got != tc.want {
			t.Errorf("%s: next %+v, done %v, %v; want %+v, done %v", tc.name, got, done, err, tc.want, tc.done)
		}
	}
	if _, _, err := (search{kind: ties, from: 9, afterID: 40}).next(true, 9, 9, 40); err == nil {
		t.Error("a full page of a run whose ids do not move past the last is not an error")
	}
}
