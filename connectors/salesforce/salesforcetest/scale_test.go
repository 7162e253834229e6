package salesforcetest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// BenchmarkPullBatch is what a pull of n contacts costs the emulator. The
// query (the pull's first call) selects and sorts the whole result set
// once, O(n log n); every further batch is read from the query locator by
// position, so its cost does not grow with n. A full read is one query and
// n/2000 batches: O(n log n), not quadratic, so the emulator needs no
// index for pulls (compare hubspottest's BenchmarkSearchPage).
//
//	go test -run - -bench PullBatch ./connectors/salesforce/salesforcetest
func BenchmarkPullBatch(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		e := New(Options{})
		for i := range n {
			if _, err := e.Create("Contact", map[string]any{"LastName": fmt.Sprint("L", i), "Email": fmt.Sprintf("p%d@x.com", i)}); err != nil {
				b.Fatal(err)
			}
		}
		token := benchToken(b, e)
		get := func(path string) gjson.Result {
			req := httptest.NewRequest("GET", path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			e.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
			}
			return gjson.Parse(w.Body.String())
		}
		query := dataPrefix + "queryAll?q=" + url.QueryEscape("SELECT Id, SystemModstamp, LastModifiedDate, IsDeleted, Email, LastName FROM Contact ORDER BY SystemModstamp, Id")
		b.Run(fmt.Sprintf("query/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				get(query)
			}
		})
		next := get(query).Get("nextRecordsUrl").String()
		if !strings.HasPrefix(next, dataPrefix) {
			b.Fatalf("no nextRecordsUrl: %q", next)
		}
		b.Run(fmt.Sprintf("batch/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				get(next)
			}
		})
	}
}

// benchToken gets a session from the emulator's token endpoint.
func benchToken(b *testing.B, e *Emulator) string {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"test-client-id"}, "client_secret": {"test-client-secret"}}
	req := httptest.NewRequest("POST", "/services/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	tok := gjson.Get(w.Body.String(), "access_token").String()
	if tok == "" {
		b.Fatalf("token: %d %s", w.Code, w.Body)
	}
	return tok
}
