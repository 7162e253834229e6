package config

import (
	"os"
	"strings"
	"testing"

	"tandem/conflict/policy"
)

// good is a config of one entity, contact, in two systems, with a value
// map, an out-only and an in-only field and a per-field policy (shared
// with package mapping's tests).
var good = readTestdata("../testdata/contact.yaml")

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestParseGood(t *testing.T) {
	cfg, err := Parse("tandem.yaml", []byte(good), env(map[string]string{"HS_TOKEN": "secret"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.State != "t.db" || len(cfg.Systems) != 2 || len(cfg.Entities) != 1 {
		t.Fatalf("cfg = %+v", cfg)
	}
	hs, _ := cfg.System("hubspot")
	if tok := child(hs.Node, "token"); tok == nil || tok.Value != "secret" {
		t.Errorf("token not expanded: %+v", tok)
	}
	e := cfg.Entities[0]
	if e.Policy.For("first_name").String() != "prefer:salesforce" || e.Policy.For("email").Kind != policy.Newest {
		t.Errorf("policy = %+v", e.Policy)
	}
	if got := cfg.Schedules["contact"]; got != (Schedule{Sync: "*/5 * * * *"}) {
		t.Errorf("schedules = %+v", cfg.Schedules)
	}
	sf := e.System("salesforce")
	if !sf.Reads("lifecycle") || sf.Writes("lifecycle") {
		t.Error("direction in: read, never written")
	}
	if h := e.System("hubspot"); h.Reads("note") || !h.Writes("note") {
		t.Error("direction out: written, never read")
	}
}

func TestParseErrorsNameFileLineKey(t *testing.T) {
	bad := strings.NewReplacer(
		"token: ${HS_TOKEN}", "token: ${NOPE}",
		"first_name: properties.firstname", "first_nam: properties.firstname",
		"direction: in }", "direction: sideways }",
		"schedule: \"*/5 * * * *\"", "schedule: \"every day\"",
		"policy: newest,", "policy: loudest,",
	).Replace(good) + "    colour: blue\n"
	_, err := Parse("tandem.yaml", []byte(bad), env(nil))
	errs, ok := AsConfigErrors(err)
	if !ok {
		t.Fatalf("want config errors, got %v", err)
	}
	want := []string{
		"tandem.yaml:5: systems.hubspot.token: environment variable NOPE is not set",
		`tandem.yaml:21: entities.contact.systems.hubspot.fields.first_nam: "first_nam" is not a declared field of entity contact`,
		`tandem.yaml:29: entities.contact.systems.salesforce.fields.lifecycle.direction: unknown direction "sideways" (known: both, in, out)`,
		`tandem.yaml:30: entities.contact.conflict.policy: unknown policy "loudest"`,
		`tandem.yaml:31: entities.contact.schedule: bad cron spec "every day"`,
		"tandem.yaml:32: entities.contact.colour: unknown key",
	}
	text := err.Error()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("missing %q in:\n%s", w, text)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("%d errors, want %d (all at once):\n%s", len(errs), len(want), text)
	}
}

func TestParseBrokenYAML(t *testing.T) {
	_, err := Parse("x.yaml", []byte("systems:\n  a: [\n"), env(nil))
	if err == nil || !strings.HasPrefix(err.Error(), "x.yaml:") {
		t.Fatalf("want a located error, got %v", err)
	}
}

func readTestdata(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return string(b)
}
