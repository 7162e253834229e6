package hubspottest

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"
)

// searchFixture is five contacts with known stamps; c2 and c3 tie on
// lastmodifieddate, c5 is archived.
func searchFixture(t *testing.T) (*Emulator, *clock, []string) {
	clk := newClock(0)
	e := New(Options{Now: clk.Now})
	t0 := clk.t
	var ids []string
	add := func(at time.Duration, fields map[string]any) {
		clk.Set(t0.Add(at))
		ids = append(ids, mustCreate(t, e, "contacts", fields))
	}
	add(0, map[string]any{"email": "ann@x.com", "firstname": "Ann", "lifecyclestage": "lead"})
	add(time.Second, map[string]any{"email": "bob@x.com", "firstname": "Bob", "lifecyclestage": "customer"})
	add(time.Second, map[string]any{"email": "cid@y.com", "firstname": "Cid", "phone": "123"})
	add(2*time.Second, map[string]any{"email": "dee@y.com", "lastname": "Dee"})
	add(3*time.Second, map[string]any{"email": "eve@y.com", "firstname": "Eve"})
	clk.Set(t0.Add(4 * time.Second))
	if err := e.Delete("contacts", ids[4]); err != nil {
		t.Fatal(err)
	}
	return e, clk, ids
}

func TestSearchFilters(t *testing.T) {
	e, clk, id := searchFixture(t)
	_ = clk
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	ms := func(d time.Duration) string { return strconv.FormatInt(t0.Add(d).UnixMilli(), 10) }
	f := func(prop, op string, v any) map[string]any {
		m := map[string]any{"propertyName": prop, "operator": op}
		if v != nil {
			m["value"] = v
		}
		return m
	}
	group := func(fs ...map[string]any) map[string]any { return map[string]any{"filters": fs} }
	cases := []struct {
		name   string
		groups []map[string]any
		want   []string
	}{
		{"no filters: all live", nil, id[:4]},
		{"EQ is case-insensitive", []map[string]any{group(f("email", "EQ", "BOB@X.COM"))}, id[1:2]},
		{"NEQ includes records without the property", []map[string]any{group(f("firstname", "NEQ", "ann"))}, id[1:4]},
		{"GT timestamp as epoch ms", []map[string]any{group(f("lastmodifieddate", "GT", ms(0)))}, id[1:4]},
		{"GTE timestamp as ISO 8601", []map[string]any{group(f("lastmodifieddate", "GTE", t0.Add(time.Second).Format(time.RFC3339Nano)))}, id[1:4]},
		{"GTE timestamp as a number", []map[string]any{group(f("lastmodifieddate", "GTE", t0.Add(2*time.Second).UnixMilli()))}, id[3:4]},
		{"LT timestamp", []map[string]any{group(f("lastmodifieddate", "LT", ms(time.Second)))}, id[:1]},
		{"LTE createdate", []map[string]any{group(f("createdate", "LTE", ms(time.Second)))}, id[:3]},
		{"HAS_PROPERTY", []map[string]any{group(f("phone", "HAS_PROPERTY", nil))}, id[2:3]},
		{"NOT_HAS_PROPERTY", []map[string]any{group(f("firstname", "NOT_HAS_PROPERTY", nil))}, id[3:4]},
		{"IN", []map[string]any{group(map[string]any{"propertyName": "lifecyclestage", "operator": "IN", "values": []string{"lead", "customer"}})}, id[:2]},
		{"filters in a group are AND'ed", []map[string]any{group(f("lastmodifieddate", "GTE", ms(time.Second)), f("firstname", "EQ", "cid"))}, id[2:3]},
		{"groups are OR'ed", []map[string]any{group(f("firstname", "EQ", "ann")), group(f("lastname", "EQ", "dee"))}, []string{id[0], id[3]}},
		{"BETWEEN", []map[string]any{group(map[string]any{"propertyName": "lastmodifieddate", "operator": "BETWEEN", "value": ms(time.Second), "highValue": ms(2 * time.Second)})}, id[1:4]},
		{"CONTAINS_TOKEN", []map[string]any{group(f("email", "CONTAINS_TOKEN", "*@y.com"))}, id[2:4]},
		{"hs_object_id compares as a number", []map[string]any{group(f("hs_object_id", "GT", id[2]))}, id[3:4]},
		{"archived records are never found", []map[string]any{group(f("email", "EQ", "eve@y.com"))}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := map[string]any{"limit": 100}
			if tc.groups != nil {
				req["filterGroups"] = tc.groups
			}
			c := do(t, e, "POST", "/crm/v3/objects/contacts/search", req)
			if c.status != 200 {
				t.Fatalf("status %d: %s", c.status, c.raw)
			}
			if got := ids(c.body); !slices.Equal(got, tc.want) {
				t.Errorf("ids %v, want %v", got, tc.want)
			}
			if c.body.Get("total").Int() != int64(len(tc.want)) {
				t.Errorf("total %d, want %d", c.body.Get("total").Int(), len(tc.want))
			}
		})
	}
}

