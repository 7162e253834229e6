package hubspot

import (
	"context"
	"fmt"
	"testing"
	"time"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
)

// FetchDeleted finds the archived records among ids, each timed by its
// archivedAt (not by when it was asked), in calls of 100 ids; live and
// unknown ids are left out.
func TestFetchDeleted(t *testing.T) {
	clk := &fixedClock{t: time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)}
	srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
	defer srv.Close()
	var ids []string
	for i := range 150 {
		id, err := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%03d@example.com", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	deletedAt := map[string]time.Time{}
	for i, id := range []string{ids[3], ids[120]} {
		clk.t = time.Date(2024, 5, 6, 8, i, 0, 0, time.UTC)
		deletedAt[id] = clk.t
		if err := srv.Delete("contacts", id); err != nil {
			t.Fatal(err)
		}
	}
	clk.t = time.Date(2024, 5, 7, 0, 0, 0, 0, time.UTC) // asked a day later
	c := open(t, srv, "")
	recs, err := c.FetchDeleted(context.Background(), tandem.Query{Object: "contacts"}, append(ids, "999999999"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("FetchDeleted found %d records, want the 2 archived ones", len(recs))
	}
	for _, r := range recs {
		if !r.Deleted || !r.Modified.Equal(deletedAt[r.ID]) {
			t.Errorf("record %s: deleted %v at %s, want deleted at its archivedAt %s", r.ID, r.Deleted, r.Modified, deletedAt[r.ID])
		}
	}
	calls := 0
	for _, r := range srv.Requests() {
		if r.Path == "/crm/v3/objects/contacts/batch/read" {
			calls++
			if r.RawQuery != "archived=true" {
				t.Errorf("batch read with query %q, want archived=true", r.RawQuery)
			}
		}
	}
	if calls != 2 {
		t.Errorf("%d batch reads for 151 ids, want 2", calls)
	}
}
