package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// The actions of the convergence property test: what people do in the
// systems between passes.

// act makes one random action, in a second of its own: Salesforce stamps
// whole seconds, so an edit there is only known to be later than an edit
// elsewhere when it is made in a later second (as the model assumes of
// every action after another).
func (p *propTest) act() {
	p.tick()
	sys := p.systems[p.rng.IntN(len(p.systems))]
	switch r := p.rng.IntN(100); {
	case r < 14:
		p.create(sys)
	case r < 24:
		p.remove(sys)
	case r < 30 && p.faults.on["undelete"] && sys.name() == "salesforce":
		p.undelete(sys.(*salesforceSystem))
	case r < 35 && p.faults.on["samekey"] && p.lag == 0:
		p.createSameKey(sys)
	default:
		p.edit(sys)
	}
}

// undelete restores a Salesforce record a person deleted in this window,
// before any pass saw the delete: the record lives again, as it was.
func (p *propTest) undelete(sys *salesforceSystem) {
	var cands []propAction
	for _, a := range p.window {
		if a.kind == "delete" && a.system == sys.name() && !p.undeleted(a) {
			cands = append(cands, a)
		}
	}
	if len(cands) == 0 {
		p.edit(sys)
		return
	}
	a := cands[p.rng.IntN(len(cands))]
	if err := sys.undelete(a.id); err != nil {
		p.fail(fmt.Sprintf("step %d: undeleting %s in %s: %v", p.step, a.email, sys.name(), err))
	}
	p.faults.add("undelete")
	p.record(propAction{kind: "undelete", system: sys.name(), email: a.email, id: a.id})
}

// undeleted reports whether a delete of the window was undone since.
func (p *propTest) undeleted(del propAction) bool {
	for _, a := range p.window {
		if a.kind == "undelete" && a.id == del.id && a.step > del.step {
			return true
		}
	}
	return false
}

// pick chooses a live record of a system: half the time among the people
// already touched in this window, so that edits meet edits and deletes.
func (p *propTest) pick(sys propSystem) (propRec, bool) {
	recs := sys.records()
	slices.SortFunc(recs, func(a, b propRec) int { return strings.Compare(a.v["email"], b.v["email"]) })
	var hot []propRec
	for _, r := range recs {
		if p.hot[r.v["email"]] {
			hot = append(hot, r)
		}
	}
	if len(hot) > 0 && p.rng.IntN(2) == 0 {
		return hot[p.rng.IntN(len(hot))], true
	}
	if len(recs) == 0 {
		return propRec{}, false
	}
	return recs[p.rng.IntN(len(recs))], true
}

// uniqueValue is a value no other step writes, so every edit can be told
// apart.
func (p *propTest) uniqueValue(field string) string {
	switch field {
	case "first_name":
		return fmt.Sprintf("F%d", p.step)
	case "last_name":
		return fmt.Sprintf("L%d", p.step)
	case "phone":
		return fmt.Sprintf("+1555%07d", p.step)
	default:
		return fmt.Sprintf("Seat%d", p.step) // lower case: the lossy mapping reads it in upper
	}
}

// rawOf is how a person types a canonical value: phones sometimes as a
// national number.
func (p *propTest) rawOf(field, v string, rng *rand.Rand) string {
	if field == "phone" && v != "" && rng.IntN(2) == 0 {
		d := v[2:]
		return fmt.Sprintf("(%s) %s-%s", d[:3], d[3:6], d[6:])
	}
	return v
}

// edit sets one field of a live record: mostly to a value of its own,
// sometimes to another system's value (or back to the start value), now
// and then to empty.
func (p *propTest) edit(sys propSystem) {
	rec, ok := p.pick(sys)
	if !ok {
		p.create(sys)
		return
	}
	email := rec.v["email"]
	field := propEditable[p.rng.IntN(len(propEditable))]
	cur := rec.v[field]
	value, how := p.uniqueValue(field), "unique"
	switch r := p.rng.IntN(100); {
	case r >= 75 && r < 92:
		// Copy a value another system holds, or held at the window's
		// start: equal edits are no conflict, and an edit back to the
		// start value is no edit at all.
		var cands []string
		for _, s := range p.systems {
			if s == sys {
				continue
			}
			for _, o := range s.records() {
				if o.v["email"] == email && o.v[field] != cur && !slices.Contains(cands, o.v[field]) {
					cands = append(cands, o.v[field])
				}
			}
		}
		if b, ok := p.base[email]; ok && b[field] != cur && !slices.Contains(cands, b[field]) {
			cands = append(cands, b[field])
		}
		if field == "last_name" {
			cands = slices.DeleteFunc(cands, func(s string) bool { return s == "" })
		}
		// Not a change of case alone (a value copied from hubspot_b, which
		// reads the title in upper case): hubspot_b reads it as the value
		// it already holds, so the engine does not take it for a change
		// there, and a concurrent edit in hubspot_b is then no contest
		// to it. That is a question of what a lossy field's edit is, left
		// out of the model.
		cands = slices.DeleteFunc(cands, func(s string) bool { return s != cur && strings.EqualFold(s, cur) })
		slices.Sort(cands)
		if len(cands) > 0 {
			value, how = cands[p.rng.IntN(len(cands))], "copy"
		}
	case r >= 92 && propClearable[field] && cur != "":
		value, how = "", "clear"
	}
	raw := p.rawOf(field, value, p.rng)
	var stamp time.Time
	if lc, ok := sys.(lateCommitter); ok && p.faults.on["late"] && !p.passAt.IsZero() && p.rng.IntN(100) < 8 &&
		rec.modified.Before(sys.stamp(p.passAt.Add(-time.Second))) {
		// A transaction that began before the last pass's query and
		// commits now: stamped before records that query returned. (Not
		// on a record modified since it began: its row lock would have
		// held that write until it committed.)
		how, stamp = "late", sys.stamp(p.passAt.Add(-time.Second))
		p.faults.add("late")
		if _, pg := sys.(*postgresSystem); pg {
			p.faults.add("late: db")
		}
		err := lc.commitLate(rec.id, field, raw, stamp)
		if err != nil {
			p.fail(fmt.Sprintf("step %d: editing %s %s in %s late: %v", p.step, email, field, sys.name(), err))
		}
	} else if err := sys.set(rec.id, field, raw); err != nil {
		p.fail(fmt.Sprintf("step %d: editing %s %s in %s: %v", p.step, email, field, sys.name(), err))
	}
	p.record(propAction{kind: "edit", system: sys.name(), email: email, id: rec.id, field: field, value: sys.norm(field, value), how: how, stamp: stamp})
}

