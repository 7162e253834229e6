package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"time"

	"tandem/state"
)

// A round of the convergence property test: one pass with the faults
// drawn for it, then, if any fault hit it (or HubSpot's search lags), the
// passes a restarted or later Tandem makes, the clock moved past the lag,
// until one writes nothing. The model is checked when the round ends: a
// clean round is one pass, and must be exact; a faulty one must come to
// the same result.

const propMaxFollowUps = 6

// pass runs a round and checks it against the model.
func (p *propTest) pass() {
	before := p.read()
	p.before = before
	pl := p.plan()
	p.passAt = p.now()
	p.log = ""
	p.history = append(p.history, propAction{step: p.step, kind: "pass", at: p.passAt, how: fmt.Sprintf("(after %d actions)", len(p.window))})
	p.stats["pass"]++
	p.setRunning(pl)
	killed := false
	if pl.crashAt > 0 {
		killed = p.crashSync(pl.crashAt)
	} else {
		p.sync()
	}
	p.setRunning(nil)
	passes := 1
	if killed || len(pl.fired) > 0 || p.lag > 0 {
		p.stats["rounds with faults"]++
		for settled := false; !settled; passes++ {
			if passes > propMaxFollowUps {
				p.fail(fmt.Sprintf("step %d: %d passes after a faulty pass still write to the systems", p.step, propMaxFollowUps))
			}
			p.clock.mu.Lock()
			p.clock.t = p.clock.t.Add(p.lag + 2*time.Second)
			p.clock.mu.Unlock()
			w := p.writes()
			p.sync()
			settled = p.writes() == w
			p.history = append(p.history, propAction{step: p.step, kind: "pass", at: p.now(), how: "(follow-up)"})
		}
		p.stats["follow-up passes"] += passes - 1
	}
	after := p.read()
	exp := p.expect(p.withMidEdits(before))
	p.checkRound(exp, before, after, passes)
	if p.faults.on["clash"] && !p.quiet && p.rng.IntN(100) < 5 {
		p.clash()
	}
	if p.faults.on["rekey"] && !p.quiet && p.rng.IntN(100) < 5 {
		p.rekey()
	}
	p.setLag()
}

func (p *propTest) setRunning(pl *passPlan) {
	p.planMu.Lock()
	p.running = pl
	p.planMu.Unlock()
}

// withMidEdits is the systems as the window's actions left them: what the
// pass found, with the edits made during it applied.
func (p *propTest) withMidEdits(before map[string]map[string]propRec) map[string]map[string]propRec {
	cur := map[string]map[string]propRec{}
	for sys, recs := range before {
		cur[sys] = map[string]propRec{}
		for e, r := range recs {
			r.v = r.v.clone()
			cur[sys][e] = r
		}
	}
	for _, a := range p.window {
		if a.kind == "edit" && p.faults.isMid(a.how) {
			r, ok := cur[a.system][a.email]
			if !ok {
				p.fail(fmt.Sprintf("model: %s edited %s during the pass, which it did not hold when the pass began", a.system, a.email))
			}
			r.v[a.field] = a.value
		}
	}
	return cur
}

// isMid reports whether an action's how names an edit made during a pass.
func (f *propFaults) isMid(how string) bool {
	switch how {
	case "midpass", "reread", "gap", "samesecond":
		return true
	}
	return false
}

// crashSync runs `tandem sync` as a process of its own (the test binary,
// see TestMain) that SIGKILLs itself at its n-th "push:after-apply": a
// write applied, its checkpoint not made. It reports whether it was
// killed (a pass with fewer writes ends first).
func (p *propTest) crashSync(n int) bool {
	p.beforeSync()
	cmd := exec.Command(os.Args[0], "sync", "--config", p.config, "--log-level", "info")
	cmd.Env = append(os.Environ(), "TANDEM_TEST_MAIN=1", "TANDEM_TEST_CRASH_POINT=push:after-apply", "TANDEM_TEST_CRASH_AT="+strconv.Itoa(n))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	p.log += out.String()
	if ee, ok := err.(*exec.ExitError); ok && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL {
		p.faults.add("crash")
		p.history = append(p.history, propAction{step: p.step, kind: "pass", at: p.now(), how: fmt.Sprintf("(SIGKILLed at write %d, before its checkpoint)", n)})
		return true
	}
	if err != nil {
		p.fail(fmt.Sprintf("step %d: tandem sync (to be killed at write %d): %v\n%s", p.step, n, err, out.String()))
	}
	p.faults.add("crash: armed, but the pass ended before the crash point")
	return false
}

