package salesforcetest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTestAPI(t *testing.T) {
	clk := newClock()
	e := New(Options{Now: clk.Now})

	var apiErr *Error
	if _, err := e.Create("Contact", map[string]any{"FirstName": "No last"}); !errors.As(err, &apiErr) || apiErr.Code != "REQUIRED_FIELD_MISSING" {
		t.Fatalf("create without LastName: %v", err)
	}
	if _, err := e.Create("Lead", map[string]any{"LastName": "X"}); !errors.As(err, &apiErr) || apiErr.Code != "INVALID_TYPE" {
		t.Fatalf("create Lead: %v", err)
	}
	id := mustCreate(t, e, "Contact", map[string]any{"LastName": "Ada", "Title": "Countess"})
	created := clk.Now().Truncate(time.Second)

	clk.Add(1500 * time.Millisecond) // 1.5 s: the stamp keeps whole seconds
	if err := e.Update("Contact", id[:15], map[string]any{"Title": nil, "Email": "ada@example.com"}); err != nil {
		t.Fatal(err)
	}
	r, ok := e.Get("Contact", id)
	if !ok || r.Fields["Title"] != nil || r.Fields["Email"] != "ada@example.com" {
		t.Fatalf("after update: %+v", r)
	}
	if !r.CreatedDate.Equal(created) || !r.LastModifiedDate.Equal(created.Add(time.Second)) || !r.SystemModstamp.Equal(r.LastModifiedDate) {
		t.Fatalf("stamps: created %v modified %v modstamp %v", r.CreatedDate, r.LastModifiedDate, r.SystemModstamp)
	}
	// An edit in the same second keeps the stamp, as in Salesforce.
	clk.Add(100 * time.Millisecond)
	if err := e.Update("Contact", id, map[string]any{"Title": "Again"}); err != nil {
		t.Fatal(err)
	}
	if again, _ := e.Get("Contact", id); !again.SystemModstamp.Equal(r.SystemModstamp) || again.SystemModstamp.Nanosecond() != 0 {
		t.Fatalf("an edit in the same second stamped %v, want %v", again.SystemModstamp, r.SystemModstamp)
	}
	// Get returns a copy.
	r.Fields["Email"] = "changed"
	if again, _ := e.Get("Contact", id); again.Fields["Email"] != "ada@example.com" {
		t.Fatal("Get exposes the stored map")
	}
	if err := e.Update("Contact", id, map[string]any{"LastName": nil}); !errors.As(err, &apiErr) || apiErr.Code != "REQUIRED_FIELD_MISSING" {
		t.Fatalf("clearing LastName: %v", err)
	}
	if err := e.Delete("Contact", id); err != nil {
		t.Fatal(err)
	}
	if err := e.Update("Contact", id, map[string]any{"Title": "x"}); !errors.As(err, &apiErr) || apiErr.Code != "ENTITY_IS_DELETED" {
		t.Fatalf("update deleted: %v", err)
	}
	if r, ok := e.Get("Contact", id); !ok || !r.IsDeleted {
		t.Fatalf("Get of a deleted record: %+v %v", r, ok)
	}
	if len(e.List("Contact")) != 0 {
		t.Fatal("List shows a deleted record")
	}
	if len(e.Requests()) != 0 || e.Writes() != 0 {
		t.Fatal("test API calls were logged as API requests")
	}
}

