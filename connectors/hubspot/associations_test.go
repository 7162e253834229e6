package hubspot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
	"tandem/connectors/hubspot/hubspottest"
)

var companyFields = []string{"properties.email", "properties.firstname", "associations.companies"}

func pullCompanies(t *testing.T, c *Client, after tandem.Cursor) map[string]gjson.Result {
	got, _ := pullCompaniesPages(t, c, after)
	return got
}

// pullCompaniesPages is pullCompanies, also counting the pages with
// records.
func pullCompaniesPages(t *testing.T, c *Client, after tandem.Cursor) (map[string]gjson.Result, int) {
	t.Helper()
	got := map[string]gjson.Result{}
	pages := 0
	err := c.Pull(context.Background(), tandem.Query{Object: "contacts", Fields: companyFields, After: after}, func(p tandem.Page) error {
		if len(p.Records) > 0 {
			pages++
		}
		for _, r := range p.Records {
			got[r.ID] = gjson.GetBytes(r.Raw, "associations.companies")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	return got, pages
}

// A contact's primary company is read with it: its id, or null for none.
// An unlabeled association alone is no primary.
func TestPullReadsPrimaryCompany(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Now: newStepClock().Now})
	defer srv.Close()
	c := open(t, srv, "page_size: 2\n")
	acme, _ := srv.Create("companies", map[string]any{"name": "Acme"})
	beta, _ := srv.Create("companies", map[string]any{"name": "Beta"})
	var ids []string
	for i := 0; i < 5; i++ {
		id, _ := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("c%d@x.com", i)})
		ids = append(ids, id)
	}
	must(t, srv.Associate(ids[0], acme, true))
	must(t, srv.Associate(ids[1], acme, false)) // unlabeled only
	must(t, srv.Associate(ids[2], beta, true))
	must(t, srv.Associate(ids[2], acme, false)) // a second, unlabeled company
	srv.ResetRequests()

	got, pages := pullCompaniesPages(t, c, "")
	want := map[string]string{ids[0]: acme, ids[1]: "", ids[2]: beta, ids[3]: "", ids[4]: ""}
	for id, w := range want {
		g, ok := got[id]
		if !ok || (w == "" && g.Type != gjson.Null) || (w != "" && (g.Type != gjson.String || g.Str != w)) {
			t.Errorf("contact %s: associations.companies %s (present %v), want %q", id, g.Raw, ok, w)
		}
	}
	// One associations read per page.
	var reads int
	for _, q := range srv.Requests() {
		if strings.HasPrefix(q.Path, "/crm/v4/associations/contacts/companies/batch/read") {
			reads++
		}
	}
	if reads != pages || pages < 3 {
		t.Errorf("%d association reads for %d pages", reads, pages)
	}

	// Fetch reads it too.
	recs, err := c.Fetch(context.Background(), tandem.Query{Object: "contacts", Fields: companyFields}, []string{ids[0], ids[3]})
	if err != nil || len(recs) != 2 {
		t.Fatalf("fetch: %v %+v", err, recs)
	}
	for _, r := range recs {
		if g := gjson.GetBytes(r.Raw, "associations.companies"); (r.ID == ids[0] && g.Str != acme) || (r.ID == ids[3] && g.Type != gjson.Null) {
			t.Errorf("fetched %s: %s", r.ID, g.Raw)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Moving a contact's primary company is seen by the next incremental pull:
// HubSpot changes its associatedcompanyid, so its modified date moves.
func TestPullSeesCompanyMove(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Now: newStepClock().Now})
	defer srv.Close()
	c := open(t, srv, "lookback: 0s\n")
	acme, _ := srv.Create("companies", map[string]any{"name": "Acme"})
	beta, _ := srv.Create("companies", map[string]any{"name": "Beta"})
	ann, _ := srv.Create("contacts", map[string]any{"email": "ann@x.com"})
	must(t, srv.Associate(ann, acme, true))
	var cur tandem.Cursor
	err := c.Pull(context.Background(), tandem.Query{Object: "contacts", Fields: companyFields}, func(p tandem.Page) error { cur = p.Cursor; return nil })
	must(t, err)
	must(t, srv.Associate(ann, beta, true))
	if got := pullCompanies(t, c, cur); got[ann].Str != beta {
		t.Errorf("after the move: %v", got)
	}
}

func assocWrite(op tandem.Op, id, props, company string) tandem.Write {
	p := `{"properties":` + props + `,"associations":{"companies":` + company + `}}`
	if props == "" {
		p = `{"associations":{"companies":` + company + `}}`
	}
	return tandem.Write{Op: op, ID: id, Key: "k-" + id + props, Payload: []byte(p)}
}

