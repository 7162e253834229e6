package report

import (
	"bytes"
	"strings"
	"testing"

	"tandem"
)

// A decision with no system's value (a reference cleared because its
// target was deleted) renders in every format.
func TestDecisionWithoutSides(t *testing.T) {
	c := tandem.Conflict{ID: 3, Entity: "contact", EntityID: "e1", Kind: tandem.ConflictField, Field: "company", Base: "c9",
		Values: map[string]tandem.SideValue{}, Policy: "reference", Status: tandem.ConflictAuto, Decided: "cleared: the record it pointed to is deleted"}
	for _, f := range []string{"table", "json", "csv"} {
		var b bytes.Buffer
		if err := Write(&b, f, []tandem.Conflict{c}); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !strings.Contains(b.String(), "reference") {
			t.Errorf("%s: the policy is not shown:\n%s", f, b.String())
		}
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, []tandem.Conflict{c}, Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "cleared: the record it pointed to is deleted") {
		t.Error("the HTML report does not say what was decided")
	}
}
