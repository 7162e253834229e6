package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"tandem/connectors"
	_ "tandem/connectors/hubspot" // registered, to decode their sections
	_ "tandem/connectors/salesforce"
)

// FuzzParse: Parse never panics on any bytes; it returns a config or
// Errors, never both, never neither, never an empty list; every error
// names the file, a line of it (1 to the line after the last, where
// YAML's own message gives one; 0 only when it does not) and a key, and
// reads "file:line: key: message"; the same bytes give the same errors;
// a config that parses names only systems it configures; and the HubSpot
// and Salesforce connectors decode their sections of it with errors of
// the same form. Seeds: the configs of the tests (mapping's golden
// config), the f.Add calls, and testdata/fuzz/FuzzParse/ (the README's
// config, mapping's round-trip config, and the inputs that found bugs);
// CI runs it for a bounded count (.ci/run).
func FuzzParse(f *testing.F) {
	for _, s := range []string{good, badConfig, "", "\n", "---\n...\n", "# only a comment\n", "[]", "systems: {}\nentities: {}\n",
		"systems:\n  a: {type: x}\nentities:\n  e:\n    fields: {email: email}\n    match: [email]\n    systems: {b: {object: o, fields: {email: email}}}\n",
		"a: &x [*x]\n", "a: !!binary AAAA\n", "\tsystems:\n", "state: ${UNSET}\nlisten: ${LISTEN}\n", "? [a]\n: b\n",
		"systems:\n  hs:\n    type: hubspot\n  hs:\n    type: hubspot\n",
		"systems:\n  hs: {type: hubspot, token: t, rate_limit: {requests: 0}, breaker: {failures: -1}}\n  sf: {type: salesforce, instance_url: 'ftp://x', client_id: a, client_secret: b, webhook: {secret: s, encoding: b32}}\nentities:\n  c:\n    fields: {email: email}\n    match: [email]\n    systems: {hs: {object: contacts, fields: {email: properties.email}}, sf: {object: Contact, fields: {email: Email}}}\n", "entities:\n  c:\n    schedule: '* * *'\n    conflict: {clock_tolerance: 2 fortnights}\n",
		"\xef\xbb\xbfstate: x\n", "state: \"\\xff\"\n", "%YAML 1.1\n---\nstate: x\n", "state: x\n---\nstate: y\n",
	} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("../testdata/golden/tandem.yaml"); err == nil {
		f.Add(b)
	}
	// Every variable is set but those named UNSET…, to a value that would
	// be YAML of its own, were it read as YAML.
	lookup := func(name string) (string, bool) {
		if strings.HasPrefix(name, "UNSET") {
			return "", false
		}
		return "value of " + name + ": {[&*]}", true
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
			lines := yamlLines(data)
			for _, e := range errs {
				switch {
				case e.File != file:
					t.Fatalf("error %q names the file %q", e, e.File)
				case e.Line < 0 || e.Line > lines:
					t.Fatalf("error %q: line %d of a file of %d lines", e, e.Line, lines)
				case e.Line == 0 && (e.Key != "(file)" || lineRef.MatchString(e.Msg)):
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
		// The rest of the loading: each connector decodes its own section,
		// and its errors name the file, a line and the key, as Parse's do.
		// Not when the config names a file to read: a fuzzed path could be
		// anything, a FIFO that never ends included.
		if bytes.Contains(data, []byte("_file")) {
			return
		}
		for _, sc := range cfg.Systems {
			if sc.Type != "hubspot" && sc.Type != "salesforce" {
				continue
			}
			_, err := connectors.Open(sc)
			var ce *connectors.ConfigError
			switch {
			case err == nil:
			case !errors.As(err, &ce):
				t.Fatalf("system %s: error %T %v is not a config error", sc.Name, err, err)
			case ce.File != file || ce.Line < 1 || ce.Line > yamlLines(data):
				t.Fatalf("system %s: error %q names no line of the file", sc.Name, ce)
			case !strings.HasPrefix(ce.Key, "systems."+sc.Name):
				t.Fatalf("system %s: error %q names a key outside its section", sc.Name, ce)
			}
		}
	})
}

// yamlLines counts the lines of a YAML file as YAML does: a line ends at
// \n, \r\n, a lone \r (an old Mac's files), or NEL, LS or PS.
func yamlLines(data []byte) int {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	return 1 + strings.Count(s, "\n") + strings.Count(s, "\r") + strings.Count(s, "\u0085") + strings.Count(s, "\u2028") + strings.Count(s, "\u2029")
}
