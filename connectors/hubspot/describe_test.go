package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
	"tandem/connectors/hubspot/hubspottest"
)

func fieldsByPath(fs []connectors.FieldInfo) map[string]connectors.FieldInfo {
	m := map[string]connectors.FieldInfo{}
	for _, f := range fs {
		m[f.Path] = f
	}
	return m
}

func TestDescribe(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Now: newStepClock().Now, Properties: map[string][]hubspottest.Property{"contacts": {
		{Name: "tier", Type: "enumeration", Options: []string{"gold", "silver"}, Label: "Tier"},
		{Name: "tags", Type: "enumeration", FieldType: "checkbox", Options: []string{"a", "b"}},
		{Name: "birthday", Type: "date"},
		{Name: "vip", Type: "bool"},
	}}})
	defer srv.Close()
	c := open(t, srv, "")
	var conn connectors.Connector = c
	d, ok := conn.(connectors.Describer)
	if !ok {
		t.Fatal("the HubSpot connector is not a Describer")
	}
	fields, err := d.Describe(context.Background(), "contacts")
	if err != nil {
		t.Fatal(err)
	}
	byPath := fieldsByPath(fields)
	if len(byPath) != len(fields) {
		t.Errorf("a path is listed twice: %+v", fields)
	}
	for _, want := range []connectors.FieldInfo{
		{Path: "id", Label: "Record ID", Type: "string", ReadOnly: true},
		{Path: "createdAt", Label: "Created at", Type: "datetime", ReadOnly: true},
		{Path: "updatedAt", Label: "Updated at", Type: "datetime", ReadOnly: true},
		{Path: "archived", Label: "Archived", Type: "bool", ReadOnly: true},
		{Path: "properties.email", Label: "Email", Type: "string"},
		{Path: "properties.phone", Label: "Phone Number", Type: "string"},
		{Path: "properties.createdate", Label: "Create Date", Type: "datetime", ReadOnly: true},
		{Path: "properties.lastmodifieddate", Label: "Last Modified Date", Type: "datetime", ReadOnly: true},
		{Path: "properties.hs_object_id", Label: "Record ID", Type: "number", ReadOnly: true},
		{Path: "properties.lifecyclestage", Label: "Lifecycle Stage", Type: "enumeration",
			Options: []string{"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist", "other"}},
		{Path: "properties.tier", Label: "Tier", Type: "enumeration", Options: []string{"gold", "silver"}},
		{Path: "properties.tags", Label: "tags", Type: "enumeration", Options: []string{"a", "b"}},
		{Path: "properties.birthday", Label: "birthday", Type: "date"},
		{Path: "properties.vip", Label: "vip", Type: "bool", Options: []string{"true", "false"}},
	} {
		got, ok := byPath[want.Path]
		if !ok {
			t.Errorf("no %s in %d fields", want.Path, len(fields))
			continue
		}
		if got.Label != want.Label || got.Type != want.Type || got.ReadOnly != want.ReadOnly || !slices.Equal(got.Options, want.Options) {
			t.Errorf("%s: %+v, want %+v", want.Path, got, want)
		}
	}
	if _, ok := byPath["properties.numberofemployees"]; ok {
		t.Errorf("a company property among the contact fields")
	}

	// Every described path reads a record as Pull delivers it.
	srv.Create("contacts", map[string]any{"email": "a@x.com", "tier": "gold", "birthday": "2024-05-01", "vip": true})
	var paths []string
	for _, f := range fields {
		if f.Path != "archivedAt" { // only archived records have one
			paths = append(paths, f.Path)
		}
	}
	var recs []tandem.Record
	if err := c.Pull(context.Background(), tandem.Query{Object: "contacts", Fields: paths}, func(p tandem.Page) error {
		recs = append(recs, p.Records...)
		return nil
	}); err != nil || len(recs) != 1 {
		t.Fatalf("pull: %v, %d records", err, len(recs))
	}
	for _, p := range paths {
		if !gjson.GetBytes(recs[0].Raw, p).Exists() {
			t.Errorf("described path %s is not in the pulled record %s", p, recs[0].Raw)
		}
	}

	// Companies, by type id as well as by name.
	for _, object := range []string{"companies", "0-2"} {
		fields, err := c.Describe(context.Background(), object)
		if f := fieldsByPath(fields)["properties.numberofemployees"]; err != nil || f.Type != "number" || f.ReadOnly {
			t.Errorf("describe %s: %v, numberofemployees %+v", object, err, f)
		}
	}
	reqs := srv.Requests()
	if r := reqs[0]; r.Method != "GET" || r.Path != "/crm/v3/properties/contacts" || r.RawQuery != "archived=false" || r.Status != 200 {
		t.Errorf("request %+v", r)
	}
}

func TestDescribeErrors(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Token: "the-right-token"})
	defer srv.Close()
	ctx := context.Background()

	bad, err := testClient(t, "type: hubspot\nbase_url: "+srv.URL+"\ntoken: pat-na1-WRONG-TOKEN\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Describe(ctx, "contacts")
	var te *tandem.Error
	if !errors.As(err, &te) || te.Status != 401 || te.Code != "INVALID_AUTHENTICATION" || te.System != "hs" || tandem.IsRetryable(err) {
		t.Errorf("bad token: %#v", err)
	}
	if err == nil || !strings.HasPrefix(err.Error(), "hs: describe contacts: HTTP 401") || strings.Contains(err.Error(), "WRONG-TOKEN") {
		t.Errorf("bad token error reads %v", err)
	}

	good, err := testClient(t, "type: hubspot\nbase_url: "+srv.URL+"\ntoken: the-right-token\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = good.Describe(ctx, "deals")
	if !errors.As(err, &te) || !errors.Is(err, tandem.ErrNotFound) || te.Status != 400 || tandem.IsRetryable(err) || !strings.Contains(err.Error(), "deals") {
		t.Errorf("unknown object: %#v", err)
	}
	n := len(srv.Requests())
	if _, err := good.Describe(ctx, "contacts/../x"); err == nil || len(srv.Requests()) != n {
		t.Errorf("an object with a slash: %v, sent anyway", err)
	}
}

// TestDescribeRetries: Describe rides the shared client, so a 503 is
// retried like any other call's.
func TestDescribeRetries(t *testing.T) {
	e := hubspottest.New(hubspottest.Options{})
	var failed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failed.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "<html>maintenance</html>")
			return
		}
		e.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := testClient(t, "type: hubspot\nbase_url: "+srv.URL+"\ntoken: test-token\n")
	if err != nil {
		t.Fatal(err)
	}
	fields, err := c.Describe(context.Background(), "contacts")
	if err != nil || len(fields) < 10 || failed.Load() != 3 {
		t.Fatalf("through two 503s: %v, %d fields, %d attempts", err, len(fields), failed.Load())
	}
}
