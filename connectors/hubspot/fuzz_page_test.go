package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
)

// The page fuzz targets drive the connector itself against a server that
// answers every call of a kind with the same fuzzed body: a search, a
// listing of the recycle bin, a batch/read. Seeds: the f.Add calls; CI
// runs each for a bounded count (.ci/run).

// fuzzServer answers HubSpot's calls with the bodies it is given, and
// counts the calls.
type fuzzServer struct {
	*httptest.Server
	mu                      sync.Mutex
	search, archived, batch []byte
	calls                   int
}

func newFuzzServer(f testing.TB) *fuzzServer {
	s := &fuzzServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls++
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.Header().Set("Date", fuzzNow.Format(http.TimeFormat))
		switch {
		case strings.HasSuffix(r.URL.Path, "/search"):
			w.Write(s.search)
		case strings.HasSuffix(r.URL.Path, "/batch/read"):
			w.Write(s.batch)
		case r.URL.Query().Get("archived") == "true":
			w.Write(s.archived)
		default:
			http.NotFound(w, r)
		}
	}))
	f.Cleanup(s.Close)
	return s
}

func (s *fuzzServer) serve(search, archived, batch []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.search, s.archived, s.batch, s.calls = search, archived, batch, 0
}

func (s *fuzzServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// maxFuzzCalls bounds the calls of one Pull or Fetch against a server that
// answers the same page every time: paging that goes nowhere must stop.
const maxFuzzCalls = 20

var fuzzContactFields = []string{"properties.email", "properties.firstname", "properties.phone", "id", "updatedAt"}

// FuzzPull: a pull of pages HubSpot never sent does not panic and ends
// within a few calls, with a *tandem.Error if it fails; what it emits is
// what the pages held: each record is one of the results, by its id,
// parsed (live ones with their updatedAt, deleted ones from the recycle
// bin with their archivedAt); a result set aside carries its bytes and a
// reason; and every page's cursor reads back, never going backwards.
func FuzzPull(f *testing.F) {
	rec := func(id, at string) string {
		return `{"id":"` + id + `","properties":{"email":"a` + id + `@example.com","lastmodifieddate":"` + at + `","firstname":"Ann"},"createdAt":"2024-01-01T00:00:00Z","updatedAt":"` + at + `","archived":false}`
	}
	arch := `{"results":[{"id":"9","properties":{"email":"z@example.com","lastmodifieddate":"2024-05-01T00:00:00Z"},"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-05-01T00:00:00Z","archived":true,"archivedAt":"2025-03-04T05:00:00.000Z"}]}`
	for _, s := range [][2]string{
		{`{"total":2,"results":[` + rec("51", "2024-05-06T07:08:09.123Z") + `,` + rec("52", "2024-05-06T07:08:09.123Z") + `]}`, `{"results":[]}`},
		{`{"total":3,"results":[` + rec("51", "2024-05-06T07:08:09Z") + `],"paging":{"next":{"after":"1"}}}`, arch},
		{`{"total":1,"results":[{"id":"53","properties":{"lastmodifieddate":"1714979289123"},"updatedAt":"2024-05-06T07:08:09.123Z"}]}`, `{"results":[{"id":"9","archived":true}]}`},
		{`{"total":4,"results":[{"properties":{}},{"id":54},{"id":"55","updatedAt":"yesterday"},{"id":"56","updatedAt":"2024-05-06T07:08:09Z","properties":{"lastmodifieddate":"soon"}},null,[],"x"]}`, `{"results":[{"archivedAt":"2025-03-04T05:00:00Z"},1]}`},
		{`{"total":1e99,"results":[` + rec("57", "2024-05-06T07:08:09Z") + `],"paging":{"next":{"after":"x"}}}`, `{"results":[` + rec("58", "2024-05-06T07:08:09Z") + `],"paging":{"next":{"after":"a"}}}`},
		{`{"total":-5,"results":[],"paging":{"next":{"after":"0"}}}`, `{"results":{}}`},
		{`{"results":"none"}`, `[]`},
		{`<html>502 Bad Gateway</html>`, ``},
		{`{"total":1,"results":[{"id":"60","properties":{"lastmodifieddate":"-1"},"updatedAt":"0001-01-01T00:00:00Z"}]}`, `{"results":[]}`},
		{`{"total":1,"results":[{"id":"61","properties":{"lastmodifieddate":"9223372036854775807"},"updatedAt":"9999-12-31T23:59:59.999Z"}]}`, `{"results":[]}`},
		{`{"total":1,"results":[{"id":"62","properties":{"lastmodifieddate":"253402300800000"},"updatedAt":"2024-05-06T07:08:09Z"}]}`, `{"results":[]}`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	srv := newFuzzServer(f)
	c := fuzzClient(f, "base_url: "+srv.URL+"\n")
	f.Fuzz(func(t *testing.T, search, archived []byte) {
		srv.serve(search, archived, nil)
		results := map[string]bool{}
		for _, body := range [][]byte{search, archived} {
			for _, r := range gjson.GetBytes(body, "results").Array() {
				results[r.Raw] = true
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		last := cursor{}
		err := c.Pull(ctx, tandem.Query{Object: "contacts", Fields: fuzzContactFields}, func(p tandem.Page) error {
			cur, err := c.parseCursor("check", p.Cursor)
			if err != nil || p.Cursor == "" {
				t.Fatalf("page cursor %q does not read back: %v", p.Cursor, err)
			}
			if cur.Live.Stamp.Before(last.Live.Stamp) || last.Arch > 0 && cur.Arch < last.Arch {
				t.Fatalf("cursor went backwards: %+v after %+v", cur, last)
			}
			last = cur
			for _, r := range p.Records {
				checkRecord(t, r, results)
				if r.Deleted {
					at := gjson.GetBytes(r.Raw, "archivedAt")
					if ts, err := time.Parse(time.RFC3339Nano, at.Str); err != nil || !ts.Equal(r.Modified) {
						t.Fatalf("deleted record %s: Modified %v, archivedAt %s", r.ID, r.Modified, at.Raw)
					}
				}
			}
			for _, r := range p.Rejected {
				if r.Reason == "" || !results[string(r.Raw)] {
					t.Fatalf("rejected %+v: no reason, or bytes that are not a result", r)
				}
			}
			return nil
		})
		if n := srv.count(); n > maxFuzzCalls {
			t.Fatalf("%d calls for pages that repeat: paging does not stop", n)
		}
		checkErr(t, err)
	})
}

// FuzzFetch: a batch/read answer HubSpot never sent does not panic and
// fails with a *tandem.Error, or gives records that were asked for, once
// each (an unreadable one set aside in a *tandem.RejectedError), live, parsed, with their history cut from Raw and only field
// times of the properties asked for, no later than the record.
func FuzzFetch(f *testing.F) {
	for _, s := range []string{
		`{"status":"COMPLETE","results":[{"id":"51","properties":{"email":"a@example.com"},"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-05-06T07:08:09.123Z","archived":false}],"startedAt":"2024-05-06T07:08:10Z","completedAt":"2024-05-06T07:08:10Z"}`,
		`{"status":"COMPLETE","results":[{"id":"51","properties":{"email":"a@example.com","phone":null},"propertiesWithHistory":{"email":[{"value":"a@example.com","timestamp":"2024-05-06T07:08:09.000Z","sourceType":"CRM_UI"},{"value":"old@example.com","timestamp":"2024-01-01T00:00:00Z"}],"phone":[{"value":"","timestamp":"2024-05-06T07:00:00Z"}]},"updatedAt":"2024-05-06T07:08:09.123Z"}]}`,
		`{"status":"COMPLETE","results":[{"id":"52","updatedAt":"2024-05-06T07:08:09Z","archived":true},{"id":"99","updatedAt":"2024-05-06T07:08:09Z"}],"numErrors":1,"errors":[{"status":"error","category":"OBJECT_NOT_FOUND","message":"Could not get some CONTACT objects","context":{"ids":["53"]}}]}`,
		`{"status":"COMPLETE","results":[],"errors":[{"category":"VALIDATION_ERROR","message":"bad"}]}`,
		`{"results":[{"id":"51","updatedAt":"2024-05-06T07:08:09Z"},{"id":"51","updatedAt":"2024-05-06T07:08:10Z"}]}`,
		`{"results":[{"id":51,"updatedAt":"2024-05-06T07:08:09Z"},{"id":"52"},{"id":"53","updatedAt":"2024-05-06"}]}`,
		`{"results":[{"id":"51","updatedAt":"2024-05-06T07:08:09Z","propertiesWithHistory":{"email":{"value":"x"},"phone":[{"timestamp":"2099-01-01T00:00:00Z","value":""}]}}]}`,
		`{"results":null}`, `[]`, `null`, ``, `{"results":[1,"x",null,[]]}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	srv := newFuzzServer(f)
	plain := fuzzClient(f, "base_url: "+srv.URL+"\n")
	history := fuzzClient(f, "base_url: "+srv.URL+"\nproperty_history: true\n")
	asked := []string{"51", "52", "53", "51", ""}
	f.Fuzz(func(t *testing.T, body []byte, withHistory bool) {
		srv.serve(nil, nil, body)
		c := plain
		if withHistory {
			c = history
		}
		results := map[string]bool{}
		for _, r := range gjson.GetBytes(body, "results").Array() {
			results[r.Raw] = true
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		recs, err := c.Fetch(ctx, tandem.Query{Object: "contacts", Fields: fuzzContactFields}, asked)
		seen := map[string]bool{}
		var rej *tandem.RejectedError
		if errors.As(err, &rej) {
			// Unreadable records set aside by the id asked for, once each;
			// the others come beside them.
			for _, r := range rej.Rejected {
				if seen[r.ID] || r.ID != "51" && r.ID != "52" && r.ID != "53" || r.Reason == "" || !results[string(r.Raw)] {
					t.Fatalf("rejected %+v: not asked for, given twice, without a reason, or not one of the results", r)
				}
				seen[r.ID] = true
			}
			err = nil
		}
		checkErr(t, err)
		if err != nil && recs != nil {
			t.Fatalf("records %v beside the error %v", recs, err)
		}
		for _, r := range recs {
			if r.Deleted || seen[r.ID] || r.ID != "51" && r.ID != "52" && r.ID != "53" {
				t.Fatalf("record %s (deleted %v): not asked for, archived, or given twice", r.ID, r.Deleted)
			}
			seen[r.ID] = true
			if withHistory {
				if gjson.GetBytes(r.Raw, "propertiesWithHistory").Exists() {
					t.Fatalf("record %s: history left in Raw: %s", r.ID, r.Raw)
				}
			} else {
				checkRecord(t, r, results)
			}
			for name, at := range r.FieldTimes {
				if name != "properties.email" && name != "properties.firstname" && name != "properties.phone" || at.After(r.Modified) || at.IsZero() {
					t.Fatalf("record %s: field time %s %v (modified %v)", r.ID, name, at, r.Modified)
				}
			}
		}
	})
}

// checkRecord checks a record the connector emitted: an id, the bytes of
// one of the results, by that id, and, live, its updatedAt as Modified.
func checkRecord(t *testing.T, r tandem.Record, results map[string]bool) {
	t.Helper()
	switch {
	case r.ID == "":
		t.Fatalf("a record without an id: %s", r.Raw)
	case !json.Valid(r.Raw) || !results[string(r.Raw)]:
		t.Fatalf("record %s: Raw %s is not one of the results", r.ID, r.Raw)
	case gjson.GetBytes(r.Raw, "id").Str != r.ID:
		t.Fatalf("record %s: Raw has the id %s", r.ID, gjson.GetBytes(r.Raw, "id").Raw)
	}
	if at, err := time.Parse(time.RFC3339Nano, gjson.GetBytes(r.Raw, "updatedAt").Str); !r.Deleted && (err != nil || !at.Equal(r.Modified)) {
		t.Fatalf("record %s: Modified %v, updatedAt %s", r.ID, r.Modified, gjson.GetBytes(r.Raw, "updatedAt").Raw)
	}
}

// checkErr: a pull or fetch fails with a *tandem.Error, which says what
// was wrong, and never with a bare one.
func checkErr(t *testing.T, err error) {
	t.Helper()
	var te *tandem.Error
	if err != nil && !errors.As(err, &te) {
		t.Fatalf("error %T %v: want a *tandem.Error", err, err)
	}
}
