package hubspot

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors"
	"tandem/connectors/conformance"
	"tandem/connectors/hubspot/hubspottest"
)

// The conformance suite, against the emulator with HubSpot's limits
// scaled down (20 requests a second, 5 searches a second) and enforced,
// and the connector pacing itself from its config and the headers.
func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) *conformance.Backend {
		clock := &conformance.HoldClock{}
		em := hubspottest.New(hubspottest.Options{Tokens: []string{"token-1"}, Now: clock.Now,
			UniqueProperties: map[string][]string{"contacts": {"tandem_id"}},
			RateLimit:        hubspottest.RateLimit{Requests: 20, Per: time.Second}, SearchLimit: hubspottest.RateLimit{Requests: 5, Per: time.Second}})
		proxy := conformance.NewProxy(em)
		srv := httptest.NewServer(proxy)
		t.Cleanup(func() { em.Close(); srv.Close() })
		c, err := newClient(config(t, "type: hubspot\nbase_url: "+srv.URL+"\ntoken: token-1\ntoken_next: token-2\npage_size: 5\n"+
			"rate_limit: {requests: 20, per: 1s}\nsearch_rate_limit: {requests: 5, per: 1s}\n"),
			connectors.HTTPOptions{WaitMin: time.Millisecond, WaitMax: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		n, tokens := 0, []string{"token-1", "token-2"}
		emailOf := func(key string) string { return key + "@example.com" }
		return &conformance.Backend{
			Connector: c, Object: "contacts", PageSize: 5,
			Fields: []string{"properties.email", "properties.firstname"},
			Seed: func(t *testing.T, k int, sameTime bool) []string {
				clock.Hold(sameTime)
				defer clock.Hold(false)
				var ids []string
				for range k {
					n++
					id, err := em.Create("contacts", map[string]any{"email": fmt.Sprintf("seed%d@example.com", n), "firstname": "Seed"})
					if err != nil {
						t.Fatal(err)
					}
					ids = append(ids, id)
				}
				time.Sleep(2 * time.Millisecond) // the next stamp is later
				return ids
			},
			Touch: func(t *testing.T, id string) {
				n++
				if err := em.Update("contacts", id, map[string]any{"firstname": fmt.Sprint("Touched", n)}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Millisecond)
			},
			Create: func(key string) tandem.Write {
				return tandem.Write{Op: tandem.OpCreate, Key: key, Payload: []byte(`{"properties":{"email":"` + emailOf(key) + `","firstname":"C"}}`)}
			},
			Bad: func(key string) tandem.Write {
				return tandem.Write{Op: tandem.OpCreate, Key: key, Payload: []byte(`{"properties":{"email":"` + emailOf(key) + `","no_such_property":"x"}}`)}
			},
			Count: func(t *testing.T, key string) int {
				k := 0
				for _, o := range em.List("contacts") {
					if strings.EqualFold(o.Properties["email"], emailOf(key)) {
						k++
					}
				}
				return k
			},
			FailNext:         proxy.FailNext,
			LoseNextResponse: proxy.LoseNextResponse,
			ExpireSession: func() { // the token is rotated: the connector moves to the other one
				tokens[0], tokens[1] = tokens[1], tokens[0]
				em.SetTokens(tokens[0])
			},
			RateLimited: func() int {
				for _, r := range em.Requests() {
					if r.Status == http.StatusTooManyRequests {
						t.Logf("refused for rate: %s %s", r.Method, r.Path)
					}
				}
				return em.RateLimited()
			},
			Malform: func(t *testing.T, id string) {
				proxy.Rewrite(func(r *http.Request, body []byte) []byte {
					if !strings.HasSuffix(r.URL.Path, "/search") && r.URL.Path != "/crm/v3/objects/contacts" { // searches and full reads (the list)
						return body
					}
					for i, res := range gjson.GetBytes(body, "results").Array() {
						if res.Get("id").String() == id {
							body, _ = sjson.SetBytes(body, fmt.Sprintf("results.%d.updatedAt", i), "not a time")
						}
					}
					return body
				})
			},
		}
	})
}
