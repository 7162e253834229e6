package rest

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// FuzzPage: whatever a list answer holds, reading it does not panic, and
// every record it yields has an id, a time and its own bytes as a JSON
// object; what cannot be read is an error, with the id when there is one.
func FuzzPage(f *testing.F) {
	for _, s := range []string{
		`{"data":[{"id":"c1","updated_at":"2026-01-02T03:04:05.678Z","deleted":false}]}`,
		`{"data":[{"id":7,"updated_at":"2026-01-02T03:04:05Z"},{"id":"x","updated_at":"yesterday"},{"updated_at":"2026-01-02T03:04:05Z"},3]}`,
		`{"data":{"id":"c1"}}`, `[]`, `not json`, `{"data":[{"id":"c","updated_at":1767323045,"deleted":"2026-01-01"}]}`,
	} {
		f.Add([]byte(s), uint8(0))
	}
	formats := []string{"rfc3339", "unix", "unix_ms", "2006-01-02 15:04:05.000Z"}
	f.Fuzz(func(t *testing.T, body []byte, format uint8) {
		ob := objectOptions{Records: "data", ID: "id", Updated: "updated_at", Deleted: "deleted",
			UpdatedFormat: formats[int(format)%len(formats)], Precision: time.Millisecond}
		list, err := records(ob, body)
		if err != nil {
			return
		}
		for _, r := range list {
			rec, err := parseRecord(ob, r)
			if err != nil {
				continue
			}
			if rec.ID == "" || rec.Modified.IsZero() && ob.UpdatedFormat == "rfc3339" {
				t.Fatalf("record %s read with id %q, time %v", r.Raw, rec.ID, rec.Modified)
			}
			var m map[string]any
			if json.Unmarshal(rec.Raw, &m) != nil {
				t.Fatalf("record raw %s is not a JSON object", rec.Raw)
			}
			formatTime(ob, rec.Modified) // writes back without panicking
		}
	})
}

// FuzzRateHeaders: any header values give a limit that is positive or
// none, and a remaining count that is -1 or at least 0.
func FuzzRateHeaders(f *testing.F) {
	f.Add("100", "7", "100;w=10")
	f.Add("", "", "")
	f.Add("-5", "x", "w=")
	f.Add("100, 100;w=60", "-3", `100;w="-1"`)
	read := rateHeaders(0)
	f.Fuzz(func(t *testing.T, limit, remaining, policy string) {
		ri := read(http.Header{"Ratelimit-Limit": {limit}, "Ratelimit-Remaining": {remaining}, "Ratelimit-Policy": {policy}})
		if ri.Limit < 0 || ri.Remaining < -1 || ri.Limit > 0 && ri.Window <= 0 || ri.Limit == 0 && ri.Window != 0 {
			t.Fatalf("headers %q %q %q read as %+v", limit, remaining, policy, ri)
		}
	})
}
