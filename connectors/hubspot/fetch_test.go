package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
)

// fetchIDs runs one Fetch and returns the ids of its records, sorted.
func fetchIDs(t *testing.T, c *Client, ids []string) ([]tandem.Record, []string) {
	t.Helper()
	recs, err := c.Fetch(context.Background(), tandem.Query{Object: "contacts", Fields: contactFields}, ids)
	if err != nil {
		t.Fatalf("fetch %d ids: %v", len(ids), err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.ID)
	}
	slices.SortFunc(got, compareIDs)
	return recs, got
}

func TestFetch(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Now: newStepClock().Now})
	defer srv.Close()
	var live []string
	for i := 0; i < 230; i++ {
		id, err := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%03d@example.com", i), "firstname": fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		live = append(live, id)
	}
	archived := live[:5]
	for _, id := range archived {
		srv.Delete("contacts", id)
	}
	live = live[5:]
	c := open(t, srv, "")

	for _, tc := range []struct {
		name   string
		ids    []string
		want   []string
		inputs []int // inputs of each batch/read, in order
	}{
		{"none", nil, nil, nil},
		{"one", live[:1], live[:1], []int{1}},
		{"more than one batch", live, live, []int{100, 100, 25}},
		{"missing ids are left out", []string{"999999", live[7], "x"}, live[7:8], []int{3}},
		{"archived ids are left out", append(slices.Clone(archived), live[9]), live[9:10], []int{6}},
		{"repeated and empty ids are read once", []string{live[3], "", live[3], live[4]}, live[3:5], []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.ResetRequests()
			_, got := fetchIDs(t, c, tc.ids)
			if !slices.Equal(got, tc.want) {
				t.Errorf("fetched %d records %v..., want %d", len(got), got[:min(3, len(got))], len(tc.want))
			}
			var inputs []int
			for _, r := range srv.Requests() {
				if r.Path != "/crm/v3/objects/contacts/batch/read" || r.Status/100 != 2 {
					t.Errorf("unexpected request %s %s %d", r.Method, r.Path, r.Status)
				}
				inputs = append(inputs, len(gjson.GetBytes(r.Body, "inputs").Array()))
				if p := gjson.GetBytes(r.Body, "properties").Raw; p != `["lastmodifieddate","email","firstname"]` {
					t.Errorf("properties asked: %s", p)
				}
			}
			if !slices.Equal(inputs, tc.inputs) {
				t.Errorf("batch/read inputs %v, want %v", inputs, tc.inputs)
			}
		})
	}

	// Records are built as Pull builds them.
	recs, _ := fetchIDs(t, c, live[:1])
	r := recs[0]
	obj, _ := srv.Get("contacts", r.ID)
	raw := gjson.ParseBytes(r.Raw)
	if raw.Get("id").String() != r.ID || raw.Get("properties.email").String() != obj.Properties["email"] || raw.Get("archived").Type != gjson.False ||
		!r.Modified.Equal(obj.UpdatedAt) || r.Deleted || r.FieldTimes != nil {
		t.Errorf("fetched record %+v: %s", r, r.Raw)
	}
}

// TestFetchSetsAsideUnreadable (issue 17, item 1): one record of a
// batch/read that cannot be parsed comes back in a *tandem.RejectedError,
// named by its id, beside the records that can; it does not fail them.
func TestFetchSetsAsideUnreadable(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"status":"COMPLETE","results":[{"id":"1","properties":{},"updatedAt":"2024-05-06T07:08:09Z"},{"id":"2","properties":{}}]}`))
	}))
	defer hs.Close()
	c, err := testClient(t, "type: hubspot\ntoken: t\nbase_url: "+hs.URL+"\n")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := c.Fetch(context.Background(), tandem.Query{Object: "contacts"}, []string{"1", "2"})
	var rej *tandem.RejectedError
	if !errors.As(err, &rej) || len(rej.Rejected) != 1 || rej.Rejected[0].ID != "2" || !strings.Contains(rej.Rejected[0].Reason, "updatedAt (missing)") {
		t.Fatalf("error %v, want record 2 set aside for its missing updatedAt", err)
	}
	if len(recs) != 1 || recs[0].ID != "1" {
		t.Fatalf("records %v, want record 1 beside the one set aside", recs)
	}
}

func TestFetchErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		want      string
		retryable bool
	}{
		{"server error", 503, `{"status":"error","message":"down","category":"INTERNAL_ERROR"}`, "HTTP 503", true},
		{"rate limited", 429, `{"status":"error","message":"slow down","errorType":"RATE_LIMIT"}`, "RATE_LIMIT", true},
		{"bad request", 400, `{"status":"error","message":"bad","category":"VALIDATION_ERROR"}`, "VALIDATION_ERROR", false},
		{"not a batch response", 200, `<html>`, "not a list of results", false},
		{"another error in a 207", 207, `{"status":"COMPLETE","results":[],"errors":[{"status":"error","category":"INTERNAL_ERROR","message":"boom"}]}`, "INTERNAL_ERROR: boom", false},
		{"record not asked for, without updatedAt", 200, `{"status":"COMPLETE","results":[{"id":"9","properties":{}}]}`, "record 9: updatedAt (missing)", false},
		{"record without an id", 200, `{"status":"COMPLETE","results":[{"properties":{},"updatedAt":"2024-05-06T07:08:09Z"}]}`, "record without an id", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer hs.Close()
			c, err := testClient(t, "type: hubspot\ntoken: t\nbase_url: "+hs.URL+"\n")
			if err != nil {
				t.Fatal(err)
			}
			recs, err := c.Fetch(context.Background(), tandem.Query{Object: "contacts"}, []string{"1"})
			var te *tandem.Error
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.want) || tandem.IsRetryable(err) != tc.retryable || recs != nil {
				t.Errorf("error %v (retryable %v), want one with %q, retryable %v", err, tandem.IsRetryable(err), tc.want, tc.retryable)
			}
		})
	}
	srv := hubspottest.NewServer(hubspottest.Options{})
	defer srv.Close()
	c := open(t, srv, "")
	for _, q := range []tandem.Query{{Object: ""}, {Object: "contacts/1"}, {Object: "contacts", Fields: []string{"email"}}} {
		if _, err := c.Fetch(context.Background(), q, []string{"1"}); err == nil {
			t.Errorf("fetch %+v: no error", q)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("bad queries reached HubSpot: %d requests", n)
	}
}
