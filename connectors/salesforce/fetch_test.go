package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors/salesforce/salesforcetest"
)

func (f *fixture) fetch(t *testing.T, object string, ids []string, fields ...string) []tandem.Record {
	t.Helper()
	recs, err := f.c.Fetch(context.Background(), tandem.Query{Object: object, Fields: fields}, ids)
	if err != nil {
		t.Fatalf("fetch %s: %v", object, err)
	}
	return recs
}

func recordIDs(recs []tandem.Record) []string {
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return ids
}

// retrieves lists the retrieve calls the emulator received, with the ids
// each carried.
type retrieveCall struct {
	method string
	url    int // length of path and query
	ids    []string
	fields string
}

func retrieves(t *testing.T, f *fixture) []retrieveCall {
	t.Helper()
	var out []retrieveCall
	for _, r := range f.sf.Requests() {
		if !strings.Contains(r.Path, "/composite/sobjects/") {
			continue
		}
		c := retrieveCall{method: r.Method, url: len(r.Path) + 1 + len(r.RawQuery)}
		if r.Method == http.MethodGet {
			v, err := url.ParseQuery(r.RawQuery)
			if err != nil {
				t.Fatal(err)
			}
			c.ids, c.fields = strings.Split(v.Get("ids"), ","), v.Get("fields")
		} else {
			var b struct{ IDs, Fields []string }
			if err := json.Unmarshal(r.Body, &b); err != nil {
				t.Fatalf("POST body %s: %v", r.Body, err)
			}
			c.ids, c.fields = b.IDs, strings.Join(b.Fields, ",")
		}
		out = append(out, c)
	}
	return out
}

func TestFetch(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	ada := f.create(t, "Contact", map[string]any{"LastName": "Lovelace", "FirstName": "Ada", "Email": "ada@example.com", "Title": "not asked for"})
	grace := f.create(t, "Contact", map[string]any{"LastName": "Hopper"})
	gone := f.create(t, "Contact", map[string]any{"LastName": "Gone"})
	acct := f.create(t, "Account", map[string]any{"Name": "Acme"})
	f.clk.Add(time.Second)
	if err := f.sf.Delete("Contact", gone); err != nil {
		t.Fatal(err)
	}
	missing := grace[:9] + "zzzzzz" // well formed, 15 characters, no such record
	badSum := ada[:15] + "999"      // 18 characters, checksum not valid

	ids := []string{grace, "nope", gone, ada, missing, badSum, acct, ada, strings.ToLower(ada), ada[:15], ""}
	recs := f.fetch(t, "Contact", ids, "Email", "FirstName", "attributes.type", "email")

	if got := recordIDs(recs); !sameIDs(got, []string{grace, ada}) {
		t.Fatalf("fetched %v, want %v (live ones, in the order asked, once)", got, []string{grace, ada})
	}
	r := recs[1]
	raw := gjson.ParseBytes(r.Raw)
	stored, _ := f.sf.Get("Contact", ada)
	if raw.Get("attributes.type").String() != "Contact" || raw.Get("Email").String() != "ada@example.com" || raw.Get("Title").Exists() ||
		!r.Modified.Equal(stored.LastModifiedDate) || r.Deleted || r.FieldTimes != nil || r.Precision != time.Second {
		t.Fatalf("record %+v raw %s", r, r.Raw)
	}

	// One GET, with Pull's field list, and only ids that can be ids.
	calls := retrieves(t, f)
	if len(calls) != 1 || calls[0].method != "GET" {
		t.Fatalf("calls %+v, want one GET", calls)
	}
	if calls[0].fields != "Id,SystemModstamp,LastModifiedDate,IsDeleted,Email,FirstName" {
		t.Fatalf("fields sent: %s", calls[0].fields)
	}
	if want := []string{grace, gone, ada, missing, badSum, acct, strings.ToLower(ada), ada[:15]}; !sameIDs(calls[0].ids, want) {
		t.Fatalf("ids sent %v, want %v", calls[0].ids, want)
	}

	// A fetched record is the pulled one: same Raw, same Modified.
	var pulled tandem.Record
	for _, pr := range f.pull(t, "Contact", "", "Email", "FirstName").pages[0].Records {
		if pr.ID == ada {
			pulled = pr
		}
	}
	if string(pulled.Raw) != string(r.Raw) || !pulled.Modified.Equal(r.Modified) || pulled.Precision != time.Second {
		t.Fatalf("fetched %s at %v, pulled %s at %v (precision %v: want whole seconds)", r.Raw, r.Modified, pulled.Raw, pulled.Modified, pulled.Precision)
	}

	// Nothing to ask: no call.
	f.sf.ResetRequests()
	if recs := f.fetch(t, "Contact", []string{"nope", ""}); len(recs) != 0 || len(f.sf.Requests()) != 0 {
		t.Fatalf("fetch of no valid id: %v, %d requests", recs, len(f.sf.Requests()))
	}
}

