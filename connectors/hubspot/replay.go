package hubspot

import "net/http"

// ReplayKey is the delivery's v3 signature: it covers the request's
// timestamp, so HubSpot's retries are signed anew and the same signature
// twice is a replay (connectors.WebhookReplayGuard).
func (c *Client) ReplayKey(h http.Header) string {
	return h.Get("X-HubSpot-Signature-v3")
}
