package hubspottest

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tidwall/gjson"
)

func TestAuth(t *testing.T) {
	e := New(Options{Token: "s3cret"})
	for _, auth := range []string{"", "Bearer test-token", "s3cret", "Bearer s3cret2"} {
		c := doAuth(t, e, auth, "GET", "/crm/v3/objects/contacts", nil)
		wantError(t, c, 401, "INVALID_AUTHENTICATION", "Authentication credentials not found")
		if _, err := uuid.Parse(c.body.Get("correlationId").String()); err != nil {
			t.Errorf("correlationId is not a uuid: %s", c.raw)
		}
		if c.header.Get("X-HubSpot-RateLimit-Max") != "" {
			t.Errorf("rate-limit headers on an unauthenticated response")
		}
	}
	c := doAuth(t, e, "Bearer s3cret", "GET", "/crm/v3/objects/contacts", nil)
	if c.status != 200 {
		t.Fatalf("good token: %d %s", c.status, c.raw)
	}
	for h, want := range map[string]string{
		"X-HubSpot-RateLimit-Max": "190", "X-HubSpot-RateLimit-Remaining": "189",
		"X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
		"X-HubSpot-RateLimit-Daily":                 "1000000", "X-HubSpot-RateLimit-Daily-Remaining": "999999",
	} {
		if got := c.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	reqs := e.Requests()
	if len(reqs) != 5 || reqs[0].Status != 401 || reqs[4].Status != 200 || reqs[4].Path != "/crm/v3/objects/contacts" {
		t.Errorf("requests not recorded in order with their status: %+v", reqs)
	}
}

func TestRoutes(t *testing.T) {
	e := New(Options{})
	wantError(t, do(t, e, "GET", "/crm/v3/objects/contacts/1/associations/x/y", nil), 404, "RESOURCE_NOT_FOUND", "No route")
	wantError(t, do(t, e, "PUT", "/crm/v3/objects/contacts", "{}"), 404, "RESOURCE_NOT_FOUND", "PUT")
	wantError(t, do(t, e, "POST", "/crm/v3/objects/contacts/batch/merge", "{}"), 404, "RESOURCE_NOT_FOUND", "No route")
	wantError(t, do(t, e, "GET", "/crm/v3/objects/deals", nil), 400, "VALIDATION_ERROR", "deals")
	wantError(t, do(t, e, "POST", "/crm/v3/objects/contacts", `{"properties": {"email": "a@b.co"}`), 400, "VALIDATION_ERROR", "Invalid input JSON")
	c := do(t, e, "POST", "/crm/v3/objects/contacts/batch/create", "{\n \"inputs\": [}")
	wantError(t, c, 400, "VALIDATION_ERROR", "line 2, column")
	// The object type id works as the path segment too.
	if c := do(t, e, "GET", "/crm/v3/objects/0-2", nil); c.status != 200 {
		t.Errorf("GET by object type id: %d", c.status)
	}
}

func TestListAndGet(t *testing.T) {
	e := New(Options{Now: newClock(time.Millisecond).Now})
	var all []string
	for i := 0; i < 25; i++ {
		all = append(all, mustCreate(t, e, "contacts", map[string]any{"email": "p" + strconv.Itoa(i) + "@example.com", "firstname": "P"}))
	}
	if err := e.Delete("contacts", all[3]); err != nil {
		t.Fatal(err)
	}
	live := slices.Delete(slices.Clone(all), 3, 4)

	var got []string
	path := "/crm/v3/objects/contacts?properties=email,phone,nosuch"
	for page := 0; ; page++ {
		c := do(t, e, "GET", path, nil)
		if c.status != 200 {
			t.Fatalf("%d %s", c.status, c.raw)
		}
		if n := len(ids(c.body)); n > 10 {
			t.Fatalf("default limit is 10, got %d", n)
		}
		r := c.body.Get("results.0")
		if !r.Get("properties.phone").Exists() || r.Get("properties.phone").Type != gjson.Null || r.Get("properties.nosuch").Exists() || r.Get("properties.firstname").Exists() {
			t.Errorf("requested properties: want email, phone=null, nothing else: %s", r.Raw)
		}
		got = append(got, ids(c.body)...)
		next := c.body.Get("paging.next")
		if !next.Exists() {
			break
		}
		if !strings.Contains(next.Get("link").String(), "after="+next.Get("after").String()) {
			t.Errorf("paging link %q does not carry after", next.Get("link").String())
		}
		path = "/crm/v3/objects/contacts?properties=email,phone,nosuch&after=" + next.Get("after").String()
	}
	if !slices.Equal(got, live) {
		t.Errorf("list: %v, want %v", got, live)
	}
	c := do(t, e, "GET", "/crm/v3/objects/contacts?archived=true", nil)
	if got := ids(c.body); !slices.Equal(got, []string{all[3]}) || c.body.Get("results.0.archivedAt").String() == "" {
		t.Errorf("archived=true: %v %s", got, c.raw)
	}
	wantError(t, do(t, e, "GET", "/crm/v3/objects/contacts?limit=101", nil), 400, "VALIDATION_ERROR", "limit")
	if c := do(t, e, "GET", "/crm/v3/objects/contacts?limit=100", nil); len(ids(c.body)) != 24 || c.body.Get("paging").Exists() {
		t.Errorf("limit=100: %d results, paging %s", len(ids(c.body)), c.body.Get("paging").Raw)
	}

	c = do(t, e, "GET", "/crm/v3/objects/contacts/"+all[0], nil)
	if c.status != 200 || c.body.Get("properties.email").String() != "p0@example.com" || c.body.Get("updatedAt").String() != c.body.Get("properties.lastmodifieddate").String() {
		t.Errorf("get: %s", c.raw)
	}
	c = do(t, e, "GET", "/crm/v3/objects/contacts/P1@Example.com?idProperty=email", nil)
	if c.status != 200 || c.body.Get("id").String() != all[1] {
		t.Errorf("get by email: %s", c.raw)
	}
	wantError(t, do(t, e, "GET", "/crm/v3/objects/contacts/"+all[3], nil), 404, "OBJECT_NOT_FOUND", "Object not found")
	wantError(t, do(t, e, "GET", "/crm/v3/objects/contacts/999999", nil), 404, "OBJECT_NOT_FOUND", "Object not found")
	wantError(t, do(t, e, "GET", "/crm/v3/objects/contacts/x?idProperty=firstname", nil), 400, "VALIDATION_ERROR", "unique")
	if c := do(t, e, "GET", "/crm/v3/objects/contacts/"+all[3]+"?archived=true", nil); c.status != 200 || !c.body.Get("archived").Bool() {
		t.Errorf("get archived: %s", c.raw)
	}
}

func TestSingleObjectWrites(t *testing.T) {
	clk := newClock(time.Second)
	e := New(Options{Now: clk.Now})
	c := do(t, e, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": "  Ann@Example.COM ", "firstname": "Ann"}, "associations": []any{}})
	if c.status != 201 || c.body.Get("properties.email").String() != "ann@example.com" {
		t.Fatalf("create: %d %s", c.status, c.raw)
	}
	id := c.body.Get("id").String()
	created := c.body.Get("updatedAt").String()
	wantError(t, do(t, e, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": "ANN@example.com"}}), 409, "CONFLICT", "Contact already exists. Existing ID: "+id)

	c = do(t, e, "PATCH", "/crm/v3/objects/contacts/"+id, map[string]any{"properties": map[string]any{"firstname": ""}})
	if c.status != 200 || c.body.Get("properties.firstname").Type != gjson.Null || c.body.Get("updatedAt").String() <= created {
		t.Errorf("patch clearing firstname: %s", c.raw)
	}
	if o, _ := e.Get("contacts", id); o.Properties["firstname"] != "" || len(o.Properties) != 4 {
		t.Errorf("cleared value still stored: %v", o.Properties)
	}
	wantError(t, do(t, e, "PATCH", "/crm/v3/objects/contacts/404", map[string]any{"properties": map[string]any{}}), 404, "OBJECT_NOT_FOUND", "")
	if c := do(t, e, "DELETE", "/crm/v3/objects/contacts/"+id, nil); c.status != 204 {
		t.Errorf("delete: %d", c.status)
	}
	if c := do(t, e, "DELETE", "/crm/v3/objects/contacts/"+id, nil); c.status != 204 {
		t.Errorf("second delete: %d (HubSpot answers 204)", c.status)
	}
	if o, ok := e.Get("contacts", id); !ok || !o.Archived {
		t.Errorf("not archived: %+v", o)
	}
	// The archived contact's email is free again.
	if c := do(t, e, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": "ann@example.com"}}); c.status != 201 || c.body.Get("id").String() == id {
		t.Errorf("create after archive: %s", c.raw)
	}
	if n := e.Writes(); n != 7 {
		t.Errorf("Writes() = %d, want 7", n)
	}
}

func TestUserEditsAndSeed(t *testing.T) {
	clk := newClock(0)
	e := New(Options{Now: clk.Now, ExtraProperties: map[string][]string{"contacts": {"favourite_colour"}}})
	seed := filepath.Join(t.TempDir(), "seed.json")
	os.WriteFile(seed, []byte(`{"contacts":[{"email":"A@x.com","favourite_colour":"blue","numberish":1}],"companies":[{"name":"Acme","numberofemployees":12}]}`), 0o600)
	if err := e.LoadSeed(seed); err == nil || !strings.Contains(err.Error(), "numberish") || !strings.Contains(err.Error(), "contacts[0]") {
		t.Errorf("seed with an unknown property: %v", err)
	}
	os.WriteFile(seed, []byte(`{"contacts":[{"email":"A@x.com","favourite_colour":"blue"},{"email":"b@x.com"}],"companies":[{"name":"Acme","numberofemployees":12}]}`), 0o600)
	e = New(Options{Now: clk.Now, ExtraProperties: map[string][]string{"contacts": {"favourite_colour"}}})
	if err := e.LoadSeed(seed); err != nil {
		t.Fatal(err)
	}
	cs := e.List("contacts")
	if len(cs) != 2 || cs[0].Properties["email"] != "a@x.com" || cs[0].Properties["favourite_colour"] != "blue" || cs[0].Properties["hs_object_id"] != cs[0].ID {
		t.Fatalf("seeded contacts: %+v", cs)
	}
	if co := e.List("companies"); len(co) != 1 || co[0].Properties["numberofemployees"] != "12" || co[0].Properties["hs_lastmodifieddate"] == "" {
		t.Fatalf("seeded companies: %+v", co)
	}
	if _, err := e.Create("contacts", map[string]any{"email": "B@X.com"}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate email through the test API: %v", err)
	}
	if _, err := e.Create("contacts", map[string]any{"lastmodifieddate": "1"}); err == nil || !strings.Contains(err.Error(), "READ_ONLY_VALUE") {
		t.Errorf("read-only property through the test API: %v", err)
	}
	before := cs[0].UpdatedAt
	clk.Set(before.Add(1500 * time.Microsecond))
	if err := e.Update("contacts", cs[0].ID, map[string]any{"firstname": "Ann"}); err != nil {
		t.Fatal(err)
	}
	o, _ := e.Get("contacts", cs[0].ID)
	if !o.UpdatedAt.Equal(before.Add(time.Millisecond)) || o.Properties["lastmodifieddate"] != stamp(o.UpdatedAt) {
		t.Errorf("update stamps %v / %q, want %v truncated to ms", o.UpdatedAt, o.Properties["lastmodifieddate"], before.Add(time.Millisecond))
	}
	if err := e.Update("contacts", "1", nil); err == nil {
		t.Errorf("update of a missing record succeeded")
	}
	if err := e.Delete("contacts", cs[1].ID); err != nil || len(e.List("contacts")) != 1 {
		t.Errorf("delete: %v", err)
	}
	if len(e.Requests()) != 0 || e.Writes() != 0 {
		t.Errorf("user edits were recorded as API requests")
	}
}

func TestServer(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") || strings.HasSuffix(s.URL, "/") {
		t.Fatalf("URL %q", s.URL)
	}
	req, _ := http.NewRequest("POST", s.URL+"/crm/v3/objects/companies/batch/create", strings.NewReader(`{"inputs":[{"properties":{"name":"Acme","domain":"acme.com"},"associations":[]}]}`))
	req.Header.Set("Authorization", "Bearer test-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || gjson.GetBytes(b, "results.0.properties.domain").String() != "acme.com" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if r := s.Requests(); len(r) != 1 || string(r[0].Body) != `{"inputs":[{"properties":{"name":"Acme","domain":"acme.com"},"associations":[]}]}` || s.Writes() != 1 {
		t.Errorf("recorded %+v", r)
	}
	s.ResetRequests()
	if len(s.Requests()) != 0 || s.Writes() != 0 {
		t.Errorf("ResetRequests kept something")
	}
}

// TestConcurrentUse: API requests and user edits from many goroutines get
// distinct ids and leave every record intact.
func TestConcurrentUse(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	var wg sync.WaitGroup
	ids := make(chan string, 80)
	for g := 0; g < 4; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				id, err := s.Create("contacts", map[string]any{"email": fmt.Sprintf("ui%d-%d@x.com", g, i)})
				if err != nil {
					t.Error(err)
				}
				ids <- id
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				body := fmt.Sprintf(`{"inputs":[{"id":"api%d-%d@x.com","idProperty":"email","properties":{}}]}`, g, i)
				req, _ := http.NewRequest("POST", s.URL+"/crm/v3/objects/contacts/batch/upsert", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer test-token")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				ids <- gjson.GetBytes(b, "results.0.id").String()
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if id == "" || seen[id] {
			t.Errorf("id %q empty or given twice", id)
		}
		seen[id] = true
	}
	if n := len(s.List("contacts")); n != 80 || s.Writes() != 40 || len(s.Requests()) != 40 {
		t.Errorf("%d contacts, %d writes, %d requests; want 80, 40, 40", n, s.Writes(), len(s.Requests()))
	}
}
