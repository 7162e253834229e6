package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
)

// The contract: the suite driven through the connector's own Apply, Pull
// and Fetch, with no hook into the system but what a connector cannot
// know (what a record of the object looks like) and the optional faults.
// A connector runs it in a few lines:
//
//	func TestContract(t *testing.T) {
//		conformance.Contract(t, func(t *testing.T) conformance.Subject {
//			srv := … // a fresh system, behind a conformance.Proxy
//			return conformance.Subject{Connector: c, Object: "contacts", PageSize: 5,
//				Record: conformance.Numbered(`{"email":"c%d@example.com"}`),
//				Edit:   conformance.Numbered(`{"last_name":"Edited %d"}`),
//				Bad:    `{"email":"not an email"}`, Proxy: proxy}
//		})
//	}
//
// It covers what Run covers (paging to the end, resuming from every page,
// incremental pulls, idempotent creates, a lost answer, a batch with a bad
// write, transient failures, a session that expires, a rate limit, a
// record that cannot be parsed), and updates, deletes, reads by id, pulls
// from a time (Query.Since) and webhooks.

// Subject is a connector opened against a fresh system.
type Subject struct {
	Connector connectors.Connector
	Object    string
	PageSize  int // records a page the connector was opened with

	// Record is the payload of a new record numbered n, as the system's
	// own record (HubSpot {"properties":{…}}), with values unique to n
	// and written as the system keeps them (lower-case emails). Pulls ask
	// for its paths, and find the record by them.
	Record func(n int) string
	// Edit is an update's payload, changing a field of a record, with a
	// value unique to n.
	Edit func(n int) string
	// Bad is a create's payload the API refuses for good.
	Bad string

	// Optional: nil skips the tests that need it.
	Proxy         *Proxy     // in front of the system: 5xx, a lost answer, spoiled records
	ExpireSession func()     // the session or token in use stops working
	RateLimited   func() int // requests refused for rate so far (the system enforces a limit)
	// Spoil makes the record id unparseable in a list answer's body.
	Spoil func(r *http.Request, body []byte, id string) []byte
	// Webhook is a signed delivery announcing a change to record id, and
	// the URI it is sent to; the connector must be a WebhookReceiver.
	Webhook func(id string) (uri string, h http.Header, body []byte)
}

// Numbered is a Record or Edit from a format with one %d (or %[1]d).
func Numbered(format string) func(n int) string {
	return func(n int) string { return fmt.Sprintf(format, n) }
}

// Contract runs the suite; newSubject is called once per test.
func Contract(t *testing.T, newSubject func(t *testing.T) Subject) {
	tests := []struct {
		name string
		fn   func(*testing.T, *subject)
	}{
		{"CreateAndReadToTheEnd", createAndRead},
		{"RepeatedCreate", repeatedCreate},
		{"UpdateAndIncremental", updateAndIncremental},
		{"Delete", deleteRecord},
		{"FetchByID", fetchByID},
		{"Since", since},
		{"RejectedWrite", rejectedWrite},
		{"LostAnswer", lostAnswer},
		{"TransientFailures", transient},
		{"SessionExpiry", expiry},
		{"RateLimitObeyed", rateLimit},
		{"MalformedRecord", malformed},
		{"Webhook", webhook},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &subject{Subject: newSubject(t)}
			s.fields = leaves(gjson.Parse(s.Record(0)), "")
			tc.fn(t, s)
		})
	}
}

type subject struct {
	Subject
	n      int      // records made so far
	fields []string // the payload paths of Record
}

// leaves are the paths of a payload's values.
func leaves(v gjson.Result, prefix string) []string {
	var out []string
	v.ForEach(func(k, val gjson.Result) bool {
		p := prefix + gjson.Escape(k.String())
		if val.IsObject() {
			out = append(out, leaves(val, p+".")...)
		} else {
			out = append(out, p)
		}
		return true
	})
	return out
}

