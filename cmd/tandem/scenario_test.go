package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/salesforce/salesforcetest"
	"tandem/state"
)

var update = flag.Bool("update", false, "rewrite the scenario golden files")

// A scenario (testdata/scenarios/NAME.yaml) is an initial state in both
// emulators, a conflict and delete policy, and steps: syncs, edits in one
// system, deletes, undeletes, creates, the clock moving, resolves. Its
// outcome (every step's exit code, both systems' records, every conflict)
// is compared with NAME.golden; `go test ./cmd/tandem -run Scenario
// -update` rewrites the golden files.
type scenario struct {
	About      string           `yaml:"about"`
	Policy     string           `yaml:"policy"` // replaces the config's conflict: line
	HubSpot    []map[string]any `yaml:"hubspot"`
	Salesforce []map[string]any `yaml:"salesforce"`
	Steps      []step           `yaml:"steps"`
}

type step struct {
	Sync     *syncStep    `yaml:"sync"`
	Edit     *recordStep  `yaml:"edit"`
	Create   *recordStep  `yaml:"create"`
	Delete   *recordStep  `yaml:"delete"`
	Undelete *recordStep  `yaml:"undelete"`
	Clock    string       `yaml:"clock"` // a duration the clocks move on
	Resolve  *resolveStep `yaml:"resolve"`
	Plan     *syncStep    `yaml:"plan"`
	Show     bool         `yaml:"-"` // the bare word "show": both systems' records now
}

type syncStep struct {
	Force bool `yaml:"force"`
	Exit  int  `yaml:"exit"`
}

type recordStep struct {
	System string         `yaml:"system"`
	Email  string         `yaml:"email"` // which record (the first live one with it)
	Set    map[string]any `yaml:"set"`
}

type resolveStep struct {
	Kind  string   `yaml:"kind"`  // the open conflict of this kind
	Field string   `yaml:"field"` // and field
	Args  []string `yaml:"args"`  // --take salesforce, --value "...", --link, --split
	Exit  int      `yaml:"exit"`
}

// UnmarshalYAML lets a step be the bare word "sync" or "plan".
func (s *step) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "sync":
			s.Sync = &syncStep{}
		case "plan":
			s.Plan = &syncStep{}
		case "show":
			s.Show = true
		default:
			return fmt.Errorf("line %d: unknown step %q", n.Line, n.Value)
		}
		return nil
	}
	type plain step
	return n.Decode((*plain)(s))
}

