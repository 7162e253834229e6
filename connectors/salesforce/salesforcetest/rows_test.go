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
	clk.Add(300 * time.Millisecond) // the same second as the last change
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
