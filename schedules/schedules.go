// Package schedules is the daemon's clock: cron specs per entity for
// incremental passes and reconciliation sweeps. Specs are checked when the
// config is loaded, so a typo fails at start-up, not at 3 a.m.
package schedules

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Parse checks a standard five-field cron spec ("*/5 * * * *", or a
// descriptor such as "@hourly") and returns its schedule, in UTC.
func Parse(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("bad cron spec %q: %w", spec, err)
	}
	return s, nil
}

// Next returns when a spec next fires after t, in UTC.
func Next(spec string, t time.Time) (time.Time, error) {
	s, err := Parse(spec)
	if err != nil {
		return time.Time{}, err
	}
	return s.Next(t.UTC()), nil
}
