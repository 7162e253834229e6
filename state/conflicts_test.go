package state

import (
	"context"
	"strings"
	"testing"

	"tandem"
)

// ClearedReferences returns the field conflicts of policy "reference" of
// one entity and field, oldest first, and reads them through their index
// rather than the whole table.
func TestClearedReferencesByTheirIndex(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	add := func(entity, field, policy, base string) int64 {
		c := &tandem.Conflict{Entity: entity, EntityID: "e-" + base, Kind: tandem.ConflictField, Field: field, Base: base,
			Values: map[string]tandem.SideValue{}, Policy: policy, Status: tandem.ConflictAuto}
		if err := s.Update(ctx, func(tx *Tx) error { return tx.AddConflict(ctx, c, nil) }); err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	first := add("contact", "company", "reference", "acme")
	add("contact", "company", "newest", "acme")  // another policy
	add("contact", "owner", "reference", "acme") // another field
	add("deal", "company", "reference", "acme")  // another entity
	second := add("contact", "company", "reference", "globex")

	got, err := s.ClearedReferences(ctx, "contact", "company")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != first || got[1].ID != second || got[0].Base != "acme" || got[1].Base != "globex" {
		t.Fatalf("ClearedReferences = %+v, want conflicts %d (acme) and %d (globex)", got, first, second)
	}

	rows, err := s.r.QueryContext(ctx, `EXPLAIN QUERY PLAN SELECT `+conflictCols+` FROM conflicts `+clearedReferences+` ORDER BY id`, "contact", "company", tandem.ConflictField)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if p := strings.Join(plan, "; "); !strings.Contains(p, "conflicts_cleared_references") {
		t.Fatalf("the query plan is %q: want it to use conflicts_cleared_references", p)
	}
}
