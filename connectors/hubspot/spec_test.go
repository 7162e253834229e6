package hubspot

import (
	"context"
	"net/http"
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
