package hubspottest

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"tandem/connectors/hubspot/internal/spectest"
)

// conformance sends requests to a running emulator and checks each
// request and response against HubSpot's spec.
type conformance struct {
	t       *testing.T
	srv     *Server
	spec    *spectest.Checker
	token   string // default test-token
	checked int
}

func (c *conformance) send(method, path string, body string) gjson.Result {
	c.t.Helper()
	return c.exchange(method, path, body, false)
}

// sendInvalid sends a request the spec rejects, to check the error reply.
func (c *conformance) sendInvalid(method, path string, body string) gjson.Result {
	c.t.Helper()
	return c.exchange(method, path, body, true)
}

func (c *conformance) exchange(method, path string, body string, invalid bool) gjson.Result {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.srv.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	token := c.token
	if token == "" {
		token = "test-token"
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	_, respBody, err := c.spec.Do(http.DefaultClient, req, invalid)
	if err != nil {
		c.t.Error(err)
	}
	c.checked++
	return gjson.ParseBytes(respBody)
}

func TestSpecConformance(t *testing.T) {
	srv := NewServer(Options{})
	defer srv.Close()
	c := &conformance{t: t, srv: srv, spec: spectest.New(t, srv.URL)}

	for _, object := range []string{"contacts", "companies"} {
		base := prefix + object
		key, other := "email", "firstname"
		if object == "companies" {
			key, other = "domain", "name"
		}
		val := func(i int) string {
			if object == "contacts" {
				return fmt.Sprintf("p%d@example.com", i)
			}
			return fmt.Sprintf("p%d.example.com", i)
		}
		created := c.send("POST", base+"/batch/create", fmt.Sprintf(`{"inputs":[
			{"properties":{%q:%q,%q:"One"},"associations":[]},
			{"properties":{%q:%q,%q:"Two","lifecyclestage":"lead"},"associations":[]},
			{"properties":{%q:%q},"associations":[]}]}`, key, val(1), other, key, val(2), other, key, val(3)))
		first := created.Get("results.#.id").Array()[2].String()
		single := c.send("POST", base, fmt.Sprintf(`{"properties":{%q:%q},"associations":[]}`, key, val(4)))
		c.send("PATCH", base+"/"+single.Get("id").String(), `{"properties":{"city":"Oslo","phone":""}}`)
		page := c.send("GET", base+"?limit=2&properties="+key+",phone,nosuch", "")
		c.send("GET", base+"?limit=2&after="+page.Get("paging.next.after").String(), "")
		c.send("GET", base+"/"+first+"?properties="+key+",city", "")
		c.send("GET", base+"/404", "")
		search := fmt.Sprintf(`{"filterGroups":[{"filters":[{"propertyName":"createdate","operator":"GTE","value":"0"},{"propertyName":%q,"operator":"HAS_PROPERTY"}]},
			{"filters":[{"propertyName":"hs_object_id","operator":"IN","values":[%q]}]}],
			"sorts":[{"propertyName":"createdate","direction":"ASCENDING"}],"properties":[%q],"limit":2,"after":"%%s"}`, key, first, key)
		res := c.send("POST", base+"/search", fmt.Sprintf(search, "0"))
		c.send("POST", base+"/search", fmt.Sprintf(search, res.Get("paging.next.after").String()))
		c.send("POST", base+"/search", `{"filterGroups":[],"sorts":["createdate"],"properties":[],"limit":200,"after":"9900"}`)
		c.send("POST", base+"/batch/read", fmt.Sprintf(`{"inputs":[{"id":%q},{"id":"404"}],"properties":[%q],"propertiesWithHistory":[]}`, first, key))
		c.send("POST", base+"/batch/update", fmt.Sprintf(`{"inputs":[{"id":%q,"properties":{%q:"Uno"}},{"id":"404","properties":{%q:"x"}}]}`, first, other, other))
		c.send("POST", base+"/batch/update", fmt.Sprintf(`{"inputs":[{"id":%q,"properties":{"no_such_property":"x"}}]}`, first))
		c.send("POST", base+"/batch/read?archived=true", `{"inputs":[],"properties":[],"propertiesWithHistory":[]}`)
		// Property history: batch read, single read, list; and the 400
		// for reading more than 50 records with history.
		hist := c.send("POST", base+"/batch/read", fmt.Sprintf(`{"inputs":[{"id":%q},{"id":"404"}],"properties":[%q],"propertiesWithHistory":[%q,%q,"nosuch"]}`, first, key, key, other))
		if n := len(hist.Get("results.0.propertiesWithHistory." + other).Array()); n != 2 {
			t.Errorf("%s: %d history entries of %s after a create and an update, want 2: %s", object, n, other, hist.Raw)
		}
		c.send("GET", base+"/"+first+"?properties="+key+"&propertiesWithHistory="+other+",phone", "")
		c.send("GET", base+"?limit=50&propertiesWithHistory="+key, "")
		c.send("GET", base+"?limit=51&propertiesWithHistory="+key, "")
		var many []string
		for i := 0; i < 51; i++ {
			many = append(many, fmt.Sprintf(`{"id":"%d"}`, 1000+i))
		}
		c.send("POST", base+"/batch/read", `{"inputs":[`+strings.Join(many, ",")+`],"properties":[],"propertiesWithHistory":[`+strconv.Quote(key)+`]}`)
		if object == "contacts" {
			c.send("POST", base+"/batch/upsert", fmt.Sprintf(`{"inputs":[{"id":%q,"idProperty":"email","properties":{"firstname":"Again"}},{"id":"p9@example.com","idProperty":"email","properties":{"firstname":"Nine"}}]}`, strings.ToUpper(val(1))))
			c.send("POST", base+"/batch/create", fmt.Sprintf(`{"inputs":[{"properties":{"email":%q},"associations":[]}]}`, val(2)))
			c.send("GET", base+"/"+val(2)+"?idProperty=email", "")
		} else {
			c.send("POST", base+"/batch/upsert", fmt.Sprintf(`{"inputs":[{"id":%q,"idProperty":"hs_object_id","properties":{"name":"Again"}},{"id":"404","idProperty":"hs_object_id","properties":{"name":"x"}}]}`, first))
			// A contact created with its company (the spec's
			// AssociationSpec), and one refused for a company that is not.
			c.send("POST", prefix+"contacts", fmt.Sprintf(`{"properties":{"email":"assoc@example.com"},"associations":[{"to":{"id":%q},"types":[{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":1}]}]}`, first))
			c.send("POST", prefix+"contacts/batch/create", `{"inputs":[{"properties":{"email":"assoc2@example.com"},"associations":[{"to":{"id":"404"},"types":[{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":279}]}]}]}`)
			// Reads with ?associations=.
			got := c.send("GET", base+"/"+first+"?associations=contacts,deals", "")
			if got.Get("associations.contacts.results.#").Int() != 2 {
				t.Errorf("company read with its contacts: %s", got.Raw)
			}
			c.send("GET", base+"?limit=5&associations=contacts", "")
		}
		c.send("POST", base+"/batch/archive", fmt.Sprintf(`{"inputs":[{"id":%q}]}`, first))
		c.send("DELETE", base+"/"+single.Get("id").String(), "")
		// The recycle bin, as a pull lists it: archived, archivedAt, paging.
		bin := c.send("GET", base+"?archived=true&limit=1&properties="+key+",lastmodifieddate", "")
		if r := bin.Get("results.0"); !r.Get("archived").Bool() || r.Get("archivedAt").String() == "" || !bin.Get("paging.next.after").Exists() {
			t.Errorf("%s: recycle bin page: %s", object, bin.Raw)
		}
		c.send("GET", base+"?archived=true&limit=1&after="+bin.Get("paging.next.after").String(), "")
		c.sendInvalid("POST", base+"/search", `{"filterGroups":[],"sorts":[],"properties":[],"limit":10,`)
		// The properties API has no spec here: the checker skips it.
		c.send("GET", "/crm/v3/properties/"+object, "")
	}
	if n := c.spec.Skipped(); n != 2 {
		t.Errorf("%d exchanges skipped for want of a spec, want the 2 properties reads", n)
	}

	// Errors from before routing: a bad token and a full rate window.
	limited := NewServer(Options{RateLimit: RateLimit{Requests: 1}})
	defer limited.Close()
	lc := &conformance{t: t, srv: limited, spec: spectest.New(t, limited.URL)}
	lc.send("GET", prefix+"contacts", "")
	if r := lc.send("GET", prefix+"contacts", ""); r.Get("errorType").String() != "RATE_LIMIT" {
		t.Errorf("expected a 429: %s", r.Raw)
	}
	lc.token = "wrong"
	lc.send("GET", prefix+"contacts", "")

	statuses := map[int]int{}
	for _, r := range append(srv.Requests(), limited.Requests()...) {
		statuses[r.Status]++
	}
	for _, want := range []int{200, 201, 204, 207, 400, 401, 404, 409, 429} {
		if statuses[want] == 0 {
			t.Errorf("the sequence produced no %d response to check (got %v)", want, statuses)
		}
	}
	t.Logf("%d exchanges checked against the spec; statuses %v", c.checked+lc.checked-c.spec.Skipped(), statuses)
}
