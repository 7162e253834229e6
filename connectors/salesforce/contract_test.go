package salesforce

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem/connectors/conformance"
	"tandem/connectors/salesforce/salesforcetest"
)

// The contract (conformance.Contract), through the connector's own
// Apply, Pull and Fetch, against the emulator with a rate limit and
// revocable sessions, and webhooks from a signing relay.
func TestContract(t *testing.T) {
	conformance.Contract(t, func(t *testing.T) conformance.Subject {
		em := salesforcetest.New(salesforcetest.Options{ClientID: "cid", ClientSecret: "secret", BatchSize: 5,
			RateLimit: salesforcetest.RateLimit{Requests: 20, Per: time.Second}})
		proxy := conformance.NewProxy(em)
		srv := httptest.NewServer(proxy)
		t.Cleanup(func() { em.Close(); srv.Close() })
		c, err := New(config(t, "type: salesforce\ninstance_url: "+srv.URL+"\nclient_id: cid\nclient_secret: secret\n"+
			"rate_limit: {requests: 20, per: 1s}\nwebhook: {secret: hook, object: Contact}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return conformance.Subject{Connector: c, Object: "Contact", PageSize: 5,
			Record: conformance.Numbered(`{"LastName":"L%[1]d","Email":"c%[1]d@example.com"}`),
			Edit:   conformance.Numbered(`{"LastName":"Edited %d"}`),
			Bad:    `{"LastName":"Bad","Email":"` + strings.Repeat("x", 90) + `@example.com"}`, // Email holds at most 80 characters
			Proxy:  proxy, ExpireSession: em.RevokeTokens, RateLimited: em.RateLimited, Spoil: spoilQuery, Webhook: relay}
	})
}

// The same contract for Account: nothing in the connector is particular
// to Contact. Its bad record has a Name over 255 characters.
func TestContractAccount(t *testing.T) {
	conformance.Contract(t, func(t *testing.T) conformance.Subject {
		em := salesforcetest.New(salesforcetest.Options{ClientID: "cid", ClientSecret: "secret", BatchSize: 5,
			RateLimit: salesforcetest.RateLimit{Requests: 20, Per: time.Second}})
		proxy := conformance.NewProxy(em)
		srv := httptest.NewServer(proxy)
		t.Cleanup(func() { em.Close(); srv.Close() })
		c, err := New(config(t, "type: salesforce\ninstance_url: "+srv.URL+"\nclient_id: cid\nclient_secret: secret\n"+
			"rate_limit: {requests: 20, per: 1s}\nwebhook: {secret: hook, object: Account}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return conformance.Subject{Connector: c, Object: "Account", PageSize: 5,
			Record: conformance.Numbered(`{"Name":"Company %[1]d","Website":"https://c%[1]d.example.com"}`),
			Edit:   conformance.Numbered(`{"Name":"Edited %d"}`),
			Bad:    `{"Name":"` + strings.Repeat("x", 256) + `"}`,
			Proxy:  proxy, ExpireSession: em.RevokeTokens, RateLimited: em.RateLimited, Spoil: spoilQuery, Webhook: relay}
	})
}

// spoilQuery makes a record's LastModifiedDate unreadable in query batches.
func spoilQuery(r *http.Request, body []byte, id string) []byte {
	if !strings.Contains(r.URL.Path, "/query") {
		return body
	}
	for i, rec := range gjson.GetBytes(body, "records").Array() {
		if strings.HasPrefix(rec.Get("Id").String(), id[:15]) {
			body, _ = sjson.SetBytes(body, fmt.Sprintf("records.%d.LastModifiedDate", i), "not a time")
		}
	}
	return body
}

// relay is a relay's delivery of one change, signed with the generic
// HMAC scheme (hex HMAC-SHA256 of the body).
func relay(id string) (string, http.Header, []byte) {
	body := []byte(`[{"id":"evt-` + id + `","record_id":"` + id + `"}]`)
	mac := hmac.New(sha256.New, []byte("hook"))
	mac.Write(body)
	return "https://tandem.example/webhooks/sf", http.Header{"X-Signature-256": {"sha256=" + hex.EncodeToString(mac.Sum(nil))}}, body
}