func TestSearchCompaniesNumbers(t *testing.T) {
	e := New(Options{})
	small := mustCreate(t, e, "companies", map[string]any{"name": "Small", "numberofemployees": 9})
	big := mustCreate(t, e, "companies", map[string]any{"name": "Big", "numberofemployees": "100"})
	c := do(t, e, "POST", "/crm/v3/objects/companies/search", map[string]any{
		"filterGroups": []any{map[string]any{"filters": []any{map[string]any{"propertyName": "numberofemployees", "operator": "GT", "value": "10"}}}},
		"properties":   []string{"name", "numberofemployees"},
	})
	if got := ids(c.body); !slices.Equal(got, []string{big}) {
		t.Fatalf("numbers compared as text? got %v, want [%s]: %s", got, big, c.raw)
	}
	c = do(t, e, "POST", "/crm/v3/objects/companies/search", map[string]any{"sorts": []any{map[string]any{"propertyName": "numberofemployees", "direction": "DESCENDING"}}})
	if got := ids(c.body); !slices.Equal(got, []string{big, small}) {
		t.Fatalf("sort by number descending: %v", got)
	}
	if c.body.Get("results.0.properties.hs_lastmodifieddate").String() == "" {
		t.Errorf("companies default properties lack hs_lastmodifieddate: %s", c.raw)
	}
}

func TestSearchSortsAndPaging(t *testing.T) {
	e, _, id := searchFixture(t)
	asc := []string{id[0], id[1], id[2], id[3]} // id[1] and id[2] tie: by id
	for _, sorts := range []any{
		[]any{map[string]any{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}},
		[]any{"lastmodifieddate"},
	} {
		var got []string
		after := ""
		for page := 0; page < 10; page++ {
			c := do(t, e, "POST", "/crm/v3/objects/contacts/search", map[string]any{"sorts": sorts, "limit": 3, "after": after, "properties": []string{"email", "nosuchproperty"}})
			if c.status != 200 || c.body.Get("total").Int() != 4 {
				t.Fatalf("page %d: %d %s", page, c.status, c.raw)
			}
			if c.body.Get("results.0.properties.nosuchproperty").Exists() || !c.body.Get("results.0.properties.email").Exists() {
				t.Errorf("properties: want only the known requested ones: %s", c.raw)
			}
			if c.body.Get("results.0.properties.firstname").Exists() {
				t.Errorf("properties: default set returned although properties were requested: %s", c.raw)
			}
			got = append(got, ids(c.body)...)
			next := c.body.Get("paging.next.after")
			if !next.Exists() {
				break
			}
			after = next.String()
		}
		if !slices.Equal(got, asc) {
			t.Errorf("sorts %v: %v, want %v", sorts, got, asc)
		}
	}
	c := do(t, e, "POST", "/crm/v3/objects/contacts/search", map[string]any{"sorts": []any{"-lastmodifieddate"}})
	if got := ids(c.body); !slices.Equal(got, []string{id[3], id[1], id[2], id[0]}) {
		t.Errorf("descending, ties by id: %v", got)
	}
	for _, p := range []string{"firstname", "lastname", "email", "createdate", "lastmodifieddate", "hs_object_id"} {
		if !c.body.Get("results.0.properties." + p).Exists() {
			t.Errorf("default properties lack %s: %s", p, c.body.Get("results.0").Raw)
		}
	}
	if c.body.Get("results.0.properties.phone").Exists() {
		t.Errorf("default properties include phone")
	}
}

