package hubspot

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
)

// FuzzAssociations: an associations batch/read answer HubSpot never sent
// does not panic, ends within a few calls (paging that goes nowhere
// stops), and fails with a *tandem.Error, or gives each record fetched
// associations.companies as null or a record id.
func FuzzAssociations(f *testing.F) {
	for _, s := range []string{
		`{"status":"COMPLETE","results":[{"from":{"id":"51"},"to":[{"toObjectId":9001,"associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":1,"label":"Primary"},{"category":"HUBSPOT_DEFINED","typeId":279,"label":null}]}]}],"startedAt":"2024-05-06T07:08:10Z","completedAt":"2024-05-06T07:08:10Z"}`,
		`{"status":"COMPLETE","results":[],"numErrors":1,"errors":[{"status":"error","category":"OBJECT_NOT_FOUND","subCategory":"crm.associations.NO_ASSOCIATIONS_FOUND","message":"No company is associated with contact 51.","context":{"fromObjectId":["51"]}}]}`,
		`{"results":[{"from":{"id":"51"},"to":[{"toObjectId":"x","associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":1}]}],"paging":{"next":{"after":"1"}}}]}`,
		`{"results":[{"from":{"id":"51"},"to":[{"toObjectId":{},"associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":1}]}]}]}`,
		`{"results":[],"errors":[{"category":"VALIDATION_ERROR","message":"bad"}]}`,
		`{"results":"none"}`, `null`, ``, `[]`,
	} {
		f.Add([]byte(s))
	}
	var mu sync.Mutex
	var body []byte
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		if strings.HasPrefix(r.URL.Path, "/crm/v4/associations/") {
			w.Write(body)
			return
		}
		w.Write([]byte(`{"status":"COMPLETE","results":[{"id":"51","properties":{"email":"a@example.com"},"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-05-06T07:08:09.123Z","archived":false}]}`))
	}))
	f.Cleanup(srv.Close)
	c := fuzzClient(f, "base_url: "+srv.URL+"\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		mu.Lock()
		body, calls = b, 0
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		recs, err := c.Fetch(ctx, tandem.Query{Object: "contacts", Fields: []string{"properties.email", "associations.companies"}}, []string{"51"})
		mu.Lock()
		n := calls
		mu.Unlock()
		if n > maxAssocPages+1 {
			t.Fatalf("%d calls: paging does not stop", n)
		}
		checkErr(t, err)
		for _, r := range recs {
			v := gjson.GetBytes(r.Raw, "associations.companies")
			if v.Type != gjson.Null && (v.Type != gjson.String || v.Str == "" || strings.Trim(v.Str, "0123456789") != "") {
				t.Fatalf("record %s: associations.companies %s", r.ID, v.Raw)
			}
		}
	})
}
