// Package report renders recorded conflicts for the people who decide them
// and the tools they use: a table for the terminal, JSON (the Conflict type's
// own form), CSV for spreadsheets, and one self-contained HTML page to read
// or pass around. Rendering is pure: the same conflicts always give the same
// bytes, so reports are compared with golden files.
package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"tandem"
)

// Formats are the formats Write knows.
var Formats = []string{"table", "json", "csv", "html"}

// Write renders cs in a format: table, json, csv or html. The HTML page
// carries no generation time; WriteHTML takes one.
func Write(w io.Writer, format string, cs []tandem.Conflict) error {
	return WriteWith(w, format, cs, Options{})
}

// WriteWith is Write as o says: the table and JSON name the records that
// values refer to (o.Refs), and the HTML page shows all of o.
func WriteWith(w io.Writer, format string, cs []tandem.Conflict, o Options) error {
	switch format {
	case "table":
		return writeTable(w, cs, o.Refs)
	case "json":
		return writeJSON(w, cs, o.Refs)
	case "csv":
		return writeCSV(w, cs)
	case "html":
		return WriteHTML(w, cs, o)
	}
	return fmt.Errorf("report: unknown format %q (known: %s)", format, strings.Join(Formats, ", "))
}

// valueWidth is how many characters of a value the table shows.
const valueWidth = 40

func writeTable(w io.Writer, cs []tandem.Conflict, refs map[string]Ref) error {
	if len(cs) == 0 {
		_, err := fmt.Fprintln(w, "no conflicts")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tENTITY\tENTITY ID\tKIND\tFIELD\tSTATUS\tPOLICY\tDECIDED\tVALUES\tCREATED")
	open := 0
	for _, c := range openFirst(cs) {
		if c.Status == tandem.ConflictOpen {
			open++
		}
		var sides []string
		for _, sys := range systems(c) {
			v := visible(compact(c.Values[sys].Value))
			if id, r, ok := refOf(refs, c.Values[sys].Value); ok {
				v = r.label(id, true) // unquoted: a name, not the value
			}
			sides = append(sides, visible(sys)+"="+truncate(v, valueWidth))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, cell(c.Entity), cell(c.EntityID), cell(c.Kind), cell(c.Field),
			cell(c.Status), cell(c.Policy), truncate(cell(c.Decided), 2*valueWidth), strings.Join(sides, " "), dash(when(c.Created)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%s (%d open)\n", plural(len(cs), "conflict"), open)
	return err
}

// jsonConflict is a conflict as JSON: the Conflict type's own form, and
// the names of the records its values refer to.
type jsonConflict struct {
	tandem.Conflict
	// Display names the records that values refer to (a ref field's
	// value is the target's entity id), by entity id: {"7d3f…": "Acme"}.
	// Left out when there are none.
	Display map[string]string `json:"display,omitempty"`
}

func writeJSON(w io.Writer, cs []tandem.Conflict, refs map[string]Ref) error {
	out := make([]jsonConflict, 0, len(cs)) // [] to a reader, not null
	for _, c := range cs {
		j := jsonConflict{Conflict: c}
		for id, r := range refsIn(c, refs) {
			if j.Display == nil {
				j.Display = map[string]string{}
			}
			j.Display[id] = r.Name
		}
		out = append(out, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Company names have & and notes have < >: keep them readable. The
	// output is JSON for tools, never pasted into HTML by Tandem.
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// csvHeader names the CSV columns; one row per (conflict, side).
var csvHeader = []string{"id", "entity", "entity_id", "kind", "field", "status", "policy", "decided", "created_at", "resolved_at",
	"base", "system", "value", "modified_at", "record_id"}

func writeCSV(w io.Writer, cs []tandem.Conflict) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, c := range cs {
		head := []string{fmt.Sprint(c.ID), c.Entity, c.EntityID, c.Kind, c.Field, c.Status, c.Policy, c.Decided,
			stamp(c.Created), stamp(c.Resolved), compact(c.Base)}
		var rows [][]string
		for _, sys := range systems(c) {
			v := c.Values[sys]
			rows = append(rows, append(slices.Clone(head), sys, compact(v.Value), stamp(v.ModifiedAt), v.RecordID))
		}
		if len(rows) == 0 {
			// Still one row: the conflict is not lost from the sheet. (Not
			// a side named "": a system may be, and its value must show.)
			rows = append(rows, append(head, "", "", "", ""))
		}
		for _, row := range rows {
			for i := range row {
				row[i] = defuse(row[i])
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// defuse guards a CSV cell against formula injection: the values come from
// CRM records anyone may have typed, and a spreadsheet runs a cell that
// starts with = + - @ (or a tab or carriage return) as a formula, which
// can run commands or send data away. OWASP's advice
// (owasp.org/www-community/attacks/CSV_Injection) is a leading ' so the
// cell is shown as text; encoding/csv does the quoting. A negative number
// shows as '-5 by the same rule: the price of never guessing.
func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// systems lists a conflict's sides by system name, for a stable order.
func systems(c tandem.Conflict) []string {
	out := make([]string, 0, len(c.Values))
	for sys := range c.Values {
		out = append(out, sys)
	}
	slices.Sort(out)
	return out
}

// compact is a value as one line of JSON, with < > & left as they are.
func compact(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v) // values come from JSON, so this is not expected
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// truncate cuts s to n characters, the last one an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// visible writes control characters (C0, DEL, C1) and bidirectional
// controls (overrides, embeddings, isolates, marks) as \u escapes, and
// bytes that are not UTF-8 as U+FFFD, for the table and the HTML page
// alike. Raw, controls break the table's columns or drive the terminal;
// bidi controls make a terminal or a browser show text other than the
// value ("exe.txt" for "txt.exe"), or two different values alike, and a
// person deciding between them must see what is there; and a byte 0xff
// is text/tabwriter's escape, which would undo the table's alignment.
// The escape is JSON's (which writes C0 in values so already), so a value
// reads the same whichever character it holds.
func visible(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, hidden) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s { // an invalid byte comes as U+FFFD
		if hidden(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func hidden(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }

func cell(s string) string { return dash(visible(s)) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// when is a time for people: UTC, to the second; "" for none. The report
// is read away from the machine that wrote it, so local time would mislead.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateTime) + " UTC"
}

// stamp is a time for tools: RFC 3339 in UTC; "" for none.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
