package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
)

// subSync runs `tandem sync` as a real subprocess (see TestMain), killed
// with SIGKILL at step crashAt when it is > 0. It returns the steps of a
// pass that finished.
func (w *pgWorld) subSync(t *testing.T, crashAt int) (steps int, killed bool) {
	t.Helper()
	countFile := w.state + ".steps"
	os.Remove(countFile)
	cmd := exec.Command(os.Args[0], "sync", "--config", w.config)
	cmd.Env = append(os.Environ(), "TANDEM_TEST_MAIN=1", fmt.Sprintf("TANDEM_TEST_CRASH_AT=%d", crashAt), "TANDEM_TEST_COUNT="+countFile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL {
		return 0, true
	}
	if err != nil {
		t.Fatalf("tandem sync: %v\n%s", err, out.String())
	}
	b, _ := os.ReadFile(countFile)
	steps, _ = strconv.Atoi(string(b))
	return steps, false
}

// TestPostgresCrashAnywhere kills `tandem sync` with SIGKILL at every step
// of a pass that reads edits from the table by logical replication (among
// them the step after the page is staged and before the slot is advanced)
// and restarts it: no edit is lost, no row or record duplicated, and the
// systems settle with no echo.
func TestPostgresCrashAnywhere(t *testing.T) {
	w := newPGWorld(t, "replication")
	w.sql(t, "INSERT INTO contacts (email, first_name, last_name) VALUES ('barbara.liskov@example.com', 'Barbara', 'Liskov')")
	w.subSync(t, 0)
	w.check(t, 81)
	edit := func(round int) string {
		name := fmt.Sprintf("Edited-%d", round)
		w.sql(t, "UPDATE contacts SET last_name = $1 WHERE email IN ('ada.lovelace.0@example.com', 'barbara.liskov@example.com')", name)
		w.sql(t, "INSERT INTO contacts (email, first_name, last_name) VALUES ($1, 'New', $2)", fmt.Sprintf("new.%d@example.com", round), name)
		return name
	}
	// An undisturbed incremental pass, to count its steps.
	edit(0)
	steps, _ := w.subSync(t, 0)
	if steps < 3 {
		t.Fatalf("an incremental pass has %d steps", steps)
	}
	people := 82
	for at := 1; at <= steps; at++ { // passes vary a little in length
		name := edit(at)
		people++
		if _, killed := w.subSync(t, at); !killed {
			if at < 3 {
				t.Fatalf("the pass was not killed at step %d", at)
			}
			t.Logf("a pass had fewer than %d steps: every one was crashed at", at)
		}
		settled := false
		for range 4 {
			hs, sf, db := w.hs.Writes(), w.sf.Writes(), w.versions(t)
			w.subSync(t, 0)
			if w.hs.Writes() == hs && w.sf.Writes() == sf && w.versions(t) == db {
				settled = true
				break
			}
		}
		if !settled {
			t.Fatalf("crash at step %d: passes keep writing", at)
		}
		got := w.check(t, people)
		for _, e := range []string{"ada.lovelace.0@example.com", "barbara.liskov@example.com", fmt.Sprintf("new.%d@example.com", at)} {
			if got[e].last != name {
				t.Errorf("crash at step %d: the edit of %s was lost: %+v, want last name %s", at, e, got[e], name)
			}
		}
	}
	var n int
	if err := w.db.QueryRow(context.Background(), "SELECT count(*) FROM pg_replication_slots WHERE active").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d slots still active after the passes (%v)", n, err)
	}
}
