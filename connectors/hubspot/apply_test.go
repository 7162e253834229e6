package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
)

func create(payload string) tandem.Write {
	return tandem.Write{Op: tandem.OpCreate, Key: "entity", Payload: []byte(payload)}
}

func update(id, payload string) tandem.Write {
	return tandem.Write{Op: tandem.OpUpdate, ID: id, Payload: []byte(payload)}
}

func apply(t *testing.T, c *Client, object string, writes ...tandem.Write) []tandem.Result {
	t.Helper()
	res, err := c.Apply(context.Background(), object, writes)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(res) != len(writes) {
		t.Fatalf("%d results for %d writes", len(res), len(writes))
	}
	return res
}

func prop(r tandem.Result, name string) string {
	if r.Record == nil {
		return "<no record>"
	}
	return gjson.GetBytes(r.Record.Raw, "properties."+name).String()
}

// TestCreateRetryMakesNoDuplicate: the same creates sent twice, as after a
// crash between HubSpot's answer and the checkpoint, leave one record each.
func TestCreateRetryMakesNoDuplicate(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{})
	defer srv.Close()
	c := open(t, srv, emailUpsert)
	writes := []tandem.Write{
		create(`{"properties":{"email":"Ann@Example.com","firstname":"Ann"}}`),
		create(`{"properties":{"email":"bob@example.com","firstname":"Bob","lifecyclestage":"lead"}}`),
		create(`{"properties":{"email":"cid@example.com","firstname":"Cid"}}`),
	}
	first := apply(t, c, "contacts", writes...)
	second := apply(t, c, "contacts", writes...)
	for i := range writes {
		if first[i].Err != nil || second[i].Err != nil {
			t.Fatalf("write %d: %v / %v", i, first[i].Err, second[i].Err)
		}
		if first[i].ID == "" || first[i].ID != second[i].ID {
			t.Errorf("write %d: created %q, retry answered %q", i, first[i].ID, second[i].ID)
		}
		email := strings.ToLower(gjson.GetBytes(writes[i].Payload, "properties.email").String())
		if prop(first[i], "email") != email || first[i].Record.ID != first[i].ID || first[i].Record.Modified.IsZero() {
			t.Errorf("write %d (%s) got result %+v", i, email, first[i].Record)
		}
	}
	if n := len(srv.List("contacts")); n != 3 {
		t.Errorf("%d contacts after a repeated create, want 3", n)
	}
	for _, q := range srv.Requests() {
		if q.Path != "/crm/v3/objects/contacts/batch/upsert" {
			t.Errorf("a create used %s; only batch/upsert is safe to repeat", q.Path)
		}
	}
}

// TestCreateSameKeyTwice: two creates for one email in one call are one
// input (HubSpot refuses duplicates in a batch) and share the result.
func TestCreateSameKeyTwice(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{})
	defer srv.Close()
	c := open(t, srv, emailUpsert)
	res := apply(t, c, "contacts",
		create(`{"properties":{"email":"dup@example.com","firstname":"One"}}`),
		create(`{"properties":{"email":"other@example.com"}}`),
		create(`{"properties":{"email":" DUP@example.com","lastname":"Two"}}`))
	if res[0].Err != nil || res[0].ID != res[2].ID || res[0].ID == res[1].ID {
		t.Fatalf("results %+v", res)
	}
	if prop(res[0], "firstname") != "One" || prop(res[0], "lastname") != "Two" {
		t.Errorf("merged create: %s", res[0].Record.Raw)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || gjson.GetBytes(reqs[0].Body, "inputs.#").Int() != 2 {
		t.Errorf("requests: %+v", reqs)
	}
}

