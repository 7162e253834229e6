package rest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem/connectors/conformance"
	"tandem/connectors/rest/resttest"
)

// The contract, through the connector's own Apply, Pull and Fetch, against
// the two real servers and the emulator. Each costs a few lines.

var (
	record = conformance.Numbered(`{"email":"c%[1]d@example.com","last_name":"L%[1]d"}`)
	edit   = conformance.Numbered(`{"last_name":"Edited %d"}`)
)

const badRecord = `{"email":"not an email","last_name":"Bad"}`

func TestContractJSONServer(t *testing.T) {
	conformance.Contract(t, func(t *testing.T) conformance.Subject {
		js := resttest.StartJSONServer(t)
		t.Setenv("JSON_SERVER_TOKEN", js.Token)
		proxy, u := front(t, js.URL)
		return conformance.Subject{Connector: openConfig(t, resttest.JSONServerSystem(u, 5)), Object: "contacts", PageSize: 5,
			Record: record, Edit: edit, Bad: badRecord, Proxy: proxy, Spoil: spoil("", "updatedAt")}
	})
}

func TestContractPocketBase(t *testing.T) {
	conformance.Contract(t, func(t *testing.T) conformance.Subject {
		pb := resttest.StartPocketBase(t)
		t.Setenv("PB_EMAIL", pb.Email)
		t.Setenv("PB_PASSWORD", pb.Password)
		proxy, u := front(t, pb.URL)
		return conformance.Subject{Connector: openConfig(t, resttest.PocketBaseSystem(u, 5)), Object: "contacts", PageSize: 5,
			Record: record, Edit: edit, Bad: badRecord, Proxy: proxy, Spoil: spoil("items", "updated"),
			ExpireSession: func() { pb.ExpireTokens() }}
	})
}

func TestContractEmulator(t *testing.T) {
	conformance.Contract(t, func(t *testing.T) conformance.Subject {
		em, c := emulator(t, resttest.Options{Limit: 20, Window: time.Second}, "rate_limit: {requests: 20, per: 1s}\nwebhook: {secret: hook, timestamp_header: X-Ts, object: contacts}", linkPaging)
		proxy := conformance.NewProxy(em.Config.Handler)
		em.Config.Handler = proxy
		return conformance.Subject{Connector: c, Object: "contacts", PageSize: 5, Record: record, Edit: edit, Bad: badRecord,
			Proxy: proxy, Spoil: spoil("data", "updated_at"), ExpireSession: em.RevokeTokens, RateLimited: em.RateLimited, Webhook: signed}
	})
}

// spoil makes a record's updated-at unreadable in a list answer.
func spoil(records, updated string) func(r *http.Request, body []byte, id string) []byte {
	return func(r *http.Request, body []byte, id string) []byte {
		if r.Method != http.MethodGet {
			return body
		}
		list, prefix := "@this", ""
		if records != "" {
			list, prefix = records, records+"."
		}
		for i, rec := range gjson.GetBytes(body, list).Array() {
			if gjson.Get(rec.Raw, "id").String() == id {
				body, _ = sjson.SetBytes(body, fmt.Sprintf("%s%d.%s", prefix, i, updated), "not a time")
			}
		}
		return body
	}
}

// signed is a delivery of one event signed with the emulator config's
// webhook secret.
func signed(id string) (string, http.Header, []byte) {
	body := []byte(`[{"id":"evt-` + id + `","record_id":"` + id + `"}]`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte("hook"))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "http://127.0.0.1/webhooks/crm", http.Header{"X-Signature-256": {hex.EncodeToString(mac.Sum(nil))}, "X-Ts": {ts}}, body
}
