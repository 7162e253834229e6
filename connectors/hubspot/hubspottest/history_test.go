package hubspottest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestPropertyHistory: every value a property takes is kept with its time
// and its source, and served newest first where propertiesWithHistory is
// asked for.
func TestPropertyHistory(t *testing.T) {
	clk := newClock(0)
	e := New(Options{Now: clk.Now})
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return stamp(t0.Add(d)) }
	clk.Set(t0)
	id := mustCreate(t, e, "contacts", map[string]any{"email": "ann@x.com", "firstname": "Ann"}) // in the UI
	clk.Set(t0.Add(time.Second))
	if c := do(t, e, "PATCH", "/crm/v3/objects/contacts/"+id, map[string]any{"properties": map[string]any{"firstname": "Anne", "email": "ann@x.com"}}); c.status != 200 {
		t.Fatalf("patch: %s", c.raw)
	}
	clk.Set(t0.Add(2 * time.Second))
	if c := do(t, e, "POST", "/crm/v3/objects/contacts/batch/update", map[string]any{"inputs": []any{map[string]any{"id": id, "properties": map[string]any{"firstname": ""}}}}); c.status != 200 {
		t.Fatalf("clear: %s", c.raw)
	}

	ui := fmt.Sprintf(`{"value":%%q,"timestamp":%%q,"sourceType":"CRM_UI","sourceId":"userId:%d","updatedByUserId":%d}`, UserID, UserID)
	api := fmt.Sprintf(`{"value":%%q,"timestamp":%%q,"sourceType":"INTEGRATION","sourceId":%q}`, AppID)
	wantFirstname := "[" + fmt.Sprintf(api, "", at(2*time.Second)) + "," + fmt.Sprintf(api, "Anne", at(time.Second)) + "," + fmt.Sprintf(ui, "Ann", at(0)) + "]"
	wantEmail := "[" + fmt.Sprintf(ui, "ann@x.com", at(0)) + "]" // writing the same value again leaves no entry

	for _, tc := range []struct {
		name, method, path string
		body               any
		result             string // gjson path of the record in the response
	}{
		{"batch read", "POST", "/crm/v3/objects/contacts/batch/read", map[string]any{"inputs": []any{map[string]any{"id": id}}, "properties": []string{"email"}, "propertiesWithHistory": []string{"firstname", "email", "nosuch"}}, "results.0"},
		{"get one", "GET", "/crm/v3/objects/contacts/" + id + "?properties=email&propertiesWithHistory=firstname,email,nosuch", nil, ""},
		{"list", "GET", "/crm/v3/objects/contacts?properties=email&propertiesWithHistory=firstname&propertiesWithHistory=email,nosuch&limit=50", nil, "results.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := do(t, e, tc.method, tc.path, tc.body)
			if c.status != 200 {
				t.Fatalf("%d %s", c.status, c.raw)
			}
			r := c.body
			if tc.result != "" {
				r = c.body.Get(tc.result)
			}
			h := r.Get("propertiesWithHistory")
			if h.Get("firstname").Raw != wantFirstname || h.Get("email").Raw != wantEmail || h.Get("nosuch").Exists() {
				t.Errorf("history:\n got %s\nwant firstname %s\n     email %s", h.Raw, wantFirstname, wantEmail)
			}
			// The history's properties are in properties too, as HubSpot
			// returns them; the cleared one as null.
			if p := r.Get("properties"); !p.Get("firstname").Exists() || p.Get("firstname").Raw != "null" || p.Get("email").String() != "ann@x.com" {
				t.Errorf("properties: %s", p.Raw)
			}
		})
	}
	// Without propertiesWithHistory, no history.
	if c := do(t, e, "GET", "/crm/v3/objects/contacts/"+id+"?properties=firstname", nil); c.body.Get("propertiesWithHistory").Exists() {
		t.Errorf("history nobody asked for: %s", c.raw)
	}
	// The modified date has a history too, one entry a write.
	c := do(t, e, "GET", "/crm/v3/objects/contacts/"+id+"?propertiesWithHistory=lastmodifieddate", nil)
	if n := len(c.body.Get("propertiesWithHistory.lastmodifieddate").Array()); n != 3 {
		t.Errorf("lastmodifieddate history has %d entries, want 3: %s", n, c.raw)
	}
}

