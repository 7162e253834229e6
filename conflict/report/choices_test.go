package report

import (
	"os/exec"
	"testing"
)

// The commands the report prints paste into bash as the values they
// name, and show every character: a control or bidi character in a
// system name is spelled as an escape, never printed raw (FuzzRender
// found DEL printed raw).
func TestShellQuote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"hubspot", "hubspot"},
		{"", "''"},
		{"my system", "'my system'"},
		{"it's", `'it'\''s'`},
		{"\x7f", `$'\x7f'`},
		{"a\tb'c\\", `$'a\x09b\'c\\'`},
		{"sales\u202eforce", `$'sales\u202eforce'`},
	} {
		got := shellQuote(c.in)
		if got != c.want {
			t.Errorf("shellQuote(%q) = %s, want %s", c.in, got, c.want)
		}
		if _, err := exec.LookPath("bash"); err != nil {
			continue
		}
		out, err := exec.Command("bash", "-c", "printf %s "+got).Output()
		if err != nil || string(out) != c.in {
			t.Errorf("bash reads %s as %q (%v), want %q", got, out, err, c.in)
		}
	}
}
