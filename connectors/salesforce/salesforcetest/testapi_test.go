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
	created := clk.Now().Truncate(time.Millisecond)

	clk.Add(1500 * time.Microsecond) // 1.5 ms: the stamp keeps whole milliseconds
	if err := e.Update("Contact", id[:15], map[string]any{"Title": nil, "Email": "ada@example.com"}); err != nil {
		t.Fatal(err)
	}
	r, ok := e.Get("Contact", id)
	if !ok || r.Fields["Title"] != nil || r.Fields["Email"] != "ada@example.com" {
		t.Fatalf("after update: %+v", r)
	}
	if !r.CreatedDate.Equal(created) || !r.LastModifiedDate.Equal(created.Add(time.Millisecond)) || !r.SystemModstamp.Equal(r.LastModifiedDate) {
		t.Fatalf("stamps: created %v modified %v modstamp %v", r.CreatedDate, r.LastModifiedDate, r.SystemModstamp)
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
