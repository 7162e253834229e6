package hubspot

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
)

// historyReads lists, per batch/read request, its inputs count and its
// propertiesWithHistory, in order.
func historyReads(srv *hubspottest.Server) (inputs []int, asked []string) {
	for _, r := range srv.Requests() {
		if r.Path == "/crm/v3/objects/contacts/batch/read" {
			inputs = append(inputs, len(gjson.GetBytes(r.Body, "inputs").Array()))
			asked = append(asked, gjson.GetBytes(r.Body, "propertiesWithHistory").Raw)
		}
	}
	return inputs, asked
}

// TestPullPropertyHistory: with property_history, each pulled record
// carries the time each property it reads was last set; Raw stays the
// search's object. Without it (the default), no history is read.
func TestPullPropertyHistory(t *testing.T) {
	clk := &fixedClock{}
	t1 := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
	t2, t3 := t1.Add(time.Minute), t1.Add(2*time.Minute)
	srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
	defer srv.Close()
	clk.Set(t1)
	a, _ := srv.Create("contacts", map[string]any{"email": "a@x.com", "firstname": "Ann"}) // in the UI
	clk.Set(t2)
	on := open(t, srv, "property_history: true\n")
	apply(t, on, "contacts", update(a, `{"properties":{"firstname":"Anne"}}`)) // by Tandem, through the API
	clk.Set(t3)
	b, _ := srv.Create("contacts", map[string]any{"email": "b@x.com"})

	srv.ResetRequests()
	pages := pullAll(t, on, "contacts", "")
	recs := map[string]tandem.Record{}
	for _, p := range pages {
		for _, r := range p.Records {
			recs[r.ID] = r
		}
	}
	want := map[string]map[string]time.Time{
		a: {"properties.email": t1, "properties.firstname": t2},
		b: {"properties.email": t3}, // firstname never had a value: no time
	}
	for id, w := range want {
		if got := recs[id].FieldTimes; !maps.Equal(got, w) {
			t.Errorf("record %s: FieldTimes %v, want %v", id, got, w)
		}
		if raw := gjson.ParseBytes(recs[id].Raw); raw.Get("propertiesWithHistory").Exists() || !raw.Get("properties.email").Exists() {
			t.Errorf("record %s: Raw should be the search's object: %s", id, recs[id].Raw)
		}
	}
	if inputs, asked := historyReads(srv); !slices.Equal(inputs, []int{2}) || asked[0] != `["email","firstname"]` {
		t.Errorf("history reads: inputs %v, propertiesWithHistory %v", inputs, asked)
	}

	off := open(t, srv, "")
	srv.ResetRequests()
	for _, p := range pullAll(t, off, "contacts", "") {
		for _, r := range p.Records {
			if r.FieldTimes != nil {
				t.Errorf("FieldTimes without property_history: %v", r.FieldTimes)
			}
		}
	}
	if inputs, _ := historyReads(srv); len(inputs) != 0 {
		t.Errorf("history read without property_history: %v", inputs)
	}
}