// TestFetchChunks: a set that fits a URL is one GET; a larger one goes as
// POSTs of at most 2,000 ids; every id is asked once and every live record
// comes back once.
func TestFetchChunks(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	var all []string
	for i := 0; i < 2600; i++ {
		all = append(all, f.create(t, "Contact", map[string]any{"LastName": fmt.Sprintf("L%d", i)}))
	}
	tests := []struct {
		n       int
		methods string
	}{
		{1, "GET"},
		{300, "GET"},
		{500, "POST"}, // 500 ids make a URL of some 9,600 bytes
		{2000, "POST"},
		{2001, "POST GET"},
		{2300, "POST GET"},
		{2600, "POST POST"},
	}
	for _, tt := range tests {
		f.sf.ResetRequests()
		recs := f.fetch(t, "Contact", all[:tt.n], "LastName")
		if !sameIDs(recordIDs(recs), all[:tt.n]) {
			t.Errorf("%d ids: fetched %d records, not the ids asked in order", tt.n, len(recs))
		}
		var methods []string
		var sent []string
		for _, c := range retrieves(t, f) {
			methods = append(methods, c.method)
			sent = append(sent, c.ids...)
			if len(c.ids) > maxRetrieve || c.method == "GET" && c.url > maxGetURL {
				t.Errorf("%d ids: a %s of %d ids, URL %d bytes", tt.n, c.method, len(c.ids), c.url)
			}
		}
		if strings.Join(methods, " ") != tt.methods || !sameIDs(sent, all[:tt.n]) {
			t.Errorf("%d ids: calls %v carrying %d ids, want %s carrying each id once", tt.n, methods, len(sent), tt.methods)
		}
	}
}

func TestFetchErrors(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{DailyLimit: 3})
	var ids []string
	for i := 0; i < 2100; i++ {
		ids = append(ids, f.create(t, "Contact", map[string]any{"LastName": "L"}))
	}
	fetch := func(object string, fields ...string) error {
		recs, err := f.c.Fetch(context.Background(), tandem.Query{Object: object, Fields: fields}, ids[:1])
		if err != nil && recs != nil {
			t.Errorf("fetch %s: records %v beside the error %v", object, recs, err)
		}
		return err
	}
	check := func(name string, err error, status int, code string, retryable bool) {
		t.Helper()
		var te *tandem.Error
		if !errors.As(err, &te) || te.Status != status || te.Code != code || te.Retryable != retryable || te.Op == "" || te.System != "sf" {
			t.Errorf("%s: %#v, want status %d code %q retryable %v", name, err, status, code, retryable)
		}
	}

	f.sf.ResetRequests()
	check("bad object name", fetch("Contact; DROP"), 0, "", false)
	check("bad field path", fetch("Contact", "Bad-Name"), 0, "", false)
	if n := len(f.sf.Requests()); n != 0 {
		t.Fatalf("%d requests for input refused before asking", n)
	}
	check("unknown field", fetch("Contact", "Nickname__c"), 400, "INVALID_FIELD", false)
	err := fetch("Lead")
	check("unknown object", err, 404, "NOT_FOUND", false)
	if errors.Is(err, tandem.ErrNotFound) {
		// An unknown object is not a set of missing records: read that
		// way, every id would look deleted.
		t.Errorf("unknown object wraps ErrNotFound: %v", err)
	}

	// The daily limit is reached between the two calls of one Fetch: the
	// first call's records are not returned as if the rest were gone. (The
	// first call's Sforce-Limit-Info says the allowance is spent, so the
	// shared client holds the second back rather than have Salesforce
	// refuse it.)
	recs, err := f.c.Fetch(context.Background(), tandem.Query{Object: "Contact"}, ids)
	check("limit reached mid-fetch", err, 0, "DAILY_QUOTA", true)
	if recs != nil {
		t.Errorf("%d records returned by a failed fetch", len(recs))
	}
}

