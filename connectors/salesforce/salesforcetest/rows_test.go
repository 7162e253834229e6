package salesforcetest

import (
	"net/http"
	"testing"
	"time"
)

// PATCH sobjects/{Object}/{id} updates one record (204, no body); with
// If-Unmodified-Since it updates only a record not modified after that
// date, to the second, and answers 412 otherwise; a bad date is 400.
func TestRowUpdateIfUnmodifiedSince(t *testing.T) {
	c, clk := newClient(t, Options{})
	id := mustCreate(t, c.s.Emulator, "Contact", map[string]any{"LastName": "Lee"})
	read := c.s.Get // the record as the test API sees it
	created, _ := read("Contact", id)
	path := dataPrefix + "sobjects/Contact/" + id

	if st, res, _ := c.do("PATCH", path, map[string]any{"FirstName": "Ann"}); st != http.StatusNoContent || res.Exists() {
		t.Fatalf("unconditional PATCH: %d %s, want 204 and no body", st, res.Raw)
	}
	clk.Add(2 * time.Second)
	r, _ := read("Contact", id)
	since := r.LastModifiedDate.UTC().Format(http.TimeFormat)

	// Not modified since: applied, and stamped.
	clk.Add(300 * time.Millisecond)
	c.hdr.Set("If-Unmodified-Since", since)
	if st, res, _ := c.do("PATCH", path, map[string]any{"Title": "Clerk"}); st != http.StatusNoContent {
		t.Fatalf("PATCH unmodified since %s: %d %s, want 204", since, st, res.Raw)
	}
	if r, _ := read("Contact", id); r.Fields["Title"] != "Clerk" || !r.LastModifiedDate.After(created.LastModifiedDate) {
		t.Errorf("after the conditional PATCH: %+v", r)
	}
	// Modified since (by the PATCH just made, 2.3 s after since): refused,
	// the record untouched.
	clk.Add(time.Second)
	if st, res, _ := c.do("PATCH", path, map[string]any{"Title": "Boss"}); st != http.StatusPreconditionFailed || errorCode(res) != "PRECONDITION_FAILED" {
		t.Errorf("PATCH of a record modified since %s: %d %s, want 412 PRECONDITION_FAILED", since, st, res.Raw)
	}
	if r, _ := read("Contact", id); r.Fields["Title"] != "Clerk" {
		t.Errorf("title after a refused PATCH = %v, want Clerk", r.Fields["Title"])
	}
	c.hdr.Set("If-Unmodified-Since", "yesterday")
	if st, res, _ := c.do("PATCH", path, map[string]any{"Title": "Boss"}); st != http.StatusBadRequest {
		t.Errorf("PATCH with a bad If-Unmodified-Since: %d %s, want 400", st, res.Raw)
	}
	c.hdr.Del("If-Unmodified-Since")
	c.s.Delete("Contact", id)
	if st, res, _ := c.do("PATCH", path, map[string]any{"Title": "Boss"}); st != http.StatusNotFound || errorCode(res) != "ENTITY_IS_DELETED" {
		t.Errorf("PATCH of a deleted record: %d %s, want 404 ENTITY_IS_DELETED", st, res.Raw)
	}
	if st, _, _ := c.do("PATCH", path, map[string]any{"NoSuchField": "x"}); st != http.StatusBadRequest && st != http.StatusNotFound {
		t.Errorf("PATCH with an unknown field: %d, want 400", st)
	}
}

// POST composite runs sObject Rows subrequests in order and answers each by
// referenceId, with its own status: a conditional PATCH of a record
// modified since is 412 there while the others are applied; more than 25
// subrequests are refused whole.
func TestCompositeRowUpdates(t *testing.T) {
	c, clk := newClient(t, Options{})
	a := mustCreate(t, c.s.Emulator, "Contact", map[string]any{"LastName": "A"})
	b := mustCreate(t, c.s.Emulator, "Contact", map[string]any{"LastName": "B"})
	ra, _ := c.s.Get("Contact", a)
	since := ra.LastModifiedDate.UTC().Format(http.TimeFormat)
	clk.Add(2 * time.Second)
	c.s.Update("Contact", b, map[string]any{"FirstName": "edited"}) // b modified after since
	sub := func(ref, id string) map[string]any {
		return map[string]any{"method": "PATCH", "url": dataPrefix + "sobjects/Contact/" + id, "referenceId": ref,
			"httpHeaders": map[string]string{"If-Unmodified-Since": since}, "body": map[string]any{"Title": "T"}}
	}
	st, res, _ := c.do("POST", dataPrefix+"composite", map[string]any{"allOrNone": false, "compositeRequest": []any{sub("ra", a), sub("rb", b)}})
	if st != http.StatusOK {
		t.Fatalf("composite: %d %s", st, res.Raw)
	}
	got := map[string]int64{}
	for _, r := range res.Get("compositeResponse").Array() {
		got[r.Get("referenceId").String()] = r.Get("httpStatusCode").Int()
	}
	if got["ra"] != http.StatusNoContent || got["rb"] != http.StatusPreconditionFailed {
		t.Errorf("subrequest statuses %v; want ra 204, rb 412", got)
	}
	if r, _ := c.s.Get("Contact", a); r.Fields["Title"] != "T" {
		t.Errorf("A's title = %v, want T", r.Fields["Title"])
	}
	if r, _ := c.s.Get("Contact", b); r.Fields["Title"] != nil {
		t.Errorf("B's title = %v, want none (refused)", r.Fields["Title"])
	}
	var many []any
	for i := range 26 {
		many = append(many, sub("r"+string(rune('a'+i)), a))
	}
	if st, res, _ := c.do("POST", dataPrefix+"composite", map[string]any{"compositeRequest": many}); st != http.StatusBadRequest {
		t.Errorf("26 subrequests: %d %s, want 400", st, res.Raw)
	}
}
