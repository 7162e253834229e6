package connectors

import (
	"net/http"
	"time"
)

// RateInfo is what one response's headers say of a system's rate limits.
// A connector reads its API's own headers into it (HubSpot's
// X-HubSpot-RateLimit-*, Salesforce's Sforce-Limit-Info); the shared client
// corrects the system's rate budget from it.
type RateInfo struct {
	Limit     int           // requests allowed per Window; 0 when not given
	Remaining int           // requests left in the current window; -1 when not given
	Window    time.Duration // the window of Limit; 0 when not given

	DailyLimit     int // requests allowed per day (or per rolling 24 h); 0 when not given
	DailyRemaining int // -1 when not given
}

// RateHeaders reads a response's rate-limit headers.
type RateHeaders func(http.Header) RateInfo

// RateLimit is a configured request rate: Requests per Per.
type RateLimit struct {
	Requests int
	Per      time.Duration
}