func TestCreateNeedsIDProperty(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{})
	defer srv.Close()
	c := open(t, srv, emailUpsert+"key_property: ''\n")
	res := apply(t, c, "companies", create(`{"properties":{"name":"Acme"}}`))
	if err := res[0].Err; err == nil || tandem.IsRetryable(err) || !strings.Contains(err.Error(), "id_property") || !strings.Contains(err.Error(), "idempotent") {
		t.Errorf("create without an id property configured: %v", err)
	}
	res = apply(t, c, "contacts", create(`{"properties":{"firstname":"No email"}}`), create(`{"properties":{"email":"ok@example.com"}}`))
	if err := res[0].Err; err == nil || tandem.IsRetryable(err) || !strings.Contains(err.Error(), "properties.email") {
		t.Errorf("create without its id property value: %v", err)
	}
	if res[1].Err != nil {
		t.Errorf("the good create failed with its neighbour: %v", res[1].Err)
	}
	if srv.Writes() != 1 || len(srv.List("companies")) != 0 {
		t.Errorf("%d write requests, want 1 (only the good create)", srv.Writes())
	}

	// With a unique property configured, companies can be created too.
	srv2 := hubspottest.NewServer(hubspottest.Options{UniqueProperties: map[string][]string{"companies": {"tandem_key"}}})
	defer srv2.Close()
	c2 := open(t, srv2, "id_property: {companies: tandem_key}\n")
	for i := 0; i < 2; i++ {
		res = apply(t, c2, "companies", create(`{"properties":{"name":"Acme","tandem_key":"e-1","numberofemployees":12}}`))
		if res[0].Err != nil || prop(res[0], "numberofemployees") != "12" {
			t.Fatalf("round %d: %+v", i, res[0])
		}
	}
	if n := len(srv2.List("companies")); n != 1 {
		t.Errorf("%d companies, want 1", n)
	}
}

// TestUpdates: a missing id fails alone and permanently; results are matched
// by id although HubSpot (and the emulator) return them out of order;
// batches hold at most 100; a property the portal lacks fails only the
// write that sets it, and the 99 others of its batch go through.
func TestUpdates(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{})
	defer srv.Close()
	c := open(t, srv, "")
	var ids []string
	for i := 0; i < 250; i++ {
		id, err := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@example.com", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var writes []tandem.Write
	for i, id := range ids {
		writes = append(writes, update(id, fmt.Sprintf(`{"properties":{"firstname":"name-%d","phone":null,"numberish":null}}`, i)))
		if i == 120 {
			writes = append(writes, update("999999", `{"properties":{"firstname":"ghost"}}`))
		}
	}
	// numberish is not a contact property: drop it from all but one write.
	for i := range writes {
		if i != 5 {
			writes[i].Payload = []byte(strings.Replace(string(writes[i].Payload), `,"numberish":null`, "", 1))
		}
	}
	res, err := c.Apply(context.Background(), "contacts", writes)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range writes {
		r := res[i]
		switch {
		case w.ID == "999999":
			var te *tandem.Error
			if !errors.Is(r.Err, tandem.ErrNotFound) || tandem.IsRetryable(r.Err) || !errors.As(r.Err, &te) || te.Code != "OBJECT_NOT_FOUND" || !strings.Contains(te.Message, "999999") {
				t.Errorf("update of a missing id: %v", r.Err)
			}
		case i == 5:
			// HubSpot refused the whole first batch for this one input.
			var te *tandem.Error
			if !errors.As(r.Err, &te) || tandem.IsRetryable(r.Err) || te.Status != 400 || te.Code != "VALIDATION_ERROR" ||
				!strings.Contains(te.Message, w.ID+": ") || !strings.Contains(te.Message, "numberish") {
				t.Errorf("write %d with an unknown property: %v", i, r.Err)
			}
		default:
			want := gjson.GetBytes(w.Payload, "properties.firstname").String()
			if r.Err != nil || r.ID != w.ID || r.Record == nil || r.Record.ID != w.ID || prop(r, "firstname") != want {
				t.Fatalf("write %d to %s: got %+v (firstname %q, want %q)", i, w.ID, r, prop(r, "firstname"), want)
			}
		}
	}
	// The first batch is refused (400) and sent again without write 5
	// (HubSpot names the property, and only write 5 sets it); the second
	// holds the missing id (207); the third is plain.
	reqs := srv.Requests()
	var statuses []int
	for _, q := range reqs {
		statuses = append(statuses, q.Status)
		if n := gjson.GetBytes(q.Body, "inputs.#").Int(); n > 100 {
			t.Errorf("batch of %d", n)
		}
	}
	if fmt.Sprint(statuses) != "[400 200 207 200]" || gjson.GetBytes(reqs[1].Body, "inputs.#").Int() != 99 {
		t.Errorf("statuses %v, want [400 200 207 200] with 99 inputs sent again", statuses)
	}
	if o, _ := srv.Get("contacts", ids[200]); o.Properties["firstname"] != "name-200" {
		t.Errorf("not written: %v", o.Properties)
	}
	if o, _ := srv.Get("contacts", ids[6]); o.Properties["firstname"] != "name-6" {
		t.Errorf("a good write of the refused batch was not written: %v", o.Properties)
	}
}

