// Package conformance is the test suite every connector runs against its
// emulator, in a few lines (like rclone's fstests): paging to the end, a
// cursor that resumes from every page, timestamps that tie across pages,
// writes that are safe to retry, a batch with one bad write, obedience to a
// rate limit, a session that expires, a record that cannot be parsed, and
// an API that fails now and then.
//
// A connector's test builds a Backend over its emulator:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(t *testing.T) *conformance.Backend { … })
//	}
package conformance

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"tandem"
	"tandem/connectors"
)

// Backend is a connector opened against a fresh emulated system, with the
// hooks the suite drives that system by. The optional hooks (nil when the
// emulator cannot do it) skip their test with a message.
type Backend struct {
	Connector connectors.Connector
	Object    string
	Fields    []string // payload paths a pull asks for
	PageSize  int      // records per page the connector was opened with

	// Seed creates n records in the system directly, as a person would;
	// with sameTime they all carry one modified time. It returns their ids.
	Seed func(t *testing.T, n int, sameTime bool) []string
	// Touch edits a record in the system, moving its modified time on.
	Touch func(t *testing.T, id string)
	// Create is a create of a new record identified by key (a unique value
	// of the field creates are made idempotent by).
	Create func(key string) tandem.Write
	// Bad is a create of a record identified by key that the API refuses
	// for good (a value of the wrong type, an unknown field …).
	Bad func(key string) tandem.Write
	// Count is how many live records the system holds with the key.
	Count func(t *testing.T, key string) int

	// Optional fault hooks.
	FailNext         func(n int)                   // the next n requests fail with a retryable 5xx
	LoseNextResponse func()                        // the next write is applied, its response lost
	ExpireSession    func()                        // the current session or token stops working
	RateLimited      func() int                    // requests the API refused for rate so far (it enforces a limit from the start)
	Malform          func(t *testing.T, id string) // the record comes back unparseable in pulls
}

// Run runs the suite; newBackend is called once per test.
func Run(t *testing.T, newBackend func(t *testing.T) *Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, *Backend)
	}{
		{"PagingToTheEnd", pagingToTheEnd},
		{"ResumeFromEveryPage", resumeFromEveryPage},
		{"TiesAcrossPages", tiesAcrossPages},
		{"Incremental", incremental},
		{"IdempotentCreate", idempotentCreate},
		{"LostResponse", lostResponse},
		{"PartialBatchFailure", partialBatchFailure},
		{"RateLimitObeyed", rateLimitObeyed},
		{"SessionExpiry", sessionExpiry},
		{"MalformedRecord", malformedRecord},
		{"TransientFailures", transientFailures},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBackend(t)) })
	}
}

// pulled is one Pull: its pages' records and the cursor after each page.
type pulled struct {
	pages    [][]tandem.Record
	cursors  []tandem.Cursor
	rejected []tandem.Rejected
}

func (p pulled) ids() []string {
	var ids []string
	for _, pg := range p.pages {
		for _, r := range pg {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

func pull(t *testing.T, b *Backend, after tandem.Cursor) pulled {
	t.Helper()
	var p pulled
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := b.Connector.Pull(ctx, tandem.Query{Object: b.Object, Fields: b.Fields, After: after}, func(pg tandem.Page) error {
		p.pages = append(p.pages, pg.Records)
		p.cursors = append(p.cursors, pg.Cursor)
		p.rejected = append(p.rejected, pg.Rejected...)
		return nil
	})
	if err != nil {
		t.Fatalf("Pull after %.60q: %v", after, err)
	}
	return p
}

// live drops deleted records: a pull may report deletes too.
func live(p pulled) []string {
	var out []string
	for _, pg := range p.pages {
		for _, r := range pg {
			if !r.Deleted {
				out = append(out, r.ID)
			}
		}
	}
	return out
}

func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s: got %d ids %v, want %d ids %v", what, len(g), g, len(w), w)
	}
}

func noDuplicates(t *testing.T, what string, ids []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("%s: %s twice", what, id)
		}
		seen[id] = true
	}
}

