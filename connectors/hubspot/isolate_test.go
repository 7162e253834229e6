package hubspot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
)

// batchCalls lists the write requests the emulator got: path tail and
// number of inputs, with the status.
func batchCalls(srv *hubspottest.Server) []string {
	var out []string
	for _, q := range srv.Requests() {
		if strings.Contains(q.Path, "/batch/") {
			out = append(out, fmt.Sprintf("%s:%d:%d", q.Path[strings.LastIndex(q.Path, "/")+1:], gjson.GetBytes(q.Body, "inputs.#").Int(), q.Status))
		}
	}
	return out
}

// checkIsolated wants every write but bad done, and bad failed
// permanently with an error that names its key and has want in it.
func checkIsolated(t *testing.T, writes []tandem.Write, res []tandem.Result, bad map[int]string) {
	t.Helper()
	for i, r := range res {
		want, isBad := bad[i]
		switch {
		case isBad:
			var te *tandem.Error
			if !errors.As(r.Err, &te) || tandem.IsRetryable(r.Err) || !strings.Contains(r.Err.Error(), want) {
				t.Errorf("bad write %d: %v, want a permanent error with %q", i, r.Err, want)
			}
		case r.Err != nil:
			t.Errorf("good write %d (%s) failed with a bad neighbour: %v", i, writes[i].Payload, r.Err)
		}
	}
}

// TestPartialBatchCreates: one malformed email among 100 creates makes
// HubSpot refuse the whole batch/upsert; every input sets email, so the
// batch is bisected down to it, and the 99 others are created, once each.
func TestPartialBatchCreates(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{})
	defer srv.Close()
	c := open(t, srv, emailUpsert)
	var writes []tandem.Write
	for i := 0; i < 100; i++ {
		email := fmt.Sprintf("p%d@example.com", i)
		if i == 37 {
			email = "p37-at-example.com"
		}
		writes = append(writes, create(fmt.Sprintf(`{"properties":{"email":%q,"firstname":"P"}}`, email)))
	}
	res := apply(t, c, "contacts", writes...)
	checkIsolated(t, writes, res, map[int]string{37: "p37-at-example.com"})
	var te *tandem.Error
	if errors.As(res[37].Err, &te); te == nil || te.Status != 400 || te.Code != "VALIDATION_ERROR" || !strings.HasPrefix(te.Message, "p37-at-example.com: ") {
		t.Errorf("the bad create's error: %#v", res[37].Err)
	}
	if n := len(srv.List("contacts")); n != 99 {
		t.Errorf("%d contacts, want 99", n)
	}
	calls := batchCalls(srv)
	if len(calls) > 1+14 {
		t.Errorf("%d calls to isolate one bad input of 100: %v", len(calls), calls)
	}
	for _, call := range calls {
		if !strings.HasPrefix(call, "upsert:") {
			t.Errorf("a create went through %s; creates are only ever upserts", call)
		}
	}
	// Every input carried a trace id, unique in its batch.
	for _, q := range srv.Requests() {
		seen := map[string]bool{}
		for _, in := range gjson.GetBytes(q.Body, "inputs").Array() {
			id := in.Get("objectWriteTraceId").String()
			if id == "" || seen[id] {
				t.Fatalf("input without a unique objectWriteTraceId: %s", in.Raw)
			}
			seen[id] = true
		}
	}
}

// TestPartialBatchNarrowed: HubSpot names the property whose value it
// refused; the updates that do not set it go again at once as one batch,
// and only those that set it are bisected. A property the portal lacks
// condemns every update that sets it, with no more calls.
func TestPartialBatchNarrowed(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{Properties: map[string][]hubspottest.Property{
		"contacts": {{Name: "tier", Type: "enumeration", Options: []string{"gold", "silver"}}},
	}})
	defer srv.Close()
	c := open(t, srv, "")
	var writes []tandem.Write
	bad := map[int]string{}
	for i := 0; i < 100; i++ {
		id, _ := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@example.com", i)})
		props := fmt.Sprintf(`"firstname":"N%d"`, i)
		switch {
		case i == 50:
			props += `,"tier":"platinum"`
			bad[i] = "platinum was not one of the allowed options"
		case i%20 == 0:
			props += `,"tier":"gold"`
		case i == 71 || i == 72:
			props += `,"favourite_colour":"blue"`
			bad[i] = `Property "favourite_colour" does not exist`
		}
		writes = append(writes, update(id, `{"properties":{`+props+`}}`))
	}
	srv.ResetRequests()
	res := apply(t, c, "contacts", writes...)
	checkIsolated(t, writes, res, bad)
	calls := batchCalls(srv)
	// The refused batch; the 92 that set neither property; the 6 tier
	// suspects bisected (3 + 3, then the bad half 1 + 2, then 1 + 1).
	if len(calls) > 8 || calls[1] != "update:92:200" {
		t.Errorf("calls %v, want the refusal, then the 92 innocents at once, then a few to find the bad tier", calls)
	}
	for i, w := range writes {
		if _, isBad := bad[i]; isBad {
			continue
		}
		o, _ := srv.Get("contacts", w.ID)
		if o.Properties["firstname"] != fmt.Sprintf("N%d", i) {
			t.Errorf("write %d not made: %v", i, o.Properties)
		}
	}
}

