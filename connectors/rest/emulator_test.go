package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors/conformance"
	"tandem/connectors/rest/resttest"
)

// emulatorConfig opens the emulator's /contacts with OAuth2 client
// credentials; extra lines go under the object.
const emulatorConfig = `type: rest
base_url: %[1]s
auth: {type: oauth2, token_url: %[1]s/oauth/token, client_id_env: EMU_CLIENT_ID, client_secret_env: EMU_CLIENT_SECRET}
%[2]s
objects:
  contacts:
    path: /contacts
    records: data
    updated: updated_at
    deleted: deleted
    page_size: 5
    key: tandem_id
    key_query: {tandem_id: "{key}"}
    fetch: {param: ids, join: ","}
%[3]s`

func emulator(t *testing.T, o resttest.Options, top, object string) (*resttest.Server, *Client) {
	t.Helper()
	o.Auth, o.ClientID, o.Password = "oauth2", "emu-id", "emu-secret"
	em := resttest.NewServer(o)
	t.Cleanup(em.Close)
	t.Setenv("EMU_CLIENT_ID", "emu-id")
	t.Setenv("EMU_CLIENT_SECRET", "emu-secret")
	return em, openConfig(t, fmt.Sprintf(emulatorConfig, em.URL, top, object))
}

const linkPaging = `    query: {updated_since: "{since}", limit: "{limit}", page: "{page}"}
    paging: link
    create: unique
`

// The conformance suite against the emulator: with a rate limit it
// enforces and tokens that can be revoked, on top of what the real
// servers cover.
func TestConformanceEmulator(t *testing.T) {
	conformance.Run(t, func(t *testing.T) *conformance.Backend {
		clock := &conformance.HoldClock{}
		em, c := emulator(t, resttest.Options{Now: clock.Now, Limit: 20, Window: time.Second}, "rate_limit: {requests: 20, per: 1s}", linkPaging)
		proxy := conformance.NewProxy(em.Config.Handler)
		em.Config.Handler = proxy
		n := 0
		return &conformance.Backend{
			Connector: c, Object: "contacts", PageSize: 5,
			Seed: func(t *testing.T, k int, sameTime bool) []string {
				clock.Hold(sameTime)
				defer clock.Hold(false)
				var ids []string
				for range k {
					n++
					ids = append(ids, em.Create(map[string]any{"email": fmt.Sprintf("seed%d@example.com", n)}, time.Time{}))
				}
				time.Sleep(2 * time.Millisecond)
				return ids
			},
			Touch: func(t *testing.T, id string) {
				n++
				em.Update(id, map[string]any{"last_name": fmt.Sprint("Touched", n)})
				time.Sleep(2 * time.Millisecond)
			},
			Create: func(key string) tandem.Write {
				return tandem.Write{Op: tandem.OpCreate, Key: key, Payload: []byte(`{"last_name":"` + key + `"}`)}
			},
			Bad: func(key string) tandem.Write {
				return tandem.Write{Op: tandem.OpCreate, Key: key, Payload: []byte(`{"email":"nope"}`)}
			},
			Count: func(t *testing.T, key string) int {
				k := 0
				for _, r := range em.List() {
					if r.Fields["tandem_id"] == key && !r.Deleted {
						k++
					}
				}
				return k
			},
			FailNext:         proxy.FailNext,
			LoseNextResponse: proxy.LoseNextResponse,
			ExpireSession:    em.RevokeTokens,
			RateLimited:      em.RateLimited,
			Malform: func(t *testing.T, id string) {
				proxy.Rewrite(func(r *http.Request, body []byte) []byte {
					for i, rec := range gjson.GetBytes(body, "data").Array() {
						if rec.Get("id").Str == id {
							body, _ = sjson.SetBytes(body, fmt.Sprintf("data.%d.updated_at", i), "yesterday")
						}
					}
					return body
				})
			},
		}
	})
}