// TestHistoryReadLimits: asking for history lowers what one request may
// read to 50 records, with HubSpot's own 400.
func TestHistoryReadLimits(t *testing.T) {
	e := New(Options{Now: newClock(time.Millisecond).Now})
	var ins []any
	for i := 0; i < 51; i++ {
		ins = append(ins, map[string]any{"id": mustCreate(t, e, "companies", map[string]any{"name": strconv.Itoa(i)})})
	}
	read := func(n int, hist []string) call {
		return do(t, e, "POST", "/crm/v3/objects/companies/batch/read", map[string]any{"inputs": ins[:n], "properties": []string{"name"}, "propertiesWithHistory": hist})
	}
	wantError(t, read(51, []string{"name"}), 400, "VALIDATION_ERROR",
		"The maximum number of inputs supported in a batch request for property histories is 50. Please reduce the number of items and try again")
	if c := read(50, []string{"name"}); c.status != 200 || len(ids(c.body)) != 50 {
		t.Errorf("50 inputs with history: %d, %d results", c.status, len(ids(c.body)))
	}
	if c := read(51, []string{}); c.status != 200 || len(ids(c.body)) != 51 {
		t.Errorf("51 inputs without history: %d, %d results", c.status, len(ids(c.body)))
	}
	wantError(t, do(t, e, "GET", "/crm/v3/objects/companies?limit=51&propertiesWithHistory=name", nil), 400, "VALIDATION_ERROR", "limit")
	if c := do(t, e, "GET", "/crm/v3/objects/companies?limit=50&propertiesWithHistory=name", nil); c.status != 200 || len(ids(c.body)) != 50 {
		t.Errorf("list of 50 with history: %d, %d results", c.status, len(ids(c.body)))
	}
	if c := do(t, e, "GET", "/crm/v3/objects/companies?limit=100", nil); c.status != 200 || len(ids(c.body)) != 51 {
		t.Errorf("list of 100 without history: %d, %d results", c.status, len(ids(c.body)))
	}
}

// TestArchive: archiving stamps archivedAt from the clock and leaves
// updatedAt and the modified date at the last edit, as HubSpot does; the
// recycle bin pages like the live list.
func TestArchive(t *testing.T) {
	clk := newClock(0)
	e := New(Options{Now: clk.Now})
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	clk.Set(t0)
	var all []string
	for i := 0; i < 5; i++ {
		all = append(all, mustCreate(t, e, "contacts", map[string]any{"email": fmt.Sprintf("p%d@x.com", i)}))
	}
	clk.Set(t0.Add(time.Hour))
	for _, id := range all[:3] {
		if err := e.Delete("contacts", id); err != nil {
			t.Fatal(err)
		}
	}
	clk.Set(t0.Add(2 * time.Hour))
	if c := do(t, e, "DELETE", "/crm/v3/objects/contacts/"+all[3], nil); c.status != 204 {
		t.Fatalf("delete: %d", c.status)
	}
	o, _ := e.Get("contacts", all[0])
	if !o.Archived || !o.ArchivedAt.Equal(t0.Add(time.Hour)) || !o.UpdatedAt.Equal(t0) || o.Properties["lastmodifieddate"] != stamp(t0) {
		t.Errorf("archived record: %+v", o)
	}

	var got []string
	path := "/crm/v3/objects/contacts?archived=true&limit=2&properties=email"
	for pages := 0; pages < 10; pages++ {
		c := do(t, e, "GET", path, nil)
		if c.status != 200 {
			t.Fatalf("%d %s", c.status, c.raw)
		}
		for _, r := range c.body.Get("results").Array() {
			got = append(got, r.Get("id").String())
			want := stamp(t0.Add(time.Hour))
			if r.Get("id").String() == all[3] {
				want = stamp(t0.Add(2 * time.Hour))
			}
			if !r.Get("archived").Bool() || r.Get("archivedAt").String() != want || r.Get("updatedAt").String() != stamp(t0) || r.Get("properties.email").String() == "" {
				t.Errorf("archived record: %s", r.Raw)
			}
		}
		next := c.body.Get("paging.next.after")
		if !next.Exists() {
			break
		}
		path = "/crm/v3/objects/contacts?archived=true&limit=2&properties=email&after=" + next.String()
	}
	if !slices.Equal(got, all[:4]) {
		t.Errorf("recycle bin: %v, want %v", got, all[:4])
	}
	wantError(t, do(t, e, "GET", "/crm/v3/objects/contacts?archived=true&limit=101", nil), 400, "VALIDATION_ERROR", "limit")
}

// TestDateHeader: every response's Date is the emulator's clock, as
// HubSpot's is HubSpot's.
func TestDateHeader(t *testing.T) {
	clk := newClock(0)
	e := New(Options{Now: clk.Now})
	clk.Set(time.Date(2024, 3, 1, 10, 0, 0, 900_000_000, time.UTC))
	for _, path := range []string{"/crm/v3/objects/contacts", "/crm/v3/objects/nosuch"} {
		c := do(t, e, "GET", path, nil)
		if d, err := http.ParseTime(c.header.Get("Date")); err != nil || !d.Equal(time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: Date %q", path, c.header.Get("Date"))
		}
	}
}
