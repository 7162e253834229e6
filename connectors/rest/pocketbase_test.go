package rest

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors/conformance"
	"tandem/connectors/rest/resttest"
)

// The conformance suite against PocketBase v0.36.8, through the suite's
// proxy: keyset paging by filter, a session that expires (a token issued
// before a password reset is refused), a unique index for creates.
func TestConformancePocketBase(t *testing.T) {
	conformance.Run(t, func(t *testing.T) *conformance.Backend {
		pb := resttest.StartPocketBase(t)
		t.Setenv("PB_EMAIL", pb.Email)
		t.Setenv("PB_PASSWORD", pb.Password)
		proxy, u := front(t, pb.URL)
		c := openConfig(t, resttest.PocketBaseSystem(u, 5))
		n := 0
		const records = "/api/collections/contacts/records"
		return &conformance.Backend{
			Connector: c, Object: "contacts", PageSize: 5,
			Seed: func(t *testing.T, k int, sameTime bool) []string {
				var ids []string
				for range k {
					n++
					st, b, err := pb.Do("POST", records, map[string]any{"last_name": fmt.Sprint("Seed", n), "email": fmt.Sprintf("seed%d@example.com", n)})
					if err != nil || st != http.StatusOK {
						t.Fatalf("seed: %d %s %v", st, b, err)
					}
					ids = append(ids, gjson.GetBytes(b, "id").Str)
				}
				if sameTime {
					stampAll(t, pb, ids, time.Now())
				}
				time.Sleep(2 * time.Millisecond)
				return ids
			},
			Touch: func(t *testing.T, id string) {
				n++
				if st, b, err := pb.Do("PATCH", records+"/"+id, map[string]any{"last_name": fmt.Sprint("Touched", n)}); err != nil || st != http.StatusOK {
					t.Fatalf("touch: %d %s %v", st, b, err)
				}
				time.Sleep(2 * time.Millisecond)
			},
			Create: func(key string) tandem.Write {
				return tandem.Write{Op: tandem.OpCreate, Key: key, Payload: []byte(`{"last_name":"` + key + `"}`)}
			},
			Bad: func(key string) tandem.Write { // an email field refuses what is not one
				return tandem.Write{Op: tandem.OpCreate, Key: key, Payload: []byte(`{"last_name":"` + key + `","email":"not an email"}`)}
			},
			Count: func(t *testing.T, key string) int {
				st, b, err := pb.Do("GET", records+"?filter="+url.QueryEscape("tandem_id = '"+key+"'"), nil)
				if err != nil || st != http.StatusOK {
					t.Fatalf("count: %d %s %v", st, b, err)
				}
				return len(gjson.GetBytes(b, "items").Array())
			},
			FailNext:         proxy.FailNext,
			LoseNextResponse: proxy.LoseNextResponse,
			ExpireSession: func() {
				if err := pb.ExpireTokens(); err != nil {
					t.Fatal(err)
				}
			},
			Malform: func(t *testing.T, id string) {
				proxy.Rewrite(func(r *http.Request, body []byte) []byte {
					if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/records") {
						return body
					}
					for i, rec := range gjson.GetBytes(body, "items").Array() {
						if rec.Get("id").Str == id {
							body, _ = sjson.SetBytes(body, fmt.Sprintf("items.%d.updated", i), "not a time")
						}
					}
					return body
				})
			},
		}
	})
}

// stampAll gives records one updated time, in PocketBase's database:
// PocketBase stamps every save itself, and the suite needs ties.
func stampAll(t *testing.T, pb *resttest.PocketBase, ids []string, at time.Time) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(pb.Dir, "data.db")+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stamp := at.UTC().Format("2006-01-02 15:04:05.000Z")
	for _, id := range ids {
		if _, err := db.Exec(`UPDATE contacts SET updated = ? WHERE id = ?`, stamp, id); err != nil {
			t.Fatal(err)
		}
	}
}
