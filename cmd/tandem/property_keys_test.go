package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"tandem"
	"tandem/state"
)

// The match-key edits of the convergence property test: to a new email
// (rekey), and onto another person's (clash).
//
// The match-key clash (issue 11, case
// 7), played between two rounds while the systems agree: a person edits
// X's email in Salesforce to Y's (Salesforce does not keep emails unique;
// HubSpot does, and refuses Tandem's write), and, in the same window, one
// other field of X in Salesforce and one in a HubSpot portal. The passes
// that follow must leave an open identity conflict, X's and Y's emails
// untouched wherever they were, Y untouched altogether, and X's other
// fields syncing both ways. Then a person decides (tandem resolve --value
// with X's email) and the systems must agree again.

// sysRec is a live record as read for the clash, where one system holds
// an email twice.
type sysRec struct {
	sys string
	rec propRec
}

func (p *propTest) allRecords() []sysRec {
	var out []sysRec
	for _, s := range p.systems {
		for _, r := range s.records() {
			out = append(out, sysRec{s.name(), r})
		}
	}
	return out
}

// clash plays the interlude, when two people everyone holds exist.
func (p *propTest) clash() {
	emails := sortedKeys(p.base)
	if len(emails) < 2 {
		return
	}
	x := emails[p.rng.IntN(len(emails))]
	y := emails[p.rng.IntN(len(emails))]
	if x == y {
		return
	}
	sf := p.systemNamed("salesforce")
	other := p.systems[p.rng.IntN(2)] // a HubSpot portal
	xSF, xOther := p.recordOf(sf, x), p.recordOf(other, x)
	if xSF == nil || xOther == nil {
		return
	}
	p.faults.add("clash")
	p.step++
	p.tick()
	last := fmt.Sprintf("C%d", p.step)
	if err := sf.set(xSF.id, "email", strings.ToUpper(y[:1])+y[1:]); err != nil {
		p.fail(fmt.Sprintf("step %d: editing %s's email in salesforce to %s: %v", p.step, x, y, err))
	}
	if err := sf.set(xSF.id, "last_name", last); err != nil {
		p.fail(fmt.Sprintf("step %d: editing %s in salesforce: %v", p.step, x, err))
	}
	p.tick()
	first := fmt.Sprintf("Cf%d", p.step)
	if err := other.set(xOther.id, "first_name", first); err != nil {
		p.fail(fmt.Sprintf("step %d: editing %s in %s: %v", p.step, x, other.name(), err))
	}
	p.history = append(p.history,
		propAction{step: p.step, kind: "note", at: p.now(), how: fmt.Sprintf("salesforce edits %s's email to %s's, and last_name = %q; %s edits first_name = %q", x, y, last, other.name(), first)})
	want := p.base[x].clone()
	want["last_name"], want["first_name"] = last, first

	p.settle("after the clash")
	var why []string
	for _, r := range p.allRecords() {
		s := p.systemNamed(r.sys)
		switch {
		case r.rec.id == xSF.id:
			if w := p.normVals(s, want); r.rec.v["email"] != y || !otherFields(r.rec.v, w) {
				why = append(why, fmt.Sprintf("salesforce's record of %s (the one edited to %s's email) holds %s %s, want %s", x, y, r.rec.v["email"], r.rec.v, w))
			}
		case r.rec.v["email"] == x:
			if w := p.normVals(s, want); !r.rec.v.equal(w) {
				why = append(why, fmt.Sprintf("%s holds %s as %s, want %s: its email kept, its other fields synced", r.sys, x, r.rec.v, w))
			}
		case r.rec.v["email"] == y:
			if w := p.normVals(s, p.base[y]); !r.rec.v.equal(w) {
				why = append(why, fmt.Sprintf("%s holds %s as %s, want it untouched: %s", r.sys, y, r.rec.v, w))
			}
		}
	}
	open := p.openIdentity()
	if open == nil {
		why = append(why, "no open identity conflict")
	}
	if len(why) > 0 {
		p.fail(fmt.Sprintf("step %d, the match-key clash: %s", p.step, strings.Join(why, "; ")))
	}

	// A person decides: X keeps X's email.
	var out, errb bytes.Buffer
	if code := execute([]string{"resolve", strconv.FormatInt(open.ID, 10), "--value", strconv.Quote(x), "--config", p.config}, &out, &errb); code != 0 {
		p.fail(fmt.Sprintf("step %d: tandem resolve %d --value %q: exit %d: %s%s", p.step, open.ID, x, code, out.String(), errb.String()))
	}
	p.settle("after the clash was resolved")
	cur := p.read()
	for _, s := range p.systems {
		if r, ok := cur[s.name()][x]; !ok || !r.v.equal(p.normVals(s, want)) {
			why = append(why, fmt.Sprintf("%s holds %s as %s, want %s", s.name(), x, r.v, p.normVals(s, want)))
		}
		if r, ok := cur[s.name()][y]; !ok || !r.v.equal(p.normVals(s, p.base[y])) {
			why = append(why, fmt.Sprintf("%s holds %s as %s, want it untouched: %s", s.name(), y, r.v, p.normVals(s, p.base[y])))
		}
	}
	if c := p.openIdentity(); c != nil {
		why = append(why, fmt.Sprintf("conflict %d still open: %s", c.ID, c.Decided))
	}
	if len(why) > 0 {
		p.fail(fmt.Sprintf("step %d, the match-key clash resolved: %s", p.step, strings.Join(why, "; ")))
	}
	p.conflictsSince()
	p.base[x] = want
	for _, f := range []string{"first_name", "last_name"} {
		p.ledger[[2]string{x, f}] = ledgerEntry{pass: p.step, value: want[f]}
	}
}

