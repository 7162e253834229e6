package schedules

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	from := time.Date(2026, 11, 21, 10, 2, 0, 0, time.UTC)
	for spec, want := range map[string]time.Time{
		"*/5 * * * *": time.Date(2026, 11, 21, 10, 5, 0, 0, time.UTC),
		"0 3 * * *":   time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC),
		"@hourly":     time.Date(2026, 11, 21, 11, 0, 0, 0, time.UTC),
	} {
		got, err := Next(spec, from)
		if err != nil || !got.Equal(want) {
			t.Errorf("Next(%q) = %v, %v; want %v", spec, got, err, want)
		}
	}
	for _, bad := range []string{"", "every day", "* * * *", "61 * * * *", "* * * * * *"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