func pullAll(t *testing.T, c *Client, after tandem.Cursor) ([]tandem.Record, tandem.Cursor) {
	t.Helper()
	var recs []tandem.Record
	cur := after
	err := c.Pull(context.Background(), tandem.Query{Object: "contacts", After: after}, func(p tandem.Page) error {
		recs = append(recs, p.Records...)
		cur = p.Cursor
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs, cur
}

func ids(recs []tandem.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

// Every paging style reads the whole list once, oldest first.
func TestPagingStyles(t *testing.T) {
	for name, object := range map[string]string{
		"page":   "    query: {updated_since: \"{since}\", limit: \"{limit}\", page: \"{page}\"}\n    paging: page\n",
		"offset": "    query: {updated_since: \"{since}\", limit: \"{limit}\", offset: \"{offset}\"}\n    paging: offset\n",
		"cursor": "    query: {limit: \"{limit}\", cursor: \"{cursor}\"}\n    paging: cursor\n    next_cursor: next_cursor\n",
		"link":   linkPaging,
		"none":   "    query: {limit: \"100\"}\n",
	} {
		t.Run(name, func(t *testing.T) {
			em, c := emulator(t, resttest.Options{}, "", object)
			var want []string
			for i := range 13 {
				want = append(want, em.Create(map[string]any{"email": fmt.Sprintf("p%d@example.com", i)}, time.Time{}))
				time.Sleep(time.Millisecond)
			}
			got, _ := pullAll(t, c, "")
			if !slices.Equal(ids(got), want) {
				t.Errorf("read %v, want %v", ids(got), want)
			}
			if name != "none" && len(em.Requests()) < 3 {
				t.Errorf("13 records in pages of 5 took %d requests", len(em.Requests()))
			}
		})
	}
}

// A record edited twice within one second (stamps of whole seconds) is
// read again after each edit; a record committed late, stamped before
// the cursor but within the overlap, is read by the next pull.
func TestSecondPrecisionAndLateCommit(t *testing.T) {
	em, c := emulator(t, resttest.Options{Precision: time.Second}, "", linkPaging+"    precision: 1s\n")
	id := em.Create(map[string]any{"email": "a@example.com"}, time.Time{})
	got, cur := pullAll(t, c, "")
	if len(got) != 1 {
		t.Fatalf("first pull read %v", ids(got))
	}
	em.Update(id, map[string]any{"last_name": "Edited"}) // most likely the same second
	got, cur = pullAll(t, c, cur)
	if len(got) != 1 || gjson.GetBytes(got[0].Raw, "last_name").Str != "Edited" {
		t.Fatalf("an edit within the stamp's second was not read: %v", ids(got))
	}
	if got[0].Precision != time.Second {
		t.Errorf("a record stamped in whole seconds has precision %v", got[0].Precision)
	}
	late := em.Create(map[string]any{"email": "late@example.com"}, time.Now().Add(-20*time.Second))
	got, cur = pullAll(t, c, cur)
	if !slices.Equal(ids(got), []string{late}) {
		t.Fatalf("a record committed late was not read: %v", ids(got))
	}
	if got, _ = pullAll(t, c, cur); len(got) != 0 {
		t.Errorf("a pull with nothing new read %v", ids(got))
	}
}

// A soft delete comes back from a pull as a deleted record.
func TestTombstones(t *testing.T) {
	em, c := emulator(t, resttest.Options{}, "", linkPaging)
	id := em.Create(map[string]any{"email": "a@example.com"}, time.Time{})
	_, cur := pullAll(t, c, "")
	time.Sleep(2 * time.Millisecond)
	em.Delete(id)
	got, _ := pullAll(t, c, cur)
	if len(got) != 1 || !got[0].Deleted {
		t.Fatalf("a tombstone was read as %+v", got)
	}
	if recs, err := c.Fetch(context.Background(), tandem.Query{Object: "contacts"}, []string{id}); err != nil || len(recs) != 0 {
		t.Errorf("Fetch of a deleted record: %v %v", ids(recs), err)
	}
}

func update(t *testing.T, c *Client, w tandem.Write) tandem.Result {
	t.Helper()
	rs, err := c.Apply(context.Background(), "contacts", []tandem.Write{w})
	if err != nil {
		t.Fatal(err)
	}
	return rs[0]
}

// With concurrency: etag, an update of a record modified since it was
// read, or edited between the connector's read and its write (a 412), is
// a retryable conflict, and nothing is overwritten.
func TestETagConflict(t *testing.T) {
	em, c := emulator(t, resttest.Options{}, "", linkPaging+"    concurrency: etag\n")
	id := em.Create(map[string]any{"email": "a@example.com", "phone": "1"}, time.Time{})
	got, _ := pullAll(t, c, "")
	read := got[0].Modified

	if r := update(t, c, tandem.Write{Op: tandem.OpUpdate, ID: id, Payload: []byte(`{"phone":"2"}`), Unmodified: read}); r.Err != nil {
		t.Fatalf("an update of an unchanged record: %v", r.Err)
	}
	rec, _ := em.Get(id)
	time.Sleep(2 * time.Millisecond)
	em.Update(id, map[string]any{"phone": "person"})
	r := update(t, c, tandem.Write{Op: tandem.OpUpdate, ID: id, Payload: []byte(`{"phone":"3"}`), Unmodified: rec.Updated})
	if !errors.Is(r.Err, tandem.ErrConflict) || !tandem.IsRetryable(r.Err) {
		t.Errorf("an update of a record modified since its read: %v, want a retryable conflict", r.Err)
	}
	cur, _ := em.Get(id)
	em.BeforeWrite(func() { em.Update(id, map[string]any{"phone": "in the gap"}) })
	r = update(t, c, tandem.Write{Op: tandem.OpUpdate, ID: id, Payload: []byte(`{"phone":"4"}`), Unmodified: cur.Updated})
	if !errors.Is(r.Err, tandem.ErrConflict) || !tandem.IsRetryable(r.Err) {
		t.Errorf("an update refused by If-Match: %v, want a retryable conflict", r.Err)
	}
	if rec, _ := em.Get(id); rec.Fields["phone"] != "in the gap" {
		t.Errorf("the edit made in the gap was overwritten: phone %v", rec.Fields["phone"])
	}
}

// With concurrency: version, the version read goes with the write, and a
// stale one (409) is a conflict. update: put sends the whole record.
func TestVersionConflictAndPut(t *testing.T) {
	em, c := emulator(t, resttest.Options{}, "", linkPaging+"    concurrency: version\n    version: version\n    update: put\n")
	id := em.Create(map[string]any{"email": "a@example.com", "phone": "1"}, time.Time{})
	if r := update(t, c, tandem.Write{Op: tandem.OpUpdate, ID: id, Payload: []byte(`{"phone":"2"}`)}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if rec, _ := em.Get(id); rec.Fields["phone"] != "2" || rec.Fields["email"] != "a@example.com" {
		t.Fatalf("a PUT of one field: %v", rec.Fields)
	}
	em.BeforeWrite(func() { em.Update(id, map[string]any{"phone": "gap"}) })
	r := update(t, c, tandem.Write{Op: tandem.OpUpdate, ID: id, Payload: []byte(`{"phone":"3"}`)})
	if !errors.Is(r.Err, tandem.ErrConflict) {
		t.Errorf("a write with a stale version: %v, want a conflict", r.Err)
	}
}

// A 429 with Retry-After is waited out; the RateLimit-* headers set the
// budget that Health shows.
func TestRetryAfterAndRateHeaders(t *testing.T) {
	em, c := emulator(t, resttest.Options{Limit: 50, Window: time.Second}, "", linkPaging)
	em.Create(map[string]any{"email": "a@example.com"}, time.Time{})
	em.FailNext(http.StatusTooManyRequests)
	if got, _ := pullAll(t, c, ""); len(got) != 1 {
		t.Fatalf("a pull through a 429 read %v", ids(got))
	}
	h := c.Health()
	if h.Limits == nil || h.Limits.Limit != 50 || h.Limits.WindowSeconds != 1 {
		t.Errorf("Health after RateLimit headers: %+v", h.Limits)
	}
	if h.RateSource != "headers" {
		t.Errorf("the budget's source is %q, want headers", h.RateSource)
	}
}

// create: header sends Tandem's key as an idempotency key; the API
// answers a repeat with the record the first made.
func TestIdempotencyHeader(t *testing.T) {
	em, c := emulator(t, resttest.Options{}, "", "    create: header\n")
	w := tandem.Write{Op: tandem.OpCreate, Key: "k-1", Payload: []byte(`{"email":"a@example.com"}`)}
	a, b := update(t, c, w), update(t, c, w)
	if a.Err != nil || b.Err != nil || a.ID != b.ID || len(em.List()) != 1 {
		t.Errorf("a create sent twice: %+v %+v, %d records", a, b, len(em.List()))
	}
}

// A create refused because another record holds a unique value is an
// ExistsError naming that record, found by the unique: query.
func TestExistsError(t *testing.T) {
	em, c := emulator(t, resttest.Options{UniqueEmail: true}, "", linkPaging+"    unique: {email: {email: \"{value}\"}}\n")
	other := em.Create(map[string]any{"email": "taken@example.com"}, time.Time{})
	r := update(t, c, tandem.Write{Op: tandem.OpCreate, Key: "k-2", Payload: []byte(`{"email":"taken@example.com"}`)})
	var x *tandem.ExistsError
	if !errors.As(r.Err, &x) || x.RecordID != other || x.Path != "email" {
		t.Fatalf("a create of a taken email: %v, want an ExistsError naming %s", r.Err, other)
	}
	if rec, _ := em.Get(other); rec.Fields["tandem_id"] != nil {
		t.Errorf("the other record was written: %v", rec.Fields)
	}
}

// Every kind of credential gets through; an unset variable is a config
// error naming it.
func TestAuthKinds(t *testing.T) {
	for _, tc := range []struct{ name, auth, yaml string }{
		{"bearer", "bearer", "{type: bearer, token_env: EMU_SECRET}"},
		{"basic", "basic", "{type: basic, username_env: EMU_USER, password_env: EMU_SECRET}"},
		{"api_key header", "api_key", "{type: api_key, key_env: EMU_SECRET, header: X-API-Key}"},
		{"api_key query", "api_key", "{type: api_key, key_env: EMU_SECRET, query: api_key}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			em := resttest.NewServer(resttest.Options{Auth: tc.auth, Token: "s3cret", User: "me", Password: "s3cret"})
			t.Cleanup(em.Close)
			em.Create(map[string]any{"email": "a@example.com"}, time.Time{})
			t.Setenv("EMU_SECRET", "s3cret")
			t.Setenv("EMU_USER", "me")
			cfg := strings.Replace(fmt.Sprintf(emulatorConfig, em.URL, "", linkPaging), "{type: oauth2, token_url: "+em.URL+"/oauth/token, client_id_env: EMU_CLIENT_ID, client_secret_env: EMU_CLIENT_SECRET}", tc.yaml, 1)
			c := openConfig(t, cfg)
			if got, _ := pullAll(t, c, ""); len(got) != 1 {
				t.Errorf("read %v", ids(got))
			}
			t.Setenv("EMU_SECRET", "")
			_, err := New(config(t, cfg))
			if err == nil || !strings.Contains(err.Error(), "EMU_SECRET is not set") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("open with the variable unset: %v", err)
			}
		})
	}
}

// An API that deletes for good but lists what it deleted: the
// deleted_list endpoint's records come from a pull as deleted, once.
func TestDeletedList(t *testing.T) {
	em, c := emulator(t, resttest.Options{HardDelete: true}, "", linkPaging+`    deleted_list:
      path: /contacts/deleted
      records: data
      updated: deleted_at
      query: {deleted_since: "{since}"}
`)
	a := em.Create(map[string]any{"email": "a@example.com"}, time.Time{})
	b := em.Create(map[string]any{"email": "b@example.com"}, time.Time{})
	_, cur := pullAll(t, c, "")
	time.Sleep(2 * time.Millisecond)
	em.Delete(a)
	if r := update(t, c, tandem.Write{Op: tandem.OpDelete, ID: b}); r.Err != nil {
		t.Fatal(r.Err)
	}
	got, cur := pullAll(t, c, cur)
	if len(got) != 2 || !got[0].Deleted || !got[1].Deleted || !slices.Equal(ids(got), []string{a, b}) {
		t.Fatalf("after two deletes a pull read %+v", got)
	}
	if got, _ := pullAll(t, c, cur); len(got) != 0 {
		t.Errorf("the deletes were read again: %v", ids(got))
	}
}

// Describe lists the fields from a sample page, or from the schema the
// config names: an OpenAPI document's component (YAML).
func TestDescribe(t *testing.T) {
	em, c := emulator(t, resttest.Options{}, "", linkPaging)
	em.Create(map[string]any{"email": "a@example.com", "address": map[string]any{"city": "Oslo"}}, time.Time{})
	fields, err := c.Describe(context.Background(), "contacts")
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]bool{}
	for _, f := range fields {
		byPath[f.Path] = true
		if f.Path == "tandem_id" && !f.Unique || f.Path == "updated_at" && !f.ReadOnly {
			t.Errorf("field %+v", f)
		}
	}
	for _, p := range []string{"email", "address", "address.city", "tandem_id", "id", "updated_at"} {
		if !byPath[p] {
			t.Errorf("a sample page describes no %s: %v", p, fields)
		}
	}
	_, c = emulator(t, resttest.Options{}, "", linkPaging+"    schema: testdata/openapi.yaml#/components/schemas/Contact\n")
	fields, err = c.Describe(context.Background(), "contacts")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]connectorsField{}
	for _, f := range fields {
		got[f.Path] = connectorsField{f.Type, f.ReadOnly}
	}
	if got["email"] != (connectorsField{"string", false}) || got["id"] != (connectorsField{"string", true}) || len(fields) != 6 {
		t.Errorf("from the OpenAPI document: %+v", fields)
	}
}

