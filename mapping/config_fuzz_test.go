package mapping

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics on any bytes; it returns a config or
// Errors, never both, never neither, never an empty list; every error
// names the file, a line of it (1 to the line after the last, where
// YAML's own message gives one; 0 only when it does not) and a key, and
// reads "file:line: key: message"; the same bytes give the same errors;
// and a config that parses names only systems it configures. Seeds: the
// configs of the tests and the README (testdata/fuzz/FuzzParse/) and the
// f.Add calls; CI runs it for a bounded count (.ci/run).
func FuzzParse(f *testing.F) {
	for _, s := range []string{good, badConfig, roundTripConfig, "", "\n", "---\n...\n", "# only a comment\n", "[]", "systems: {}\nentities: {}\n",
		"systems:\n  a: {type: x}\nentities:\n  e:\n    fields: {email: email}\n    match: [email]\n    systems: {b: {object: o, fields: {email: email}}}\n",
		"a: &x [*x]\n", "a: !!binary AAAA\n", "\tsystems:\n", "state: ${UNSET}\nlisten: ${SET_LISTEN}\n", "? [a]\n: b\n",
		"systems:\n  hs:\n    type: hubspot\n  hs:\n    type: hubspot\n", "entities:\n  c:\n    schedule: '* * *'\n    conflict: {clock_tolerance: 2 fortnights}\n",
		"\xef\xbb\xbfstate: x\n", "state: \"\\xff\"\n", "%YAML 1.1\n---\nstate: x\n", "state: x\n---\nstate: y\n",
	} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("testdata/golden/tandem.yaml"); err == nil {
		f.Add(b)
	}
	lookup := func(name string) (string, bool) {
		if strings.HasPrefix(name, "SET") {
			return "value of " + name + ": {[&*]}", true
		}
		return "", false
	}
	const file = "tandem.yaml"
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(file, data, lookup)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("config %v and error %v: want one of the two", cfg, err)
		}
		if err != nil {
			errs, ok := AsConfigErrors(err)
			if !ok || len(errs) == 0 {
				t.Fatalf("error %T %v: want config errors", err, err)
			}
			lines := bytes.Count(data, []byte("\n")) + 1
			for _, e := range errs {
				switch {
				case e.File != file:
					t.Fatalf("error %q names the file %q", e, e.File)
				case e.Line < 0 || e.Line > lines:
					t.Fatalf("error %q: line %d of a file of %d lines", e, e.Line, lines)
				case e.Line == 0 && (e.Key != "(file)" || strings.Contains(e.Msg, "line ")):
					t.Fatalf("error %q has no line, and could", e)
				case e.Key == "":
					t.Fatalf("error %q names no key", e)
				case !strings.HasPrefix(e.Error(), fmt.Sprintf("%s:%d: %s: ", file, e.Line, e.Key)):
					t.Fatalf("error %q does not read file:line: key: message", e)
				}
			}
			_, again := Parse(file, data, lookup)
			if again == nil || again.Error() != err.Error() {
				t.Fatalf("the same bytes gave %v, then %v", err, again)
			}
			return
		}
		for _, e := range cfg.Entities {
			for _, s := range e.Systems {
				if _, ok := cfg.System(s.Name); !ok {
					t.Fatalf("entity %s maps system %s, which the config does not have", e.Name, s.Name)
				}
			}
		}
	})
}