func TestPayloadConversion(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{})
	defer srv.Close()
	c := open(t, srv, "")
	id, _ := srv.Create("companies", map[string]any{"name": "Acme", "city": "Oslo", "industry": "x"})
	res := apply(t, c, "companies",
		update(id, `{"properties":{"city":null,"numberofemployees":42,"annualrevenue":1.5e3,"industry":true}}`),
		update(id, `{"properties":{"name":{"first":"A"}}}`),
		update("", `{"properties":{}}`),
		update(id, `{"name":"no properties object"}`),
		tandem.Write{Op: "merge", ID: id})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	o, _ := srv.Get("companies", id)
	if _, set := o.Properties["city"]; set || o.Properties["numberofemployees"] != "42" || o.Properties["annualrevenue"] != "1.5e3" || o.Properties["industry"] != "true" {
		t.Errorf("stored %v", o.Properties)
	}
	for i, want := range []string{"", "properties.name is {", "without a record id", `payload must be {"properties"`, `unknown write op "merge"`} {
		if i == 0 {
			continue
		}
		if err := res[i].Err; err == nil || tandem.IsRetryable(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("write %d: %v, want a permanent error with %q", i, err, want)
		}
	}
	if srv.Writes() != 1 {
		t.Errorf("%d write requests; bad writes should not be sent", srv.Writes())
	}
}

// TestMixedWrites: kinds keep their order (create, update it, delete it)
// and deletes of records already gone succeed.
func TestMixedWrites(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{})
	defer srv.Close()
	c := open(t, srv, emailUpsert)
	gone, _ := srv.Create("contacts", map[string]any{"email": "gone@example.com"})
	srv.Delete("contacts", gone)
	keep, _ := srv.Create("contacts", map[string]any{"email": "keep@example.com"})
	res := apply(t, c, "contacts", create(`{"properties":{"email":"new@example.com"}}`))
	newID := res[0].ID
	res = apply(t, c, "contacts",
		update(newID, `{"properties":{"firstname":"Changed"}}`),
		tandem.Write{Op: tandem.OpDelete, ID: newID},
		tandem.Write{Op: tandem.OpDelete, ID: gone},
		tandem.Write{Op: tandem.OpDelete, ID: newID},
		update(keep, `{"properties":{"firstname":"Kept"}}`))
	for i, r := range res {
		if r.Err != nil {
			t.Errorf("write %d: %v", i, r.Err)
		}
	}
	if res[1].ID != newID || res[2].ID != gone {
		t.Errorf("delete results %+v", res[1:4])
	}
	if o, _ := srv.Get("contacts", newID); !o.Archived || o.Properties["firstname"] != "Changed" {
		t.Errorf("update then delete: %+v", o)
	}
	var paths []string
	for _, q := range srv.Requests()[1:] {
		paths = append(paths, q.Path[strings.LastIndex(q.Path, "/")+1:]+fmt.Sprint(gjson.GetBytes(q.Body, "inputs.#").Int()))
	}
	if strings.Join(paths, " ") != "update1 archive2 update1" {
		t.Errorf("calls %v, want update1 archive2 update1", paths)
	}
}