func TestApplyWritesPrimaryCompany(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Now: newStepClock().Now, UniqueProperties: map[string][]string{"contacts": {"tandem_id"}}})
	defer srv.Close()
	c := open(t, srv, "")
	acme, _ := srv.Create("companies", map[string]any{"name": "Acme"})
	beta, _ := srv.Create("companies", map[string]any{"name": "Beta"})
	other, _ := srv.Create("companies", map[string]any{"name": "Other"})
	ann, _ := srv.Create("contacts", map[string]any{"email": "ann@x.com"})
	bob, _ := srv.Create("contacts", map[string]any{"email": "bob@x.com"})
	cat, _ := srv.Create("contacts", map[string]any{"email": "cat@x.com"})
	must(t, srv.Associate(ann, acme, true))
	must(t, srv.Associate(ann, other, false)) // someone else's association: left alone
	must(t, srv.Associate(bob, acme, true))
	must(t, srv.Associate(cat, acme, true))
	annBefore, _ := srv.Get("contacts", ann)
	srv.ResetRequests()

	res := apply(t, c, "contacts",
		assocWrite(tandem.OpUpdate, ann, "", `"`+beta+`"`),                     // move, nothing else
		assocWrite(tandem.OpUpdate, bob, `{"firstname":"Bob"}`, `null`),        // clear, with a property
		assocWrite(tandem.OpUpdate, cat, `{"firstname":"Cat"}`, `"`+acme+`"`),  // unchanged
		assocWrite(tandem.OpCreate, "", `{"email":"dan@x.com"}`, `"`+beta+`"`), // a new contact, at a company
		assocWrite(tandem.OpCreate, "", `{"email":"eve@x.com"}`, `"777777"`),   // a company that does not exist
		assocWrite(tandem.OpUpdate, ann, "", `"not an id"`),                    // not an id
	)
	for i := 0; i < 4; i++ {
		if res[i].Err != nil || res[i].ID == "" {
			t.Fatalf("write %d: %+v", i, res[i])
		}
	}
	dan := res[3].ID
	if got := srv.Associations("contacts", ann); !slices.Equal(got[beta], []int{1, 279}) || got[acme] != nil || !slices.Equal(got[other], []int{279}) {
		t.Errorf("ann moved: %v", got)
	}
	if got := srv.Associations("contacts", bob); len(got) != 0 {
		t.Errorf("bob cleared: %v", got)
	}
	if got := srv.Associations("contacts", cat); !slices.Equal(got[acme], []int{1, 279}) {
		t.Errorf("cat unchanged: %v", got)
	}
	if got := srv.Associations("contacts", dan); !slices.Equal(got[beta], []int{1, 279}) {
		t.Errorf("dan created at beta: %v", got)
	}
	// The result's record shows what was written.
	if g := gjson.GetBytes(res[3].Record.Raw, "associations.companies"); g.Str != beta {
		t.Errorf("create result: %s", res[3].Record.Raw)
	}
	// A target that does not exist fails that write alone, for good, and
	// is no "record not found": the contact itself was written.
	var te *tandem.Error
	if !errors.As(res[4].Err, &te) || te.Retryable || errors.Is(res[4].Err, tandem.ErrNotFound) || !strings.Contains(te.Message, "777777") || res[4].ID == "" {
		t.Errorf("a missing company: %+v", res[4])
	}
	if res[5].Err == nil || tandem.IsRetryable(res[5].Err) {
		t.Errorf("a bad id: %+v", res[5])
	}
	// An update of the association alone sends no batch/update.
	for _, q := range srv.Requests() {
		if q.Path == "/crm/v3/objects/contacts/batch/update" && strings.Contains(string(q.Body), `"`+ann+`"`) {
			t.Errorf("batch/update sent for an association-only write: %s", q.Body)
		}
	}
	if o, _ := srv.Get("contacts", ann); o.Properties["associatedcompanyid"] != beta || !o.UpdatedAt.After(annBefore.UpdatedAt) {
		t.Errorf("ann: associatedcompanyid %q", o.Properties["associatedcompanyid"])
	}

	// Pulled back, every contact shows what was written.
	got := pullCompanies(t, c, "")
	for id, w := range map[string]string{ann: beta, bob: "", cat: acme, dan: beta} {
		if g := got[id]; (w == "" && g.Type != gjson.Null) || (w != "" && g.Str != w) {
			t.Errorf("pulled %s: %s, want %q", id, g.Raw, w)
		}
	}
}

