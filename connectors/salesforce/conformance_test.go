package salesforce

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors/conformance"
	"tandem/connectors/salesforce/salesforcetest"
)

// The conformance suite, against the emulator with small query batches,
// a rate limit it enforces (Salesforce has none per second; the emulator's
// is a test aid) and sessions that can be revoked.
func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) *conformance.Backend {
		clock := &conformance.HoldClock{}
		em := salesforcetest.New(salesforcetest.Options{ClientID: "cid", ClientSecret: "secret", BatchSize: 5, Now: clock.Now,
			RateLimit: salesforcetest.RateLimit{Requests: 20, Per: time.Second}})
		proxy := conformance.NewProxy(em)
		srv := httptest.NewServer(proxy)
		t.Cleanup(func() { em.Close(); srv.Close() })
		c, err := New(config(t, "type: salesforce\ninstance_url: "+srv.URL+"\nclient_id: cid\nclient_secret: secret\n"+
			"rate_limit: {requests: 20, per: 1s}\n"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		count := func(key string) int {
			k := 0
			for _, r := range em.List("Contact") {
				if r.Fields["Tandem_Id__c"] == key {
					k++
				}
			}
			return k
		}
		return &conformance.Backend{
			Connector: c, Object: "Contact", PageSize: 5,
			Fields: []string{"Email", "LastName"},
			Seed: func(t *testing.T, k int, sameTime bool) []string {
				clock.Hold(sameTime)
				defer clock.Hold(false)
				var ids []string
				for range k {
					n++
					id, err := em.Create("Contact", map[string]any{"LastName": fmt.Sprint("Seed", n), "Email": fmt.Sprintf("seed%d@example.com", n)})
					if err != nil {
						t.Fatal(err)
					}
					ids = append(ids, id)
				}
				time.Sleep(2 * time.Millisecond)
				return ids
			},
			Touch: func(t *testing.T, id string) {
				n++
				if err := em.Update("Contact", id, map[string]any{"LastName": fmt.Sprint("Touched", n)}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Millisecond)
			},
			Create: func(key string) tandem.Write {
				return tandem.Write{Op: tandem.OpCreate, Key: key, Payload: []byte(`{"LastName":"` + key + `"}`)}
			},
			Bad: func(key string) tandem.Write { // Email holds at most 80 characters
				return tandem.Write{Op: tandem.OpCreate, Key: key, Payload: []byte(`{"LastName":"` + key + `","Email":"` + strings.Repeat("x", 90) + `@example.com"}`)}
			},
			Count:            func(t *testing.T, key string) int { return count(key) },
			FailNext:         proxy.FailNext,
			LoseNextResponse: proxy.LoseNextResponse,
			ExpireSession:    em.RevokeTokens,
			RateLimited:      em.RateLimited,
			Malform: func(t *testing.T, id string) {
				proxy.Rewrite(func(r *http.Request, body []byte) []byte {
					if !strings.Contains(r.URL.Path, "/query") {
						return body
					}
					for i, rec := range gjson.GetBytes(body, "records").Array() {
						if strings.HasPrefix(rec.Get("Id").String(), id[:15]) {
							body, _ = sjson.SetBytes(body, fmt.Sprintf("records.%d.LastModifiedDate", i), "not a time")
						}
					}
					return body
				})
			},
		}
	})
}