func TestApplyCancelled(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{})
	defer srv.Close()
	c := open(t, srv, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := c.Apply(ctx, "contacts", []tandem.Write{update("1", `{"properties":{}}`), {Op: tandem.OpDelete, ID: "2"}})
	if err == nil || len(res) != 2 || res[0].Err == nil || res[1].Err == nil {
		t.Errorf("cancelled apply: %v %+v", err, res)
	}
}

// TestServerErrors: a 5xx that outlives the HTTP client's retries fails
// its batch as retryable, and the Apply goes on; one that passes is retried.
func TestServerErrors(t *testing.T) {
	emu := hubspottest.New(hubspottest.Options{})
	id, _ := emu.Create("contacts", map[string]any{"email": "a@x.com"})
	failures := 0
	var mu sync.Mutex
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fail := failures > 0
		if fail {
			failures--
		}
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte(`<html>bad gateway</html>`))
			return
		}
		emu.ServeHTTP(w, r)
	}))
	defer hs.Close()
	c, err := testClient(t, "type: hubspot\ntoken: test-token\nbase_url: "+hs.URL+"\n")
	if err != nil {
		t.Fatal(err)
	}
	setFailures := func(n int) {
		mu.Lock()
		defer mu.Unlock()
		failures = n
	}
	setFailures(1) // the first attempt fails, the retry succeeds
	res := apply(t, c, "contacts", update(id, `{"properties":{"firstname":"A"}}`))
	if res[0].Err != nil || prop(res[0], "firstname") != "A" {
		t.Errorf("after one 502: %+v", res[0])
	}
	setFailures(100) // every attempt fails
	res = apply(t, c, "contacts", update(id, `{"properties":{"firstname":"B"}}`), tandem.Write{Op: tandem.OpDelete, ID: id})
	for i, r := range res {
		var te *tandem.Error
		if !errors.As(r.Err, &te) || te.Status != 502 || !tandem.IsRetryable(r.Err) {
			t.Errorf("write %d: %v, want a retryable 502", i, r.Err)
		}
	}
}

// TestApplyStopsWhileCircuitOpen: once HubSpot has failed enough calls in
// a row for the shared client's circuit to open, the rest of an Apply is
// not sent: every write left gets the retryable error at once, and Apply
// returns it.
func TestApplyStopsWhileCircuitOpen(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Faults: hubspottest.Faults{Rate: 1, Kinds: []hubspottest.Fault{hubspottest.Fault503}}})
	defer srv.Close()
	ho := connectorsTestHTTP
	ho.BreakerFailures = 2
	c, err := newClient(config(t, "type: hubspot\ntoken: test-token\nbase_url: "+srv.URL+"\n"), ho)
	if err != nil {
		t.Fatal(err)
	}
	var writes []tandem.Write
	for i := 0; i < 450; i++ {
		writes = append(writes, update(fmt.Sprint(1000+i), `{"properties":{"firstname":"A"}}`))
	}
	res, err := c.Apply(context.Background(), "contacts", writes)
	var te *tandem.Error
	if !errors.As(err, &te) || te.Code != "CIRCUIT_OPEN" || !tandem.IsRetryable(err) {
		t.Fatalf("apply: %v, want the retryable CIRCUIT_OPEN", err)
	}
	for i, r := range res {
		if !tandem.IsRetryable(r.Err) {
			t.Fatalf("write %d: %v, want retryable", i, r.Err)
		}
	}
	if n := len(srv.Requests()); n != 2*(1+4) {
		t.Errorf("%d requests, want the two batches that opened the circuit, 5 attempts each", n)
	}
	if h := c.Health(); h.Breaker != "open" {
		t.Errorf("health: %+v", h)
	}
}

