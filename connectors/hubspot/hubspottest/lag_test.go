package hubspottest

import (
	"slices"
	"testing"
	"time"
)

// With SearchLag, /search shows a write only once the lag has passed, and
// until then the record as it was; GET and batch/read see it at once, as
// in HubSpot, whose search index trails its writes by seconds.
func TestSearchLag(t *testing.T) {
	for _, scan := range []bool{false, true} {
		clk := newClock(0)
		e := New(Options{Now: clk.Now, SearchLag: 5 * time.Second})
		t0 := clk.t
		search := func() (ids, names []string) {
			req := map[string]any{
				"filterGroups": []map[string]any{{"filters": []map[string]any{{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}}}},
				"sorts":        []map[string]any{{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}},
				"properties":   []string{"firstname"}, "limit": 100, "after": "0",
			}
			var c call
			run := func() { c = do(t, e, "POST", "/crm/v3/objects/contacts/search", req) }
			if scan {
				withScan(run)
			} else {
				run()
			}
			if c.status != 200 {
				t.Fatalf("search: %d %s", c.status, c.raw)
			}
			for _, r := range c.body.Get("results").Array() {
				ids = append(ids, r.Get("id").String())
				names = append(names, r.Get("properties.firstname").String())
			}
			return ids, names
		}
		a := mustCreate(t, e, "contacts", map[string]any{"email": "a@x.com", "firstname": "Ann"})
		if ids, _ := search(); len(ids) != 0 {
			t.Fatalf("scan %v: search shows a record the moment it is created: %v", scan, ids)
		}
		if c := do(t, e, "GET", "/crm/v3/objects/contacts/"+a+"?properties=firstname", nil); c.status != 200 || c.body.Get("properties.firstname").String() != "Ann" {
			t.Fatalf("GET right after the create: %d %s", c.status, c.raw)
		}
		clk.Set(t0.Add(5 * time.Second))
		if ids, names := search(); !slices.Equal(ids, []string{a}) || names[0] != "Ann" {
			t.Fatalf("scan %v: search after the lag: %v %v", scan, ids, names)
		}
		// An edit: search shows the old values, at the old time, until the lag.
		if err := e.Update("contacts", a, map[string]any{"firstname": "Anna"}); err != nil {
			t.Fatal(err)
		}
		b := mustCreate(t, e, "contacts", map[string]any{"email": "b@x.com", "firstname": "Bob"})
		if c := do(t, e, "POST", "/crm/v3/objects/contacts/batch/read", map[string]any{"inputs": []map[string]any{{"id": a}}, "properties": []string{"firstname"}}); c.body.Get("results.0.properties.firstname").String() != "Anna" {
			t.Fatalf("batch/read right after the edit: %s", c.raw)
		}
		if _, names := search(); !slices.Equal(names, []string{"Ann"}) {
			t.Fatalf("scan %v: search right after the edit: %v, want the old [Ann]", scan, names)
		}
		clk.Set(t0.Add(10 * time.Second))
		if ids, names := search(); !slices.Equal(ids, []string{a, b}) || !slices.Equal(names, []string{"Anna", "Bob"}) {
			t.Fatalf("scan %v: search once both are indexed: %v %v", scan, ids, names)
		}
		// An archive: search still shows the record until the lag.
		if err := e.Delete("contacts", a); err != nil {
			t.Fatal(err)
		}
		if ids, _ := search(); !slices.Contains(ids, a) {
			t.Fatalf("scan %v: search dropped an archived record before the lag: %v", scan, ids)
		}
		clk.Set(t0.Add(15 * time.Second))
		if ids, _ := search(); !slices.Equal(ids, []string{b}) {
			t.Fatalf("scan %v: search after the archive is indexed: %v", scan, ids)
		}
	}
}

// SetSearchLag varies the lag: a write made with a long lag reaches search
// after a later one made with a short lag, and never replaces a later
// write of the same record.
func TestSetSearchLag(t *testing.T) {
	clk := newClock(0)
	e := New(Options{Now: clk.Now})
	t0 := clk.t
	names := func() map[string]string {
		c := do(t, e, "POST", "/crm/v3/objects/contacts/search", map[string]any{"properties": []string{"firstname"}, "limit": 100})
		out := map[string]string{}
		for _, r := range c.body.Get("results").Array() {
			out[r.Get("id").String()] = r.Get("properties.firstname").String()
		}
		return out
	}
	a := mustCreate(t, e, "contacts", map[string]any{"email": "a@x.com", "firstname": "A1"})
	b := mustCreate(t, e, "contacts", map[string]any{"email": "b@x.com", "firstname": "B1"})
	e.SetSearchLag(30 * time.Second)
	clk.Set(t0.Add(10 * time.Second))
	if err := e.Update("contacts", a, map[string]any{"firstname": "A2"}); err != nil {
		t.Fatal(err)
	}
	e.SetSearchLag(time.Second)
	clk.Set(t0.Add(20 * time.Second))
	if err := e.Update("contacts", b, map[string]any{"firstname": "B2"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Update("contacts", a, map[string]any{"firstname": "A3"}); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(25 * time.Second))
	if got := names(); got[a] != "A3" || got[b] != "B2" {
		t.Fatalf("at +25s: %v, want A3 and B2", got)
	}
	clk.Set(t0.Add(45 * time.Second)) // A2's turn comes: too late to count
	if got := names(); got[a] != "A3" {
		t.Fatalf("at +45s: %v, want A3 still", got)
	}
	e.SetSearchLag(0)
	if err := e.Update("contacts", b, map[string]any{"firstname": "B3"}); err != nil {
		t.Fatal(err)
	}
	if got := names(); got[b] != "B3" || len(got) != 2 {
		t.Fatalf("with the lag off again: %v", got)
	}
}
