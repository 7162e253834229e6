package hubspot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
)

// Webhooks. A HubSpot app's webhook subscriptions POST a JSON array of
// events (at most 100 a request) to the daemon, signed with the app's
// client secret by HubSpot's v3 scheme (HubSpot's "Validating requests"
// page, section "Validate the v3 request signature"):
//
//	source    = method + URI + body + X-HubSpot-Request-Timestamp
//	signature = base64(HMAC-SHA256(client secret, source))
//
// compared with X-HubSpot-Signature-v3. The URI is the full URI HubSpot
// called, with the twelve characters HubSpot's page lists decoded first
// (%3A, %2F, %3F, %40, %21, %24, %27, %28, %29, %2A, %2C, %3B). The
// timestamp is milliseconds since the epoch, and a delivery more than five
// minutes old is refused, as the page says; so is one more than five
// minutes in the future, which only a wrong clock (or a forgery) makes.
//
// Deliveries are thin: an event names a record, never its values, so the
// daemon fetches the records (Fetch, in batches) before it merges them.

var _ connectors.WebhookReceiver = (*Client)(nil)

const (
	signatureHeader = "X-HubSpot-Signature-v3"
	timestampHeader = "X-HubSpot-Request-Timestamp"
	// webhookWindow is how far a delivery's timestamp may be from now,
	// either way.
	webhookWindow = 5 * time.Minute
)

// loadWebhookSecret sets the secret that verifies deliveries from the
// config: webhook_secret or webhook_secret_file, trimmed. Neither leaves
// webhooks refused, not the connector: a system that is only polled
// needs none. Errors name the key or the file, never the value.
func (c *Client) loadWebhookSecret(cfg connectors.Config, o options) error {
	switch {
	case o.WebhookSecret != "" && o.WebhookSecretFile != "":
		return cfg.Errorf("webhook_secret_file", "set webhook_secret or webhook_secret_file, not both")
	case o.WebhookSecretFile != "":
		b, err := os.ReadFile(o.WebhookSecretFile)
		if err != nil {
			return cfg.Errorf("webhook_secret_file", "%v", err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return cfg.Errorf("webhook_secret_file", "%s is empty: it must hold the app's client secret", o.WebhookSecretFile)
		}
		c.webhookSecret = []byte(s)
	default:
		c.webhookSecret = []byte(strings.TrimSpace(o.WebhookSecret))
	}
	return nil
}

// Receive verifies one delivery by HubSpot's v3 signature and returns its
// events. A delivery that fails verification is a
// *connectors.WebhookRejected whose reason never holds the secret or the
// signature expected; one that verifies but cannot be read is a
// *tandem.Error naming the event and what is wrong with it.
func (c *Client) Receive(method, uri string, header http.Header, body []byte, now time.Time) ([]connectors.Event, error) {
	reject := func(reason string) ([]connectors.Event, error) {
		return nil, &connectors.WebhookRejected{System: c.name, Reason: reason}
	}
	if len(c.webhookSecret) == 0 {
		return reject("no webhook_secret configured")
	}
	sig := headerValue(header, signatureHeader)
	if sig == "" {
		return reject("no signature")
	}
	ts := headerValue(header, timestampHeader)
	if ts == "" {
		return reject("no timestamp")
	}
	// Epoch milliseconds as HubSpot writes them: digits only. ParseInt
	// alone would also take "+1741064700000".
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ms <= 0 || strings.TrimLeft(ts, "0123456789") != "" {
		return reject("bad timestamp")
	}
	if age := now.Sub(time.UnixMilli(ms)); age > webhookWindow || age < -webhookWindow {
		return reject("stale timestamp") // either way, as connectors.HMACReceiver says it
	}
	want := signV3(c.webhookSecret, method, uri, body, ts)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return reject("bad signature")
	}
	return c.parseEvents(body)
}

