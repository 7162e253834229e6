package salesforce

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"tandem/connectors"
)

// FuzzReceive: the connector's layer over the generic HMAC receiver
// (FuzzHMACReceive in package connectors fuzzes the signature) never
// panics on a verified delivery; it takes an event only when its object
// is an sObject name and its record id a Salesforce id, and then names
// the record by its 18-character id, as Pull and Fetch do: the 15
// characters given, and the suffix that encodes their case. Seeds: the
// f.Add calls; CI runs it for a bounded count (.ci/run).
func FuzzReceive(f *testing.F) {
	for _, s := range [][3]string{
		{"e1", "Contact", "0035g000000000q"}, {"e2", "Account", "0015g000000000aAAA"}, {"7", "", "003000000000001"},
		{"e", "My_Object__c", "a005g000000000QAAS"}, {"e", "1Bad", "003000000000001"}, {"e", "Contact", "003000000000001AA"},
		{"e", "Contact", "003 00000000001"}, {"e", "Contact", "00300000000000١"}, {"e", "Con\u0130act", "ABCDEFGHIJKLMNO"},
	} {
		f.Add(s[0], s[1], s[2], false)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(webhookBase+"webhook:\n  secret: whsec\n  header: X-Relay-Signature\n  timestamp_header: X-Relay-Timestamp\n  object: Contact\n"), &doc); err != nil {
		f.Fatal(err)
	}
	conn, err := New(connectors.Config{Name: "sf", Type: "salesforce", File: "tandem.yaml", Node: doc.Content[0]})
	if err != nil {
		f.Fatal(err)
	}
	rx := conn.(*Client)
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	f.Fuzz(func(t *testing.T, id, object, record string, deleted bool) {
		if !utf8.ValidString(id + object + record) {
			return // JSON would carry other strings than these
		}
		ev := map[string]any{"id": id, "record_id": record, "deleted": deleted}
		if object != "" {
			ev["object"] = object
		}
		body, _ := json.Marshal([]any{ev})
		evs, err := rx.Receive("POST", "https://tandem.example/webhooks/sf", signedHeader("whsec", now, string(body)), body, now)
		if object == "" {
			object = "Contact"
		}
		valid := id != "" && nameRE.MatchString(object) && idRE.MatchString(record)
		switch {
		case err != nil && valid:
			t.Fatalf("event %s refused: %v", body, err)
		case err != nil:
			return
		case !valid:
			t.Fatalf("event %s taken as %+v", body, evs)
		case len(evs) != 1 || evs[0].ID != id || evs[0].Object != object || evs[0].Deleted != deleted:
			t.Fatalf("event %s read as %+v", body, evs)
		}
		got := evs[0].RecordID
		if len(got) != 18 || got[:15] != record[:15] || len(record) == 18 && got != record {
			t.Fatalf("record id %s read as %s", record, got)
		}
		// The suffix: one character per five, A-Z then 0-5 for the bit
		// pattern of which of the five are upper-case letters.
		for chunk := range 3 {
			n := 0
			for i := range 5 {
				if c := got[chunk*5+i]; c >= 'A' && c <= 'Z' {
					n += 1 << i
				}
			}
			if len(record) == 15 && got[15+chunk] != "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[n] {
				t.Fatalf("record id %s read as %s: suffix %d is not the case of %s", record, got, chunk, got[chunk*5:chunk*5+5])
			}
		}
		if strings.ToUpper(got[15:]) != got[15:] && len(record) == 15 {
			t.Fatalf("suffix of %s not upper case", got)
		}
	})
}