// create adds a person with a new email, some fields left empty.
func (p *propTest) create(sys propSystem) {
	email := fmt.Sprintf("p%d@example.com", p.step)
	typed := email
	if p.rng.IntN(4) == 0 {
		typed = fmt.Sprintf("P%d@Example.com", p.step) // matched without case
	}
	raw := map[string]string{"email": typed, "last_name": p.uniqueValue("last_name")}
	if p.rng.IntN(10) > 0 {
		raw["first_name"] = p.uniqueValue("first_name")
	}
	if p.rng.IntN(10) < 7 {
		raw["phone"] = p.rawOf("phone", p.uniqueValue("phone"), p.rng)
	}
	if p.rng.IntN(10) < 6 {
		raw["title"] = p.uniqueValue("title")
	}
	id, err := sys.create(raw)
	if err != nil {
		p.fail(fmt.Sprintf("step %d: creating %s in %s: %v", p.step, email, sys.name(), err))
	}
	p.record(propAction{kind: "create", system: sys.name(), email: email, id: id, how: canonical(raw).String()})
}

// createSameKey creates, in sys, a person another system created in this
// window (not yet synced): the same email, some values the same, some
// other, some empty.
func (p *propTest) createSameKey(sys propSystem) {
	var cands []propAction
	for _, a := range p.window {
		if a.kind == "create" && a.system != sys.name() && !slices.ContainsFunc(p.window, func(b propAction) bool {
			return b.email == a.email && (b.system == sys.name() || b.kind == "delete")
		}) {
			cands = append(cands, a)
		}
	}
	if len(cands) == 0 {
		p.create(sys)
		return
	}
	a := cands[p.rng.IntN(len(cands))]
	other := p.systemNamed(a.system)
	var theirs propVals
	for _, r := range other.records() {
		if r.id == a.id {
			theirs = r.v
		}
	}
	raw := map[string]string{"email": strings.ToUpper(a.email[:1]) + a.email[1:], "last_name": theirs["last_name"]}
	for _, f := range propEditable {
		switch r := p.rng.IntN(3); {
		case r == 0 && theirs[f] != "":
			raw[f] = theirs[f]
		case r == 1 || f == "last_name":
			raw[f] = p.uniqueValue(f)
		}
	}
	id, err := sys.create(raw)
	if err != nil {
		p.fail(fmt.Sprintf("step %d: creating %s in %s: %v", p.step, a.email, sys.name(), err))
	}
	p.faults.add("samekey")
	p.record(propAction{kind: "create", system: sys.name(), email: a.email, id: id, how: canonical(raw).String() + " (samekey)"})
}

// lateCommitter is a system where an edit can be committed late, stamped
// at the start of its transaction (Salesforce, the table).
type lateCommitter interface {
	commitLate(id, field, raw string, began time.Time) error
}

// remove deletes a live record: archived in HubSpot, to the recycle bin
// in Salesforce. The table's people edit instead (see postgresSystem).
func (p *propTest) remove(sys propSystem) {
	if _, pg := sys.(*postgresSystem); pg {
		p.edit(sys)
		return
	}
	rec, ok := p.pick(sys)
	if !ok {
		p.create(sys)
		return
	}
	if err := sys.remove(rec.id); err != nil {
		p.fail(fmt.Sprintf("step %d: deleting %s in %s: %v", p.step, rec.v["email"], sys.name(), err))
	}
	p.record(propAction{kind: "delete", system: sys.name(), email: rec.v["email"], id: rec.id})
}

func (p *propTest) record(a propAction) {
	a.step, a.at = p.step, p.now()
	if a.stamp.IsZero() {
		a.stamp = p.systemNamed(a.system).stamp(a.at)
	}
	p.window = append(p.window, a)
	p.history = append(p.history, a)
	p.hot[a.email] = true
	if a.kind == "edit" {
		p.stats["edit ("+a.how+")"]++
	} else if a.kind != "undelete" {
		p.stats[a.kind]++
	}
}
