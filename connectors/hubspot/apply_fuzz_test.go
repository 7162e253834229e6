package hubspot

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
)

// FuzzApply: Apply, answered with batch responses HubSpot never sent (to
// its upserts, updates and archives), never panics, settles every write
// in a bounded number of calls, and reports a write done only with the id
// of the record written: the one updated or archived, or, for a create,
// the id of one of the results (the engine links the entity to it); a
// record returned with it is that record. Seeds: the f.Add calls; CI runs
// it for a bounded count (.ci/run).
func FuzzApply(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{200, `{"status":"COMPLETE","results":[{"id":"101","properties":{"email":"a@example.com","hs_lastmodifieddate":"2024-05-06T07:08:09Z"},"createdAt":"2024-05-06T07:08:09Z","updatedAt":"2024-05-06T07:08:09Z","archived":false,"new":true},{"id":"51","properties":{"email":"b@example.com"},"updatedAt":"2024-05-06T07:08:09Z"},{"id":"52","properties":{},"updatedAt":"2024-05-06T07:08:09Z"}]}`},
		{207, `{"status":"COMPLETE","results":[{"id":"51","properties":{}}],"numErrors":1,"errors":[{"status":"error","category":"OBJECT_NOT_FOUND","message":"Object not found. objectId are usually numeric.","context":{"ids":["52"]}}]}`},
		{200, `{"results":[{"properties":{"email":"a@example.com"}},{"id":"","properties":{"email":"B@Example.com"}},{"id":{"x":1},"properties":{"email":"c@example.com"}},{"id":"51"},{"id":51}]}`},
		{400, `{"status":"error","message":"Property values were not valid","correlationId":"x","category":"VALIDATION_ERROR","errors":[{"message":"bad","context":{"propertyName":["email"]}}]}`},
		{409, `{"status":"error","message":"Contact already exists. Existing ID: 51","category":"CONFLICT","context":{"ids":["51"]}}`},
		{200, `not json`}, {200, ``}, {204, ``}, {200, `{"results":null,"errors":{}}`},
	} {
		f.Add(s.status, []byte(s.body))
	}
	var mu sync.Mutex
	var body []byte
	var status, calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		if strings.HasSuffix(r.URL.Path, "/batch/archive") && status/100 == 2 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	f.Cleanup(srv.Close)
	c := fuzzClient(f, "base_url: "+srv.URL+"\n")
	writes := []tandem.Write{
		{Op: tandem.OpCreate, Key: "e1", Payload: []byte(`{"properties":{"email":"a@example.com","firstname":"Ann"}}`)},
		{Op: tandem.OpCreate, Key: "e2", Payload: []byte(`{"properties":{"email":"b@example.com"}}`)},
		{Op: tandem.OpUpdate, ID: "51", Payload: []byte(`{"properties":{"firstname":"Bo"}}`)},
		{Op: tandem.OpUpdate, ID: "52", Payload: []byte(`{"properties":{"phone":"+15550100"}}`)},
		{Op: tandem.OpDelete, ID: "53"},
	}
	f.Fuzz(func(t *testing.T, code int, b []byte) {
		if code < 200 || code > 499 || code == 401 || code == 429 {
			code = 200 // 401, 429 and 5xx are the HTTP client's business, tried elsewhere
		}
		mu.Lock()
		body, status, calls = b, code, 0
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ids := map[string]bool{}
		for _, r := range gjson.GetBytes(b, "results").Array() {
			if id := r.Get("id"); id.Type == gjson.String && id.Str != "" {
				ids[id.Str] = true
			}
		}
		res, err := c.Apply(ctx, "contacts", writes)
		checkErr(t, err)
		mu.Lock()
		n := calls
		mu.Unlock()
		if n > 3*(1+maxIsolationCalls) {
			t.Fatalf("%d calls for 5 writes", n)
		}
		if len(res) != len(writes) {
			t.Fatalf("%d results for %d writes", len(res), len(writes))
		}
		for i, r := range res {
			w := writes[i]
			switch {
			case r.Err != nil:
				checkErr(t, r.Err)
			case w.Op != tandem.OpCreate && r.ID != w.ID:
				t.Fatalf("%s of %s done as record %q", w.Op, w.ID, r.ID)
			case w.Op == tandem.OpCreate && !ids[r.ID]:
				t.Fatalf("create %s done as record %q, not an id of the results", w.Key, r.ID)
			case r.Record != nil && r.Record.ID != r.ID:
				t.Fatalf("write %d done as %s with the record %s", i, r.ID, r.Record.ID)
			}
		}
	})
}