// TestFetchIsolatesRefusedID: Salesforce documents null for an id that is
// not valid. Should an org refuse the whole call for one instead, the
// other ids are still read.
func TestFetchIsolatesRefusedID(t *testing.T) {
	e := salesforcetest.New(salesforcetest.Options{})
	var ids []string
	for i := 0; i < 40; i++ {
		id, err := e.Create("Contact", map[string]any{"LastName": fmt.Sprintf("L%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	poison := map[string]string{ids[7]: "MALFORMED_ID", ids[30]: "INVALID_ID_FIELD"}
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/composite/sobjects/") {
			calls.Add(1)
			for id, code := range poison {
				if strings.Contains(r.URL.RawQuery, id) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusBadRequest)
					fmt.Fprintf(w, `[{"message":"invalid id: %s","errorCode":"%s"}]`, id, code)
					return
				}
			}
		}
		e.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := NewClient("sf", Options{InstanceURL: srv.URL, ClientID: "test-client-id", ClientSecret: "test-client-secret"})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := c.Fetch(context.Background(), tandem.Query{Object: "Contact"}, ids)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, id := range ids {
		if poison[id] == "" {
			want = append(want, id)
		}
	}
	if !sameIDs(recordIDs(recs), want) {
		t.Fatalf("fetched %v, want every id but the two refused", recordIDs(recs))
	}
	if n := calls.Load(); n > 1+4*6 { // two bad ids, each costing at most 2·log2(40) calls
		t.Fatalf("%d calls to isolate two ids among 40", n)
	}
}

// TestUndeleteThenPull: a record deleted, then undeleted in Salesforce, is
// pulled as deleted and then as live again, and Fetch follows it.
func TestUndeleteThenPull(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	id := f.create(t, "Contact", map[string]any{"LastName": "Lazarus", "Email": "l@example.com"})
	cur := f.pull(t, "Contact", "", "Email").last()

	f.clk.Add(time.Second)
	if err := f.sf.Delete("Contact", id); err != nil {
		t.Fatal(err)
	}
	p := f.pull(t, "Contact", cur, "Email")
	if !sameIDs(p.ids(), []string{id}) || !p.pages[0].Records[0].Deleted {
		t.Fatalf("after delete: %+v", p.pages)
	}
	deletedAt := p.pages[0].Records[0].Modified
	cur = p.last()
	if recs := f.fetch(t, "Contact", []string{id}, "Email"); len(recs) != 0 {
		t.Fatalf("fetch of a deleted record: %+v", recs)
	}

	f.clk.Add(time.Second)
	if err := f.sf.Undelete("Contact", id); err != nil {
		t.Fatal(err)
	}
	p = f.pull(t, "Contact", cur, "Email")
	if !sameIDs(p.ids(), []string{id}) {
		t.Fatalf("after undelete: pulled %v", p.ids())
	}
	back := p.pages[0].Records[0]
	if back.Deleted || !back.Modified.After(deletedAt) || gjson.GetBytes(back.Raw, "Email").String() != "l@example.com" {
		t.Fatalf("undeleted record pulled as %+v %s", back, back.Raw)
	}
	recs := f.fetch(t, "Contact", []string{id}, "Email")
	if len(recs) != 1 || string(recs[0].Raw) != string(back.Raw) {
		t.Fatalf("fetch after undelete: %+v", recs)
	}
	if again := f.pull(t, "Contact", p.last(), "Email"); len(again.ids()) != 0 {
		t.Fatalf("pulled again after the undelete was seen: %v", again.ids())
	}
}