func TestLoadSeed(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "seed.json")
	os.WriteFile(good, []byte(`{
		"Account": [{"Name": "Acme", "NumberOfEmployees": 10}],
		"Contact": [{"LastName": "Lovelace", "Email": "ada@example.com"}, {"LastName": "Hopper"}]
	}`), 0o644)
	e := New(Options{})
	if err := e.LoadSeed(good); err != nil {
		t.Fatal(err)
	}
	cs := e.List("Contact")
	if len(cs) != 2 || cs[0].Fields["LastName"] != "Lovelace" || len(e.List("Account")) != 1 {
		t.Fatalf("seeded %+v", cs)
	}
	if n := e.List("Account")[0].Fields["NumberOfEmployees"]; n != int64(10) {
		t.Fatalf("NumberOfEmployees stored as %T %v", n, n)
	}

	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"Contact": [{"LastName": "Ok"}, {"FirstName": "No last"}]}`), 0o644)
	err := New(Options{}).LoadSeed(bad)
	if err == nil || !strings.Contains(err.Error(), "Contact[1]") || !strings.Contains(err.Error(), "REQUIRED_FIELD_MISSING") {
		t.Fatalf("bad seed: %v", err)
	}
}

func TestValueCoercion(t *testing.T) {
	e := New(Options{})
	id := mustCreate(t, e, "Account", map[string]any{"Name": "Acme", "NumberOfEmployees": "12", "AnnualRevenue": 2500.5, "Phone": 5551234, "Website": ""})
	r, _ := e.Get("Account", id)
	if r.Fields["NumberOfEmployees"] != int64(12) || r.Fields["AnnualRevenue"] != 2500.5 || r.Fields["Phone"] != "5551234" {
		t.Fatalf("coerced values: %#v", r.Fields)
	}
	if _, set := r.Fields["Website"]; set {
		t.Fatal("an empty string was stored; Salesforce stores null")
	}
	var apiErr *Error
	for _, bad := range []map[string]any{
		{"Name": "A", "NumberOfEmployees": 12.5},
		{"Name": "A", "NumberOfEmployees": true},
		{"Name": "A", "AnnualRevenue": "lots"},
		{"Name": []string{"A"}},
	} {
		if _, err := e.Create("Account", bad); !errors.As(err, &apiErr) || apiErr.Code != "JSON_PARSER_ERROR" {
			t.Errorf("%v: %v, want JSON_PARSER_ERROR", bad, err)
		}
	}
}

// TestDeleteAndUndelete: Delete puts a record in the recycle bin, where
// queryAll sees it and query does not; Undelete brings it back, stamped
// anew, as Salesforce's undelete does.
func TestDeleteAndUndelete(t *testing.T) {
	c, clk := newClient(t, Options{})
	e := c.s.Emulator
	id := mustCreate(t, e, "Contact", map[string]any{"LastName": "Ada", "Tandem_Id__c": "k1"})
	created, _ := e.Get("Contact", id)

	// seen runs soql through query or queryAll and returns IsDeleted of id,
	// or "absent".
	seen := func(kind string) string {
		t.Helper()
		st, res, _ := c.do("GET", dataPrefix+kind+"?q=SELECT+Id,IsDeleted,SystemModstamp+FROM+Contact", nil)
		if st != 200 {
			t.Fatalf("%s: %d %s", kind, st, res.Raw)
		}
		r := res.Get(`records.#(Id=="` + id + `")`)
		if !r.Exists() {
			return "absent"
		}
		return r.Get("IsDeleted").Raw
	}

	clk.Add(time.Second)
	if err := e.Delete("Contact", id); err != nil {
		t.Fatal(err)
	}
	deleted, _ := e.Get("Contact", id)
	if !deleted.IsDeleted || !deleted.SystemModstamp.Equal(clk.Now().Truncate(time.Second)) || !deleted.LastModifiedDate.Equal(deleted.SystemModstamp) {
		t.Fatalf("deleted record: %+v", deleted)
	}
	if q, qa := seen("query"), seen("queryAll"); q != "absent" || qa != "true" {
		t.Fatalf("after delete: query %s, queryAll %s; want absent, true", q, qa)
	}
	// Its unique value is free while it is in the bin.
	other := mustCreate(t, e, "Contact", map[string]any{"LastName": "Other", "Tandem_Id__c": "k1"})

	var apiErr *Error
	if err := e.Undelete("Contact", id); !errors.As(err, &apiErr) || apiErr.Code != "DUPLICATE_VALUE" {
		t.Fatalf("undelete while another record holds its unique value: %v", err)
	}
	if r, _ := e.Get("Contact", id); !r.IsDeleted || !r.SystemModstamp.Equal(deleted.SystemModstamp) {
		t.Fatalf("a failed undelete changed the record: %+v", r)
	}
	if err := e.Delete("Contact", other); err != nil {
		t.Fatal(err)
	}

	clk.Add(time.Second)
	e.ResetRequests()
	if err := e.Undelete("Contact", strings.ToLower(id)); err != nil {
		t.Fatal(err)
	}
	r, _ := e.Get("Contact", id)
	now := clk.Now().Truncate(time.Second)
	if r.IsDeleted || !r.SystemModstamp.Equal(now) || !r.LastModifiedDate.Equal(now) || !r.CreatedDate.Equal(created.CreatedDate) || r.Fields["LastName"] != "Ada" {
		t.Fatalf("undeleted record: %+v", r)
	}
	if q, qa := seen("query"), seen("queryAll"); q != "false" || qa != "false" {
		t.Fatalf("after undelete: query %s, queryAll %s; want false, false", q, qa)
	}
	if len(e.Requests()) != 2 || e.Writes() != 0 {
		t.Fatalf("Undelete was logged as an API request: %+v", e.Requests())
	}
	// Live again: its unique value is taken, and it can be updated.
	if _, err := e.Create("Contact", map[string]any{"LastName": "X", "Tandem_Id__c": "k1"}); !errors.As(err, &apiErr) || apiErr.Code != "DUPLICATE_VALUE" {
		t.Fatalf("unique value of an undeleted record: %v", err)
	}
	if err := e.Update("Contact", id, map[string]any{"Title": "Countess"}); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct{ object, id, code string }{
		{"Contact", id, "UNDELETE_FAILED"},                             // live
		{"Contact", mintID("003", 999), "INVALID_CROSS_REFERENCE_KEY"}, // never existed
		{"Contact", "nope", "MALFORMED_ID"},
		{"Contact", mustCreate(t, e, "Account", map[string]any{"Name": "A"}), "MALFORMED_ID"}, // an Account id
		{"Lead", id, "INVALID_TYPE"},
	} {
		if err := e.Undelete(tt.object, tt.id); !errors.As(err, &apiErr) || apiErr.Code != tt.code {
			t.Errorf("undelete %s %s: %v, want %s", tt.object, tt.id, err, tt.code)
		}
	}
}
