package connectors

import (
	"time"
)

// Health is how one system's client is doing, for `tandem status`: its
// circuit breaker, its rate budget and the daily quota. Times are zero
// when the thing has not happened yet.
type Health struct {
	Breaker      string    `json:"breaker"` // "closed", "open" or "half-open"
	BreakerSince time.Time `json:"breaker_since,omitzero"`
	Failures     int       `json:"failures"` // failed calls in a row

	// Rate is the budget's pace in requests per second; 0 with source
	// "none": unlimited, until the API's headers tell a limit. Source is
	// "none", "config" or "headers".
	Rate       float64   `json:"rate"`
	RateSource string    `json:"rate_source"`
	RateSince  time.Time `json:"rate_since,omitzero"`
	// HeldUntil: every call waits until then (the API said its window is
	// spent, or asked to wait after a 429).
	HeldUntil time.Time `json:"held_until,omitzero"`
	HeldWhy   string    `json:"held_why,omitempty"`
	// Limits is the last RateInfo read from a response, nil before one.
	Limits *LimitsSeen `json:"limits,omitempty"`

	// WritesPaused: the daily quota is down to its reserve; ReadsPaused:
	// it is spent. QuotaSince is when that last changed.
	WritesPaused bool      `json:"writes_paused"`
	ReadsPaused  bool      `json:"reads_paused"`
	QuotaSince   time.Time `json:"quota_since,omitzero"`
}

// LimitsSeen is a RateInfo as Health shows it; -1 is "not given".
type LimitsSeen struct {
	Limit          int       `json:"limit"`
	Remaining      int       `json:"remaining"`
	WindowSeconds  float64   `json:"window_seconds"`
	DailyLimit     int       `json:"daily_limit"`
	DailyRemaining int       `json:"daily_remaining"`
	At             time.Time `json:"at"`
}

// Healther is a connector that can tell how its system's client is doing;
// `tandem status` shows it. A connector built on HTTP implements it by
// returning its client's Health.
type Healther interface {
	Health() Health
}

// Health reports the client's breaker, rate budget and daily quota.
func (h *HTTP) Health() Health {
	var hl Health
	hl.Breaker, hl.BreakerSince, hl.Failures = h.breaker.state()
	b := h.budget
	b.mu.Lock()
	defer b.mu.Unlock()
	hl.Rate = b.win.rate()
	hl.RateSource, hl.RateSince = b.source, b.rateSince
	if time.Now().Before(b.holdUntil) {
		hl.HeldUntil, hl.HeldWhy = b.holdUntil, b.holdWhy
	}
	if !b.seenAt.IsZero() {
		s := b.seen
		hl.Limits = &LimitsSeen{Limit: s.Limit, Remaining: s.Remaining, WindowSeconds: s.Window.Seconds(),
			DailyLimit: s.DailyLimit, DailyRemaining: s.DailyRemaining, At: b.seenAt}
	}
	hl.WritesPaused, hl.ReadsPaused, hl.QuotaSince = b.writesPaused, b.readsPaused, b.quotaSince
	return hl
}
