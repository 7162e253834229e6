package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"

	"tandem"
)

// FuzzRender renders conflicts whose every string comes from the fuzzer
// (as CRM values, system names, reasons and ids can come from anyone who
// types into a CRM) in every format, and checks that the output is well
// formed:
//
//   - json parses back to the same conflicts;
//   - csv parses with encoding/csv, one row per conflict and side (one for
//     a conflict without sides) under the header, every row as wide, every
//     cell as written (defused: never starting as a formula);
//   - table has one line per conflict between its header and its count,
//     and no control, C1 or bidi character reaches the terminal;
//   - html escapes every value: replacing < > " ' in every input string
//     leaves the page's count of each unchanged, so none came from a
//     value; and no C1 or bidi character is left raw.
//
// Seeds: the f.Add calls; CI runs it for a bounded count (.ci/run).
func FuzzRender(f *testing.F) {
	type seed struct {
		entity, field, decided, system, record, status string
		value                                          []byte
		created                                        int64
	}
	for _, s := range []seed{
		{"contact", "phone", "salesforce", "salesforce", "0035g000000000qAAA", tandem.ConflictAuto, []byte(`"+15550109999"`), 1767603600},
		{"contact", "", "held: quarantined until 2026-01-06 11:00:00Z", "hubspot", "1004", tandem.ConflictOpen, []byte(`{"email":"ada@example.com","<b>":"\u202e"}`), 0},
		{"company", "name", "value", "hubspot", "2001", tandem.ConflictResolved, []byte(`"Smith & Co <b>Ltd</b>"`), -1},
		{"<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`, `' onmouseover='x'`, "<i>hs</i>", "=HYPERLINK(\"http://x\")", "<b>", []byte(`"<svg onload=alert(1)>"`), 253402300799},
		{"con\u202etact", "pho\u2066ne\u2069", "sales\u0085force", "hub\u009bspot", "\u202d1001", "op\u200fen", []byte("\"\u202eexe.txt\u0080\u009f\""), 1},
		{"a\tb\nc", "\x1b[31m", "\r\n", "sys\x00tem", "+1", "-", []byte(`-5`), 2},
		{"\xff\xfe", "\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", "@", "=", []byte("\"\\ud800\""), 3},
		{"", "", "", "", "", "", []byte(`null`), 4},
		{"contact", "tags", "hubspot", "hubspot", "\\.", tandem.ConflictOpen, []byte(`[1,"\u2028",{"a":null},true]`), 5},
		{"x", "y", "z", "hubspot", "r", "auto", []byte(`not json at all`), 6},
	} {
		f.Add(s.entity, s.field, s.decided, s.system, s.record, s.status, s.value, s.created)
	}
	f.Fuzz(func(t *testing.T, entity, field, decided, system, record, status string, value []byte, created int64) {
		cs := fuzzConflicts(entity, field, decided, system, record, status, value, created)
		checkJSON(t, cs)
		checkCSV(t, cs)
		checkTable(t, cs)
		checkHTML(t, cs, record)
	})
}

// fuzzConflicts builds two conflicts from the fuzzer's strings: a field
// conflict whose sides hold the value (as JSON when it is JSON, else as a
// string) and the raw bytes, and an identity conflict whose one side is a
// record view keyed by the same strings, with no base.
func fuzzConflicts(entity, field, decided, system, record, status string, value []byte, created int64) []tandem.Conflict {
	var v any
	if json.Unmarshal(value, &v) != nil {
		v = string(value)
	}
	// A time JSON can hold (years 0 to 9999): created_at comes from the
	// state file, which Tandem writes, not from outside.
	const lo, hi = -62135596800, 253402300799
	at := time.Unix(lo+(created%(hi-lo)+(hi-lo))%(hi-lo), 0).UTC()
	return []tandem.Conflict{{
		ID: created, Entity: entity, EntityID: record, Kind: tandem.ConflictField, Field: field, Base: string(value),
		Policy: decided, Status: status, Decided: decided, Pass: system,
		Values: map[string]tandem.SideValue{
			system:       {Value: v, ModifiedAt: at, RecordID: record},
			system + "2": {Value: string(value), RecordID: entity},
		},
		Created: at,
	}, {
		ID: 2, Entity: field, Kind: tandem.ConflictIdentity, Policy: "match", Status: tandem.ConflictOpen, Decided: entity,
		Values: map[string]tandem.SideValue{
			decided: {Value: map[string]any{entity: v, field: string(value), system: nil}, RecordID: decided},
		},
		Created: at, Resolved: at,
	}}
}

func checkJSON(t *testing.T, cs []tandem.Conflict) {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, "json", cs); err != nil {
		t.Fatalf("json: %v", err)
	}
	var back []tandem.Conflict
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("json does not parse: %v\n%s", err, b.Bytes())
	}
	// Compared as JSON once more, after a trip of the conflicts through
	// encoding/json: values come back as JSON's types, and JSON holds
	// invalid UTF-8 as U+FFFD, as any encoder must.
	var norm []tandem.Conflict
	b0, _ := json.Marshal(cs)
	if err := json.Unmarshal(b0, &norm); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(norm)
	got, _ := json.Marshal(back)
	if !bytes.Equal(want, got) {
		t.Fatalf("json does not read back as the conflicts:\n%s\nwant\n%s", got, want)
	}
}

