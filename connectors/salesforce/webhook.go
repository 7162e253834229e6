package salesforce

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"tandem/connectors"
)

var _ connectors.WebhookReceiver = (*Client)(nil)

// Salesforce sends no HMAC-signed webhooks of its own: Outbound Messages
// are SOAP, vouched for by a client certificate rather than a signature,
// and Change Data Capture and Platform Events are subscribed to, not
// pushed. What the connector takes is a relay's: a Flow's HTTP callout,
// an Apex callout, or middleware that POSTs the ids of changed records to
// Tandem, signed with HMAC-SHA256. The webhook: option configures that
// scheme (connectors.HMACConfig).

// openWebhook builds the receiver of o.Webhook, nil when it is not set.
// On an error, key is the option at fault ("webhook.secret").
func openWebhook(system string, o Options) (rx *connectors.HMACReceiver, key string, err error) {
	if o.Webhook == nil {
		return nil, "", nil
	}
	rx, err = connectors.NewHMACReceiver(system, *o.Webhook)
	var ce *connectors.HMACConfigError
	switch {
	case errors.As(err, &ce):
		return nil, "webhook." + ce.Key, errors.New(ce.Msg)
	case err != nil:
		return nil, "webhook", err
	}
	return rx, "", nil
}

// Receive verifies a delivery of the generic HMAC webhook and returns its
// events (see connectors.HMACReceiver). Without the webhook: option every
// delivery is refused, as a *connectors.WebhookRejected "no webhook
// configured". An event's object must be an sObject name and its record
// id a Salesforce id; a 15-character id becomes the 18-character form
// that Pull and Fetch return, so both name the record alike.
func (c *Client) Receive(method, uri string, header http.Header, body []byte, now time.Time) ([]connectors.Event, error) {
	if c.webhook == nil {
		return nil, &connectors.WebhookRejected{System: c.system, Reason: "no webhook configured"}
	}
	events, err := c.webhook.Receive(method, uri, header, body, now)
	if err != nil {
		return nil, err
	}
	for i, ev := range events {
		if !nameRE.MatchString(ev.Object) {
			return nil, fmt.Errorf("%s: webhook event %d: object: %q is not a Salesforce object name", c.system, i, clip(ev.Object, 80))
		}
		if !idRE.MatchString(ev.RecordID) {
			return nil, fmt.Errorf("%s: webhook event %d: record_id: %q is not a Salesforce id (15 or 18 letters and digits)", c.system, i, clip(ev.RecordID, 40))
		}
		events[i].RecordID = longID(ev.RecordID)
	}
	return events, nil
}

// longID is the 18-character form of a 15-character Salesforce id: the
// id and a suffix that encodes which of its letters are upper case, one
// character for each five (Salesforce's own checksum). An 18-character
// id is returned as it is.
func longID(id string) string {
	if len(id) != 15 {
		return id
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	suffix := make([]byte, 3)
	for chunk := range 3 {
		n := 0
		for i := range 5 {
			if c := id[chunk*5+i]; 'A' <= c && c <= 'Z' {
				n |= 1 << i
			}
		}
		suffix[chunk] = alphabet[n]
	}
	return id + string(suffix)
}

// ReplayKey is the generic webhook's replay key (see
// connectors.HMACReceiver.ReplayKey), "" without the webhook option.
func (c *Client) ReplayKey(h http.Header) string {
	if c.webhook == nil {
		return ""
	}
	return c.webhook.ReplayKey(h)
}
