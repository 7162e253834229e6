package hubspottest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

func inputs(n int, f func(i int) map[string]any) map[string]any {
	var in []map[string]any
	for i := 0; i < n; i++ {
		in = append(in, f(i))
	}
	return map[string]any{"inputs": in}
}

func TestBatchLimits(t *testing.T) {
	e := New(Options{})
	id := mustCreate(t, e, "contacts", map[string]any{"email": "a@x.com"})
	byID := func(i int) map[string]any {
		return map[string]any{"id": fmt.Sprint(i + 1000), "properties": map[string]any{}}
	}
	idOnly := func(i int) map[string]any { return map[string]any{"id": fmt.Sprint(i + 1000)} }
	upsert := func(i int) map[string]any {
		return map[string]any{"id": fmt.Sprintf("p%d@x.com", i), "idProperty": "email", "properties": map[string]any{}}
	}
	cases := []struct {
		name, op string
		body     any
		msg      string
	}{
		{"read over 100", "read", inputs(101, idOnly), "at most 100"},
		{"update over 100", "update", inputs(101, byID), "at most 100"},
		{"upsert over 100", "upsert", inputs(101, upsert), "at most 100"},
		{"archive over 100", "archive", inputs(101, idOnly), "at most 100"},
		{"create over 100", "create", inputs(101, func(int) map[string]any { return map[string]any{"properties": map[string]any{}} }), "at most 100"},
		{"duplicate update ids", "update", map[string]any{"inputs": []any{map[string]any{"id": id, "properties": map[string]any{}}, map[string]any{"id": id, "properties": map[string]any{}}}}, "Duplicate IDs found in batch input: [" + id + "]"},
		{"duplicate read ids", "read", map[string]any{"inputs": []any{map[string]any{"id": id}, map[string]any{"id": id}}, "properties": []string{}, "propertiesWithHistory": []string{}}, "Duplicate IDs"},
		{"duplicate archive ids", "archive", map[string]any{"inputs": []any{map[string]any{"id": "7"}, map[string]any{"id": "7"}}}, "Duplicate IDs"},
		{"upsert emails differing in case only", "upsert", map[string]any{"inputs": []any{
			map[string]any{"id": "A@x.com", "idProperty": "email", "properties": map[string]any{}},
			map[string]any{"id": "a@X.com", "idProperty": "email", "properties": map[string]any{}}}}, "Duplicate IDs"},
		{"upsert by a non-unique property", "upsert", map[string]any{"inputs": []any{map[string]any{"id": "Ann", "idProperty": "firstname", "properties": map[string]any{}}}}, "not a unique identifier"},
		{"upsert without idProperty", "upsert", map[string]any{"inputs": []any{map[string]any{"id": "x@x.com", "properties": map[string]any{}}}}, "idProperty is required"},
		{"upsert id disagrees with properties", "upsert", map[string]any{"inputs": []any{map[string]any{"id": "x@x.com", "idProperty": "email", "properties": map[string]any{"email": "y@x.com"}}}}, "different value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, do(t, e, "POST", "/crm/v3/objects/contacts/batch/"+tc.op, tc.body), 400, "VALIDATION_ERROR", tc.msg)
		})
	}
	// Exactly 100 is fine.
	if c := do(t, e, "POST", "/crm/v3/objects/contacts/batch/upsert", inputs(100, upsert)); c.status != 200 || len(ids(c.body)) != 100 {
		t.Errorf("100 upserts: %d", c.status)
	}
}

