package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"tandem/internal/loopback"
)

// `tandem run` follows the table's replication slot: a row written by SQL
// reaches HubSpot and Salesforce without waiting for the schedule (once a
// year here).
func TestPostgresDaemonFollows(t *testing.T) {
	w := newPGWorld(t, "replication")
	w.run(t, "sync") // the first pass: reads the table, makes the slot
	addr := loopback.Addr(t)
	cfg, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(cfg), "\nsystems:\n", "\nlisten: "+addr+"\nsystems:\n", 1)
	edited = strings.Replace(edited, "    deletes:", "    schedule: \"0 0 1 1 *\"\n    deletes:", 1)
	if err := os.WriteFile(w.config, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, &world{config: w.config}, "http://"+addr)
	w.sql(t, "INSERT INTO contacts (email, first_name, last_name) VALUES ('radia.perlman@example.com', 'Radia', 'Perlman')")
	waitFor(t, 60*time.Second, "the row to reach HubSpot and Salesforce", func() bool {
		hs, sf := false, false
		for _, o := range w.hs.List("contacts") {
			hs = hs || o.Properties["email"] == "radia.perlman@example.com"
		}
		for _, r := range w.sf.List("Contact") {
			sf = sf || str(r.Fields["Email"]) == "radia.perlman@example.com"
		}
		return hs && sf
	})
	d.stop(t)
	if !strings.Contains(d.out.String(), "changes waiting: pass now") {
		t.Errorf("the pass was not started by the slot:\n%s", d.out.String())
	}
}
