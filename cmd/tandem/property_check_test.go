package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"tandem"
	"tandem/state"
)

// What the convergence property test expects of a pass, and the checks
// and failure reports against it.

// expect works out, from the window's actions and the systems' records
// just before the pass, what the pass must do. It follows the semantics
// the engine promises, not the engine's code:
//
//   - a field changed in one system, or in several to one value, takes
//     that value; changed to different values, the value of the system
//     whose record was edited last (newest compares record times), and
//     one field conflict;
//   - a person deleted in some systems is gone everywhere, unless another
//     system edited the record after the last of those deletes: then it
//     lives everywhere, with that edit. The deleting systems' own edits
//     went with their records.
//   - a record created in the window is created everywhere, unless it was
//     deleted before the pass saw it.
func (p *propTest) expect(cur map[string]map[string]propRec) *propExpect {
	p.cur = cur
	e := &propExpect{alive: map[string]propVals{}, conflicts: map[[2]string]*propFieldConflict{}, deletes: map[string]*propDelete{}, loose: map[[2]string]bool{}}
	edits := map[[3]string]int{} // (system, email, field) -> edits in the window
	for _, a := range p.window {
		if a.kind == "edit" {
			k := [3]string{a.system, a.email, a.field}
			if edits[k]++; edits[k] > 1 || p.faults.isMid(a.how) {
				e.loose[[2]string{a.email, a.field}] = true
			}
		}
	}
	// Times are the stamps the systems gave the changes (Salesforce's
	// whole seconds, a late commit's earlier second): newest compares
	// record times, and a delete loses to an edit stamped after it.
	lastEdit := map[[2]string]time.Time{}        // (system, email) -> the record's last edit
	deleted := map[string]map[string]time.Time{} // email -> system -> its delete
	created := map[string][]string{}             // email -> the systems that created it
	fieldLast := map[[3]string]time.Time{}       // (system, email, field) -> its last edit
	midTouched := map[string]bool{}              // email -> edited during the pass
	// The record times a system's pull saw: without the edits made after
	// it (those count where the pass meets them: a re-read before a write
	// merges the field it changed, and cancels a delete).
	pullEdit := map[[2]string]time.Time{}
	postPull := map[[3]string]bool{} // (system, email, field) -> last edited after the pull
	// timeOf is the record time newest compares for a system's field.
	timeOf := func(sys, email, f string) time.Time {
		if postPull[[3]string{sys, email, f}] {
			return lastEdit[[2]string{sys, email}]
		}
		return pullEdit[[2]string{sys, email}]
	}
	for _, a := range p.window {
		k := [2]string{a.system, a.email}
		after := a.kind == "edit" && p.faults.isMid(a.how) && a.how != "midpass"
		if a.kind == "edit" {
			fieldLast[[3]string{a.system, a.email, a.field}] = a.stamp
			midTouched[a.email] = midTouched[a.email] || p.faults.isMid(a.how)
			postPull[[3]string{a.system, a.email, a.field}] = after
		}
		switch a.kind {
		case "edit", "create", "undelete":
			if a.stamp.After(lastEdit[k]) {
				lastEdit[k] = a.stamp
			}
			if !after && a.stamp.After(pullEdit[k]) {
				pullEdit[k] = a.stamp
			}
			if a.kind == "create" {
				created[a.email] = append(created[a.email], a.system)
			}
			if a.kind == "undelete" {
				delete(deleted[a.email], a.system)
				if len(deleted[a.email]) == 0 {
					delete(deleted, a.email)
				}
			}
		case "delete":
			if deleted[a.email] == nil {
				deleted[a.email] = map[string]time.Time{}
			}
			deleted[a.email][a.system] = a.stamp
		}
	}
	for _, email := range sortedKeys(p.base) {
		base := p.base[email]
		dels := deleted[email]
		var last time.Time
		for _, st := range dels {
			if st.After(last) {
				last = st
			}
		}
		d := &propDelete{deleters: dels, alive: len(dels) == 0}
		v := base.clone()
		for _, s := range p.systems {
			if _, ok := dels[s.name()]; ok {
				continue
			}
			r, ok := cur[s.name()][email]
			if !ok {
				p.fail(fmt.Sprintf("model: %s lost %s, which it did not delete", s.name(), email))
			}
			if !r.v.equal(p.normVals(s, base)) && lastEdit[[2]string{s.name(), email}].After(last) && len(dels) > 0 {
				d.alive = true
				d.revivers = append(d.revivers, s.name())
			}
		}
		for _, f := range propEditable {
			if p.sequential(e, email, f, dels, v) {
				continue
			}
			fc := &propFieldConflict{values: map[string]string{}, last: map[string]time.Time{}}
			var distinct []string
			for _, s := range p.systems {
				if _, ok := dels[s.name()]; ok {
					continue
				}
				if val := cur[s.name()][email].v[f]; val != s.norm(f, base[f]) {
					fc.values[s.name()] = val
					fc.last[s.name()] = timeOf(s.name(), email, f)
					if !slices.Contains(distinct, val) {
						distinct = append(distinct, val)
					}
				}
			}
			switch len(distinct) {
			case 0:
			case 1:
				v[f] = distinct[0]
			default:
				for _, sys := range sortedKeys(fc.last) {
					if fc.winner == "" || fc.last[sys].After(fc.last[fc.winner]) {
						fc.winner = sys
					}
				}
				v[f] = fc.values[fc.winner]
				e.conflicts[[2]string{email, f}] = fc
				if p.lag > 0 || midTouched[email] {
					// The pass may have seen a record before its last
					// edit (the search index behind, an edit after the
					// pull): its time then lies between the field's last
					// edit and the record's. Any system that can be the
					// newest so may win.
					for _, sys := range sortedKeys(fc.values) {
						can := true
						for o := range fc.values {
							if o != sys && !lastEdit[[2]string{sys, email}].After(fieldLast[[3]string{o, email, f}]) {
								can = false
							}
						}
						if can || sys == fc.winner {
							fc.ok = append(fc.ok, fc.values[sys])
						}
					}
					if len(fc.ok) > 1 {
						e.loose[[2]string{email, f}] = true
					}
				}
			}
		}
		if len(dels) > 0 {
			e.deletes[email] = d
		}
		if d.alive {
			e.alive[email] = v
		}
		if p.lag > 0 && len(dels) > 0 {
			p.seenBeforeDelete(e, email, dels, v, d.alive)
		}
	}
	for _, email := range sortedKeys(created) {
		p.expectCreated(e, email, created[email], deleted[email], timeOf)
	}
	return e
}

