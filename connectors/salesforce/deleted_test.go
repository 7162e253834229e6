package salesforce

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/connectors/salesforce/salesforcetest"
)

// FetchDeleted finds the records of the recycle bin among ids, each timed
// by the SystemModstamp its delete stamped (not by when it was asked),
// through queryAll in queries of 200 ids; live, unknown and malformed ids
// are left out.
func TestFetchDeleted(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	var ids []string
	for i := range 250 {
		ids = append(ids, f.create(t, "Contact", map[string]any{"LastName": fmt.Sprint(i)}))
	}
	deletedAt := map[string]time.Time{}
	for _, id := range []string{ids[7], ids[220]} {
		f.clk.Add(time.Minute)
		if err := f.sf.Delete("Contact", id); err != nil {
			t.Fatal(err)
		}
		r, _ := f.sf.Get("Contact", id)
		if !r.IsDeleted || !r.SystemModstamp.After(r.CreatedDate) {
			t.Fatalf("the emulator's delete did not stamp %s: %+v", id, r)
		}
		deletedAt[id] = r.SystemModstamp
	}
	f.clk.Add(24 * time.Hour) // asked a day later
	recs, err := f.c.FetchDeleted(context.Background(), tandem.Query{Object: "Contact"}, append(ids, "not-an-id", "003000000000000AAA"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("FetchDeleted found %v, want the 2 deleted records", recordIDs(recs))
	}
	for _, r := range recs {
		if !r.Deleted || !r.Modified.Equal(deletedAt[r.ID]) || r.Precision != time.Second {
			t.Errorf("record %s: deleted %v at %s, want deleted at its SystemModstamp %s", r.ID, r.Deleted, r.Modified, deletedAt[r.ID])
		}
	}
	queries := 0
	for _, r := range f.sf.Requests() {
		if strings.Contains(r.Path, "/queryAll") {
			queries++
		}
	}
	if queries != 2 {
		t.Errorf("%d queries for 252 ids, want 2", queries)
	}
}