// TestPartialBatchConflict: an update that takes another record's unique
// email makes HubSpot refuse the batch with 409; it alone fails, with
// ErrConflict, and the rest are written.
func TestPartialBatchConflict(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{})
	defer srv.Close()
	c := open(t, srv, "")
	var ids []string
	for i := 0; i < 40; i++ {
		id, _ := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@example.com", i)})
		ids = append(ids, id)
	}
	var writes []tandem.Write
	for i, id := range ids {
		p := fmt.Sprintf(`{"properties":{"firstname":"N%d"}}`, i)
		if i == 9 {
			p = `{"properties":{"email":"p30@example.com"}}`
		}
		writes = append(writes, update(id, p))
	}
	res := apply(t, c, "contacts", writes...)
	checkIsolated(t, writes, res, map[int]string{9: "already exists"})
	if !errors.Is(res[9].Err, tandem.ErrConflict) {
		t.Errorf("the conflicting update: %v, want ErrConflict", res[9].Err)
	}
}

// refusingPortal stands in front of an emulator and refuses batches
// itself when refuse says so, with the body it returns.
func refusingPortal(t *testing.T, srv *hubspottest.Server, refuse func(body []byte) (int, string)) (*Client, *int) {
	var mu sync.Mutex
	calls := 0
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if strings.Contains(r.URL.Path, "/batch/") {
			mu.Lock()
			calls++
			mu.Unlock()
			if status, reply := refuse(body); status != 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				w.Write([]byte(reply))
				return
			}
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	c, err := testClient(t, "type: hubspot\ntoken: test-token\nbase_url: "+hs.URL+"\n")
	if err != nil {
		t.Fatal(err)
	}
	return c, &calls
}

// TestPartialBatchNamedInputs: when HubSpot's 400 names the inputs at
// fault (by objectWriteTraceId, or by id in context.ids), they fail and
// the rest go again in one call.
func TestPartialBatchNamedInputs(t *testing.T) {
	for _, by := range []string{"objectWriteTraceId", "ids"} {
		t.Run(by, func(t *testing.T) {
			srv := hubspottest.NewServer(hubspottest.Options{})
			defer srv.Close()
			var writes []tandem.Write
			for i := 0; i < 100; i++ {
				id, _ := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@example.com", i)})
				name := "ok"
				if i == 3 || i == 64 {
					name = "BAD"
				}
				writes = append(writes, update(id, `{"properties":{"firstname":"`+name+`"}}`))
			}
			c, calls := refusingPortal(t, srv, func(body []byte) (int, string) {
				field := "objectWriteTraceId"
				if by == "ids" {
					field = "id"
				}
				var named []string
				for _, in := range gjson.GetBytes(body, "inputs").Array() {
					if in.Get("properties.firstname").String() == "BAD" {
						named = append(named, fmt.Sprintf("%q", in.Get(field).String()))
					}
				}
				if len(named) == 0 {
					return 0, ""
				}
				return 400, `{"status":"error","message":"Some inputs are invalid","correlationId":"c0ffee00-0000-4000-8000-000000000000","category":"VALIDATION_ERROR",` +
					`"errors":[{"message":"firstname BAD is not allowed","code":"INVALID","context":{"` + by + `":[` + strings.Join(named, ",") + `]}}]}`
			})
			res := apply(t, c, "contacts", writes...)
			checkIsolated(t, writes, res, map[int]string{3: "firstname BAD is not allowed", 64: "firstname BAD is not allowed"})
			if *calls != 2 {
				t.Errorf("%d calls, want the refused one and one more with the 98 others", *calls)
			}
		})
	}
}