// expectCreated is what becomes of a person created in this window, in
// one system or, with one email, in several (class samekey): the records
// are matched on the email and merged with no base. A field set in one
// takes its value; set to different values in several, the newest record
// wins and one conflict is recorded. A record deleted before any pass saw
// it takes no part.
func (p *propTest) expectCreated(e *propExpect, email string, creators []string, dels map[string]time.Time, timeOf func(sys, email, f string) time.Time) {
	var live []string
	for _, sys := range creators {
		if _, gone := dels[sys]; !gone {
			live = append(live, sys)
		}
	}
	if len(live) == 0 {
		return // deleted before any pass saw it
	}
	v := p.cur[live[0]][email].v.clone()
	for _, f := range propEditable {
		if p.sequential(e, email, f, dels, v) {
			continue
		}
		fc := &propFieldConflict{values: map[string]string{}, last: map[string]time.Time{}}
		// Values that read the same in a system with a lossy mapping
		// agree there: the other one is what it was typed as.
		var distinct []string
		var from []propSystem
		for _, sys := range live {
			val := p.cur[sys][email].v[f]
			if val == "" {
				continue
			}
			fc.values[sys], fc.last[sys] = val, timeOf(sys, email, f)
			s := p.systemNamed(sys)
			switch i := slices.IndexFunc(distinct, func(d string) bool { return d == val || s.norm(f, d) == val }); {
			case i >= 0 && distinct[i] != val:
				// Agrees with a value already merged, as it reads there:
				// no side of its own in a contest (a new record takes
				// part only where it disagrees).
				delete(fc.values, sys)
				delete(fc.last, sys)
			case i >= 0:
			case slices.ContainsFunc(from, func(o propSystem) bool { return o.norm(f, val) != val }) &&
				slices.IndexFunc(distinct, func(d string) bool { return strings.EqualFold(d, val) }) >= 0:
				i = slices.IndexFunc(distinct, func(d string) bool { return strings.EqualFold(d, val) })
				if from[i].norm(f, val) == distinct[i] {
					delete(fc.values, from[i].name())
					delete(fc.last, from[i].name())
					distinct[i], from[i] = val, s
				} else {
					distinct, from = append(distinct, val), append(from, s)
				}
			default:
				distinct, from = append(distinct, val), append(from, s)
			}
		}
		if len(distinct) < 2 {
			clear(fc.values)
		}
		switch len(distinct) {
		case 0:
			v[f] = ""
		case 1:
			v[f] = distinct[0]
		default:
			for _, sys := range sortedKeys(fc.last) {
				if fc.winner == "" || fc.last[sys].After(fc.last[fc.winner]) {
					fc.winner = sys
				}
			}
			v[f] = fc.values[fc.winner]
			e.conflicts[[2]string{email, f}] = fc
		}
	}
	e.alive[email] = v
}

