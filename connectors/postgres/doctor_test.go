package postgres

import (
	"context"
	"strings"
	"testing"

	"tandem/connectors/postgres/pgtest"
)

// Every failure doctor finds comes with SQL that fixes it: run, the
// checks pass.
func TestDiagnoseFixes(t *testing.T) {
	fields := map[string]string{"email": "email", "first_name": "string", "score": "number", "born": "date", "tags": "list", "extra.plan": "string"}
	for _, capture := range []string{"poll", "replication", "broken"} {
		t.Run(capture, func(t *testing.T) {
			pgtest.Need(t, srv)
			dsn := srv.NewDatabase(t)
			if capture == "broken" { // columns missing or of the wrong type, the key not unique
				capture = "poll"
				pgtest.Exec(t, dsn, "CREATE TABLE people (person_id bigint, first_name integer, score text, born timestamptz, tags text, extra text, updated_at timestamptz)")
			}
			if capture == "replication" {
				pgtest.Exec(t, dsn, "CREATE PUBLICATION tandem") // a publication, without the table
			}
			c := openClient(t, dsn, Options{Capture: capture, Slot: "diag" + capture, Tables: map[string]TableOptions{"people": {Key: "person_id"}}})
			ctx := context.Background()
			for round := 0; round < 4; round++ {
				var fixes []string
				for _, f := range c.Diagnose(ctx, "people", fields) {
					if f.Err != nil {
						if f.Fix == "" {
							t.Fatalf("round %d: %s failed with no fix: %v", round, f.What, f.Err)
						}
						fixes = append(fixes, f.Fix)
					}
				}
				if len(fixes) == 0 {
					return
				}
				t.Logf("round %d fixes:\n%s", round, strings.Join(fixes, "\n"))
				pgtest.Exec(t, dsn, fixes...)
			}
			t.Fatal("doctor still finds failures after four rounds of its own fixes")
		})
	}
}