func pagingToTheEnd(t *testing.T, b *Backend) {
	n := 3*b.PageSize + 2
	ids := b.Seed(t, n, false)
	p := pull(t, b, "")
	got := live(p)
	noDuplicates(t, "a full pull", got)
	sameSet(t, "a full pull", got, ids)
	if len(p.pages) < 3 {
		t.Errorf("%d records came in %d pages of at most %d", n, len(p.pages), b.PageSize)
	}
	var last time.Time
	for _, pg := range p.pages {
		for _, r := range pg {
			if r.Modified.Before(last) {
				t.Errorf("record %s modified %v comes after one modified %v: not oldest first", r.ID, r.Modified, last)
			}
			last = r.Modified
			if len(r.Raw) == 0 || r.Modified.IsZero() {
				t.Errorf("record %s lacks its raw payload or modified time", r.ID)
			}
		}
	}
}

// resumeFrom checks that a pull resumed from each page's cursor reads
// exactly the records of the pages after it.
func resumeFrom(t *testing.T, b *Backend, p pulled) {
	t.Helper()
	for k := range p.pages {
		var rest []string
		for _, pg := range p.pages[k+1:] {
			for _, r := range pg {
				rest = append(rest, r.ID)
			}
		}
		again := pull(t, b, p.cursors[k])
		noDuplicates(t, fmt.Sprintf("resumed after page %d", k+1), again.ids())
		sameSet(t, fmt.Sprintf("resumed after page %d of %d", k+1, len(p.pages)), again.ids(), rest)
	}
}

func resumeFromEveryPage(t *testing.T, b *Backend) {
	b.Seed(t, 2*b.PageSize+3, false)
	resumeFrom(t, b, pull(t, b, ""))
}

func tiesAcrossPages(t *testing.T, b *Backend) {
	b.Seed(t, 2, false)
	ids := b.Seed(t, 2*b.PageSize+1, true) // one modified time, across page boundaries
	b.Seed(t, 2, false)
	p := pull(t, b, "")
	noDuplicates(t, "a full pull with ties", p.ids())
	for _, id := range ids {
		if !slices.Contains(p.ids(), id) {
			t.Errorf("record %s, one of %d sharing a modified time, was never read", id, len(ids))
		}
	}
	resumeFrom(t, b, p)
}

func incremental(t *testing.T, b *Backend) {
	ids := b.Seed(t, b.PageSize+2, false)
	p := pull(t, b, "")
	end := p.cursors[len(p.cursors)-1]
	if again := pull(t, b, end); len(live(again)) != 0 {
		t.Errorf("a pull from the end read %v, want nothing", again.ids())
	}
	touched := []string{ids[0], ids[len(ids)/2], ids[len(ids)-1]}
	for _, id := range touched {
		b.Touch(t, id)
	}
	sameSet(t, "a pull after 3 edits", live(pull(t, b, end)), touched)
}

func apply(t *testing.T, b *Backend, ws ...tandem.Write) ([]tandem.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rs, err := b.Connector.Apply(ctx, b.Object, ws)
	if err == nil && len(rs) != len(ws) {
		t.Fatalf("Apply of %d writes returned %d results", len(ws), len(rs))
	}
	return rs, err
}

func idempotentCreate(t *testing.T, b *Backend) {
	w := b.Create("conformance-repeat")
	first, err := apply(t, b, w)
	if err != nil || first[0].Err != nil {
		t.Fatalf("create: %v %v", err, first)
	}
	second, err := apply(t, b, w) // a retry of the same intent
	if err != nil || second[0].Err != nil {
		t.Fatalf("the same create again: %v %v", err, second)
	}
	if first[0].ID != second[0].ID {
		t.Errorf("a repeated create made record %s, then %s", first[0].ID, second[0].ID)
	}
	if n := b.Count(t, "conformance-repeat"); n != 1 {
		t.Errorf("after a create sent twice the system holds %d records, want 1", n)
	}
}

