package hubspot

import (
	"testing"

	"tandem"
)

// TestExisting reads the record a 409 names, and the property when the
// message tells it.
func TestExisting(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want *tandem.ExistsError
	}{
		{"Contact already exists. Existing ID: 123", &tandem.ExistsError{RecordID: "123", Path: "properties.email"}},
		{`e-1: Contact already exists. Existing ID: 9001 (correlationId 1)`, &tandem.ExistsError{RecordID: "9001", Path: "properties.email"}},
		{`A contact with tandem_id "e-1" already exists. Existing ID: 52`, &tandem.ExistsError{RecordID: "52", Path: "properties.tandem_id"}},
		{"Property named 'tandem_id' already exists.", nil},
		{"Duplicate IDs found in batch input", nil},
	} {
		got := existing(tc.msg)
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("existing(%q) = %+v, want %+v", tc.msg, got, tc.want)
		}
	}
}
