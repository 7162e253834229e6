package salesforce

import (
	"context"
	"errors"
	"testing"
	"time"

	"tandem"
)

// FuzzApply: Apply, answered with collection results Salesforce never
// sent (to its upserts, updates and deletes), never panics, settles every
// write, and reports a write done only as a Salesforce record: for an
// update or a delete the one it names (or its 18-character form), for a
// create a Salesforce id; failures are *tandem.Errors. Seeds: the f.Add
// calls; CI runs it for a bounded count (.ci/run).
func FuzzApply(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{200, `[{"id":"003000000000101AAA","success":true,"errors":[],"created":true},{"id":"003000000000102AAA","success":true,"errors":[],"created":false}]`},
		{200, `[{"id":"003000000000001AAA","success":true,"errors":[]},{"success":false,"errors":[{"statusCode":"ENTITY_IS_DELETED","message":"entity is deleted","fields":[]}]}]`},
		{200, `[{"id":"003000000000003AAA","success":false,"errors":[{"statusCode":"ENTITY_IS_DELETED","message":"entity is deleted","fields":[]}]}]`},
		{200, `[{"id":"003000000000009AAA","success":true},{"id":5,"success":true}]`},
		{200, `[{"id":{"a":1},"success":true},{"id":"","success":"true"}]`},
		{200, `[{"success":true},{"id":"003000000000002","success":true}]`},
		{200, `[]`}, {200, `{}`}, {200, ``}, {200, `[null,1]`},
		{400, `[{"message":"bad","errorCode":"JSON_PARSER_ERROR"}]`},
	} {
		f.Add(s.status, []byte(s.body))
	}
	c, answer := fuzzOrg(f, "/composite/sobjects")
	writes := []tandem.Write{
		{Op: tandem.OpCreate, Key: "e1", Payload: []byte(`{"Email":"a@example.com","LastName":"Lee"}`)},
		{Op: tandem.OpCreate, Key: "e2", Payload: []byte(`{"Email":"b@example.com"}`)},
		{Op: tandem.OpUpdate, ID: "003000000000001AAA", Payload: []byte(`{"FirstName":"Bo"}`)},
		{Op: tandem.OpUpdate, ID: "003000000000002", Payload: []byte(`{"Phone":"+15550100"}`)},
		{Op: tandem.OpDelete, ID: "003000000000003AAA"},
	}
	f.Fuzz(func(t *testing.T, code int, b []byte) {
		if code < 200 || code > 499 || code == 401 || code == 429 {
			code = 200 // 401 renews the session, 429 and 5xx are retried: other tests' business
		}
		answer(code, b)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := c.Apply(ctx, "Contact", writes)
		var te *tandem.Error
		if err != nil && !errors.As(err, &te) {
			t.Fatalf("error %T %v: want a *tandem.Error", err, err)
		}
		if err != nil && res == nil {
			return // the org refused the first call: nothing was sent after it
		}
		if len(res) != len(writes) {
			t.Fatalf("%d results for %d writes", len(res), len(writes))
		}
		for i, r := range res {
			w := writes[i]
			switch {
			case r.Err != nil:
				if !errors.As(r.Err, &te) {
					t.Fatalf("write %d: error %T %v: want a *tandem.Error", i, r.Err, r.Err)
				}
			case !idRE.MatchString(r.ID):
				t.Fatalf("%s %s%s done as record %q, not a Salesforce id", w.Op, w.ID, w.Key, r.ID)
			case w.Op != tandem.OpCreate && r.ID[:15] != w.ID[:15]:
				t.Fatalf("%s of %s done as record %s", w.Op, w.ID, r.ID)
			}
		}
	})
}
