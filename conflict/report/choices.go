package report

import (
	"fmt"
	"slices"
	"strings"

	"tandem"
)

// openFirst is cs with the open conflicts first, each group in the order
// given: what a person must decide comes before what is recorded.
func openFirst(cs []tandem.Conflict) []tandem.Conflict {
	out := slices.Clone(cs)
	slices.SortStableFunc(out, func(a, b tandem.Conflict) int {
		ao, bo := a.Status == tandem.ConflictOpen, b.Status == tandem.ConflictOpen
		switch {
		case ao && !bo:
			return -1
		case bo && !ao:
			return 1
		}
		return 0
	})
	return out
}

// choices are the commands that decide an open conflict, one per choice a
// person has (tandem resolve --help says what each does).
func choices(c tandem.Conflict, config string) []string {
	cmd := func(args string) string {
		s := fmt.Sprintf("tandem resolve %d %s", c.ID, args)
		if config != "" {
			s += " --config " + shellQuote(config)
		}
		return s
	}
	var out []string
	switch c.Kind {
	case tandem.ConflictField, tandem.ConflictDelete:
		for _, sys := range systems(c) {
			out = append(out, cmd("--take "+shellQuote(sys)))
		}
		if c.Kind == tandem.ConflictField {
			out = append(out, cmd("--value '\"…\"'"))
		}
	case tandem.ConflictIdentity:
		if c.Field != "" { // a unique value a system refused: the field is held
			out = append(out, cmd("--value '\"…\"'"))
		} else {
			out = append(out, cmd("--link"), cmd("--split"))
		}
	case tandem.ConflictValue:
		if c.HeldWrite() { // a value a system refused: write it again there, or another
			for _, sys := range systems(c) {
				out = append(out, cmd("--take "+shellQuote(sys)))
			}
		}
		out = append(out, cmd("--value '\"…\"'"))
	}
	return out
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@", r))
	}) < 0 {
		return s
	}
	if strings.IndexFunc(s, hidden) < 0 {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	// A control or bidi character would be invisible, or rearrange the
	// line, in the page and the terminal: bash's $'…' quoting spells it
	// as an escape, and the command still pastes as it reads.
	var b strings.Builder
	b.WriteString("$'")
	for _, r := range s {
		switch {
		case r == '\\' || r == '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x80 && hidden(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case hidden(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// whoOf names the record of a conflict that carries whole records (an
// identity or delete conflict): its name and email, from the first side
// that holds a record.
func whoOf(c tandem.Conflict) string {
	for _, sys := range systems(c) {
		if view, ok := c.Values[sys].Value.(map[string]any); ok {
			if w := Display(view); w != "" {
				return w
			}
		}
	}
	return ""
}

// Display is how a record's canonical values name it: its name (name, or
// first and last name) and its email, as far as it has them.
func Display(vals map[string]any) string {
	str := func(k string) string {
		s, _ := vals[k].(string)
		return strings.TrimSpace(s)
	}
	name := str("name")
	if name == "" {
		name = strings.TrimSpace(str("first_name") + " " + str("last_name"))
	}
	switch email := str("email"); {
	case name != "" && email != "":
		return name + " <" + email + ">"
	case name != "":
		return name
	default:
		return email
	}
}