type connectorsField struct {
	typ      string
	readOnly bool
}

// A record read by id that cannot be parsed comes back in a
// tandem.RejectedError beside the others: never left out, which would
// read as deleted. With fetch: and one GET a record alike.
func TestFetchRejected(t *testing.T) {
	for name, object := range map[string]string{"batch": linkPaging, "one by one": strings.Replace(linkPaging, "    create: unique\n", "", 1)} {
		t.Run(name, func(t *testing.T) {
			em, c := emulator(t, resttest.Options{}, "", object)
			if name == "one by one" {
				ob := c.objects["contacts"]
				ob.Fetch = nil
				c.objects["contacts"] = ob
			}
			a := em.Create(map[string]any{"email": "a@example.com"}, time.Time{})
			b := em.Create(map[string]any{"email": "b@example.com"}, time.Time{})
			proxy := conformance.NewProxy(em.Config.Handler)
			em.Config.Handler = proxy
			proxy.Rewrite(func(r *http.Request, body []byte) []byte {
				if strings.HasSuffix(r.URL.Path, "/"+b) {
					body, _ = sjson.SetBytes(body, "updated_at", "soon")
				}
				for i, rec := range gjson.GetBytes(body, "data").Array() {
					if rec.Get("id").Str == b {
						body, _ = sjson.SetBytes(body, fmt.Sprintf("data.%d.updated_at", i), "soon")
					}
				}
				return body
			})
			recs, err := c.Fetch(context.Background(), tandem.Query{Object: "contacts"}, []string{a, b, "c9999"})
			var rej *tandem.RejectedError
			if !errors.As(err, &rej) || len(rej.Rejected) != 1 || rej.Rejected[0].ID != b || len(rej.Rejected[0].Raw) == 0 {
				t.Fatalf("Fetch with one unreadable record: %v", err)
			}
			if !slices.Equal(ids(recs), []string{a}) {
				t.Errorf("the readable records: %v", ids(recs))
			}
		})
	}
}