func lostResponse(t *testing.T, b *Backend) {
	if b.LoseNextResponse == nil {
		t.Skip("the emulator cannot lose a response")
	}
	w := b.Create("conformance-lost")
	b.LoseNextResponse()
	rs, err := apply(t, b, w)
	if err == nil {
		err = rs[0].Err
	}
	if err != nil { // else the client retried on its own, and found the record
		if !tandem.IsRetryable(err) {
			t.Fatalf("a write whose response was lost failed for good: %v", err)
		}
		if rs, err = apply(t, b, w); err != nil || rs[0].Err != nil {
			t.Fatalf("the retry of a write whose response was lost: %v %v", err, rs)
		}
	}
	if n := b.Count(t, "conformance-lost"); n != 1 {
		t.Errorf("after a lost response and a retry the system holds %d records, want 1", n)
	}
}

func partialBatchFailure(t *testing.T, b *Backend) {
	ws := []tandem.Write{b.Create("conformance-a"), b.Bad("conformance-bad"), b.Create("conformance-b")}
	rs, err := apply(t, b, ws...)
	if err != nil {
		t.Fatalf("a batch with one bad write failed whole: %v", err)
	}
	for i, r := range rs {
		switch {
		case i == 1 && r.Err == nil:
			t.Errorf("the bad write succeeded")
		case i == 1 && tandem.IsRetryable(r.Err):
			t.Errorf("the bad write is retryable, want permanent: %v", r.Err)
		case i != 1 && r.Err != nil:
			t.Errorf("good write %d failed with the bad one: %v", i, r.Err)
		}
	}
	for k, want := range map[string]int{"conformance-a": 1, "conformance-bad": 0, "conformance-b": 1} {
		if n := b.Count(t, k); n != want {
			t.Errorf("%s: %d records, want %d", k, n, want)
		}
	}
}

func rateLimitObeyed(t *testing.T, b *Backend) {
	if b.RateLimited == nil {
		t.Skip("the emulator has no rate limit")
	}
	before := b.RateLimited()
	for i := range 3 {
		if rs, err := apply(t, b, b.Create(fmt.Sprintf("conformance-rate-%d", i))); err != nil || rs[0].Err != nil {
			t.Fatalf("create under a rate limit: %v %v", err, rs)
		}
	}
	ids := b.Seed(t, 4*b.PageSize, false)
	p := pull(t, b, "")
	resumeFrom(t, b, p) // a burst of pulls
	if got := live(p); len(got) != len(ids)+3 {
		t.Errorf("a pull under a rate limit read %d records, want %d", len(got), len(ids)+3)
	}
	if n := b.RateLimited() - before; n != 0 {
		t.Errorf("%d requests were refused for rate: the client did not pace itself", n)
	}
}

func sessionExpiry(t *testing.T, b *Backend) {
	if b.ExpireSession == nil {
		t.Skip("the emulator's sessions do not expire")
	}
	ids := b.Seed(t, 2, false)
	pull(t, b, "")
	b.ExpireSession()
	sameSet(t, "a pull after the session expired", live(pull(t, b, "")), ids)
	b.ExpireSession()
	if rs, err := apply(t, b, b.Create("conformance-session")); err != nil || rs[0].Err != nil {
		t.Errorf("a write after the session expired: %v %v", err, rs)
	}
}

func malformedRecord(t *testing.T, b *Backend) {
	if b.Malform == nil {
		t.Skip("the emulator cannot serve a malformed record")
	}
	ids := b.Seed(t, 5, false)
	b.Malform(t, ids[2])
	p := pull(t, b, "")
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

func transientFailures(t *testing.T, b *Backend) {
	if b.FailNext == nil {
		t.Skip("the emulator cannot fail on demand")
	}
	ids := b.Seed(t, b.PageSize+1, false)
	b.FailNext(2)
	sameSet(t, "a pull through two 5xx", live(pull(t, b, "")), ids)
	b.FailNext(2)
	if rs, err := apply(t, b, b.Create("conformance-flaky")); err != nil || rs[0].Err != nil {
		t.Errorf("a write through two 5xx: %v %v", err, rs)
	}
	if n := b.Count(t, "conformance-flaky"); n != 1 {
		t.Errorf("a create through two 5xx left %d records, want 1", n)
	}
}
