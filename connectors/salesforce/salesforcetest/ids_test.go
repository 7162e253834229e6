package salesforcetest

import (
	"sort"
	"strings"
	"testing"
)

func TestChecksumKnownExample(t *testing.T) {
	// The example Salesforce's own documentation and tools use.
	if got := ID18("001A0000006Vm9r"); got != "001A0000006Vm9rIAC" {
		t.Fatalf("ID18 = %s, want 001A0000006Vm9rIAC", got)
	}
}

func TestNormalizeID(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"001A0000006Vm9r", "001A0000006Vm9rIAC", true},
		{"001A0000006Vm9rIAC", "001A0000006Vm9rIAC", true},
		// Case lost by a case-insensitive system: the checksum restores it.
		{"001a0000006vm9riac", "001A0000006Vm9rIAC", true},
		{"001A0000006VM9RIAC", "001A0000006Vm9rIAC", true},
		// A 15-character id is case-sensitive: another case is another id.
		{"001a0000006vm9r", "001a0000006vm9rAAA", true},
		// The checksum marks an upper-case letter where there is a digit.
		{"001A0000006Vm9rIAZ", "", false},
		{"001A0000006Vm9rIA", "", false},
		{"001A0000006Vm9-IAC", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeID(tt.in)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("NormalizeID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMintedIDs(t *testing.T) {
	var ids []string
	for _, n := range []int{1, 2, 61, 62, 63, 3844, 1_000_000} {
		id := mintID("003", n)
		if len(id) != 18 || !strings.HasPrefix(id, "003") {
			t.Fatalf("mintID(%d) = %q: want 18 characters with prefix 003", n, id)
		}
		if got, ok := NormalizeID(strings.ToLower(id)); !ok || got != id {
			t.Fatalf("minted id %s does not survive losing its case: %q %v", id, got, ok)
		}
		ids = append(ids, id)
	}
	// Minted in order, they sort in order: List and ORDER BY Id rely on it.
	if !sort.StringsAreSorted(ids) {
		t.Fatalf("minted ids do not sort in minting order: %v", ids)
	}
}
