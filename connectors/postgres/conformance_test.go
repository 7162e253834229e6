package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"tandem"
	"tandem/connectors/conformance"
	"tandem/connectors/postgres/pgtest"
)

// The conformance suite against a real PostgreSQL, polling and
// replication alike, pages of 5 rows.
func TestConformance(t *testing.T) {
	for _, capture := range []string{"poll", "replication"} {
		t.Run(capture, func(t *testing.T) {
			conformance.Run(t, func(t *testing.T) *conformance.Backend { return backend(t, capture) })
		})
	}
}

var slots int

func backend(t *testing.T, capture string) *conformance.Backend {
	dsn := newDB(t)
	slots++ // slots are the cluster's, not a database's: one prefix a test
	faults := &lossy{}
	c := openClient(t, dsn, Options{Capture: capture, PageSize: 5, Slot: fmt.Sprintf("conf%d", slots), dial: faults.dial})
	if capture == "replication" {
		pgtest.Exec(t, dsn, "CREATE PUBLICATION tandem FOR TABLE contacts")
	}
	db := conn(t, dsn)
	ctx := context.Background()
	n := 0
	return &conformance.Backend{
		Connector: c, Object: "contacts", PageSize: 5,
		Fields: []string{"email", "last_name"},
		Seed: func(t *testing.T, k int, sameTime bool) []string {
			var ids []string
			stamp := "clock_timestamp()"
			if sameTime {
				stamp = "'2026-01-02T03:04:05.123456Z'::timestamptz"
			}
			for range k {
				n++
				var id string
				if err := db.QueryRow(ctx, "INSERT INTO contacts (email, last_name, updated_at) VALUES ($1, $2, "+stamp+") RETURNING id::text",
					fmt.Sprintf("seed%d@example.com", n), fmt.Sprint("Seed", n)).Scan(&id); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			return ids
		},
		Touch: func(t *testing.T, id string) {
			n++
			if _, err := db.Exec(ctx, "UPDATE contacts SET last_name = $1 WHERE id = $2::bigint", fmt.Sprint("Touched", n), id); err != nil {
				t.Fatal(err)
			}
		},
		Create: func(key string) tandem.Write {
			return tandem.Write{Op: tandem.OpCreate, Key: key, Payload: []byte(`{"last_name":"` + key + `"}`)}
		},
		Bad: func(key string) tandem.Write { // email holds at most 80 characters
			return tandem.Write{Op: tandem.OpCreate, Key: key, Payload: []byte(`{"last_name":"` + key + `","email":"` + strings.Repeat("x", 90) + `@example.com"}`)}
		},
		// The server ends the connector's sessions (a restart, a failover,
		// an administrator): the calls on them fail, and the connector
		// connects again. As many calls fail as the pool held sessions.
		FailNext:         func(int) { terminate(t, db) },
		LoseNextResponse: func() { faults.armed.Store(true) },
		ExpireSession:    func() { terminate(t, db) },
		Count: func(t *testing.T, key string) int {
			var k int
			if err := db.QueryRow(ctx, "SELECT count(*) FROM contacts WHERE tandem_id = $1", key).Scan(&k); err != nil {
				t.Fatal(err)
			}
			return k
		},
	}
}

// terminate ends the connector's sessions from the server's side.
func terminate(t *testing.T, db *pgx.Conn) {
	if _, err := db.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'tandem'`); err != nil {
		t.Fatal(err)
	}
}

// The conformance contract, driven through the connector's own Apply,
// Pull and Fetch, polling and replication alike. The server ending the
// connector's sessions stands for a session that expires; the HTTP proxy
// faults do not apply to a database (the lost answer to a COMMIT is
// TestConformance's LostResponse).
func TestContract(t *testing.T) {
	for _, capture := range []string{"poll", "replication"} {
		t.Run(capture, func(t *testing.T) {
			conformance.Contract(t, func(t *testing.T) conformance.Subject {
				dsn := newDB(t)
				slots++
				c := openClient(t, dsn, Options{Capture: capture, PageSize: 5, Slot: fmt.Sprintf("contract%d", slots)})
				if capture == "replication" {
					pgtest.Exec(t, dsn, "CREATE PUBLICATION tandem FOR TABLE contacts")
				}
				db := conn(t, dsn)
				return conformance.Subject{Connector: c, Object: "contacts", PageSize: 5,
					Record:        conformance.Numbered(`{"email":"contract%[1]d@example.com","last_name":"Contract %[1]d"}`),
					Edit:          conformance.Numbered(`{"last_name":"Edited %d"}`),
					Bad:           `{"last_name":"bad","score":"many"}`,
					ExpireSession: func() { terminate(t, db) },
				}
			})
		})
	}
}