// why explains the model's expectation for a person, for failures.
func (p *propTest) why(exp *propExpect, email string) string {
	var parts []string
	if d := exp.deletes[email]; d != nil {
		parts = append(parts, fmt.Sprintf("deleted %s; alive=%v (revived by %v)", stamps(d.deleters), d.alive, d.revivers))
	}
	for _, f := range propEditable {
		if fc := exp.conflicts[[2]string{email, f}]; fc != nil {
			parts = append(parts, fmt.Sprintf("%s contested %v, records last edited %s: newest is %s", f, fc.values, stamps(fc.last), fc.winner))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " [" + strings.Join(parts, "; ") + "]"
}

// checkStatus: nothing left in the outbox, nothing set aside, no pass error.
func (p *propTest) checkStatus(st *state.Store) {
	for _, s := range p.systems {
		os, err := st.Status(context.Background(), s.name(), s.object())
		if err != nil {
			p.t.Errorf("status of %s: %v", s.name(), err)
			continue
		}
		var passErr string
		if os.LastPass != nil {
			passErr = os.LastPass.Error
		}
		if os.Outbox != 0 || os.DeadLetters != 0 || passErr != "" {
			p.t.Errorf("%s after the pass: %d writes pending, %d set aside, pass error %q", s.name(), os.Outbox, os.DeadLetters, passErr)
		}
	}
}

// learnEntities maps emails to entity ids through the links of their
// records, and checks that every record of a person links to one entity.
func (p *propTest) learnEntities(cur map[string]map[string]propRec, alive map[string]propVals) {
	st, err := state.OpenReadOnly(p.state)
	if err != nil {
		p.fail(fmt.Sprintf("opening the state: %v", err))
	}
	defer st.Close()
	p.learnEntitiesFrom(st, cur, alive)
}

func (p *propTest) learnEntitiesFrom(st *state.Store, cur map[string]map[string]propRec, alive map[string]propVals) {
	ctx := context.Background()
	for _, email := range sortedKeys(alive) {
		for _, s := range p.systems {
			r, ok := cur[s.name()][email]
			if !ok {
				continue // reported already
			}
			l, err := st.Link(ctx, s.name(), s.object(), r.id)
			switch {
			case err != nil:
				p.t.Errorf("link of %s %s: %v", s.name(), r.id, err)
			case l == nil:
				p.t.Errorf("%s record %s (%s) is not linked to any entity", s.name(), r.id, email)
			case p.entity[email] == "":
				p.entity[email] = l.EntityID
			case p.entity[email] != l.EntityID:
				p.t.Errorf("%s record %s (%s) is linked to entity %s, the person's other records to %s", s.name(), r.id, email, l.EntityID, p.entity[email])
			}
		}
	}
}

// conflictsFrom returns the conflicts recorded since the last call.
func (p *propTest) conflictsFrom(st *state.Store) []tandem.Conflict {
	all, err := st.Conflicts(context.Background(), false)
	if err != nil {
		p.fail(fmt.Sprintf("reading conflicts: %v", err))
	}
	var news []tandem.Conflict
	for _, c := range all {
		if c.ID > p.lastConf {
			news = append(news, c)
		}
	}
	if len(all) > 0 {
		p.lastConf = max(p.lastConf, all[len(all)-1].ID)
	}
	return news
}

func (p *propTest) conflictsSince() []tandem.Conflict {
	st, err := state.OpenReadOnly(p.state)
	if err != nil {
		p.fail(fmt.Sprintf("opening the state: %v", err))
	}
	defer st.Close()
	return p.conflictsFrom(st)
}

// emailOf is the person of an entity id.
func (p *propTest) emailOf(id string) string {
	for e, eid := range p.entity {
		if eid == id {
			return e
		}
	}
	return "(entity " + id + ")"
}

// checkConflicts holds the pass's new conflicts to the model: exactly one
// field conflict per contested field, none elsewhere; a delete conflict
// for each person deleted, decided the way the delete went.
func (p *propTest) checkConflicts(exp *propExpect, news []tandem.Conflict, passes int) {
	passNames := map[string]bool{}
	seen := map[[2]string]int{}
	seenDelete := map[string]int{}
	lastDelete := map[string]tandem.Conflict{}
	for _, c := range news {
		passNames[c.Pass] = true
		email := p.emailOf(c.EntityID)
		desc := fmt.Sprintf("conflict %d (%s %s of %s, decided %q, sides %s)", c.ID, c.Kind, c.Field, email, c.Decided, sidesOf(c))
		if c.Status != tandem.ConflictAuto {
			p.t.Errorf("%s: status %s, want auto (newest with no tolerance holds nothing)", desc, c.Status)
		}
		switch c.Kind {
		case tandem.ConflictField:
			k := [2]string{email, c.Field}
			seen[k]++
			fc := exp.conflicts[k]
			if exp.loose[k] {
				// Seen in a state the window passed through: one conflict
				// per pass at most, with the values that pass saw.
				if seen[k] == passes+1 {
					p.t.Errorf("%s: %d conflicts for one field in a round of %d passes", desc, seen[k], passes)
				}
				continue
			}
			if fc == nil {
				p.t.Errorf("%s: not contested in this window (edits: %s)", desc, p.editsOf(email, c.Field))
				continue
			}
			if seen[k] == 2 {
				p.t.Errorf("%s: a second conflict for one field in one round", desc)
			}
			got := map[string]bool{}
			for sys, sv := range c.Values {
				v := canonicalValue(c.Field, sv.Value)
				got[v] = true
				if want, ok := fc.values[sys]; !ok {
					p.t.Errorf("%s: side %s did not edit %s in this window", desc, sys, c.Field)
				} else if v != want {
					p.t.Errorf("%s: side %s has %q, it set %q", desc, sys, v, want)
				}
			}
			for sys, want := range fc.values {
				if !got[want] {
					p.t.Errorf("%s: %s's value %q is not among the sides", desc, sys, want)
				}
			}
			if _, alive := exp.alive[email]; alive {
				if want, ok := fc.values[c.Decided]; !ok || want != fc.values[fc.winner] {
					p.t.Errorf("%s: decided %q, whose value is not the newest edit's %q (%s, stamped %s)", desc, c.Decided, fc.values[fc.winner], fc.winner, fc.last[fc.winner].Format("15:04:05.000"))
				}
			}
		case tandem.ConflictDelete:
			// One conflict per delete the pass met; the last one met
			// says how the person's deletes went (checked below).
			seenDelete[email]++
			lastDelete[email] = c
			d := exp.deletes[email]
			if d == nil && p.lag > 0 && p.createdAndDeleted() && !strings.Contains(email, "@") {
				// A record created and deleted in this window that the
				// lagging search showed alive: linked, then deleted.
				p.stats["create and delete both seen through the search lag"]++
				continue
			}
			if d == nil {
				p.t.Errorf("%s: %s was not deleted in this window", desc, email)
				continue
			}
			for sys, sv := range c.Values {
				if _, deleter := d.deleters[sys]; sv.Value == nil && !deleter {
					p.t.Errorf("%s: side %s is a delete, but %s did not delete %s", desc, sys, sys, email)
				}
			}
		default:
			p.t.Errorf("%s: no %s conflict is expected (every created email is new)", desc, c.Kind)
		}
	}
	if len(passNames) > passes {
		p.t.Errorf("the new conflicts name %d passes, want at most the round's %d: %v", len(passNames), passes, passNames)
	}
	for _, k := range sortedKeys(exp.conflicts) {
		if seen[k] == 0 && !exp.conflicts[k].optional {
			fc := exp.conflicts[k]
			p.t.Errorf("no conflict recorded for %s %s, set to different values by %v (stamped %s)", k[0], k[1], fc.values, stamps(fc.last))
		}
	}
	for _, email := range sortedKeys(exp.deletes) {
		d := exp.deletes[email]
		c, ok := lastDelete[email]
		if !ok {
			p.t.Errorf("no delete conflict recorded for %s, deleted in %v", email, d.deleters)
			continue
		}
		if _, byDeleter := d.deleters[c.Decided]; byDeleter == d.alive {
			p.t.Errorf("conflict %d (delete of %s, sides %s): decided %q, but the delete %s (deleted %s, edited after the last delete by %v)",
				c.ID, email, sidesOf(c), c.Decided, map[bool]string{true: "lost to a later edit", false: "stands"}[d.alive], stamps(d.deleters), d.revivers)
		}
	}
	p.stats["field conflicts checked"] += len(exp.conflicts)
}

// decided is the system the pass's conflict on a field decided for.
func (p *propTest) decided(news []tandem.Conflict, k [2]string) string {
	for _, c := range news {
		if c.Kind == tandem.ConflictField && c.Field == k[1] && p.emailOf(c.EntityID) == k[0] {
			return c.Decided
		}
	}
	return ""
}

func canonicalValue(field string, v any) string {
	s, _ := v.(string)
	return canonical(propVals{field: s})[field]
}

func sidesOf(c tandem.Conflict) string {
	var parts []string
	for _, sys := range sortedKeys(c.Values) {
		sv := c.Values[sys]
		b, _ := json.Marshal(sv.Value)
		parts = append(parts, fmt.Sprintf("%s=%s@%s", sys, b, sv.ModifiedAt.Format("15:04:05.000")))
	}
	return strings.Join(parts, " ")
}

// editsOf lists the window's actions on a person's field (or all its
// actions, field "").
func (p *propTest) editsOf(email, field string) string {
	var parts []string
	for _, a := range p.window {
		if a.email == email && (field == "" || a.field == field || a.kind != "edit") {
			parts = append(parts, fmt.Sprintf("%s %s step %d %q", a.system, a.kind, a.step, a.value))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// finalChecks, once the systems are quiet: they agree, no edit was lost,
// and every delete went as its window said.
func (p *propTest) finalChecks() {
	cur := p.read()
	first := p.systems[0].name()
	for _, s := range p.systems[1:] {
		if len(cur[s.name()]) != len(cur[first]) {
			p.t.Errorf("at the end %s holds %d people, %s %d", s.name(), len(cur[s.name()]), first, len(cur[first]))
		}
		for email, r := range cur[s.name()] {
			if o, ok := cur[first][email]; !ok {
				p.t.Errorf("at the end %s holds %s, %s does not", s.name(), email, first)
			} else if !p.normVals(s, o.v).equal(r.v) {
				p.t.Errorf("at the end %s differs: %s in %s, %s in %s", email, o.v, first, r.v, s.name())
			}
		}
	}
	for _, k := range sortedKeys(p.ledger) {
		l := p.ledger[k]
		r, ok := cur[first][k[0]]
		if !ok {
			continue // deleted since: checked below
		}
		got := r.v[k[1]]
		switch {
		case l.contested == nil && got != l.value:
			p.t.Errorf("lost edit: %s %s is %q at the end; its last edit (synced at step %d) set %q", k[0], k[1], got, l.pass, l.value)
		case l.contested != nil && (got != l.value || l.contested[l.decided] != got):
			p.t.Errorf("lost edit: %s %s is %q at the end; its last window (synced at step %d) was contested %v and decided for %q", k[0], k[1], got, l.pass, l.contested, l.decided)
		}
	}
	for _, email := range sortedKeys(p.gone) {
		for _, s := range p.systems {
			if _, ok := cur[s.name()][email]; ok {
				p.t.Errorf("%s was deleted (pass at step %d) but %s holds it at the end", email, p.gone[email], s.name())
			}
		}
	}
	for _, email := range sortedKeys(p.revived) {
		for _, s := range p.systems {
			if _, ok := cur[s.name()][email]; !ok {
				p.t.Errorf("%s's delete lost to a later edit (pass at step %d) but %s lacks it at the end", email, p.revived[email], s.name())
			}
		}
	}
	if p.t.Failed() {
		p.dump(cur, cur, nil)
	}
}

func (p *propTest) summary() string {
	var parts []string
	for _, k := range sortedKeys(p.stats) {
		parts = append(parts, fmt.Sprintf("%d %s", p.stats[k], k))
	}
	return strings.Join(parts, ", ") + fmt.Sprintf("; %d people alive at the end", len(p.base))
}

// fail stops the test with the state needed to replay and debug it.
func (p *propTest) fail(msg string) {
	p.t.Helper()
	p.t.Error(msg)
	cur := p.read()
	p.dump(cur, cur, nil)
	p.t.FailNow()
}

// dump prints what a failure needs: the seed, the actions around it, the
// systems' records before and after the pass, the pass's conflicts and the
// engine's log of the pass.
func (p *propTest) dump(before, after map[string]map[string]propRec, news []tandem.Conflict) {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: replay with  go test ./cmd/tandem -run TestPropertyConvergence -property.seed=%d -property.steps=%d -v\n",
		p.seed, p.seed, p.steps)
	fmt.Fprintf(&b, "\nthe last actions (the failing window is the last one):\n")
	from := 0
	for i, passes := len(p.history)-1, 0; i >= 0; i-- {
		if p.history[i].kind == "pass" && !strings.Contains(p.history[i].how, "follow-up") && !strings.Contains(p.history[i].how, "SIGKILL") {
			if passes++; passes == 4 {
				from = i
				break
			}
		}
	}
	for _, a := range p.history[from:] {
		fmt.Fprintf(&b, "  %s\n", a)
	}
	// The people worth reading: those acted on in the actions above, and
	// those whose records do not all hold the model's values.
	emails, quiet := map[string]bool{}, 0
	for _, a := range p.history[from:] {
		if a.kind != "pass" && a.kind != "note" {
			emails[a.email] = true
		}
	}
	all := map[string]bool{}
	for _, m := range []map[string]map[string]propRec{before, after} {
		for _, recs := range m {
			for e := range recs {
				all[e] = true
			}
		}
	}
	for e := range p.base {
		all[e] = true
	}
	for e := range all {
		for _, s := range p.systems {
			for _, m := range []map[string]map[string]propRec{before, after} {
				if r, ok := m[s.name()][e]; !ok || !r.v.equal(p.normVals(s, p.base[e])) {
					emails[e] = true
				}
			}
		}
		if !emails[e] {
			quiet++
		}
	}
	fmt.Fprintf(&b, "\nrecords (window start = the model's agreed values; before / after the pass, per system), "+
		"%d other people hold the model's values everywhere and are not shown:\n", quiet)
	for _, e := range sortedKeys(emails) {
		fmt.Fprintf(&b, "  %s  entity %s\n", e, p.entity[e])
		if v, ok := p.base[e]; ok {
			fmt.Fprintf(&b, "    %-10s %-7s %s\n", "start", "", v)
		}
		for _, s := range p.systems {
			for _, st := range []struct {
				label string
				m     map[string]map[string]propRec
			}{{"before", before}, {"after", after}} {
				if r, ok := st.m[s.name()][e]; ok {
					fmt.Fprintf(&b, "    %-10s %-7s %s  (id %s, modified %s)\n", s.name(), st.label, r.v, r.id, r.modified.Format("15:04:05.000"))
				} else {
					fmt.Fprintf(&b, "    %-10s %-7s -\n", s.name(), st.label)
				}
			}
		}
	}
	if len(news) > 0 {
		fmt.Fprintf(&b, "\nconflicts the pass recorded:\n")
		for _, c := range news {
			fmt.Fprintf(&b, "  %d %s %s of %s (%s): %s, decided %q; sides %s\n", c.ID, c.Kind, c.Field, p.emailOf(c.EntityID), c.EntityID, c.Status, c.Decided, sidesOf(c))
		}
	}
	if p.log != "" {
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(p.log), "\n") {
			if !strings.Contains(l, `"msg":"rate budget"`) {
				lines = append(lines, l)
			}
		}
		if len(lines) > 120 {
			lines = append([]string{fmt.Sprintf("(%d lines before)", len(lines)-120)}, lines[len(lines)-120:]...)
		}
		fmt.Fprintf(&b, "\nthe engine's log of the round's passes:\n  %s\n", strings.Join(lines, "\n  "))
	}
	p.t.Log(b.String())
}

func sortedKeys[K interface{ ~string | ~[2]string }, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b K) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return keys
}

// stamps prints times by system.
func stamps(m map[string]time.Time) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"@"+m[k].Format("15:04:05.000"))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// sequential handles a field edited during the pass over a value Tandem
// had just written there (propAction.sequential): when that edit is the
// field's last, its value wins, with or without a conflict recorded for
// the contest it ended; when another edit came after it, any of the
// window's values of the field may win (which the model cannot tell
// without knowing when the pass read each system). It reports whether
// it decided the field.
func (p *propTest) sequential(e *propExpect, email, f string, dels map[string]time.Time, v propVals) bool {
	var last *propAction
	seq := false
	fc := &propFieldConflict{values: map[string]string{}, last: map[string]time.Time{}, optional: true}
	for i, a := range p.window {
		if a.kind != "edit" || a.email != email || a.field != f {
			continue
		}
		if _, gone := dels[a.system]; gone {
			continue
		}
		seq = seq || a.sequential
		if last == nil || a.stamp.After(last.stamp) {
			last = &p.window[i]
		}
		if !slices.Contains(fc.ok, a.value) {
			fc.ok = append(fc.ok, a.value)
		}
	}
	if !seq {
		return false
	}
	k := [2]string{email, f}
	e.loose[k] = true
	v[f] = last.value
	if !last.sequential {
		fc.winner, fc.values[last.system], fc.last[last.system] = last.system, last.value, last.stamp
		e.conflicts[k] = fc
	}
	return true
}

// createdAndDeleted reports whether a record was created and deleted in
// this window.
func (p *propTest) createdAndDeleted() bool {
	for _, a := range p.window {
		if a.kind == "delete" && slices.ContainsFunc(p.window, func(c propAction) bool { return c.kind == "create" && c.id == a.id }) {
			return true
		}
	}
	return false
}

// seenBeforeDelete: with the search lagging, a pass may see a HubSpot
// record alive, with the edits made to it before its delete, and merge
// them before it meets the delete. When the delete then loses to a later
// edit, those edits may stand: each field so touched may hold either
// value.
func (p *propTest) seenBeforeDelete(e *propExpect, email string, dels map[string]time.Time, v propVals, alive bool) {
	for _, a := range p.window {
		if _, deleter := dels[a.system]; !deleter || a.kind != "edit" || a.email != email {
			continue
		}
		if _, hs := p.systemNamed(a.system).(*hubspotSystem); !hs {
			continue
		}
		k := [2]string{email, a.field}
		e.loose[k] = true
		fc := e.conflicts[k]
		if !alive {
			continue // gone everywhere: its values do not matter
		}
		if fc == nil {
			fc = &propFieldConflict{values: map[string]string{}, last: map[string]time.Time{}, optional: true}
			e.conflicts[k] = fc
		}
		if len(fc.ok) == 0 {
			fc.ok = []string{v[a.field]}
		}
		fc.ok = append(fc.ok, a.value)
		e.loose[k] = true
	}
}
