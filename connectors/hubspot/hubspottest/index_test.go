package hubspottest

import (
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// withScan runs fn with the modified-time index turned off: every search
// filters and sorts every record, as before the index.
func withScan(fn func()) {
	useIndex = false
	defer func() { useIndex = true }()
	fn()
}

// The index answers exactly as the scan does: random creates, edits (with
// a clock that ties, and now and then goes back) and archives, and after
// each step searches of every shape the index serves, and some it does
// not, paged at random offsets.
func TestSearchIndexMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	clk := newClock(0)
	e := New(Options{Now: clk.Now})
	t0 := clk.t
	at := func() time.Time { return t0.Add(time.Duration(rng.IntN(400)) * time.Millisecond) }
	var live []string
	ms := func() string { return strconv.FormatInt(at().UnixMilli(), 10) }
	filter := func(op string, v any) map[string]any {
		f := map[string]any{"propertyName": "lastmodifieddate", "operator": op}
		switch op {
		case "BETWEEN":
			a, b := at().UnixMilli(), at().UnixMilli()
			f["value"], f["highValue"] = strconv.FormatInt(min(a, b), 10), strconv.FormatInt(max(a, b), 10)
		case "HAS_PROPERTY":
		default:
			f["value"] = v
		}
		return f
	}
	ops := []string{"GTE", "GT", "LT", "LTE", "EQ", "BETWEEN", "HAS_PROPERTY"}
	searches, nonEmpty := 0, 0
	for step := range 600 {
		clk.Set(at())
		switch k := rng.IntN(10); {
		case k < 5 || len(live) < 5:
			live = append(live, mustCreate(t, e, "contacts", map[string]any{"email": fmt.Sprintf("p%d@x.com", step), "firstname": "P"}))
		case k < 8:
			if err := e.Update("contacts", live[rng.IntN(len(live))], map[string]any{"lastname": strconv.Itoa(step)}); err != nil {
				t.Fatal(err)
			}
		case k < 9: // through the API, a batch at one stamp
			var in []map[string]any
			for _, j := range rng.Perm(len(live))[:3] {
				in = append(in, map[string]any{"id": live[j], "properties": map[string]any{"lastname": "b" + strconv.Itoa(step)}})
			}
			if c := do(t, e, "POST", "/crm/v3/objects/contacts/batch/update", map[string]any{"inputs": in}); c.status != 200 {
				t.Fatalf("batch update: %d %s", c.status, c.raw)
			}
		default:
			j := rng.IntN(len(live))
			if err := e.Delete("contacts", live[j]); err != nil {
				t.Fatal(err)
			}
			live = append(live[:j], live[j+1:]...)
		}
		if step%5 != 0 {
			continue
		}
		var filters []map[string]any
		for range rng.IntN(3) {
			filters = append(filters, filter(ops[rng.IntN(len(ops))], ms()))
		}
		req := map[string]any{
			"sorts":      []map[string]any{{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}},
			"properties": []string{"email", "lastname"},
			"limit":      1 + rng.IntN(30),
			"after":      strconv.Itoa(rng.IntN(len(live) + 5)),
		}
		if len(filters) > 0 {
			req["filterGroups"] = []map[string]any{{"filters": filters}}
		}
		switch rng.IntN(8) { // shapes the index leaves to the scan, and a run of ties paged by id
		case 4:
			req["sorts"] = []map[string]any{{"propertyName": "hs_object_id", "direction": "ASCENDING"}}
			tie := []map[string]any{filter("EQ", ms())}
			if len(live) > 0 && rng.IntN(4) > 0 {
				op := []string{"GT", "GTE"}[rng.IntN(2)]
				tie = append(tie, map[string]any{"propertyName": "hs_object_id", "operator": op, "value": live[rng.IntN(len(live))]})
			}
			req["filterGroups"] = []map[string]any{{"filters": tie}}
			req["after"] = "0"
		case 5: // the rest of a run, and what follows: two groups
			at := ms()
			tie := []map[string]any{filter("EQ", at)}
			if len(live) > 0 {
				tie = append(tie, map[string]any{"propertyName": "hs_object_id", "operator": "GT", "value": live[rng.IntN(len(live))]})
			}
			req["filterGroups"] = []map[string]any{{"filters": tie}, {"filters": []map[string]any{filter("GT", at)}}}
		case 0:
			req["sorts"] = []map[string]any{{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}}
		case 1:
			req["sorts"] = []map[string]any{{"propertyName": "email", "direction": "ASCENDING"}}
		case 2:
			req["filterGroups"] = []map[string]any{{"filters": append(filters, map[string]any{"propertyName": "firstname", "operator": "EQ", "value": "p"})}}
		case 3:
			delete(req, "sorts")
		}
		path := "/crm/v3/objects/contacts/search"
		got := do(t, e, "POST", path, req)
		var want call
		withScan(func() { want = do(t, e, "POST", path, req) })
		if got.status != want.status || got.raw != want.raw {
			t.Fatalf("step %d: search %v\nindex: %d %s\nscan:  %d %s", step, req, got.status, got.raw, want.status, want.raw)
		}
		searches++
		if got.body.Get("results.#").Int() > 0 {
			nonEmpty++
		}
	}
	if size(e.tables["contacts"].ix) != len(live) {
		t.Errorf("index holds %d records, %d are live", size(e.tables["contacts"].ix), len(live))
	}
	if nonEmpty < searches/3 {
		t.Errorf("only %d of %d searches found anything: the workload tests little", nonEmpty, searches)
	}
	t.Logf("%d searches answered alike, %d with results", searches, nonEmpty)
}

// BenchmarkSearchPage is one page of a pull (modified >= a time, sorted by
// modified, 100 a page) in the middle of n contacts: O(n log n) a page
// with the scan, O(log n + page) with the index. A full read is n/100
// pages, so the scan makes it quadratic:
//
//	go test -run - -bench SearchPage ./connectors/hubspot/hubspottest
func BenchmarkSearchPage(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		clk := newClock(time.Millisecond / 4) // ties, as in a bulk load
		e := New(Options{Now: clk.Now})
		for i := range n {
			if _, err := e.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@x.com", i), "firstname": "P", "lastname": strconv.Itoa(i)}); err != nil {
				b.Fatal(err)
			}
		}
		mid := clk.t.Add(-time.Duration(n/2) * time.Millisecond / 4).UnixMilli()
		body := fmt.Sprintf(`{"filterGroups":[{"filters":[{"propertyName":"lastmodifieddate","operator":"GTE","value":"%d"}]}],`+
			`"sorts":[{"propertyName":"lastmodifieddate","direction":"ASCENDING"}],"properties":["email","firstname","lastname"],"limit":100,"after":"0"}`, mid)
		for _, mode := range []string{"scan", "index"} {
			b.Run(fmt.Sprintf("%s/n=%d", mode, n), func(b *testing.B) {
				useIndex = mode == "index"
				defer func() { useIndex = true }()
				for b.Loop() {
					c := doBench(b, e, body)
					if c != 200 {
						b.Fatalf("search: %d", c)
					}
				}
			})
		}
	}
}

// doBench posts one search straight to the handler and returns the status.
func doBench(b *testing.B, e *Emulator, body string) int {
	b.Helper()
	req := httptest.NewRequest("POST", "/crm/v3/objects/contacts/search", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer test-token")
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	return w.Code
}
