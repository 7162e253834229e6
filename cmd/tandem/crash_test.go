package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestMain doubles as the tandem binary for the crash test: with
// TANDEM_TEST_MAIN=1 the test binary runs the command line it was given,
// SIGKILLing itself at the Nth step of the pass when TANDEM_TEST_CRASH_AT=N
// (the Nth step named TANDEM_TEST_CRASH_POINT, when that is set),
// and, with TANDEM_TEST_COUNT=FILE, writes how many steps the pass had.
func TestMain(m *testing.M) {
	if os.Getenv("TANDEM_TEST_MAIN") != "1" {
		os.Exit(m.Run())
	}
	crashAt, _ := strconv.Atoi(os.Getenv("TANDEM_TEST_CRASH_AT"))
	point := os.Getenv("TANDEM_TEST_CRASH_POINT") // "": every step counts
	steps := 0
	stepHook = func(at string) {
		if point != "" && at != point {
			return
		}
		steps++
		if steps == crashAt {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	code := execute(os.Args[1:], os.Stdout, os.Stderr)
	if f := os.Getenv("TANDEM_TEST_COUNT"); f != "" {
		os.WriteFile(f, []byte(strconv.Itoa(steps)), 0o600)
	}
	os.Exit(code)
}

// subSync runs `tandem sync` as a real subprocess. crashAt > 0 kills it at
// that step; it returns the number of steps a finished pass took.
func (w *world) subSync(t *testing.T, crashAt int) (steps int, killed bool) {
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

// settle runs clean passes until one writes nothing, as a restarted daemon
// would, and fails if that takes more than a few.
func (w *world) settle(t *testing.T) {
	t.Helper()
	for i := 0; i < 4; i++ {
		before := w.writes()
		w.subSync(t, 0)
		if w.writes() == before {
			return
		}
	}
	t.Fatal("passes keep writing after a crash: not settling")
}

// edit changes three contacts in HubSpot and three in Salesforce, and
// returns what each side must hold for them afterwards.
func (w *world) edit(t *testing.T, round int) map[string]person {
	want := map[string]person{}
	for i, email := range []string{"ada.lovelace.0@example.com", "edsger.knuth.3@example.com", "sophie.turing.30@example.com"} {
		o := w.hsByEmail(t, email)
		phone := fmt.Sprintf("+1777%03d%04d", round, i)
		if err := w.hs.Update("contacts", o.ID, map[string]any{"phone": phone}); err != nil {
			t.Fatal(err)
		}
		p := want[email]
		p.phone = phone
		want[email] = p
	}
	for i, email := range []string{"dennis.backus.31@example.com", "margaret.allen.42@example.com", "john.ritchie.73@example.com"} {
		r := w.sfByEmail(t, email)
		last := fmt.Sprintf("Renamed-%d-%d", round, i)
		if err := w.sf.Update("Contact", r.ID, map[string]any{"LastName": last}); err != nil {
			t.Fatal(err)
		}
		p := want[email]
		p.last = last
		want[email] = p
	}
	return want
}

// TestCrashAnywhere kills `tandem sync` with SIGKILL at 20 different steps
// of an initial pass (and at a step of the incremental pass after it), then
// restarts it: no record may be duplicated and no change lost.
func TestCrashAnywhere(t *testing.T) {
	// Count the steps of an undisturbed initial and incremental pass.
	probe := newWorld(t)
	initialSteps, _ := probe.subSync(t, 0)
	probe.edit(t, 0)
	incrSteps, _ := probe.subSync(t, 0)
	if initialSteps < 20 || incrSteps < 2 {
		t.Fatalf("passes have %d and %d steps: too few to crash at 20 points", initialSteps, incrSteps)
	}
	t.Logf("an initial pass has %d steps, an incremental one %d", initialSteps, incrSteps)

	for i := 0; i < 20; i++ {
		at := 1 + i*(initialSteps-1)/19
		t.Run(fmt.Sprintf("step%02d", at), func(t *testing.T) {
			w := newWorld(t)
			if _, killed := w.subSync(t, at); !killed {
				t.Fatalf("pass was not killed at step %d", at)
			}
			w.settle(t)
			w.check(t, 80)

			want := w.edit(t, i+1)
			incrAt := 1 + i%incrSteps
			if _, killed := w.subSync(t, incrAt); !killed {
				t.Fatalf("incremental pass was not killed at step %d", incrAt)
			}
			w.settle(t)
			got := w.check(t, 80)
			for email, p := range want {
				g := got[email]
				if (p.phone != "" && g.phone != p.phone) || (p.last != "" && g.last != p.last) {
					t.Errorf("%s: edit lost after a crash at step %d: have %+v, want %+v", email, incrAt, g, p)
				}
			}
			if out := strings.TrimSpace(w.sync(t)); out == "" {
				t.Error("sync printed nothing")
			}
		})
	}
}