func TestBatchPropertyValidation(t *testing.T) {
	e := New(Options{})
	id := mustCreate(t, e, "contacts", map[string]any{"email": "a@x.com"})
	other := mustCreate(t, e, "contacts", map[string]any{"email": "b@x.com"})
	cases := []struct {
		name  string
		props map[string]any
		code  string
	}{
		{"unknown property", map[string]any{"shoe_size": "9"}, "PROPERTY_DOESNT_EXIST"},
		{"read-only property", map[string]any{"lastmodifieddate": "2024-01-01T00:00:00Z"}, "READ_ONLY_VALUE"},
		{"hs_object_id is read-only", map[string]any{"hs_object_id": "5"}, "READ_ONLY_VALUE"},
		{"invalid lifecycle stage", map[string]any{"lifecyclestage": "prospect"}, "INVALID_OPTION"},
		{"invalid email", map[string]any{"email": "not an email"}, "INVALID_EMAIL"},
		{"object value", map[string]any{"city": map[string]any{"name": "Oslo"}}, "INVALID_TYPE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, op := range []string{"create", "update"} {
				in := map[string]any{"properties": tc.props, "associations": []any{}}
				if op == "update" {
					in = map[string]any{"id": id, "properties": tc.props}
				}
				// A valid input next to the bad one: the whole batch fails.
				good := map[string]any{"id": other, "properties": map[string]any{"firstname": "ok"}}
				if op == "create" {
					good = map[string]any{"properties": map[string]any{"firstname": "ok"}, "associations": []any{}}
				}
				c := do(t, e, "POST", "/crm/v3/objects/contacts/batch/"+op, map[string]any{"inputs": []any{good, in}})
				wantError(t, c, 400, "VALIDATION_ERROR", "Property values were not valid")
				if got := c.body.Get("errors.0.code").String(); got != tc.code {
					t.Errorf("%s: errors[0].code %q, want %q: %s", op, got, tc.code, c.raw)
				}
			}
			if o, _ := e.Get("contacts", other); o.Properties["firstname"] != "" {
				t.Errorf("a rejected batch wrote something")
			}
			if n := len(e.List("contacts")); n != 2 {
				t.Errorf("a rejected batch created something: %d contacts", n)
			}
		})
	}
}

func TestBatchCreate(t *testing.T) {
	e := New(Options{Now: newClock(time.Millisecond).Now})
	existing := mustCreate(t, e, "contacts", map[string]any{"email": "taken@x.com"})
	c := do(t, e, "POST", "/crm/v3/objects/contacts/batch/create", inputs(3, func(i int) map[string]any {
		return map[string]any{"properties": map[string]any{"email": fmt.Sprintf("N%d@x.com", i), "firstname": i, "lifecyclestage": "lead"}, "associations": []any{}}
	}))
	if c.status != 201 || c.body.Get("status").String() != "COMPLETE" || c.body.Get("startedAt").String() == "" || c.body.Get("completedAt").String() == "" {
		t.Fatalf("%d %s", c.status, c.raw)
	}
	got := ids(c.body)
	if !slices.IsSortedFunc(got, func(a, b string) int { return strings.Compare(b, a) }) || len(got) != 3 {
		t.Errorf("results should come back out of input order (id descending): %v", got)
	}
	for _, r := range c.body.Get("results").Array() {
		email := r.Get("properties.email").String()
		if r.Get("properties.firstname").String() != strings.TrimSuffix(strings.TrimPrefix(email, "n"), "@x.com") {
			t.Errorf("number not coerced to its text, or results mixed up: %s", r.Raw)
		}
	}
	// One taken email fails the whole batch with 409.
	c = do(t, e, "POST", "/crm/v3/objects/contacts/batch/create", map[string]any{"inputs": []any{
		map[string]any{"properties": map[string]any{"email": "fresh@x.com"}, "associations": []any{}},
		map[string]any{"properties": map[string]any{"email": " TAKEN@x.com"}, "associations": []any{}},
	}})
	wantError(t, c, 409, "CONFLICT", "Contact already exists. Existing ID: "+existing)
	if len(e.List("contacts")) != 4 {
		t.Errorf("a failed batch created records")
	}
	c = do(t, e, "POST", "/crm/v3/objects/contacts/batch/create", map[string]any{"inputs": []any{
		map[string]any{"properties": map[string]any{"email": "twin@x.com"}, "associations": []any{}},
		map[string]any{"properties": map[string]any{"email": "Twin@x.com"}, "associations": []any{}},
	}})
	wantError(t, c, 409, "CONFLICT", "already exists")
}

