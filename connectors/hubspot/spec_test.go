package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/hubspot/internal/spectest"
)

// TestRequestsConformToSpec checks every request the connector sends
// against HubSpot's published spec, the fields it marks required included
// (the emulator is more forgiving there, as HubSpot itself may be).
func TestRequestsConformToSpec(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Now: newStepClock().Now})
	defer srv.Close()
	spec := spectest.New(t, srv.URL)
	c := open(t, srv, "page_size: 2\n")
	for _, email := range []string{"a@x.com", "b@x.com", "c@x.com"} {
		srv.Create("contacts", map[string]any{"email": email})
	}
	srv.Create("companies", map[string]any{"name": "Acme"})
	for _, object := range []string{"contacts", "companies"} {
		if err := c.Pull(context.Background(), tandem.Query{Object: object, Fields: []string{"id", "properties.email", "properties.name"}}, func(tandem.Page) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	// Deletes (the recycle bin listing), property history and Fetch.
	srv.Delete("contacts", srv.List("contacts")[2].ID)
	hist := open(t, srv, "page_size: 2\nproperty_history: true\n")
	q := tandem.Query{Object: "contacts", Fields: []string{"id", "properties.email", "properties.firstname"}}
	if err := hist.Pull(context.Background(), q, func(tandem.Page) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*Client{c, hist} {
		if _, err := f.Fetch(context.Background(), q, []string{srv.List("contacts")[0].ID, "404"}); err != nil {
			t.Fatal(err)
		}
	}
	// Describe reads the properties API, which the spec does not cover:
	// the checker skips that exchange (see spectest.Checker.Check).
	if _, err := c.Describe(context.Background(), "contacts"); err != nil {
		t.Fatal(err)
	}
	id := srv.List("contacts")[0].ID
	apply(t, c, "contacts",
		create(`{"properties":{"email":"new@x.com","firstname":null}}`),
		update(id, `{"properties":{"firstname":"A","phone":7}}`),
		update("404", `{"properties":{}}`),
		tandem.Write{Op: tandem.OpDelete, ID: id})
	reqs := srv.Requests()
	if len(reqs) < 6 {
		t.Fatalf("only %d requests", len(reqs))
	}
	kinds := map[string]bool{}
	for _, r := range reqs {
		kinds[r.Method+" "+r.Path+" history="+fmt.Sprint(strings.Contains(string(r.Body), `"propertiesWithHistory":["`))] = true
	}
	for _, k := range []string{"GET /crm/v3/objects/contacts history=false", "POST /crm/v3/objects/contacts/batch/read history=true", "POST /crm/v3/objects/contacts/batch/read history=false"} {
		if !kinds[k] {
			t.Errorf("no %s request was checked (got %v)", k, kinds)
		}
	}
	for _, r := range reqs {
		url := srv.URL + r.Path
		if r.RawQuery != "" {
			url += "?" + r.RawQuery
		}
		if err := spec.Check(spectest.Exchange{Method: r.Method, URL: url, Header: http.Header{"Content-Type": {"application/json"}}, Body: r.Body}); err != nil {
			t.Error(err)
		}
	}
	if spec.Skipped() != 1 {
		t.Errorf("%d requests skipped, want the one properties read", spec.Skipped())
	}
}

// TestTieSearchesConformToSpec checks the searches that page a run of
// ties (modified EQ a time and hs_object_id GT an id, sorted by id; the
// rest of the run OR what follows, two filter groups) against the spec.
func TestTieSearchesConformToSpec(t *testing.T) {
	clk := &fixedClock{}
	clk.Set(newStepClock().Now())
	srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
	defer srv.Close()
	spec := spectest.New(t, srv.URL)
	for i := range 7 {
		srv.Create("contacts", map[string]any{"email": fmt.Sprintf("t%d@x.com", i)})
	}
	c := open(t, srv, "page_size: 2\n")
	// An incremental pull from the start: full reads use the list.
	if err := c.Pull(context.Background(), tandem.Query{Object: "contacts", After: searchFromStart, Fields: []string{"id", "properties.email"}}, func(tandem.Page) error { return nil }); err != nil {
		t.Fatal(err)
	}
	shapes := map[string]bool{}
	for _, r := range srv.Requests() {
		if !strings.HasSuffix(r.Path, "/search") {
			continue
		}
		body := string(r.Body)
		shapes[fmt.Sprint(strings.Contains(body, `"hs_object_id"`), strings.Count(body, `"filters"`))] = true
		if err := spec.Check(spectest.Exchange{Method: r.Method, URL: srv.URL + r.Path, Header: http.Header{"Content-Type": {"application/json"}}, Body: r.Body}); err != nil {
			t.Error(err)
		}
	}
	if !shapes["true 1"] || !shapes["true 2"] {
		t.Errorf("the searches by id (one group) and for the rest of a run (two groups) were not both made: %v", shapes)
	}
}