func TestSearchRejects(t *testing.T) {
	e, _, _ := searchFixture(t)
	filters := func(n int) []any {
		var fs []any
		for i := 0; i < n; i++ {
			fs = append(fs, map[string]any{"propertyName": "email", "operator": "HAS_PROPERTY"})
		}
		return fs
	}
	groups := func(n, per int) []any {
		var gs []any
		for i := 0; i < n; i++ {
			gs = append(gs, map[string]any{"filters": filters(per)})
		}
		return gs
	}
	cases := []struct {
		name string
		req  any
		msg  string
	}{
		{"six filter groups", map[string]any{"filterGroups": groups(6, 1)}, "filter groups"},
		{"seven filters in a group", map[string]any{"filterGroups": groups(1, 7)}, "filters in a filter group"},
		{"nineteen filters in all", map[string]any{"filterGroups": groups(4, 5)}, "at most 18"},
		{"limit over 200", map[string]any{"limit": 201}, "limit"},
		{"past the 10,000 cap", map[string]any{"limit": 200, "after": "9801"}, "10000"},
		{"unknown operator", map[string]any{"filterGroups": []any{map[string]any{"filters": []any{map[string]any{"propertyName": "email", "operator": "LIKE", "value": "x"}}}}}, "operator"},
		{"unknown property", map[string]any{"filterGroups": []any{map[string]any{"filters": []any{map[string]any{"propertyName": "nope", "operator": "EQ", "value": "x"}}}}}, "nope"},
		{"bad timestamp", map[string]any{"filterGroups": []any{map[string]any{"filters": []any{map[string]any{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "yesterday"}}}}}, "timestamp"},
		{"missing value", map[string]any{"filterGroups": []any{map[string]any{"filters": []any{map[string]any{"propertyName": "email", "operator": "EQ"}}}}}, "needs a value"},
		{"two sorts", map[string]any{"sorts": []any{"email", "firstname"}}, "one sort"},
		{"bad direction", map[string]any{"sorts": []any{map[string]any{"propertyName": "email", "direction": "UP"}}}, "direction"},
		{"bad after", map[string]any{"after": "abc"}, "after"},
		{"unknown field", map[string]any{"filterGroup": []any{}}, "filterGroup"},
		{"malformed JSON", `{"limit": 10,`, "Invalid input JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, do(t, e, "POST", "/crm/v3/objects/contacts/search", tc.req), 400, "VALIDATION_ERROR", tc.msg)
		})
	}
	// Right up to the cap is allowed.
	c := do(t, e, "POST", "/crm/v3/objects/contacts/search", map[string]any{"limit": 200, "after": "9800"})
	if c.status != 200 || c.body.Get("total").Int() != 4 || len(ids(c.body)) != 0 {
		t.Errorf("after 9800 limit 200: %d %s", c.status, c.raw)
	}
}

// TestSearchCapAtScale pages a real 10,000+ result set to the cap.
func TestSearchCapAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10,050 records")
	}
	e := New(Options{Now: newClock(time.Millisecond).Now})
	for i := 0; i < 10_050; i++ {
		mustCreate(t, e, "contacts", map[string]any{"email": fmt.Sprintf("p%d@example.com", i)})
	}
	after, seen := "", 0
	for {
		c := do(t, e, "POST", "/crm/v3/objects/contacts/search", map[string]any{"limit": 200, "after": after, "sorts": []any{"lastmodifieddate"}, "properties": []string{"email"}})
		if c.status == 400 {
			wantError(t, c, 400, "VALIDATION_ERROR", "10000")
			break
		}
		if c.status != 200 || c.body.Get("total").Int() != 10_050 {
			t.Fatalf("%d %s", c.status, c.raw[:min(len(c.raw), 300)])
		}
		seen += len(ids(c.body))
		after = c.body.Get("paging.next.after").String()
	}
	if seen != 10_000 || after != "10000" {
		t.Errorf("read %d results before the cap (next after %q), want 10000", seen, after)
	}
}