// holds reports whether a record's payload holds every value of payload.
func holds(raw []byte, payload string) bool {
	for _, p := range leaves(gjson.Parse(payload), "") {
		if gjson.GetBytes(raw, p).String() != gjson.Get(payload, p).String() {
			return false
		}
	}
	return true
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// create makes k records through Apply, in one call, and returns their
// ids and payloads.
func (s *subject) create(t *testing.T, k int) ([]string, []string) {
	t.Helper()
	var ws []tandem.Write
	var payloads []string
	for range k {
		s.n++
		payloads = append(payloads, s.Record(s.n))
		ws = append(ws, s.write(s.n))
	}
	rs := s.apply(t, ws...)
	var ids []string
	for i, r := range rs {
		if r.Err != nil || r.ID == "" {
			t.Fatalf("create %d of %d: id %q, %v", i+1, k, r.ID, r.Err)
		}
		ids = append(ids, r.ID)
	}
	time.Sleep(2 * time.Millisecond) // what comes next is stamped later
	return ids, payloads
}

func (s *subject) write(n int) tandem.Write {
	return tandem.Write{Op: tandem.OpCreate, Key: fmt.Sprintf("contract-%d", n), Payload: json.RawMessage(s.Record(n))}
}

func (s *subject) apply(t *testing.T, ws ...tandem.Write) []tandem.Result {
	t.Helper()
	rs, err := s.Connector.Apply(ctx(t), s.Object, ws)
	if err != nil {
		t.Fatalf("Apply of %d writes: %v", len(ws), err)
	}
	if len(rs) != len(ws) {
		t.Fatalf("Apply of %d writes returned %d results", len(ws), len(rs))
	}
	return rs
}

func (s *subject) pull(t *testing.T, q tandem.Query) pulled {
	t.Helper()
	q.Object, q.Fields = s.Object, s.fields
	var p pulled
	err := s.Connector.Pull(ctx(t), q, func(pg tandem.Page) error {
		p.pages = append(p.pages, pg.Records)
		p.cursors = append(p.cursors, pg.Cursor)
		p.rejected = append(p.rejected, pg.Rejected...)
		return nil
	})
	if err != nil {
		t.Fatalf("Pull after %.60q: %v", q.After, err)
	}
	return p
}

// count is how many live records hold payload, by a full pull.
func (s *subject) count(t *testing.T, payload string) int {
	t.Helper()
	n := 0
	for _, pg := range s.pull(t, tandem.Query{}).pages {
		for _, r := range pg {
			if !r.Deleted && holds(r.Raw, payload) {
				n++
			}
		}
	}
	return n
}

func (s *subject) fetch(t *testing.T, ids ...string) map[string]tandem.Record {
	t.Helper()
	f, ok := s.Connector.(connectors.Fetcher)
	if !ok {
		t.Skip("the connector cannot read by id (no Fetcher): the engine loses the re-read before writing")
	}
	recs, err := f.Fetch(ctx(t), tandem.Query{Object: s.Object, Fields: s.fields}, ids)
	if err != nil {
		t.Fatalf("Fetch %v: %v", ids, err)
	}
	out := map[string]tandem.Record{}
	for _, r := range recs {
		out[r.ID] = r
	}
	return out
}

func createAndRead(t *testing.T, s *subject) {
	ids, payloads := s.create(t, 2*s.PageSize+1)
	p := s.pull(t, tandem.Query{})
	got := live(p)
	noDuplicates(t, "a full pull", got)
	sameSet(t, "a full pull of what Apply created", got, ids)
	var last time.Time
	for _, pg := range p.pages {
		for _, r := range pg {
			if r.Modified.Before(last) || r.Modified.IsZero() {
				t.Errorf("record %s modified %v after one modified %v: not oldest first", r.ID, r.Modified, last)
			}
			last = r.Modified
			if i := slices.Index(ids, r.ID); i >= 0 && !holds(r.Raw, payloads[i]) {
				t.Errorf("record %s reads %s, want what was written: %s", r.ID, r.Raw, payloads[i])
			}
		}
	}
	resumeFrom(t, &Backend{Connector: s.Connector, Object: s.Object, Fields: s.fields}, p)
}

func repeatedCreate(t *testing.T, s *subject) {
	s.n++
	w := s.write(s.n)
	a, b := s.apply(t, w)[0], s.apply(t, w)[0]
	if a.Err != nil || b.Err != nil || a.ID != b.ID {
		t.Fatalf("a create sent twice: %q %v, then %q %v", a.ID, a.Err, b.ID, b.Err)
	}
	if n := s.count(t, s.Record(s.n)); n != 1 {
		t.Errorf("after a create sent twice the system holds %d such records, want 1", n)
	}
}

func updateAndIncremental(t *testing.T, s *subject) {
	ids, _ := s.create(t, 3)
	p := s.pull(t, tandem.Query{})
	end := p.cursors[len(p.cursors)-1]
	if again := s.pull(t, tandem.Query{After: end}); len(live(again)) != 0 {
		t.Errorf("a pull from the end read %v, want nothing", again.ids())
	}
	edit := s.Edit(s.n)
	if r := s.apply(t, tandem.Write{Op: tandem.OpUpdate, ID: ids[1], Payload: json.RawMessage(edit)})[0]; r.Err != nil {
		t.Fatalf("update: %v", r.Err)
	}
	after := s.pull(t, tandem.Query{After: end})
	sameSet(t, "a pull after one update", live(after), ids[1:2])
	for _, pg := range after.pages {
		for _, r := range pg {
			if !holds(r.Raw, edit) {
				t.Errorf("the updated record reads %s, want %s", r.Raw, edit)
			}
		}
	}
}

func deleteRecord(t *testing.T, s *subject) {
	ids, payloads := s.create(t, 2)
	del := tandem.Write{Op: tandem.OpDelete, ID: ids[0]}
	if r := s.apply(t, del)[0]; r.Err != nil {
		t.Fatalf("delete: %v", r.Err)
	}
	if r := s.apply(t, del)[0]; r.Err != nil {
		t.Errorf("a delete sent again: %v, want done (the record is gone)", r.Err)
	}
	if n := s.count(t, payloads[0]); n != 0 {
		t.Errorf("a deleted record is still read live (%d)", n)
	}
	if n := s.count(t, payloads[1]); n != 1 {
		t.Errorf("the other record: %d, want 1", n)
	}
}

func fetchByID(t *testing.T, s *subject) {
	ids, payloads := s.create(t, s.PageSize+2)
	gone := ids[len(ids)-1]
	if r := s.apply(t, tandem.Write{Op: tandem.OpDelete, ID: gone})[0]; r.Err != nil {
		t.Fatalf("delete: %v", r.Err)
	}
	got := s.fetch(t, ids...)
	if _, ok := got[gone]; ok {
		t.Errorf("Fetch returned a deleted record")
	}
	for i, id := range ids[:len(ids)-1] {
		if r, ok := got[id]; !ok || !holds(r.Raw, payloads[i]) || r.Modified.IsZero() {
			t.Errorf("Fetch of %s: %s (found %v)", id, r.Raw, ok)
		}
	}
}

func since(t *testing.T, s *subject) {
	early, _ := s.create(t, 2)
	time.Sleep(10 * time.Millisecond)
	late, _ := s.create(t, 2)
	var from time.Time
	for _, pg := range s.pull(t, tandem.Query{}).pages {
		for _, r := range pg {
			if r.ID == late[0] {
				from = r.Modified
			}
		}
	}
	p := s.pull(t, tandem.Query{Since: from})
	for _, id := range late {
		if !slices.Contains(p.ids(), id) {
			t.Errorf("a pull since %v missed %s, created after", from, id)
		}
	}
	for _, pg := range p.pages {
		for _, r := range pg {
			if slices.Contains(early, r.ID) && r.Modified.Before(from) {
				t.Errorf("a pull since %v read %s, modified %v", from, r.ID, r.Modified)
			}
		}
	}
}

func rejectedWrite(t *testing.T, s *subject) {
	s.n += 2
	a, b := s.write(s.n-1), s.write(s.n)
	bad := tandem.Write{Op: tandem.OpCreate, Key: "contract-bad", Payload: json.RawMessage(s.Bad)}
	rs := s.apply(t, a, bad, b)
	switch {
	case rs[1].Err == nil:
		t.Errorf("the bad write succeeded")
	case tandem.IsRetryable(rs[1].Err):
		t.Errorf("the bad write is retryable, want permanent: %v", rs[1].Err)
	}
	if rs[0].Err != nil || rs[2].Err != nil {
		t.Errorf("good writes failed with the bad one: %v, %v", rs[0].Err, rs[2].Err)
	}
	for _, n := range []int{s.n - 1, s.n} {
		if k := s.count(t, s.Record(n)); k != 1 {
			t.Errorf("record %d: %d, want 1", n, k)
		}
	}
}

func lostAnswer(t *testing.T, s *subject) {
	if s.Proxy == nil {
		t.Skip("no proxy in front of the system")
	}
	s.n++
	w := s.write(s.n)
	s.Proxy.LoseNextResponse()
	rs, err := s.Connector.Apply(ctx(t), s.Object, []tandem.Write{w})
	if err == nil {
		err = rs[0].Err
	}
	if err != nil {
		if !tandem.IsRetryable(err) {
			t.Fatalf("a write whose answer was lost failed for good: %v", err)
		}
		if r := s.apply(t, w)[0]; r.Err != nil {
			t.Fatalf("its retry: %v", r.Err)
		}
	}
	if n := s.count(t, s.Record(s.n)); n != 1 {
		t.Errorf("after a lost answer and a retry the system holds %d records, want 1", n)
	}
}

func transient(t *testing.T, s *subject) {
	if s.Proxy == nil {
		t.Skip("no proxy in front of the system")
	}
	ids, _ := s.create(t, s.PageSize+1)
	s.Proxy.FailNext(2)
	sameSet(t, "a pull through two 5xx", live(s.pull(t, tandem.Query{})), ids)
	s.Proxy.FailNext(2)
	s.n++
	if r := s.apply(t, s.write(s.n))[0]; r.Err != nil {
		t.Errorf("a create through two 5xx: %v", r.Err)
	}
	if n := s.count(t, s.Record(s.n)); n != 1 {
		t.Errorf("a create through two 5xx left %d records, want 1", n)
	}
}

func expiry(t *testing.T, s *subject) {
	if s.ExpireSession == nil {
		t.Skip("the system's sessions do not expire")
	}
	ids, _ := s.create(t, 2)
	s.ExpireSession()
	sameSet(t, "a pull after the session expired", live(s.pull(t, tandem.Query{})), ids)
	s.ExpireSession()
	s.n++
	if r := s.apply(t, s.write(s.n))[0]; r.Err != nil {
		t.Errorf("a write after the session expired: %v", r.Err)
	}
}

func rateLimit(t *testing.T, s *subject) {
	if s.RateLimited == nil {
		t.Skip("the system has no rate limit")
	}
	before := s.RateLimited()
	ids, _ := s.create(t, 4*s.PageSize)
	p := s.pull(t, tandem.Query{})
	resumeFrom(t, &Backend{Connector: s.Connector, Object: s.Object, Fields: s.fields}, p)
	sameSet(t, "a pull under a rate limit", live(p), ids)
	if n := s.RateLimited() - before; n != 0 {
		t.Errorf("%d requests were refused for rate: the client did not pace itself", n)
	}
}

func malformed(t *testing.T, s *subject) {
	if s.Proxy == nil || s.Spoil == nil {
		t.Skip("no way to spoil a record in a list answer")
	}
	ids, _ := s.create(t, 5)
	s.Proxy.Rewrite(func(r *http.Request, body []byte) []byte { return s.Spoil(r, body, ids[2]) })
	p := s.pull(t, tandem.Query{})
	s.Proxy.Rewrite(nil)
	var rejected []string
	for _, r := range p.rejected {
		rejected = append(rejected, r.ID)
		if len(r.Raw) == 0 || r.Reason == "" {
			t.Errorf("rejected record %q lacks its raw body or reason: %+v", r.ID, r)
		}
	}
	sameSet(t, "records rejected", rejected, ids[2:3])
	sameSet(t, "records read around a malformed one", live(p), append(slices.Clone(ids[:2]), ids[3:]...))
}

func webhook(t *testing.T, s *subject) {
	if s.Webhook == nil {
		t.Skip("the system sends no webhooks")
	}
	rx, ok := s.Connector.(connectors.WebhookReceiver)
	if !ok {
		t.Fatal("Webhook is set, but the connector is no WebhookReceiver")
	}
	ids, _ := s.create(t, 1)
	uri, h, body := s.Webhook(ids[0])
	evs, err := rx.Receive(http.MethodPost, uri, h, body, time.Now())
	if err != nil || len(evs) == 0 || evs[0].RecordID != ids[0] || evs[0].Object != s.Object {
		t.Fatalf("a signed delivery about %s: %+v, %v", ids[0], evs, err)
	}
	if got := s.fetch(t, evs[0].RecordID); len(got) != 1 {
		t.Errorf("the record a webhook names cannot be fetched: %v", got)
	}
	tampered := append(slices.Clone(body), ' ')
	var rej *connectors.WebhookRejected
	if _, err := rx.Receive(http.MethodPost, uri, h, tampered, time.Now()); !errors.As(err, &rej) {
		t.Errorf("a tampered delivery: %v, want it rejected", err)
	}
}