// A record read whole that leaves out a field asked for reads it as null:
// the API's way of saying empty (the emulator, like json-server, keeps
// no field it was never given). A webhook's partial payload is not read
// whole, and is left as it came.
func TestAbsentFieldReadsNull(t *testing.T) {
	em, c := emulator(t, resttest.Options{}, "", linkPaging)
	id := em.Create(map[string]any{"email": "a@example.com"}, time.Time{})
	q := tandem.Query{Object: "contacts", Fields: []string{"email", "title", "address.city", "tags.#"}}
	var pulled []tandem.Record
	if err := c.Pull(context.Background(), q, func(p tandem.Page) error { pulled = append(pulled, p.Records...); return nil }); err != nil {
		t.Fatal(err)
	}
	fetched, err := c.Fetch(context.Background(), q, []string{id})
	if err != nil {
		t.Fatal(err)
	}
	for what, recs := range map[string][]tandem.Record{"pulled": pulled, "fetched": fetched} {
		if len(recs) != 1 {
			t.Fatalf("%s %d records", what, len(recs))
		}
		raw := recs[0].Raw
		for _, p := range []string{"title", "address.city"} {
			if v := gjson.GetBytes(raw, p); !v.Exists() || v.Type != gjson.Null {
				t.Errorf("%s: %s = %s, want null: %s", what, p, v.Raw, raw)
			}
		}
		if gjson.GetBytes(raw, "email").String() != "a@example.com" || gjson.GetBytes(raw, "tags").Exists() {
			t.Errorf("%s: %s: want the email kept and no path with a query filled in", what, raw)
		}
	}
}