func TestScenarios(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/scenarios/*.yaml")
	if len(files) == 0 {
		t.Fatal("no scenarios in testdata/scenarios")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var sc scenario
			dec := yaml.NewDecoder(bytes.NewReader(b))
			dec.KnownFields(true)
			if err := dec.Decode(&sc); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			got := runScenario(t, &sc)
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the outcome (run with -update to accept):\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}

// scenarioWorld is both emulators, empty, on one test clock, with the
// sandbox's config under the scenario's policy.
func scenarioWorld(t *testing.T, sc *scenario) *world {
	c := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	w := &world{
		clock: c,
		hs:    hubspottest.NewServer(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-test-token", Now: c.Now, RateLimit: loopbackRate}),
		sf:    salesforcetest.NewServer(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret", Now: c.Now}),
	}
	t.Cleanup(w.hs.Close)
	t.Cleanup(w.sf.Close)
	engineNow = c.Now
	t.Cleanup(func() { engineNow = nil })
	for _, r := range sc.HubSpot {
		if _, err := w.hs.Create("contacts", r); err != nil {
			t.Fatal(err)
		}
	}
	w.tick()
	for _, r := range sc.Salesforce {
		if _, err := w.sf.Create("Contact", r); err != nil {
			t.Fatal(err)
		}
	}
	w.tick()
	dir := t.TempDir()
	w.config, w.state = filepath.Join(dir, "tandem.yaml"), filepath.Join(dir, "tandem.db")
	cfg := contactConfig(w.state, w.hs.URL, "hs-test-token", w.sf.URL, "cid", "csecret")
	if sc.Policy != "" {
		cfg = strings.Replace(cfg, "    conflict: { policy: newest }\n", indent(sc.Policy, "    "), 1)
	}
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

func indent(s, by string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(by + l + "\n")
	}
	return b.String()
}

func runScenario(t *testing.T, sc *scenario) string {
	w := scenarioWorld(t, sc)
	var log strings.Builder
	deleted := map[string]string{} // system/email -> id of the deleted record
	for i, s := range sc.Steps {
		w.tick()
		switch {
		case s.Sync != nil:
			args := []string{"sync", "--config", w.config}
			if s.Sync.Force {
				args = append(args, "--force")
			}
			code, _, errOut := run(args...)
			fmt.Fprintf(&log, "%d sync%s: exit %d%s\n", i, map[bool]string{true: " --force"}[s.Sync.Force], code, guardLine(errOut))
			if code != s.Sync.Exit {
				t.Fatalf("step %d: sync exited %d, want %d:\n%s", i, code, s.Sync.Exit, errOut)
			}
		case s.Show:
			fmt.Fprintf(&log, "%d show\n%s", i, indent(w.records(), "    "))
		case s.Plan != nil:
			code, out, errOut := run("plan", "--config", w.config)
			fmt.Fprintf(&log, "%d plan: exit %d%s\n%s", i, code, guardLine(errOut), indent(out, "    "))
			if code != s.Plan.Exit {
				t.Fatalf("step %d: plan exited %d, want %d:\n%s", i, code, s.Plan.Exit, errOut)
			}
		case s.Edit != nil:
			id := w.recordID(t, s.Edit)
			var err error
			if s.Edit.System == "hubspot" {
				err = w.hs.Update("contacts", id, s.Edit.Set)
			} else {
				err = w.sf.Update("Contact", id, s.Edit.Set)
			}
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			fmt.Fprintf(&log, "%d edit %s %s: %s\n", i, s.Edit.System, s.Edit.Email, compact(s.Edit.Set))
		case s.Create != nil:
			var err error
			if s.Create.System == "hubspot" {
				_, err = w.hs.Create("contacts", s.Create.Set)
			} else {
				_, err = w.sf.Create("Contact", s.Create.Set)
			}
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			fmt.Fprintf(&log, "%d create %s: %s\n", i, s.Create.System, compact(s.Create.Set))
		case s.Delete != nil:
			id := w.recordID(t, s.Delete)
			var err error
			if s.Delete.System == "hubspot" {
				err = w.hs.Delete("contacts", id)
			} else {
				err = w.sf.Delete("Contact", id)
			}
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			deleted[s.Delete.System+"/"+s.Delete.Email] = id
			fmt.Fprintf(&log, "%d delete %s %s\n", i, s.Delete.System, s.Delete.Email)
		case s.Undelete != nil:
			if s.Undelete.System != "salesforce" {
				t.Fatalf("step %d: only Salesforce undeletes", i)
			}
			if err := w.sf.Undelete("Contact", deleted["salesforce/"+s.Undelete.Email]); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			fmt.Fprintf(&log, "%d undelete %s %s\n", i, s.Undelete.System, s.Undelete.Email)
		case s.Clock != "":
			d, err := time.ParseDuration(s.Clock)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			w.clock.mu.Lock()
			w.clock.t = w.clock.t.Add(d)
			w.clock.mu.Unlock()
			fmt.Fprintf(&log, "%d clock +%s\n", i, d)
		case s.Resolve != nil:
			id := w.openConflict(t, s.Resolve.Kind, s.Resolve.Field)
			args := append([]string{"resolve", fmt.Sprint(id), "--config", w.config}, s.Resolve.Args...)
			code, out, errOut := run(args...)
			fmt.Fprintf(&log, "%d resolve %s %s %s: exit %d: %s%s", i, s.Resolve.Kind, s.Resolve.Field, strings.Join(s.Resolve.Args, " "), code, out, errOut)
			if code != s.Resolve.Exit {
				t.Fatalf("step %d: resolve exited %d, want %d:\n%s", i, code, s.Resolve.Exit, errOut)
			}
		default:
			t.Fatalf("step %d: empty", i)
		}
	}
	return entityIDs.ReplaceAllString(log.String(), "<entity>") + w.outcome(t)
}

// entityIDs are random: the golden files show them as <entity>.
var entityIDs = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// guardLine is the message of a guard that stopped a pass, if any.
func guardLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if i := strings.Index(l, "stopped: "); i >= 0 {
			return "\n    " + l[i:]
		}
	}
	return ""
}

func (w *world) recordID(t *testing.T, r *recordStep) string {
	t.Helper()
	// An exact email first: a scenario may hold emails differing in case.
	if r.System == "salesforce" {
		for _, x := range w.sf.List("Contact") {
			if str(x.Fields["Email"]) == r.Email {
				return x.ID
			}
		}
	}
	if r.System == "hubspot" {
		return w.hsByEmail(t, r.Email).ID
	}
	return w.sfByEmail(t, r.Email).ID
}

func (w *world) openConflict(t *testing.T, kind, field string) int64 {
	t.Helper()
	st, err := state.OpenReadOnly(w.state)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs, err := st.Conflicts(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Kind == kind && c.Field == field {
			return c.ID
		}
	}
	t.Fatalf("no open %s conflict on %q among %+v", kind, field, cs)
	return 0
}

// outcome is both systems' live records, by email, and every conflict,
// without ids and times (entity ids are random).
func (w *world) outcome(t *testing.T) string {
	var b strings.Builder
	b.WriteString(w.records())
	b.WriteString("== conflicts\n")
	st, err := state.OpenReadOnly(w.state)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs, err := st.Conflicts(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		fmt.Fprintf(&b, "%d %s %s policy=%s status=%s decided=%q base=%s\n", c.ID, c.Kind, dash(c.Field), c.Policy, c.Status,
			entityIDs.ReplaceAllString(c.Decided, "<entity>"), compact(c.Base))
		for _, sys := range slices.Sorted(maps.Keys(c.Values)) {
			fmt.Fprintf(&b, "    %s: %s\n", sys, compact(c.Values[sys].Value))
		}
	}
	return b.String()
}

// records is both systems' live records, by email.
func (w *world) records() string {
	var b strings.Builder
	b.WriteString("== hubspot contacts\n")
	var lines []string
	for _, o := range w.hs.List("contacts") {
		lines = append(lines, fmt.Sprintf("%s: first=%q last=%q phone=%q lifecycle=%q", o.Properties["email"],
			o.Properties["firstname"], o.Properties["lastname"], o.Properties["phone"], o.Properties["lifecyclestage"]))
	}
	writeLines(&b, lines)
	b.WriteString("== salesforce Contact\n")
	lines = nil
	for _, r := range w.sf.List("Contact") {
		lines = append(lines, fmt.Sprintf("%s: first=%q last=%q phone=%q lifecycle=%q", str(r.Fields["Email"]),
			str(r.Fields["FirstName"]), str(r.Fields["LastName"]), str(r.Fields["Phone"]), str(r.Fields["Lifecycle__c"])))
	}
	writeLines(&b, lines)
	return b.String()
}

func writeLines(b *strings.Builder, lines []string) {
	if len(lines) == 0 {
		lines = []string{"(none)"}
	}
	slices.Sort(lines)
	b.WriteString(strings.Join(lines, "\n") + "\n")
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