// TestRefusedRequest: a refusal that names nothing and comes back alike
// for both halves of the batch is the request's fault (here a non-unique
// idProperty): every write fails with it after three calls, not two
// hundred.
func TestRefusedRequest(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{})
	defer srv.Close()
	c, calls := refusingPortal(t, srv, func([]byte) (int, string) {
		return 400, `{"status":"error","message":"Unable to perform update/upsert by non-unique 0-1 property email in portal ID 1","correlationId":"c0ffee00-0000-4000-8000-000000000000","category":"VALIDATION_ERROR"}`
	})
	var writes []tandem.Write
	bad := map[int]string{}
	for i := 0; i < 100; i++ {
		w := create(fmt.Sprintf(`{"properties":{"email":"p%d@example.com"}}`, i))
		w.Key = fmt.Sprintf("e-%d", i)
		writes = append(writes, w)
		bad[i] = "non-unique"
	}
	res := apply(t, c, "contacts", writes...)
	checkIsolated(t, writes, res, bad)
	if *calls != 3 {
		t.Errorf("%d calls, want 3", *calls)
	}
}

// TestIsolationBudget: many bad inputs whose refusals name nothing cost
// at most maxIsolationCalls more calls per batch; what is still undecided
// then is retryable, never set aside, and the next Apply of it goes on.
func TestIsolationBudget(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{})
	defer srv.Close()
	n := 0
	c, calls := refusingPortal(t, srv, func(body []byte) (int, string) {
		for _, in := range gjson.GetBytes(body, "inputs").Array() {
			if strings.HasPrefix(in.Get("properties.firstname").String(), "bad") {
				n++ // a different message each time: no request-level refusal
				return 400, fmt.Sprintf(`{"status":"error","message":"refusal %d","correlationId":"c0ffee00-0000-4000-8000-000000000000","category":"VALIDATION_ERROR"}`, n)
			}
		}
		return 0, ""
	})
	var writes []tandem.Write
	isBad := map[int]bool{}
	for i := 0; i < 100; i++ {
		id, _ := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@example.com", i)})
		name := "good"
		if i%4 == 1 {
			name, isBad[i] = "bad", true
		}
		writes = append(writes, update(id, `{"properties":{"firstname":"`+name+`"}}`))
	}
	for round := 0; len(writes) > 0; round++ {
		if round == 10 {
			t.Fatalf("%d writes still undecided after 10 rounds", len(writes))
		}
		*calls = 0
		res := apply(t, c, "contacts", writes...)
		if *calls > 1+maxIsolationCalls {
			t.Errorf("round %d: %d calls for one batch", round, *calls)
		}
		var again []tandem.Write
		var againBad = map[int]bool{}
		for i, r := range res {
			switch {
			case r.Err == nil && isBad[i]:
				t.Errorf("round %d: bad write %d done", round, i)
			case r.Err != nil && !isBad[i] && !tandem.IsRetryable(r.Err):
				t.Errorf("round %d: good write %d set aside: %v", round, i, r.Err)
			case tandem.IsRetryable(r.Err):
				if !strings.Contains(r.Err.Error(), "sent again on the next pass") {
					t.Errorf("round %d: write %d: %v", round, i, r.Err)
				}
				againBad[len(again)] = isBad[i]
				again = append(again, writes[i])
			}
		}
		if round == 0 && len(again) == 0 {
			t.Errorf("25 bad inputs of 100 were isolated within the budget; the test wants it spent")
		}
		writes, isBad = again, againBad
	}
}

// TestPartialBatchVerdictOnNobody: a refusal that names a property no
// input sets tells nothing; the batch is bisected, not sent again whole.
func TestPartialBatchVerdictOnNobody(t *testing.T) {
	srv := hubspottest.NewServer(hubspottest.Options{})
	defer srv.Close()
	c, calls := refusingPortal(t, srv, func(body []byte) (int, string) {
		for _, in := range gjson.GetBytes(body, "inputs").Array() {
			if in.Get("properties.firstname").String() == "BAD" {
				return 400, `{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"nope\",\"error\":\"INVALID_OPTION\",\"name\":\"hs_calculated\"}]","correlationId":"c0ffee00-0000-4000-8000-000000000000","category":"VALIDATION_ERROR"}`
			}
		}
		return 0, ""
	})
	var writes []tandem.Write
	for i := 0; i < 100; i++ {
		id, _ := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%d@example.com", i)})
		name := "ok"
		if i == 42 {
			name = "BAD"
		}
		writes = append(writes, update(id, `{"properties":{"firstname":"`+name+`"}}`))
	}
	res := apply(t, c, "contacts", writes...)
	checkIsolated(t, writes, res, map[int]string{42: "nope"})
	if *calls > 1+14 {
		t.Errorf("%d calls to bisect 100 inputs down to one", *calls)
	}
}