// Writes go in HubSpot's batch sizes: 100 association creates or archives
// a call, 1,000 reads.
func TestApplyAssociationBatches(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Now: newStepClock().Now})
	defer srv.Close()
	c := open(t, srv, "")
	acme, _ := srv.Create("companies", map[string]any{"name": "Acme"})
	beta, _ := srv.Create("companies", map[string]any{"name": "Beta"})
	var writes []tandem.Write
	for i := 0; i < 150; i++ {
		id, _ := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("c%d@x.com", i)})
		must(t, srv.Associate(id, acme, true))
		writes = append(writes, assocWrite(tandem.OpUpdate, id, "", `"`+beta+`"`))
	}
	srv.ResetRequests()
	for i, r := range apply(t, c, "contacts", writes...) {
		if r.Err != nil {
			t.Fatalf("write %d: %v", i, r.Err)
		}
	}
	calls := map[string][]int{}
	for _, q := range srv.Requests() {
		calls[q.Path] = append(calls[q.Path], int(gjson.GetBytes(q.Body, "inputs.#").Int()))
	}
	base := "/crm/v4/associations/contacts/companies/batch/"
	if !slices.Equal(calls[base+"read"], []int{150}) || !slices.Equal(calls[base+"create"], []int{100, 50}) || !slices.Equal(calls[base+"archive"], []int{100, 50}) || len(calls) != 3 {
		t.Errorf("calls: %v", calls)
	}
	if got := srv.Associations("companies", beta); len(got) != 150 {
		t.Errorf("%d contacts at beta", len(got))
	}
}

// Paths the connector cannot map are errors that say why.
func TestAssociationPaths(t *testing.T) {
	for _, tc := range []struct {
		object string
		fields []string
		ok     bool
	}{
		{"contacts", []string{"associations.companies"}, true},
		{"companies", []string{"associations.contacts"}, false},
		{"contacts", []string{"associations.deals"}, false},
		{"contacts", []string{"associations"}, false},
		{"contacts", []string{"associations.companies.id"}, false},
	} {
		_, err := associationTargets(tc.object, tc.fields)
		if (err == nil) != tc.ok {
			t.Errorf("%s %v: %v", tc.object, tc.fields, err)
		}
		if _, err := searchProperties(tc.object, tc.fields); err != nil {
			t.Errorf("searchProperties %v: %v", tc.fields, err)
		}
	}
	_, _, errs := splitAssociations("contacts", []tandem.Write{
		{Op: tandem.OpUpdate, ID: "1", Payload: []byte(`{"associations":{"companies":"12"}}`)},
		{Op: tandem.OpUpdate, ID: "1", Payload: []byte(`{"associations":{"deals":"12"}}`)},
		{Op: tandem.OpUpdate, ID: "1", Payload: []byte(`{"associations":"12"}`)},
		{Op: tandem.OpUpdate, ID: "1", Payload: []byte(`{"associations":{"companies":{"id":"12"}}}`)},
		{Op: tandem.OpUpdate, ID: "1", Payload: []byte(`{"associations":{"companies":12}}`)},
	})
	for i, want := range []bool{true, false, false, false, true} {
		if (errs[i] == nil) != want {
			t.Errorf("write %d: %v", i, errs[i])
		}
	}
}

// tandem doctor finds associations.companies among a contact's fields.
func TestDescribeListsAssociations(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{})
	defer srv.Close()
	c := open(t, srv, "")
	for object, want := range map[string]bool{"contacts": true, "companies": false} {
		fields, err := c.Describe(context.Background(), object)
		must(t, err)
		found := slices.ContainsFunc(fields, func(f connectors.FieldInfo) bool { return f.Path == "associations.companies" })
		if found != want {
			t.Errorf("%s: associations.companies listed %v", object, found)
		}
	}
}

// Should HubSpot refuse a whole association batch for one company that
// does not exist (a 400, where the emulator answers a 207), the inputs go
// again one by one: the good ones are made, the bad one fails alone.
func TestAssociationBatchRefusedWhole(t *testing.T) {
	em := hubspottest.New(hubspottest.Options{Now: newStepClock().Now})
	sent := 0
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if strings.HasSuffix(r.URL.Path, "/associations/contacts/companies/batch/create") {
			sent++
			if bytes.Contains(body, []byte(`"777777"`)) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"status":"error","message":"Invalid association","correlationId":"x","category":"VALIDATION_ERROR"}`)
				return
			}
		}
		em.ServeHTTP(w, r)
	}))
	defer front.Close()
	c, err := testClient(t, "type: hubspot\nbase_url: "+front.URL+"\ntoken: test-token\n")
	must(t, err)
	acme, _ := em.Create("companies", map[string]any{"name": "Acme"})
	var writes []tandem.Write
	var ids []string
	for i := 0; i < 3; i++ {
		id, _ := em.Create("contacts", map[string]any{"email": fmt.Sprintf("c%d@x.com", i)})
		ids = append(ids, id)
		company := `"` + acme + `"`
		if i == 1 {
			company = `"777777"`
		}
		writes = append(writes, assocWrite(tandem.OpUpdate, id, "", company))
	}
	res := apply(t, c, "contacts", writes...)
	if res[0].Err != nil || res[2].Err != nil || res[1].Err == nil || tandem.IsRetryable(res[1].Err) {
		t.Fatalf("results: %+v", res)
	}
	if sent != 4 {
		t.Errorf("%d association creates, want the batch and 3 alone", sent)
	}
	for _, i := range []int{0, 2} {
		if got := em.Associations("contacts", ids[i]); !slices.Equal(got[acme], []int{1, 279}) {
			t.Errorf("contact %d: %v", i, got)
		}
	}
}
