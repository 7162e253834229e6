package hubspot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"testing"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem/connectors"
	"tandem/connectors/conformance"
	"tandem/connectors/hubspot/hubspottest"
)

// The contract (conformance.Contract), through the connector's own
// Apply, Pull and Fetch, against the emulator with its limits enforced.
func TestContract(t *testing.T) {
	conformance.Contract(t, func(t *testing.T) conformance.Subject {
		em := hubspottest.New(hubspottest.Options{Tokens: []string{"token-1"}, UniqueProperties: map[string][]string{"contacts": {"tandem_id"}},
			RateLimit: hubspottest.RateLimit{Requests: 20, Per: time.Second}, SearchLimit: hubspottest.RateLimit{Requests: 5, Per: time.Second}})
		proxy := conformance.NewProxy(em)
		srv := httptest.NewServer(proxy)
		t.Cleanup(func() { em.Close(); srv.Close() })
		c, err := newClient(config(t, "type: hubspot\nbase_url: "+srv.URL+"\ntoken: token-1\ntoken_next: token-2\npage_size: 5\nwebhook_secret: hook\n"+
			"rate_limit: {requests: 20, per: 1s}\nsearch_rate_limit: {requests: 5, per: 1s}\n"),
			connectors.HTTPOptions{WaitMin: time.Millisecond, WaitMax: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		tokens := []string{"token-1", "token-2"}
		return conformance.Subject{Connector: c, Object: "contacts", PageSize: 5,
			Record: conformance.Numbered(`{"properties":{"email":"c%[1]d@example.com","lastname":"L%[1]d"}}`),
			Edit:   conformance.Numbered(`{"properties":{"lastname":"Edited %d"}}`),
			Bad:    `{"properties":{"email":"bad@example.com","no_such_property":"x"}}`,
			Proxy:  proxy, RateLimited: em.RateLimited, Spoil: spoilSearch, Webhook: sendV3,
			ExpireSession: func() { tokens[0], tokens[1] = tokens[1], tokens[0]; em.SetTokens(tokens[0]) }}
	})
}

// The same contract for companies: nothing in the connector is particular
// to contacts.
func TestContractCompanies(t *testing.T) {
	conformance.Contract(t, func(t *testing.T) conformance.Subject {
		em := hubspottest.New(hubspottest.Options{Tokens: []string{"token-1"}, UniqueProperties: map[string][]string{"companies": {"tandem_id"}},
			RateLimit: hubspottest.RateLimit{Requests: 20, Per: time.Second}, SearchLimit: hubspottest.RateLimit{Requests: 5, Per: time.Second}})
		proxy := conformance.NewProxy(em)
		srv := httptest.NewServer(proxy)
		t.Cleanup(func() { em.Close(); srv.Close() })
		c, err := newClient(config(t, "type: hubspot\nbase_url: "+srv.URL+"\ntoken: token-1\ntoken_next: token-2\npage_size: 5\nwebhook_secret: hook\n"+
			"rate_limit: {requests: 20, per: 1s}\nsearch_rate_limit: {requests: 5, per: 1s}\n"),
			connectors.HTTPOptions{WaitMin: time.Millisecond, WaitMax: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		tokens := []string{"token-1", "token-2"}
		return conformance.Subject{Connector: c, Object: "companies", PageSize: 5,
			Record: conformance.Numbered(`{"properties":{"name":"Company %[1]d","domain":"c%[1]d.example.com"}}`),
			Edit:   conformance.Numbered(`{"properties":{"name":"Edited %d"}}`),
			Bad:    `{"properties":{"name":"Bad","numberofemployees":"many"}}`,
			Proxy:  proxy, RateLimited: em.RateLimited, Spoil: spoilSearch, Webhook: sendCompanyV3,
			ExpireSession: func() { tokens[0], tokens[1] = tokens[1], tokens[0]; em.SetTokens(tokens[0]) }}
	})
}

// spoilSearch makes a record's updatedAt unreadable in search and list results.
func spoilSearch(r *http.Request, body []byte, id string) []byte {
	if !strings.HasSuffix(r.URL.Path, "/search") && r.URL.Path != "/crm/v3/objects/contacts" && r.URL.Path != "/crm/v3/objects/companies" { // searches and full reads (the list)
		return body
	}
	for i, res := range gjson.GetBytes(body, "results").Array() {
		if res.Get("id").String() == id {
			body, _ = sjson.SetBytes(body, fmt.Sprintf("results.%d.updatedAt", i), "not a time")
		}
	}
	return body
}

// sendV3 is HubSpot's side: a contact.propertyChange event signed with
// the v3 scheme (base64 HMAC-SHA256 of method, URI, body and timestamp).
func sendV3(id string) (string, http.Header, []byte) {
	return sendEvent("contact.propertyChange", "lastname", id)
}

// sendCompanyV3 is sendV3 for a company.
func sendCompanyV3(id string) (string, http.Header, []byte) {
	return sendEvent("company.propertyChange", "name", id)
}

func sendEvent(typ, prop, id string) (string, http.Header, []byte) {
	const uri = "https://sync.example.com/webhooks/hubspot"
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	body := []byte(fmt.Sprintf(`[{"eventId":1,"subscriptionId":7,"portalId":1,"appId":1,"occurredAt":%s,"subscriptionType":%q,"attemptNumber":0,"objectId":%s,"propertyName":%q,"propertyValue":"x","changeSource":"CRM_UI"}]`, ts, typ, id, prop))
	mac := hmac.New(sha256.New, []byte("hook"))
	mac.Write([]byte("POST" + uri + string(body) + ts))
	return uri, http.Header{"X-Hubspot-Signature-V3": {base64.StdEncoding.EncodeToString(mac.Sum(nil))}, "X-Hubspot-Request-Timestamp": {ts}}, body
}