// signV3 is HubSpot's v3 signature of a request: what a delivery's
// X-HubSpot-Signature-v3 holds. timestamp is the
// X-HubSpot-Request-Timestamp header exactly as sent.
func signV3(secret []byte, method, uri string, body []byte, timestamp string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(method))
	mac.Write([]byte(decodeURI(uri)))
	mac.Write(body)
	mac.Write([]byte(timestamp))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// uriDecoded are the escapes HubSpot decodes in the URI it signs, and
// only these: any other escape (%20, %25 …) is signed as it stands.
var uriDecoded = map[string]byte{
	"3A": ':', "2F": '/', "3F": '?', "40": '@', "21": '!', "24": '$',
	"27": '\'', "28": '(', "29": ')', "2A": '*', "2C": ',', "3B": ';',
}

// decodeURI decodes in uri the escapes HubSpot's v3 signature decodes,
// in one pass, so that a decoded '%' never starts another escape (none of
// them is '%' anyway). HubSpot lists them in upper case; lower-case hex
// is the same escape and is decoded too.
func decodeURI(uri string) string {
	if !strings.Contains(uri, "%") {
		return uri
	}
	var b strings.Builder
	b.Grow(len(uri))
	for i := 0; i < len(uri); i++ {
		if uri[i] == '%' && i+2 < len(uri) {
			if c, ok := uriDecoded[strings.ToUpper(uri[i+1:i+3])]; ok {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(uri[i])
	}
	return b.String()
}

// headerValue reads a header by name whatever the case of the map's keys:
// net/http canonicalises them (X-Hubspot-Signature-V3), a header map
// built by hand may not.
func headerValue(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// webhookObjects are the objects of the subscription types' prefixes
// (contact.creation …) and of the generic subscriptions' objectTypeId
// (object.creation …). Other prefixes (conversation.*, and objects Tandem
// does not map) are skipped.
var webhookObjects = map[string]string{
	"contact": "contacts", "company": "companies", "deal": "deals", "ticket": "tickets",
	"0-1": "contacts", "0-2": "companies", "0-3": "deals", "0-5": "tickets",
}

// webhookActions are the subscription types' actions that change a
// record: created, changed, restored from the recycle bin, deleted
// (archived, or deleted for good on a privacy request), merged.
var webhookActions = map[string]bool{
	"creation": true, "propertyChange": true, "restore": true,
	"deletion": true, "privacyDeletion": true, "merge": true,
}

// parseEvents reads a delivery's body: a JSON array of event objects.
// Each needs an eventId and an objectId; an event whose subscription is
// about something Tandem does not sync (an unknown object, an association
// change) is skipped.
func (c *Client) parseEvents(body []byte) ([]connectors.Event, error) {
	bad := func(format string, args ...any) ([]connectors.Event, error) {
		return nil, &tandem.Error{Op: "webhook", System: c.name, Message: fmt.Sprintf(format, args...)}
	}
	if !gjson.ValidBytes(body) {
		return bad("the body is not JSON: %.100q", body)
	}
	all := gjson.ParseBytes(body)
	if !all.IsArray() {
		return bad("the body is not a JSON array of events: %.100s", all.Raw)
	}
	var out []connectors.Event
	for i, ev := range all.Array() {
		if !ev.IsObject() {
			return bad("event %d is not a JSON object: %.100s", i, ev.Raw)
		}
		eventID, ok := webhookID(ev.Get("eventId"))
		if !ok {
			return bad("event %d: eventId %s is not an id", i, orMissing(ev.Get("eventId")))
		}
		st := ev.Get("subscriptionType")
		if st.Type != gjson.String || st.Str == "" {
			return bad("event %d (eventId %s): subscriptionType %s is not a string", i, eventID, orMissing(st))
		}
		prefix, action, _ := strings.Cut(st.Str, ".")
		if prefix == "object" { // a generic subscription names its object by type id
			prefix = ev.Get("objectTypeId").String()
		}
		object := webhookObjects[prefix]
		if object == "" || !webhookActions[action] {
			// Not a record Tandem syncs, or not a change to a record
			// (associationChange …): nothing to fetch. Such events may
			// lack an objectId, so they are not read any further.
			continue
		}
		objectID, ok := webhookID(ev.Get("objectId"))
		if !ok {
			return bad("event %d (eventId %s): objectId %s is not an id", i, eventID, orMissing(ev.Get("objectId")))
		}
		var at time.Time
		if v := ev.Get("occurredAt"); v.Exists() {
			ms, ok := webhookInt(v)
			if !ok {
				return bad("event %d (eventId %s): occurredAt %s is not a time in milliseconds", i, eventID, v.Raw)
			}
			at = time.UnixMilli(ms).UTC()
		}
		// HubSpot says eventId alone is "not guaranteed to be unique";
		// with the portal and the subscription it names one event, and a
		// retry of it carries the same three.
		id := ev.Get("portalId").String() + "-" + ev.Get("subscriptionId").String() + "-" + eventID
		one := func(id, record string, deleted bool) {
			out = append(out, connectors.Event{ID: id, Object: object, RecordID: record, Deleted: deleted, At: at})
		}
		switch action {
		case "creation", "propertyChange", "restore":
			one(id, objectID, false)
		case "deletion", "privacyDeletion":
			one(id, objectID, true)
		case "merge":
			evs, err := mergeEvents(ev, objectID)
			if err != nil {
				return bad("event %d (eventId %s): %v", i, eventID, err)
			}
			for _, m := range evs {
				one(id+"-"+m.RecordID, m.RecordID, m.Deleted)
			}
		}
	}
	return out, nil
}

// mergeEvents are the records a merge touched: the records merged away
// (mergedObjectIds) are gone; the one that remains (primaryObjectId, or
// newObjectId when the merge made a new record, and the event's objectId)
// changed. An id is named once, deleted if the merge took it away.
func mergeEvents(ev gjson.Result, objectID string) ([]connectors.Event, error) {
	var out []connectors.Event
	seen := map[string]bool{}
	merged := ev.Get("mergedObjectIds")
	if merged.Exists() && !merged.IsArray() {
		return nil, fmt.Errorf("mergedObjectIds %.100s is not an array of ids", merged.Raw)
	}
	for _, m := range merged.Array() {
		id, ok := webhookID(m)
		if !ok {
			return nil, fmt.Errorf("mergedObjectIds holds %.100s, not an id", m.Raw)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, connectors.Event{RecordID: id, Deleted: true})
		}
	}
	changed := []string{objectID}
	for _, key := range []string{"primaryObjectId", "newObjectId"} {
		v := ev.Get(key)
		if !v.Exists() || v.Type == gjson.Null {
			continue
		}
		id, ok := webhookID(v)
		if !ok {
			return nil, fmt.Errorf("%s %.100s is not an id", key, v.Raw)
		}
		changed = append(changed, id)
	}
	for _, id := range changed {
		if !seen[id] {
			seen[id] = true
			out = append(out, connectors.Event{RecordID: id})
		}
	}
	return out, nil
}

// webhookID reads an id HubSpot sends as a JSON number, or as a string of
// digits: a whole number from 0 to 2^63-1, its text kept exactly, since
// float64 would round ids past 2^53.
func webhookID(v gjson.Result) (string, bool) {
	var s string
	switch v.Type {
	case gjson.Number:
		s = v.Raw
	case gjson.String:
		s = v.Str
	default:
		return "", false
	}
	if _, err := strconv.ParseUint(s, 10, 63); err != nil {
		return "", false
	}
	return s, true
}

func webhookInt(v gjson.Result) (int64, bool) {
	id, ok := webhookID(v)
	if !ok {
		return 0, false
	}
	n, _ := strconv.ParseInt(id, 10, 64)
	return n, true
}

// ReplayKey is the delivery's v3 signature: it covers the request's
// timestamp, so HubSpot's retries are signed anew and the same signature
// twice is a replay (connectors.WebhookReplayGuard).
func (c *Client) ReplayKey(h http.Header) string {
	return headerValue(h, signatureHeader)
}