func checkCSV(t *testing.T, cs []tandem.Conflict) {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, "csv", cs); err != nil {
		t.Fatalf("csv: %v", err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatalf("csv does not parse: %v\n%q", err, b.String())
	}
	want := [][]string{csvHeader}
	for _, c := range cs {
		for _, sys := range systems(c) {
			v := c.Values[sys]
			want = append(want, []string{c.Entity, c.Field, sys, compact(v.Value), v.RecordID})
		}
	}
	if len(rows) != len(want) {
		t.Fatalf("csv has %d rows, want %d:\n%q", len(rows), len(want), rows)
	}
	col := map[string]int{}
	for i, h := range csvHeader {
		col[h] = i
	}
	// encoding/csv reads a quoted \r\n as \n.
	crlf := strings.NewReplacer("\r\n", "\n")
	for i, row := range rows {
		if len(row) != len(csvHeader) {
			t.Fatalf("csv row %d has %d cells, want %d: %q", i, len(row), len(csvHeader), row)
		}
		if i == 0 {
			continue
		}
		for j, name := range []string{"entity", "field", "system", "value", "record_id"} {
			if got, w := row[col[name]], crlf.Replace(defuse(want[i][j])); got != w {
				t.Fatalf("csv row %d: %s = %q, want %q", i, name, got, w)
			}
		}
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Fatalf("csv row %d: cell %q starts as a formula", i, cell)
			}
		}
	}
}

func checkTable(t *testing.T, cs []tandem.Conflict) {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, "table", cs); err != nil {
		t.Fatalf("table: %v", err)
	}
	out := b.String()
	if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); len(lines) != len(cs)+2 {
		t.Fatalf("table has %d lines, want a header, %d conflicts and a count:\n%s", len(lines), len(cs), out)
	}
	if r, ok := firstHidden(strings.ReplaceAll(out, "\n", "")); ok {
		t.Fatalf("table shows %U raw:\n%q", r, out)
	}
}

func checkHTML(t *testing.T, cs []tandem.Conflict, source string) {
	t.Helper()
	page := func(cs []tandem.Conflict, source string) string {
		var b bytes.Buffer
		if err := WriteHTML(&b, cs, Options{Source: source, Generated: time.Unix(0, 0)}); err != nil {
			t.Fatalf("html: %v", err)
		}
		return b.String()
	}
	src := page(cs, source)
	if r, ok := firstHidden(src); ok {
		t.Fatalf("html shows %U raw", r)
	}
	// The same conflicts with < > " ' in every string replaced by
	// characters of their own: what the page holds of these four is then
	// the template's, and must be all it held before. A private-use
	// character already in the input would make the replacement lose
	// distinctions, so such inputs are left to the other checks.
	if strings.ContainsAny(src, "\ue000\ue001\ue002\ue003") {
		return
	}
	defang := strings.NewReplacer("<", "\ue000", ">", "\ue001", `"`, "\ue002", "'", "\ue003")
	tame := page(mapStrings(cs, defang.Replace), defang.Replace(source))
	for _, ch := range []string{"<", ">", `"`, "'"} {
		if n, m := strings.Count(src, ch), strings.Count(tame, ch); n != m {
			t.Fatalf("html holds %d %s, and %d once the values hold none: a value reached the page unescaped", n, ch, m)
		}
	}
}

// firstHidden finds a character a terminal or a browser would act on or hide
// rather than show: a control character (C0 but for \n, DEL, C1) or a
// bidirectional override, embedding, isolate or mark.
func firstHidden(s string) (rune, bool) {
	for _, r := range s {
		if r != '\n' && unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return r, true
		}
	}
	return 0, false
}

// mapStrings applies fn to every string of cs: fields, system names,
// record ids, and the strings and keys inside values.
func mapStrings(cs []tandem.Conflict, fn func(string) string) []tandem.Conflict {
	var value func(any) any
	value = func(v any) any {
		switch v := v.(type) {
		case string:
			return fn(v)
		case []any:
			out := make([]any, len(v))
			for i := range v {
				out[i] = value(v[i])
			}
			return out
		case map[string]any:
			out := map[string]any{}
			for k, x := range v {
				out[fn(k)] = value(x)
			}
			return out
		}
		return v
	}
	out := make([]tandem.Conflict, len(cs))
	for i, c := range cs {
		c.Entity, c.EntityID, c.Kind, c.Field = fn(c.Entity), fn(c.EntityID), fn(c.Kind), fn(c.Field)
		c.Policy, c.Status, c.Decided, c.Pass = fn(c.Policy), fn(c.Status), fn(c.Decided), fn(c.Pass)
		c.Base = value(c.Base)
		vs := map[string]tandem.SideValue{}
		for sys, s := range c.Values {
			s.Value, s.RecordID = value(s.Value), fn(s.RecordID)
			vs[fn(sys)] = s
		}
		c.Values = vs
		out[i] = c
	}
	return out
}
