package main

import (
	"os"
	"strings"
	"testing"
)

func TestDoctor(t *testing.T) {
	w := newWorld(t)

	// Before the first sync: all good, the state file not created.
	code, out, errs := run("doctor", "--config", w.config)
	if code != 0 {
		t.Fatalf("doctor on a good config: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"ok    config", "ok    system hubspot: credentials accepted", "ok    system salesforce: credentials accepted",
		"ok    entity contact, system hubspot: 5 mapped paths found", "ok    state " + w.state + ": not created yet"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(w.state); err == nil {
		t.Error("doctor created the state file")
	}
	writes := w.writes()

	// A typo in a path, a wrong case, a read-only field mapped to be
	// written, and a value HubSpot's enumeration does not allow.
	cfg, _ := os.ReadFile(w.config)
	bad := strings.NewReplacer(
		"phone: properties.phone", "phone: properties.phonee",
		"email: Email", "email: email",
		"lifecycle: Lifecycle__c", "lifecycle: { path: LastModifiedDate, direction: both }",
		"other: Other", "other: Other\n              unknownstage: Evangelist2",
	).Replace(string(cfg))
	bad = strings.Replace(bad, "values: [Subscriber", "values: [Evangelist2, Subscriber", 1)
	os.WriteFile(w.config, []byte(bad), 0o600)
	code, out, _ = run("doctor", "--config", w.config)
	if code != 1 {
		t.Fatalf("doctor on a bad config: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"FAIL  entity contact, system hubspot: properties.phonee: no such field in hubspot contacts",
		"FAIL  entity contact, system salesforce: email: no such field in salesforce Contact (did you mean Email?)",
		"FAIL  entity contact, system salesforce: LastModifiedDate: salesforce keeps",
		`FAIL  entity contact, system hubspot: properties.lifecyclestage: the map writes "unknownstage"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}

	// Wrong credentials fail the check, naming the system.
	os.WriteFile(w.config, cfg, 0o600)
	t.Setenv("E2E_HS_TOKEN", "wrong-token")
	code, out, _ = run("doctor", "--config", w.config)
	if code != 1 || !strings.Contains(out, "FAIL  system hubspot: describe contacts") {
		t.Errorf("doctor with a wrong token: exit %d\n%s", code, out)
	}

	// A broken config: every error, with file and line, and nothing else.
	os.WriteFile(w.config, []byte(strings.Replace(string(cfg), "transform: trim }", "transform: e165 }", 1)), 0o600)
	code, out, _ = run("doctor", "--config", w.config)
	if code != 1 || !strings.Contains(out, `FAIL  `+w.config+`:`) || !strings.Contains(out, `entities.contact.systems.hubspot.fields.first_name: unknown transform "e165"`) {
		t.Errorf("doctor on a broken config: exit %d\n%s", code, out)
	}
	if w.writes() != writes {
		t.Error("doctor wrote to a system")
	}
}
