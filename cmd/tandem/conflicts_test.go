package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/state"
)

// conflictsWorld is a config whose state file holds four conflicts: one
// field conflict of each status and an open identity conflict. No system
// is contacted, so the URLs lead nowhere.
func conflictsWorld(t *testing.T, cs ...tandem.Conflict) (config, statePath string) {
	t.Helper()
	dir := t.TempDir()
	config, statePath = filepath.Join(dir, "tandem.yaml"), filepath.Join(dir, "tandem.db")
	cfg := contactConfig(statePath, "http://127.0.0.1:1", "hs-token", "http://127.0.0.1:1", "cid", "csecret")
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if cs == nil {
		return config, statePath
	}
	store, err := state.Open(statePath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	err = store.Update(ctx, func(tx *state.Tx) error {
		for i := range cs {
			if err := tx.AddConflict(ctx, &cs[i], nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return config, statePath
}

func fourConflicts() []tandem.Conflict {
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	sides := func(hs, sf any) map[string]tandem.SideValue {
		return map[string]tandem.SideValue{
			"hubspot":    {Value: hs, ModifiedAt: t0, RecordID: "1001"},
			"salesforce": {Value: sf, ModifiedAt: t0.Add(time.Minute), RecordID: "0035g000000000qAAA"},
		}
	}
	return []tandem.Conflict{
		{Entity: "contact", EntityID: "e1", Kind: tandem.ConflictField, Field: "last_name", Base: "Lovelace", Values: sides("Lovelace-King", "King"),
			Policy: "manual", Status: tandem.ConflictOpen, Decided: "held: manual policy", Created: t0},
		{Entity: "contact", EntityID: "e2", Kind: tandem.ConflictField, Field: "phone", Base: "+15550100030", Values: sides("+15550100031", "+15550109999"),
			Policy: "newest", Status: tandem.ConflictAuto, Decided: "salesforce", Created: t0, Resolved: t0},
		{Entity: "contact", EntityID: "e3", Kind: tandem.ConflictField, Field: "first_name", Base: "Grace", Values: sides("Grace", "=1+1"),
			Policy: "manual", Status: tandem.ConflictResolved, Decided: "hubspot", Created: t0, Resolved: t0.Add(time.Hour)},
		{Entity: "contact", Kind: tandem.ConflictIdentity, Policy: "match", Status: tandem.ConflictOpen, Decided: "2 entities match [email:ada@example.com]",
			Values:  map[string]tandem.SideValue{"salesforce": {Value: map[string]any{"email": "ada@example.com"}, RecordID: "0035g000000000zAAA"}},
			Created: t0},
	}
}

// conflictsJSON runs tandem conflicts --format json with args and returns
// the conflicts it printed, each as its JSON object.
func conflictsJSON(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	code, out, errs := run(append([]string{"conflicts", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("conflicts %v: exit %d\n%s", args, code, errs)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("conflicts %v: %v\n%s", args, err, out)
	}
	return got
}

func fieldsOf(cs []map[string]any, key string) []string {
	var out []string
	for _, c := range cs {
		out = append(out, strings.Trim(string(must(json.Marshal(c[key]))), `"`))
	}
	return out
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestConflicts(t *testing.T) {
	config, statePath := conflictsWorld(t, fourConflicts()...)
	sum := fileSum(t, statePath)

	// Open only by default, every key of the Conflict form present.
	open := conflictsJSON(t, "--config", config)
	if got := fieldsOf(open, "id"); strings.Join(got, ",") != "1,4" {
		t.Errorf("open conflicts %v, want 1 and 4", got)
	}
	for _, c := range open {
		for _, k := range []string{"id", "entity", "entity_id", "kind", "field", "base", "values", "policy", "status", "decided", "created_at"} {
			if _, ok := c[k]; !ok {
				t.Errorf("conflict %v lacks %q", c["id"], k)
			}
		}
		if c["status"] != tandem.ConflictOpen {
			t.Errorf("conflict %v is %v", c["id"], c["status"])
		}
	}
	if sides, _ := open[0]["values"].(map[string]any); sides["hubspot"].(map[string]any)["value"] != "Lovelace-King" {
		t.Errorf("values: %v", open[0]["values"])
	}

	for _, tc := range []struct {
		args []string
		want string // ids
	}{
		{[]string{"--all"}, "1,2,3,4"},
		{[]string{"--all", "--kind", "identity"}, "4"},
		{[]string{"--kind", "field"}, "1"},
		{[]string{"--all", "--entity", "contact", "--kind", "field"}, "1,2,3"},
	} {
		if got := fieldsOf(conflictsJSON(t, append([]string{"--config", config}, tc.args...)...), "id"); strings.Join(got, ",") != tc.want {
			t.Errorf("conflicts %v: ids %v, want %s", tc.args, got, tc.want)
		}
	}
	if got := fieldsOf(conflictsJSON(t, "--config", config, "--all"), "status"); strings.Join(got, ",") != "open,auto,resolved,open" {
		t.Errorf("--all statuses %v", got)
	}

	// The table: one line per conflict and a count.
	code, out, _ := run("conflicts", "--config", config)
	if code != 0 || !strings.Contains(out, `hubspot="Lovelace-King" salesforce="King"`) || !strings.HasSuffix(out, "2 conflicts (2 open)\n") {
		t.Errorf("table: exit %d\n%s", code, out)
	}

	// CSV: a row per side, the formula defused.
	code, out, _ = run("conflicts", "--config", config, "--all", "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != 1+2+2+2+1 {
		t.Fatalf("csv: exit %d, %v, %d rows\n%s", code, err, len(rows), out)
	}
	if !strings.Contains(out, `"""=1+1"""`) {
		t.Errorf("csv lacks the JSON string value:\n%s", out)
	}

	// -o writes the file whole, says where, and leaves no temporary file.
	dir := t.TempDir()
	file := filepath.Join(dir, "conflicts.html")
	code, out, errs := run("conflicts", "--config", config, "--all", "--format", "html", "-o", file)
	if code != 0 || out != "" || !strings.Contains(errs, file) {
		t.Fatalf("-o: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	page, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(page), "4 conflicts: 2 open, 1 resolved, 1 auto") || !strings.Contains(string(page), "generated 20") {
		t.Errorf("-o wrote %d bytes (%v)", len(page), err)
	}
	// Again, over the same file: replaced, still nothing else in the directory.
	if code, _, errs := run("conflicts", "--config", config, "--format", "json", "-o", file); code != 0 {
		t.Fatalf("-o over an existing file: exit %d\n%s", code, errs)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("-o left %d files in its directory, want 1", len(entries))
	}
	if b, _ := os.ReadFile(file); !strings.HasPrefix(string(b), "[\n  {") {
		t.Errorf("-o did not replace the file:\n%.80s", b)
	}

	// Bad flags are named.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "xml"}, `--format: want table, json, csv, html, got "xml"`},
		{[]string{"--kind", "fields"}, `--kind: want field, identity, delete, value, got "fields"`},
		{[]string{"--entity", "deal"}, `--entity: no entity "deal"`},
		{[]string{"-o", filepath.Join(dir, "no", "such", "dir", "c.html")}, "-o: "},
	} {
		if code, _, errs := run(append([]string{"conflicts", "--config", config}, tc.args...)...); code != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("conflicts %v: exit %d, %s", tc.args, code, errs)
		}
	}

	if fileSum(t, statePath) != sum {
		t.Error("tandem conflicts changed the state file")
	}
}

// Before the first sync there is no state file: an empty report in the
// format asked for, exit 0, and still no state file.
func TestConflictsNoState(t *testing.T) {
	config, statePath := conflictsWorld(t)
	for format, want := range map[string]string{
		"table": "no conflicts\n",
		"json":  "[]\n",
		"csv":   "id,entity,entity_id,kind,field,status,policy,decided,created_at,resolved_at,base,system,value,modified_at,record_id\n",
		"html":  "No conflicts to show.",
	} {
		code, out, errs := run("conflicts", "--config", config, "--format", format)
		if code != 0 || !strings.Contains(out, want) || (format != "html" && out != want) {
			t.Errorf("%s: exit %d, stdout %q", format, code, out)
		}
		if !strings.Contains(errs, "not created yet") {
			t.Errorf("%s: stderr %q does not say why there are no conflicts", format, errs)
		}
	}
	if _, err := os.Stat(statePath); err == nil {
		t.Error("tandem conflicts created the state file")
	}
}

// TestConflictsMaskSensitiveFields (issue 17, item 10): a field marked
// sensitive: true in the config is masked in every format of `tandem
// conflicts`; the other fields' values show as before.
func TestConflictsMaskSensitiveFields(t *testing.T) {
	config, _ := conflictsWorld(t, fourConflicts()...)
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(b), "      phone: phone ", "      phone: { type: phone, sensitive: true } ", 1)
	if src == string(b) {
		t.Fatal("the config has no phone field to mark")
	}
	if err := os.WriteFile(config, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"table", "json", "csv", "html"} {
		code, out, errb := run("conflicts", "--config", config, "--all", "--format", format)
		if code != 0 {
			t.Fatalf("conflicts --format %s: exit %d\n%s", format, code, errb)
		}
		for _, phone := range []string{"+15550100030", "+15550100031", "+15550109999", "555"} {
			if strings.Contains(out, phone) {
				t.Errorf("--format %s shows the sensitive phone %s", format, phone)
			}
		}
		if !strings.Contains(out, "Lovelace-King") {
			t.Errorf("--format %s: the last name, not sensitive, is not shown", format)
		}
	}
}

// TestConflictsReportActionable (issue 16, item 7): the HTML report lists
// the open conflicts first, says who a record is, and gives the exact
// command for each choice, with this config.
func TestConflictsReportActionable(t *testing.T) {
	config, _ := conflictsWorld(t, fourConflicts()...)
	code, out, errb := run("conflicts", "--config", config, "--all", "--format", "html")
	if code != 0 {
		t.Fatalf("conflicts --format html: exit %d\n%s", code, errb)
	}
	for _, want := range []string{
		"tandem resolve 1 --take hubspot --config " + config,
		"tandem resolve 1 --take salesforce --config " + config,
		"tandem resolve 4 --link --config " + config,
		`<p class="who">ada@example.com</p>`,
		`<td class="value"><code>Lovelace-King</code></td>`, // text as text, not a JSON literal
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %s", want)
		}
	}
	if strings.Contains(out, "tandem resolve 2 ") {
		t.Error("the report offers a choice for a conflict already decided")
	}
	if i, j := strings.Index(out, `id="c4"`), strings.Index(out, `id="c2"`); i < 0 || j < 0 || i > j {
		t.Errorf("open conflict 4 at %d, decided conflict 2 at %d: want the open ones first", i, j)
	}
}
