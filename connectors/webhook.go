package connectors

import (
	"fmt"
	"net/http"
	"time"
)

// Event is one change a webhook delivery announced: which record of which
// object, and whether it was deleted. Deliveries are thin: the record
// itself is fetched (Fetcher) before it is merged.
type Event struct {
	// ID identifies the event at its system: a delivery sent again (the
	// system retried it, or it was replayed) carries the same ID and is
	// stored once.
	ID       string
	Object   string // the system's object ("contacts", "Contact")
	RecordID string
	Deleted  bool      // the event says the record was deleted
	At       time.Time // when it happened, by the system's clock; zero if not said
}

// WebhookReceiver is a connector that can take webhook deliveries.
type WebhookReceiver interface {
	// Receive verifies one delivery and returns its events. uri is the
	// full URI the system called (scheme, host, path and query, as the
	// sender saw it), body the whole request body, now the time to judge
	// a timestamp by. A delivery that fails verification (no signature, a
	// wrong one, a stale timestamp) returns a *WebhookRejected; one that
	// verifies but cannot be parsed returns another error.
	Receive(method, uri string, header http.Header, body []byte, now time.Time) ([]Event, error)
}

// WebhookRejected is a delivery that failed verification: answered 401,
// and nothing of it is kept.
type WebhookRejected struct {
	System string
	Reason string // "no signature", "bad signature", "stale timestamp"…, never a secret
}

func (e *WebhookRejected) Error() string {
	return fmt.Sprintf("%s: webhook rejected: %s", e.System, e.Reason)
}

// WebhookReplayGuard is a WebhookReceiver whose signatures cover a
// timestamp, so that a sender's retry is signed anew and the same signed
// request arriving twice is a replay. ReplayKey returns what identifies a
// delivery's signature (the signature header's value), or "" when the
// delivery carries none. The daemon refuses a key it has accepted before.
type WebhookReplayGuard interface {
	ReplayKey(header http.Header) string
}