// otherFields compares all but the email.
func otherFields(v, w propVals) bool {
	for _, f := range propEditable {
		if v[f] != w[f] {
			return false
		}
	}
	return true
}

func (p *propTest) recordOf(s propSystem, email string) *propRec {
	for _, r := range s.records() {
		if r.v["email"] == email {
			return &r
		}
	}
	return nil
}

// settle runs passes until one writes nothing, with nothing left in the
// outbox or set aside.
func (p *propTest) settle(what string) {
	for i := 0; ; i++ {
		if i == propMaxFollowUps {
			p.fail(fmt.Sprintf("step %d: %d passes %s still write to the systems", p.step, i, what))
		}
		p.clock.mu.Lock()
		p.clock.t = p.clock.t.Add(p.lag + 2*time.Second)
		p.clock.mu.Unlock()
		w := p.writes()
		p.log = ""
		p.sync()
		p.history = append(p.history, propAction{step: p.step, kind: "pass", at: p.now(), how: "(" + what + ")"})
		if p.writes() == w {
			break
		}
	}
	st := p.openState()
	defer st.Close()
	p.checkStatus(st)
	if p.t.Failed() {
		p.fail(fmt.Sprintf("step %d: %s", p.step, what))
	}
}

func (p *propTest) openState() *state.Store {
	st, err := state.OpenReadOnly(p.state)
	if err != nil {
		p.fail(fmt.Sprintf("opening the state: %v", err))
	}
	return st
}

// openIdentity is the open identity conflict, if any.
func (p *propTest) openIdentity() *tandem.Conflict {
	st := p.openState()
	defer st.Close()
	all, err := st.Conflicts(context.Background(), false)
	if err != nil {
		p.fail(fmt.Sprintf("reading conflicts: %v", err))
	}
	i := slices.IndexFunc(all, func(c tandem.Conflict) bool {
		return c.Kind == tandem.ConflictIdentity && c.Status == tandem.ConflictOpen
	})
	if i < 0 {
		return nil
	}
	return &all[i]
}

// rekey plays a match-key edit between two rounds: a person edits X's
// email in one system to a new one while another system edits one of X's
// other fields. The passes that follow must carry the new email
// everywhere, on the same records (no duplicate, no re-create), with the
// other edit, and record no conflict.
func (p *propTest) rekey() {
	emails := sortedKeys(p.base)
	if len(emails) == 0 {
		return
	}
	x := emails[p.rng.IntN(len(emails))]
	s := p.systems[p.rng.IntN(len(p.systems))]
	o := p.systems[p.rng.IntN(len(p.systems))]
	rs, ro := p.recordOf(s, x), p.recordOf(o, x)
	if rs == nil || ro == nil {
		return
	}
	ids := map[string]string{}
	for _, sys := range p.systems {
		if r := p.recordOf(sys, x); r != nil {
			ids[sys.name()] = r.id
		}
	}
	p.faults.add("rekey")
	p.step++
	p.tick()
	n := fmt.Sprintf("k%d@example.com", p.step)
	if err := s.set(rs.id, "email", strings.ToUpper(n[:1])+n[1:]); err != nil {
		p.fail(fmt.Sprintf("step %d: editing %s's email in %s to %s: %v", p.step, x, s.name(), n, err))
	}
	p.tick()
	phone := p.uniqueValue("phone")
	if err := o.set(ro.id, "phone", phone); err != nil {
		p.fail(fmt.Sprintf("step %d: editing %s in %s: %v", p.step, x, o.name(), err))
	}
	p.history = append(p.history, propAction{step: p.step, kind: "note", at: p.now(),
		how: fmt.Sprintf("%s edits %s's email to %s; %s edits phone = %q", s.name(), x, n, o.name(), phone)})
	want := p.base[x].clone()
	want["email"], want["phone"] = n, phone
	p.settle("after the email edit")
	cur := p.read()
	var why []string
	for _, sys := range p.systems {
		r, ok := cur[sys.name()][n]
		switch {
		case !ok:
			why = append(why, fmt.Sprintf("%s lacks %s", sys.name(), n))
		case !r.v.equal(p.normVals(sys, want)) || r.id != ids[sys.name()]:
			why = append(why, fmt.Sprintf("%s holds %s as %s (record %s), want %s on record %s", sys.name(), n, r.v, r.id, p.normVals(sys, want), ids[sys.name()]))
		}
		if _, ok := cur[sys.name()][x]; ok {
			why = append(why, fmt.Sprintf("%s still holds %s", sys.name(), x))
		}
	}
	for _, c := range p.conflictsSince() {
		why = append(why, fmt.Sprintf("conflict %d (%s %s, %s, decided %q): none expected", c.ID, c.Kind, c.Field, c.Status, c.Decided))
	}
	if len(why) > 0 {
		p.fail(fmt.Sprintf("step %d, the email edit: %s", p.step, strings.Join(why, "; ")))
	}
	delete(p.base, x)
	p.base[n] = want
	p.entity[n] = p.entity[x]
	delete(p.entity, x) // emailOf names an entity by its one email
	for _, k := range sortedKeys(p.ledger) {
		if k[0] == x {
			p.ledger[[2]string{n, k[1]}] = p.ledger[k]
			delete(p.ledger, k)
		}
	}
	p.ledger[[2]string{n, "phone"}] = ledgerEntry{pass: p.step, value: phone}
	if st, ok := p.revived[x]; ok {
		p.revived[n] = st
		delete(p.revived, x)
	}
}