// TestPropertyHistoryBatches: HubSpot reads at most 50 records with
// history a call, so a page of 120 takes three, and Fetch reads 50 at a
// time too, with history in the same call and cut from Raw.
func TestPropertyHistoryBatches(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Now: newStepClock().Now})
	defer srv.Close()
	var ids []string
	for i := 0; i < 120; i++ {
		id, _ := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%03d@x.com", i), "firstname": "P"})
		ids = append(ids, id)
	}
	c := open(t, srv, "page_size: 120\nproperty_history: true\n")
	check := func(what string, recs []tandem.Record) {
		t.Helper()
		if len(recs) != 120 {
			t.Fatalf("%s: %d records", what, len(recs))
		}
		for _, r := range recs {
			obj, _ := srv.Get("contacts", r.ID)
			if len(r.FieldTimes) != 2 || !r.FieldTimes["properties.email"].Equal(obj.CreatedAt) || gjson.GetBytes(r.Raw, "propertiesWithHistory").Exists() ||
				gjson.GetBytes(r.Raw, "properties.email").String() != obj.Properties["email"] {
				t.Fatalf("%s: record %s: FieldTimes %v, Raw %s", what, r.ID, r.FieldTimes, r.Raw)
			}
		}
		inputs, _ := historyReads(srv)
		if !slices.Equal(inputs, []int{50, 50, 20}) {
			t.Errorf("%s: batch/read inputs %v, want [50 50 20]", what, inputs)
		}
		for _, r := range srv.Requests() {
			if r.Status/100 != 2 {
				t.Errorf("%s: %s %s %d", what, r.Method, r.Path, r.Status)
			}
		}
	}
	srv.ResetRequests()
	var pulled []tandem.Record
	for _, p := range pullAll(t, c, "contacts", "") {
		pulled = append(pulled, p.Records...)
	}
	check("pull", pulled)

	srv.ResetRequests()
	fetched, err := c.Fetch(context.Background(), tandem.Query{Object: "contacts", Fields: contactFields}, ids)
	if err != nil {
		t.Fatal(err)
	}
	check("fetch", fetched)
	if r := srv.Requests()[0]; gjson.GetBytes(r.Body, "properties").Raw != `["lastmodifieddate","email","firstname"]` {
		t.Errorf("fetch asks for properties and history in one call: %s", r.Body)
	}
}

func TestSetFieldTimes(t *testing.T) {
	mod := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
	ms := func(d int) string { return mod.Add(time.Duration(d) * time.Millisecond).Format(time.RFC3339Nano) }
	entry := func(v string, d int) string {
		return fmt.Sprintf(`{"value":%q,"timestamp":%q,"sourceType":"CRM_UI"}`, v, ms(d))
	}
	for _, tc := range []struct {
		name    string
		value   string // the property in Raw, as JSON; "" for absent
		history string // its propertiesWithHistory entries, as JSON
		want    int    // ms from Modified
		none    bool   // no time for the property
	}{
		{"the newest value", `"x"`, "[" + entry("x", -5) + "," + entry("w", -9) + "]", -5, false},
		{"order does not matter", `"x"`, "[" + entry("w", -9) + "," + entry("x", -5) + "]", -5, false},
		{"set at Modified", `"x"`, "[" + entry("x", 0) + "]", 0, false},
		{"an edit after the read is not this value's time", `"x"`, "[" + entry("y", 3) + "," + entry("x", -5) + "]", -5, false},
		{"cleared: null", `null`, "[" + entry("", -2) + "," + entry("x", -5) + "]", -2, false},
		{"cleared: absent", ``, "[" + entry("", -2) + "]", -2, false},
		{"two values in one millisecond", `"b"`, "[" + entry("a", -1) + "," + entry("b", -1) + "]", -1, false},
		{"history disagrees with Raw", `"z"`, "[" + entry("x", -5) + "]", 0, true},
		{"no history", `"x"`, `[]`, 0, true},
		{"bad timestamp", `"x"`, `[{"value":"x","timestamp":"soon","sourceType":"API"}]`, 0, true},
		{"only later values", `"x"`, "[" + entry("x", 7) + "]", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			props := `{}`
			if tc.value != "" {
				props = `{"p":` + tc.value + `}`
			}
			rec := tandem.Record{ID: "1", Raw: []byte(`{"id":"1","properties":` + props + `}`), Modified: mod}
			setFieldTimes(&rec, gjson.Parse(`{"id":"1","propertiesWithHistory":{"p":`+tc.history+`}}`), []string{"p", "other"})
			got, ok := rec.FieldTimes["properties.p"]
			switch {
			case tc.none:
				if rec.FieldTimes != nil {
					t.Errorf("FieldTimes %v, want none", rec.FieldTimes)
				}
			case !ok || !got.Equal(mod.Add(time.Duration(tc.want)*time.Millisecond)) || len(rec.FieldTimes) != 1:
				t.Errorf("FieldTimes %v, want properties.p at %s", rec.FieldTimes, ms(tc.want))
			}
		})
	}
}