// checkRound holds the systems and the conflicts recorded to the model,
// then makes the round's result the next window's start.
func (p *propTest) checkRound(exp *propExpect, before, after map[string]map[string]propRec, passes int) {
	// A contest the model cannot decide alone went to one of its
	// candidates: the values must agree on it.
	for _, k := range sortedKeys(exp.conflicts) {
		fc, v := exp.conflicts[k], exp.alive[k[0]]
		if len(fc.ok) < 2 || v == nil {
			continue
		}
		for _, s := range p.systems {
			if r, ok := after[s.name()][k[0]]; ok && s.norm(k[1], "x") == "x" {
				if slices.Contains(fc.ok, r.v[k[1]]) {
					v[k[1]] = r.v[k[1]]
				}
				break
			}
		}
	}
	// Every system holds exactly the people the model expects, with the
	// expected values.
	for _, s := range p.systems {
		recs := after[s.name()]
		for _, email := range sortedKeys(exp.alive) {
			want := p.normVals(s, exp.alive[email])
			r, ok := recs[email]
			switch {
			case !ok:
				p.t.Errorf("%s lacks %s after the pass, want %s%s", s.name(), email, want, p.why(exp, email))
			case !r.v.equal(want):
				p.t.Errorf("%s holds %s as %s, want %s%s", s.name(), email, r.v, want, p.why(exp, email))
			}
		}
		for _, email := range sortedKeys(recs) {
			if _, ok := exp.alive[email]; !ok {
				p.t.Errorf("%s still holds %s (%s) after the pass, want it gone everywhere%s", s.name(), email, recs[email].v, p.why(exp, email))
			}
		}
	}

	st, err := state.OpenReadOnly(p.state)
	if err != nil {
		p.fail(fmt.Sprintf("opening the state: %v", err))
	}
	defer st.Close()
	p.checkStatus(st)
	p.learnEntitiesFrom(st, after, exp.alive)
	news := p.conflictsFrom(st)
	p.checkConflicts(exp, news, passes)
	if p.t.Failed() {
		p.dump(before, after, news)
		p.t.FailNow()
	}

	// The round is as the model says: its result is the next window's start.
	for email, d := range exp.deletes {
		if len(d.deleters) > 1 {
			p.stats["people deleted in 2+ systems in one window"]++
		}
		if d.alive {
			p.revived[email] = p.step
			p.stats["delete beaten by a later edit"]++
		} else {
			p.gone[email] = p.step
			delete(p.revived, email)
			p.stats["deleted everywhere"]++
		}
	}
	for _, a := range p.window {
		if a.kind == "create" {
			if _, ok := exp.alive[a.email]; !ok {
				p.gone[a.email] = p.step
				p.stats["deleted before any pass saw it"]++
			}
		}
	}
	for k, fc := range exp.conflicts {
		if _, ok := exp.alive[k[0]]; ok {
			l := ledgerEntry{pass: p.step, value: exp.alive[k[0]][k[1]], contested: fc.values, decided: p.decided(news, k)}
			if exp.loose[k] {
				l.contested, l.decided = nil, ""
			}
			p.ledger[k] = l
		}
	}
	for email, v := range exp.alive {
		if b, ok := p.base[email]; ok {
			for _, f := range propEditable {
				if _, contested := exp.conflicts[[2]string{email, f}]; !contested && v[f] != b[f] {
					p.ledger[[2]string{email, f}] = ledgerEntry{pass: p.step, value: v[f]}
				}
			}
		}
	}
	p.base = exp.alive
	p.window = nil
	p.hot = map[string]bool{}
}
