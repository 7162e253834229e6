package salesforce

import "net/http"

// ReplayKey is the generic webhook's replay key (see
// connectors.HMACReceiver.ReplayKey), "" without the webhook option.
func (c *Client) ReplayKey(h http.Header) string {
	if c.webhook == nil {
		return ""
	}
	return c.webhook.ReplayKey(h)
}
