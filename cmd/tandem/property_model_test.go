package main

import (
	"fmt"
	"slices"
	"time"
)

// The model of the convergence property test: what a round must do,
// worked out from the window's actions and the systems' records.

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
	e := &propExpect{alive: map[string]propVals{}, conflicts: map[[2]string]*propFieldConflict{}, deletes: map[string]*propDelete{}, loose: map[[2]string]bool{}, merged: map[string]propVals{}}
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
	// pulled is the value of a field the pull saw, where the window
	// edited it before the pull.
	pulled := map[[3]string]string{}
	// timeOf is the record time newest compares for a system's field.
	timeOf := func(sys, email, f string) time.Time {
		if postPull[[3]string{sys, email, f}] {
			return lastEdit[[2]string{sys, email}]
		}
		return pullEdit[[2]string{sys, email}]
	}
	createdAt := map[[2]string]time.Time{} // (system, email) -> its create
	// mayWin adds to a contest every value a pass that met a record
	// before its last edit may have decided: that record's time then lies
	// between the field's last edit (fieldAt) and the record's, and any
	// system that can be the newest so may win.
	mayWin := func(email string, fc *propFieldConflict, fieldAt func(sys string) time.Time) {
		for _, sys := range sortedKeys(fc.values) {
			can := true
			for o := range fc.values {
				if o != sys && !lastEdit[[2]string{sys, email}].After(fieldAt(o)) {
					can = false
				}
			}
			if can || sys == fc.winner {
				fc.ok = append(fc.ok, fc.values[sys])
			}
		}
	}
	for _, a := range p.window {
		k := [2]string{a.system, a.email}
		after := a.kind == "edit" && p.faults.isMid(a.how) && a.how != "midpass"
		if a.kind == "edit" {
			fieldLast[[3]string{a.system, a.email, a.field}] = a.stamp
			midTouched[a.email] = midTouched[a.email] || p.faults.isMid(a.how)
			postPull[[3]string{a.system, a.email, a.field}] = after
			if !after {
				pulled[[3]string{a.system, a.email, a.field}] = a.value
			}
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
				createdAt[k] = a.stamp
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
			var distinct, hidden []string
			for _, s := range p.systems {
				if _, ok := dels[s.name()]; ok {
					continue
				}
				k := [3]string{s.name(), email, f}
				val := cur[s.name()][email].v[f]
				seen, edited := pulled[k]
				// Put back to the window's start after the pull saw it
				// changed (a person undoing an edit while the pass runs):
				// the undo is that system's newest edit of the field, and
				// takes part like any other. Unless the search lag hid
				// the change from the pull: then it may not.
				undone := val == s.norm(f, base[f]) && postPull[k] && edited && seen != val
				if undone && p.lag > 0 {
					hidden = append(hidden, s.name())
				}
				if val != s.norm(f, base[f]) || undone {
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
					mayWin(email, fc, func(sys string) time.Time { return fieldLast[[3]string{sys, email, f}] })
					// An undo the lag may have hidden: the contest
					// without it may have been the one decided.
					alt := ""
					for _, sys := range sortedKeys(fc.last) {
						if !slices.Contains(hidden, sys) && (alt == "" || fc.last[sys].After(fc.last[alt])) {
							alt = sys
						}
					}
					if len(hidden) > 0 && alt != "" && !slices.Contains(fc.ok, fc.values[alt]) {
						fc.ok = append(fc.ok, fc.values[alt])
					}
					if len(fc.ok) > 1 {
						e.loose[[2]string{email, f}] = true
					}
				}
				if e.loose[[2]string{email, f}] && p.mayAgree(email, f, fc) {
					fc.optional = true
				}
			}
		}
		e.merged[email] = v
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
		// Edited during the pass, a new record may have been met before
		// or after that edit: its field's time is its create, or its
		// field's last edit in the window.
		var mid func(f string, fc *propFieldConflict)
		if midTouched[email] {
			mid = func(f string, fc *propFieldConflict) {
				mayWin(email, fc, func(sys string) time.Time {
					if t, ok := fieldLast[[3]string{sys, email, f}]; ok {
						return t
					}
					return createdAt[[2]string{sys, email}]
				})
			}
		}
		p.expectCreated(e, email, created[email], deleted[email], timeOf, func(sys, email, f string) bool { return postPull[[3]string{sys, email, f}] }, mid)
	}
	return e
}

