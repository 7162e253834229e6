package main

import (
	"context"
	"fmt"
	"strings"

	"tandem"
	"tandem/state"
)

// The checks of the convergence property test: a round's conflicts and
// the engine's status held to the model, and the end of the run.

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
