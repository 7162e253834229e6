package salesforce

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors"
	"tandem/connectors/salesforce/salesforcetest"
)

// corrupter spoils, in query answers, the records whose LastName it has an
// edit for: a stand-in for a payload Salesforce (or a proxy) got wrong.
type corrupter struct {
	mu    sync.Mutex
	edits map[string]func(raw string) string // by LastName
}

func (c *corrupter) set(lastName string, edit func(string) string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if edit == nil {
		delete(c.edits, lastName)
		return
	}
	c.edits[lastName] = edit
}

func (c *corrupter) handler(e http.Handler) http.Handler {
	return rewrite(e, func(r *http.Request, status int, body []byte) (int, []byte) {
		if !strings.Contains(r.URL.Path, "/queryAll") || status != http.StatusOK {
			return status, body
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, rec := range gjson.GetBytes(body, "records").Array() {
			if edit := c.edits[rec.Get("LastName").String()]; edit != nil {
				body, _ = sjson.SetRawBytes(body, fmt.Sprintf("records.%d", i), []byte(edit(rec.Raw)))
			}
		}
		return status, body
	})
}

func setRaw(path, value string) func(string) string {
	return func(raw string) string { s, _ := sjson.SetRaw(raw, path, value); return s }
}

func deleteKey(path string) func(string) string {
	return func(raw string) string { s, _ := sjson.Delete(raw, path); return s }
}

// rejectFixture is an emulator behind a corrupter, with 12 contacts L0…L11
// all stamped within one second (so a resumed query reads them all again),
// in batches of 3; four of them spoilt.
func rejectFixture(t *testing.T) (*clock, *salesforcetest.Emulator, *corrupter, *Client, []string) {
	t.Helper()
	clk := newClock()
	e := salesforcetest.New(salesforcetest.Options{Now: clk.Now, BatchSize: 3})
	var ids []string
	for i := 0; i < 12; i++ {
		id, err := e.Create("Contact", map[string]any{"LastName": fmt.Sprintf("L%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		clk.Add(50 * time.Millisecond)
	}
	cor := &corrupter{edits: map[string]func(string) string{
		"L0":  deleteKey("Id"),
		"L5":  setRaw("SystemModstamp", `"not a date"`),
		"L8":  setRaw("LastModifiedDate", `"yesterday"`),
		"L11": setRaw("SystemModstamp", "null"),
	}}
	srv := httptest.NewServer(cor.handler(e))
	t.Cleanup(srv.Close)
	c, err := NewClient("sf", Options{InstanceURL: srv.URL, ClientID: "test-client-id", ClientSecret: "test-client-secret"})
	if err != nil {
		t.Fatal(err)
	}
	return clk, e, cor, c, ids
}

func pullAll(t *testing.T, c *Client, after tandem.Cursor) []tandem.Page {
	t.Helper()
	var pages []tandem.Page
	err := c.Pull(context.Background(), tandem.Query{Object: "Contact", Fields: []string{"LastName"}, After: after}, func(p tandem.Page) error {
		pages = append(pages, p)
		return nil
	})
	if err != nil {
		t.Fatalf("pull after %s: %v", after, err)
	}
	return pages
}

func names(pages []tandem.Page) (good, rejected []string) {
	for _, p := range pages {
		for _, r := range p.Records {
			good = append(good, gjson.GetBytes(r.Raw, "LastName").String())
		}
		for _, r := range p.Rejected {
			rejected = append(rejected, gjson.GetBytes(r.Raw, "LastName").String())
		}
	}
	return good, rejected
}

func TestPullSetsAsideUnreadableRecords(t *testing.T) {
	_, _, _, c, ids := rejectFixture(t)
	pages := pullAll(t, c, "")
	good, rejected := names(pages)
	if strings.Join(good, " ") != "L1 L2 L3 L4 L6 L7 L9 L10" || strings.Join(rejected, " ") != "L0 L5 L8 L11" {
		t.Fatalf("good %v, rejected %v", good, rejected)
	}
	want := map[string]struct{ id, reason string }{
		"L0":  {"", "no Id"},
		"L5":  {ids[5], `SystemModstamp "not a date" is not a Salesforce datetime`},
		"L8":  {ids[8], `LastModifiedDate "yesterday" is not a Salesforce datetime`},
		"L11": {ids[11], "no SystemModstamp"},
	}
	for _, p := range pages {
		for _, r := range p.Rejected {
			w := want[gjson.GetBytes(r.Raw, "LastName").String()]
			if r.ID != w.id || !strings.Contains(r.Reason, w.reason) || !gjson.ValidBytes(r.Raw) || !gjson.GetBytes(r.Raw, "attributes.type").Exists() {
				t.Errorf("rejected %+v, want id %q and a reason with %q", r, w.id, w.reason)
			}
		}
	}
	// The last batch holds only L9, L10 and the spoilt L11: the page still
	// comes, with a cursor.
	if last := pages[len(pages)-1]; len(last.Records) != 2 || len(last.Rejected) != 1 || last.Cursor == "" {
		t.Fatalf("last page %+v", last)
	}

	// The next pull reads the same second again: nothing new, and nothing
	// set aside a second time, placed by the cursor (L8) or not (L0, L5,
	// L11).
	again := pullAll(t, c, pages[len(pages)-1].Cursor)
	if good, rejected := names(again); len(good)+len(rejected) != 0 {
		t.Fatalf("pull from the last cursor: good %v, rejected %v", good, rejected)
	}
	// And again from that pull's cursor: the memory of L0, L5 and L11 is
	// kept while the query still reads them.
	if good, rejected := names(pullAll(t, c, again[len(again)-1].Cursor)); len(good)+len(rejected) != 0 {
		t.Fatalf("third pull: good %v, rejected %v", good, rejected)
	}
}

func TestPullResumesAroundUnreadableRecords(t *testing.T) {
	// From every page's cursor, the rest comes: every good record after
	// it, every unreadable one after it set aside once, none before.
	_, _, _, c, _ := rejectFixture(t)
	full := pullAll(t, c, "")
	for k, p := range full {
		wantGood, wantRejected := names(full[k+1:])
		good, rejected := names(pullAll(t, c, p.Cursor))
		if strings.Join(good, " ") != strings.Join(wantGood, " ") || strings.Join(rejected, " ") != strings.Join(wantRejected, " ") {
			t.Errorf("resume after page %d: good %v rejected %v; want %v and %v", k, good, rejected, wantGood, wantRejected)
		}
	}
}

func TestPullAfterARepairedRecord(t *testing.T) {
	// A record set aside, then edited so that it reads well: it comes as
	// a change. And one spoilt anew (other bytes) is set aside anew.
	clk, e, cor, c, ids := rejectFixture(t)
	pages := pullAll(t, c, "")
	cur := pages[len(pages)-1].Cursor
	clk.Add(2 * time.Second)
	cor.set("L5", nil)
	if err := e.Update("Contact", ids[5], map[string]any{"Title": "fixed"}); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Millisecond)
	if err := e.Update("Contact", ids[0], map[string]any{"Title": "edited, still no Id in the answer"}); err != nil {
		t.Fatal(err)
	}
	good, rejected := names(pullAll(t, c, cur))
	if strings.Join(good, " ") != "L5" || strings.Join(rejected, " ") != "L0" {
		t.Fatalf("after the repair: good %v, rejected %v", good, rejected)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	stamp := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	seen := []connectors.Version{{ID: "003000000000001AAA", Stamp: stamp, Sum: "0123456789abcdef"}}
	for _, c := range []cursor{
		{},
		{Mark: connectors.Watermark{Stamp: stamp, Seen: seen}},
		{Mark: connectors.Watermark{Stamp: stamp, Seen: seen}, Rejected: []string{"0123456789abcdef"}},
		{Mark: connectors.Watermark{Floor: stamp}},
		{Rejected: []string{"0123456789abcdef"}}, // only an unplaceable record so far
	} {
		got, err := decodeCursor(c.encode())
		if err != nil || fmt.Sprint(got.Mark) != fmt.Sprint(c.Mark) || !sameIDs(got.Rejected, c.Rejected) {
			t.Errorf("%+v: encoded %s, decoded %+v, %v", c, c.encode(), got, err)
		}
	}
	// A cursor written before the watermark still reads: its stamp, and
	// not its ids (see decodeCursor).
	if c, err := decodeCursor(`{"stamp":"2024-05-06T07:08:09.250Z","ids":["x"]}`); err != nil || !c.Mark.Stamp.Equal(stamp.Add(250*time.Millisecond)) || len(c.Mark.Seen) != 0 {
		t.Errorf("old cursor: %+v, %v", c, err)
	}
	for _, bad := range []tandem.Cursor{`{"ids":["x"]}`, `{"stamp":"yesterday"}`, `[]`, `{"ts":5}`, `{"mark":{"v":9}}`, `{"live":{"v":1,"stamp":"2024-05-06T07:08:09.000Z"}}`} {
		if _, err := decodeCursor(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestRejectMemoIsBounded(t *testing.T) {
	m := newRejectMemo(cursor{})
	for i := 0; i < maxRejectMemo+10; i++ {
		m.meet(fmt.Sprintf("%016x", i))
	}
	list := m.list(true)
	if len(list) != maxRejectMemo || list[len(list)-1] != fmt.Sprintf("%016x", maxRejectMemo+9) {
		t.Fatalf("%d kept, last %s", len(list), list[len(list)-1])
	}
}