func TestBatchReadUpdatePartial(t *testing.T) {
	e := New(Options{Now: newClock(time.Millisecond).Now})
	a := mustCreate(t, e, "companies", map[string]any{"name": "A", "domain": "a.com"})
	b := mustCreate(t, e, "companies", map[string]any{"name": "B"})
	before, _ := e.Get("companies", b)

	c := do(t, e, "POST", "/crm/v3/objects/companies/batch/update", map[string]any{"inputs": []any{
		map[string]any{"id": a, "properties": map[string]any{"domain": "", "annualrevenue": 1.5e6}},
		map[string]any{"id": "404", "properties": map[string]any{"name": "ghost"}},
		map[string]any{"id": b, "properties": map[string]any{"name": "B"}},
	}})
	if c.status != 207 || c.body.Get("numErrors").Int() != 1 {
		t.Fatalf("%d %s", c.status, c.raw)
	}
	e0 := c.body.Get("errors.0")
	if e0.Get("category").String() != "OBJECT_NOT_FOUND" || e0.Get("context.ids").Raw != `["404"]` || e0.Get("status").String() != "error" {
		t.Errorf("error entry: %s", e0.Raw)
	}
	if got := ids(c.body); !slices.Equal(got, []string{b, a}) {
		t.Errorf("results %v, want [%s %s]", got, b, a)
	}
	ra := c.body.Get(`results.#(id=="` + a + `")`)
	if ra.Get("properties.domain").Type != gjson.Null || ra.Get("properties.annualrevenue").String() != "1500000" {
		t.Errorf("cleared domain should be null, number coerced: %s", ra.Raw)
	}
	if after, _ := e.Get("companies", b); !after.UpdatedAt.After(before.UpdatedAt) {
		t.Errorf("an update that changes nothing still bumps the modified date in HubSpot")
	}

	c = do(t, e, "POST", "/crm/v3/objects/companies/batch/read", map[string]any{"inputs": []any{map[string]any{"id": a}, map[string]any{"id": "404"}, map[string]any{"id": b}}, "properties": []string{"name", "domain"}, "propertiesWithHistory": []string{}})
	if c.status != 207 || !slices.Equal(ids(c.body), []string{b, a}) || !strings.Contains(c.body.Get("errors.0.message").String(), "COMPANY") {
		t.Errorf("read: %d %s", c.status, c.raw)
	}
	if p := c.body.Get("results.0.properties"); p.Get("name").String() != "B" || p.Get("hs_lastmodifieddate").Exists() {
		t.Errorf("read returns only the requested properties: %s", p.Raw)
	}
	c = do(t, e, "POST", "/crm/v3/objects/companies/batch/read", map[string]any{"inputs": []any{map[string]any{"id": a}}, "properties": []string{}, "propertiesWithHistory": []string{}})
	if c.status != 200 || c.body.Get("errors").Exists() {
		t.Errorf("read without misses: %d %s", c.status, c.raw)
	}

	if c := do(t, e, "POST", "/crm/v3/objects/companies/batch/archive", map[string]any{"inputs": []any{map[string]any{"id": a}, map[string]any{"id": "404"}}}); c.status != 204 || c.raw != "" {
		t.Errorf("archive: %d %q", c.status, c.raw)
	}
	if o, _ := e.Get("companies", a); !o.Archived {
		t.Errorf("not archived")
	}
	c = do(t, e, "POST", "/crm/v3/objects/companies/batch/read?archived=true", map[string]any{"inputs": []any{map[string]any{"id": a}}, "properties": []string{}, "propertiesWithHistory": []string{}})
	if c.status != 200 || !c.body.Get("results.0.archived").Bool() {
		t.Errorf("read archived: %s", c.raw)
	}
}

