package rest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors/conformance"
	"tandem/connectors/rest/resttest"
)

// The conformance suite against json-server 0.17.4, through the suite's
// proxy (for its failures, lost answers and spoiled records).
func TestConformanceJSONServer(t *testing.T) {
	conformance.Run(t, func(t *testing.T) *conformance.Backend {
		js := resttest.StartJSONServer(t)
		t.Setenv("JSON_SERVER_TOKEN", js.Token)
		proxy, u := front(t, js.URL)
		c := openConfig(t, resttest.JSONServerSystem(u, 5))
		n := 0
		post := func(t *testing.T, body map[string]any, h http.Header) string {
			st, b, err := js.Do("POST", "/contacts", body, h)
			if err != nil || st != http.StatusCreated {
				t.Fatalf("seed: %d %s %v", st, b, err)
			}
			return gjson.GetBytes(b, "id").Raw
		}
		return &conformance.Backend{
			Connector: c, Object: "contacts", PageSize: 5,
			Seed: func(t *testing.T, k int, sameTime bool) []string {
				h := http.Header{}
				if sameTime {
					h.Set("X-Stamp", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
				}
				var ids []string
				for range k {
					n++
					ids = append(ids, post(t, map[string]any{"last_name": fmt.Sprint("Seed", n), "email": fmt.Sprintf("seed%d@example.com", n)}, h))
				}
				time.Sleep(2 * time.Millisecond)
				return ids
			},
			Touch: func(t *testing.T, id string) {
				n++
				if st, b, err := js.Do("PATCH", "/contacts/"+id, map[string]any{"last_name": fmt.Sprint("Touched", n)}, nil); err != nil || st != http.StatusOK {
					t.Fatalf("touch: %d %s %v", st, b, err)
				}
				time.Sleep(2 * time.Millisecond)
			},
			Create: func(key string) tandem.Write {
				return tandem.Write{Op: tandem.OpCreate, Key: key, Payload: []byte(`{"last_name":"` + key + `"}`)}
			},
			Bad: func(key string) tandem.Write { // the middleware refuses an email that is not one
				return tandem.Write{Op: tandem.OpCreate, Key: key, Payload: []byte(`{"last_name":"` + key + `","email":"not an email"}`)}
			},
			Count: func(t *testing.T, key string) int {
				st, b, err := js.Do("GET", "/contacts?tandemId="+url.QueryEscape(key), nil, nil)
				if err != nil || st != http.StatusOK {
					t.Fatalf("count: %d %s %v", st, b, err)
				}
				return len(gjson.ParseBytes(b).Array())
			},
			FailNext:         proxy.FailNext,
			LoseNextResponse: proxy.LoseNextResponse,
			Malform: func(t *testing.T, id string) {
				proxy.Rewrite(func(r *http.Request, body []byte) []byte {
					if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/contacts") {
						return body
					}
					for i, rec := range gjson.ParseBytes(body).Array() {
						if rec.Get("id").Raw == id {
							body, _ = sjson.SetBytes(body, fmt.Sprintf("%d.updatedAt", i), "not a time")
						}
					}
					return body
				})
			},
		}
	})
}
