package hubspot

import (
	"testing"
	"time"
)

// overwritten finds, per property written, the newest value someone else
// set after the read and before Tandem's own value: not one set before
// the read, not Tandem's own, not one set after Tandem's write.
func TestOverwrittenFromHistory(t *testing.T) {
	obj := []byte(`{"id":"1","propertiesWithHistory":{
		"firstname":[
			{"value":"Ann","timestamp":"2026-01-05T09:00:01.000Z"},
			{"value":"Anna","timestamp":"2026-01-05T09:00:03.000Z"},
			{"value":"Annabel","timestamp":"2026-01-05T09:00:03.500Z"},
			{"value":"Annie","timestamp":"2026-01-05T09:00:04.000Z"},
			{"value":"Later","timestamp":"2026-01-05T09:00:05.000Z"}],
		"lastname":[
			{"value":"Lee","timestamp":"2026-01-05T09:00:01.000Z"},
			{"value":"Lee-Smith","timestamp":"2026-01-05T09:00:04.000Z"}],
		"phone":[
			{"value":"1","timestamp":"2026-01-05T09:00:01.000Z"}]}}`)
	read := time.Date(2026, 1, 5, 9, 0, 2, 0, time.UTC)
	got := overwritten(obj, read, map[string]string{"firstname": "Annie", "lastname": "Lee-Smith", "phone": "2"})
	if len(got) != 1 || got[0].Path != "properties.firstname" || string(got[0].Value) != `"Annabel"` ||
		!got[0].At.Equal(time.Date(2026, 1, 5, 9, 0, 3, 500_000_000, time.UTC)) {
		t.Errorf("overwritten = %+v; want firstname Annabel at 09:00:03.5 only", got)
	}
}