// emailUpsert is the config of the tests of creates keyed on a property of
// the payload (id_property), the email here, rather than on Tandem's key.
const emailUpsert = "id_property: {contacts: email}\n"

// TestCreateByKeyProperty: by default a create is an upsert by Tandem's
// key property, set to Write.Key. Sent again after a lost answer, it lands
// on the record the first try made even though a person changed the email
// meanwhile; a create whose email another record holds is refused with
// HubSpot's 409, read as a tandem.ExistsError naming that record.
func TestCreateByKeyProperty(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{UniqueProperties: map[string][]string{"contacts": {"tandem_id"}}})
	defer srv.Close()
	c := open(t, srv, "")
	if got := c.KeyPath("contacts"); got != "properties.tandem_id" {
		t.Errorf("KeyPath = %q", got)
	}
	ann := tandem.Write{Op: tandem.OpCreate, Key: "e-ann", Payload: []byte(`{"properties":{"email":"ann@example.com","firstname":"Ann"}}`)}
	first := apply(t, c, "contacts", ann)
	if first[0].Err != nil || prop(first[0], "tandem_id") != "e-ann" {
		t.Fatalf("create: %+v", first[0])
	}
	if err := srv.Update("contacts", first[0].ID, map[string]any{"email": "ann.lee@example.com"}); err != nil {
		t.Fatal(err)
	}
	again := apply(t, c, "contacts", ann)
	if again[0].Err != nil || again[0].ID != first[0].ID {
		t.Errorf("the create sent again after the email changed: %+v, want record %s", again[0], first[0].ID)
	}
	if n := len(srv.List("contacts")); n != 1 {
		t.Errorf("%d contacts, want 1", n)
	}
	recs, err := c.FetchKeys(context.Background(), tandem.Query{Object: "contacts", Fields: []string{"properties.email"}}, []string{"e-ann", "e-none"})
	if err != nil || len(recs) != 1 || recs[0].ID != first[0].ID || gjson.GetBytes(recs[0].Raw, "properties.email").String() != "ann@example.com" {
		// (the create sent again wrote its email back: why the engine
		// reads by key before it sends a create again)
		t.Errorf("FetchKeys: %v %+v, want record %s", err, recs, first[0].ID)
	}

	bobID, err := srv.Create("contacts", map[string]any{"email": "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	res := apply(t, c, "contacts",
		tandem.Write{Op: tandem.OpCreate, Key: "e-bob", Payload: []byte(`{"properties":{"email":"Bob@Example.com","firstname":"Bob"}}`)},
		tandem.Write{Op: tandem.OpCreate, Key: "e-cid", Payload: []byte(`{"properties":{"email":"cid@example.com"}}`)})
	var x *tandem.ExistsError
	if !errors.As(res[0].Err, &x) || x.RecordID != bobID || x.Path != "properties.email" || !errors.Is(res[0].Err, tandem.ErrConflict) || tandem.IsRetryable(res[0].Err) {
		t.Errorf("a create whose email is taken: %v (%+v), want an ExistsError naming %s", res[0].Err, x, bobID)
	}
	if res[1].Err != nil {
		t.Errorf("the good create failed with its neighbour: %v", res[1].Err)
	}
	if b, _ := srv.Get("contacts", bobID); b.Properties["firstname"] != "" {
		t.Errorf("the person's record was written: %v", b.Properties)
	}

	// An update onto another record's email is refused alike.
	res = apply(t, c, "contacts", update(first[0].ID, `{"properties":{"email":"bob@example.com"}}`))
	if !errors.As(res[0].Err, &x) || x.RecordID != bobID {
		t.Errorf("an update onto a taken email: %v", res[0].Err)
	}
}