// expectCreated is what becomes of a person created in this window, in
// one system or, with one email, in several (class samekey): the records
// are matched on the email and merged with no base. A field set in one
// takes its value; set to different values in several, the newest record
// wins and one conflict is recorded. A record deleted before any pass saw
// it takes no part.
//
// A field edited after the pull (during the pass) is an edit of a linked
// record, not a record's first value: emptied, it still takes part.
// mid, set when the person was edited during the pass, widens a contest
// to the values a pass that met a record before that edit may have
// decided (Salesforce stamps a record, not a field: an edit of another
// field moves the time newest compares).
func (p *propTest) expectCreated(e *propExpect, email string, creators []string, dels map[string]time.Time,
	timeOf func(sys, email, f string) time.Time, postPull func(sys, email, f string) bool, mid func(f string, fc *propFieldConflict)) {
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
		// agree there (the precise one is what it was typed as): one
		// group, as new as its newest record, which the merge credits
		// with the assertion; the contest's sides may then name any of
		// the group's systems.
		type group struct {
			rep     string // the value as typed: the one that is not a lossy reading of another
			members []string
			last    time.Time
		}
		var groups []*group
		lossyPair := false
		for _, sys := range live {
			val := p.cur[sys][email].v[f]
			if val == "" && !postPull(sys, email, f) {
				continue
			}
			at := timeOf(sys, email, f)
			fc.values[sys], fc.last[sys] = val, at
			s := p.systemNamed(sys)
			i := slices.IndexFunc(groups, func(g *group) bool {
				return g.rep == val || s.norm(f, g.rep) == val || slices.ContainsFunc(g.members, func(m string) bool {
					return p.systemNamed(m).norm(f, val) == g.rep
				})
			})
			if i < 0 {
				groups = append(groups, &group{rep: val, members: []string{sys}, last: at})
				continue
			}
			g := groups[i]
			if g.rep != val {
				lossyPair = true
				if s.norm(f, g.rep) != val {
					g.rep = val // the group's value was this one as a lossy system reads it
				}
			}
			g.members = append(g.members, sys)
			if at.After(g.last) {
				g.last = at
			}
		}
		switch len(groups) {
		case 0:
			v[f] = ""
		case 1:
			v[f] = groups[0].rep
		default:
			var win *group
			for _, g := range groups {
				if win == nil || g.last.After(win.last) {
					win = g
				}
			}
			for _, sys := range win.members {
				if fc.winner == "" || fc.last[sys].After(fc.last[fc.winner]) {
					fc.winner = sys
				}
			}
			v[f] = win.rep
			e.conflicts[[2]string{email, f}] = fc
			if mid != nil {
				mid(f, fc)
			}
			if lossyPair || len(fc.ok) > 1 {
				e.loose[[2]string{email, f}] = true
			}
		}
	}
	e.alive[email] = v
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

// mayAgree reports whether a pass may have met a loose field in a state
// the window passed through in which the systems agreed, and so had no
// contest to record: each system's value as seen is one it set in the
// window (its last, or an earlier one the search lag or an edit during
// the pass kept from the pull).
// hubspot_b set F994, hubspot_a copied it, hubspot_b set F1000: a pull
// that saw hubspot_b's first edit only found both at F994.
func (p *propTest) mayAgree(email, f string, fc *propFieldConflict) bool {
	seen := map[string][]string{}
	for sys, v := range fc.values {
		seen[sys] = []string{v}
	}
	for _, a := range p.window {
		if a.kind == "edit" && a.email == email && a.field == f && seen[a.system] != nil {
			seen[a.system] = append(seen[a.system], p.systemNamed(a.system).norm(f, a.value))
		}
	}
	for _, vs := range seen {
		for _, v := range vs {
			agree := true
			for _, other := range seen {
				agree = agree && slices.Contains(other, v)
			}
			if agree {
				return true
			}
		}
	}
	return false
}
