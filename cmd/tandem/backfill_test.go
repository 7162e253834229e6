package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"tandem/state"
)

// TestBackfillResumes backfills 50,000 HubSpot contacts in a subprocess,
// kills it (SIGKILL) half-way through the read, and runs it again: the
// second run reads only what the first had not staged (counted in search
// requests), every record is read once in all, the incremental cursors do
// not move, and Salesforce ends with every contact once.
func TestBackfillResumes(t *testing.T) {
	total := 50000
	if testing.Short() {
		total = 5000
	}
	w := newWorld(t)
	// A lookback of 5 s: the contacts are stamped a millisecond apart, so
	// the resumed run searches again the 5,000 or so before its cursor.
	w.editConfig(t, "page_size: 10 ", "lookback: 5s\n    page_size: 100 ")
	w.sync(t)
	seeded := len(w.hs.List("contacts"))
	cursors := func() map[string]string {
		st, err := state.OpenReadOnly(w.state)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		out := map[string]string{}
		for _, s := range []struct{ sys, obj string }{{"hubspot", "contacts"}, {"salesforce", "Contact"}} {
			c, err := st.Cursor(context.Background(), s.sys, s.obj)
			if err != nil {
				t.Fatal(err)
			}
			out[s.sys] = string(c)
		}
		return out
	}
	before := cursors()
	start := time.Now()
	for i := range total {
		if _, err := w.hs.Create("contacts", map[string]any{
			"email": fmt.Sprintf("backfill%05d@example.com", i), "firstname": "Back", "lastname": fmt.Sprintf("Fill %d", i),
		}); err != nil {
			t.Fatal(err)
		}
	}
	want := seeded + total
	w.hs.ResetRequests()

	backfill := func(killAt int) (killed bool, out string) {
		cmd := exec.Command(os.Args[0], "backfill", "--config", w.config, "--entity", "contact", "--system", "hubspot")
		cmd.Env = append(os.Environ(), "TANDEM_TEST_MAIN=1")
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if killAt > 0 {
			db, err := sql.Open("sqlite3", "file:"+w.state+"?mode=ro&_busy_timeout=5000")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for {
				var read int
				db.QueryRow(`SELECT COALESCE(MAX(read), 0) FROM backfills`).Scan(&read)
				if read >= killAt {
					cmd.Process.Signal(syscall.SIGKILL)
					<-done
					return true, buf.String()
				}
				select {
				case err := <-done:
					t.Fatalf("backfill ended before it could be interrupted: %v\n%s", err, buf.String())
				case <-time.After(5 * time.Millisecond):
				}
			}
		}
		if err := <-done; err != nil {
			t.Fatalf("backfill: %v\n%s", err, buf.String())
		}
		return false, buf.String()
	}
	searches := func() int {
		n := 0
		for _, r := range w.hs.Requests() {
			if strings.HasSuffix(r.Path, "/search") {
				n++
			}
		}
		return n
	}

	t.Logf("%d contacts made in the emulator in %v", total, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	backfill(want / 2)
	first := searches()
	t.Logf("first run killed after %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	st, err := state.OpenReadOnly(w.state)
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.Backfill(context.Background(), 1)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	readFirst := b.Read
	w.hs.ResetRequests()
	_, out := backfill(0)
	second := searches()
	t.Logf("second run: %v", time.Since(start).Round(time.Millisecond))
	st, err = state.OpenReadOnly(w.state)
	if err != nil {
		t.Fatal(err)
	}
	b, err = st.Backfill(context.Background(), 1)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed after %d records staged (%d searches); the second run read the other %d in %d searches", readFirst, first, b.Read-readFirst, second)
	if b.Status != state.BackfillDone || b.Read != want {
		t.Fatalf("backfill %s with %d records read in all, want done with %d (each once)\n%s", b.Status, b.Read, want, out)
	}
	// One search per page of 100 of the records left, and of those of the
	// lookback before the cursor (5 s, from the start of its second: up to
	// 6,000 contacts), which it searches again for edits HubSpot's index
	// shows late: those come again only if they changed, so every record
	// is read once in all (above).
	left := want - readFirst
	if limit := (left+6000)/100 + 3; second > limit {
		t.Errorf("the resumed backfill made %d searches for %d records left and a lookback of 5,000, want at most %d", second, left, limit)
	}
	if after := cursors(); after["hubspot"] != before["hubspot"] || after["salesforce"] != before["salesforce"] {
		t.Errorf("incremental cursors moved: %v -> %v", before, after)
	}
	emails := map[string]int{}
	for _, r := range w.sf.List("Contact") {
		emails[strings.ToLower(str(r.Fields["Email"]))]++
	}
	for i := range total {
		if e := fmt.Sprintf("backfill%05d@example.com", i); emails[e] != 1 {
			t.Fatalf("Salesforce holds %s %d times, want once", e, emails[e])
		}
	}
}
