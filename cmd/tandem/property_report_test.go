package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"tandem"
	"time"
)

// How the convergence property test reports: its summary, and what a
// failure prints to replay and debug it.

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
	fmt.Fprintf(&b, "seed %d: replay with  %s\n", p.seed, p.replay())
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

// replay is the command that runs this test again.
func (p *propTest) replay() string {
	cmd := fmt.Sprintf("go test ./cmd/tandem -run TestPropertyConvergence -property.seed=%d -property.steps=%d", p.seed, p.steps)
	if *propertyOff != "" {
		cmd += " -property.off=" + *propertyOff
	}
	if propertyWithPostgres() {
		cmd += " -property.postgres"
	}
	return cmd + " -v"
}