func TestBatchUpsert(t *testing.T) {
	e := New(Options{UniqueProperties: map[string][]string{"companies": {"tandem_key"}}})
	old := mustCreate(t, e, "contacts", map[string]any{"email": "old@x.com", "firstname": "Old"})
	c := do(t, e, "POST", "/crm/v3/objects/contacts/batch/upsert", map[string]any{"inputs": []any{
		map[string]any{"id": "OLD@x.com", "idProperty": "email", "properties": map[string]any{"firstname": "Renamed"}},
		map[string]any{"id": "new@x.com", "idProperty": "email", "properties": map[string]any{"firstname": "New", "email": "New@X.com"}},
		map[string]any{"id": old, "idProperty": "hs_object_id", "properties": map[string]any{"lastname": "X"}},
	}})
	if c.status != 400 {
		t.Errorf("the same record twice (by email and by id) should be a duplicate: %s", c.raw)
	}
	c = do(t, e, "POST", "/crm/v3/objects/contacts/batch/upsert", map[string]any{"inputs": []any{
		map[string]any{"id": "OLD@x.com", "idProperty": "email", "properties": map[string]any{"firstname": "Renamed"}},
		map[string]any{"id": "new@x.com", "idProperty": "email", "properties": map[string]any{"firstname": "New", "email": "New@X.com"}},
		map[string]any{"id": "999", "idProperty": "hs_object_id", "properties": map[string]any{"lastname": "X"}},
	}})
	if c.status != 207 || c.body.Get("numErrors").Int() != 1 || c.body.Get("errors.0.context.ids.0").String() != "999" {
		t.Fatalf("%d %s", c.status, c.raw)
	}
	byEmail := func(email string) gjson.Result { return c.body.Get(`results.#(properties.email=="` + email + `")`) }
	if r := byEmail("old@x.com"); r.Get("id").String() != old || r.Get("new").Bool() || r.Get("properties.firstname").String() != "Renamed" {
		t.Errorf("existing contact: %s", r.Raw)
	}
	created := byEmail("new@x.com")
	if !created.Get("new").Bool() || created.Get("id").String() == "" {
		t.Errorf("new contact: %s", created.Raw)
	}
	// The same upsert again (a retry) creates nothing.
	c = do(t, e, "POST", "/crm/v3/objects/contacts/batch/upsert", map[string]any{"inputs": []any{
		map[string]any{"id": "NEW@x.com", "idProperty": "email", "properties": map[string]any{"firstname": "New"}}}})
	if c.status != 200 || c.body.Get("results.0.id").String() != created.Get("id").String() || c.body.Get("results.0.new").Bool() {
		t.Errorf("retried upsert: %s", c.raw)
	}
	if n := len(e.List("contacts")); n != 2 {
		t.Errorf("%d contacts after upserts, want 2", n)
	}
	// A custom unique property works as idProperty and is enforced unique.
	for i := 0; i < 2; i++ {
		c = do(t, e, "POST", "/crm/v3/objects/companies/batch/upsert", map[string]any{"inputs": []any{
			map[string]any{"id": "ent-1", "idProperty": "tandem_key", "properties": map[string]any{"name": "Acme"}}}})
		if c.status != 200 || c.body.Get("results.0.new").Bool() != (i == 0) || c.body.Get("results.0.properties.tandem_key").String() != "ent-1" {
			t.Errorf("custom idProperty, round %d: %s", i, c.raw)
		}
	}
	wantError(t, do(t, e, "POST", "/crm/v3/objects/companies/batch/create", map[string]any{"inputs": []any{
		map[string]any{"properties": map[string]any{"tandem_key": "ent-1"}, "associations": []any{}}}}), 409, "CONFLICT", "tandem_key")
}
