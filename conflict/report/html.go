package report

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"tandem"
)

// Options are what an HTML page shows besides the conflicts.
type Options struct {
	// Generated is the time shown as "generated"; zero shows none. It is
	// passed in, not read from a clock, so a page can be compared byte for
	// byte.
	Generated time.Time
	// Source names where the conflicts came from (the state file).
	Source string
	// Who says who an entity's record is, by entity id ("Ada Lovelace
	// <ada@example.com>"), from the display fields of its golden record;
	// a card without one shows its entity id only.
	Who map[string]string
	// Config is the config file's path, for the commands a card offers
	// (tandem resolve … --config PATH); "" leaves the flag out.
	Config string
	// Link is the address of a record in its system's own UI (the
	// system's record_url), "" for none; nil links nothing.
	Link func(entity, system, recordID string) string
	// Refs names the records that values refer to, by entity id (a ref
	// field's value; RefNames reads them): such a value shows as
	// "Acme (company 7d3f…)". A value not here shows as it is.
	Refs map[string]Ref
}

// The page is one file with its style and script inline: it is mailed,
// attached to tickets and opened offline, so it must need no network.
var (
	//go:embed page.html
	pageHTML string
	//go:embed page.css
	pageCSS string
	//go:embed page.js
	pageJS string

	page = template.Must(template.New("page.html").Parse(pageHTML))

	// csp lets the page run its own script and style only, and load
	// nothing: if a value ever slipped past html/template's escaping, the
	// browser would still refuse to run it or fetch anything for it.
	csp = fmt.Sprintf("default-src 'none'; script-src '%s'; style-src '%s'; base-uri 'none'; form-action 'none'",
		hash(pageJS), hash(pageCSS))
)

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// WriteHTML renders cs as one self-contained HTML page. Every value goes
// through html/template, so nothing a CRM record holds becomes markup, and
// through visible, so no control or bidi character changes how it reads.
func WriteHTML(w io.Writer, cs []tandem.Conflict, o Options) error {
	return page.Execute(w, newView(cs, o))
}

// view is what page.html renders.
type view struct {
	CSP       string
	Style     template.CSS
	Script    template.JS
	Generated string
	Source    string
	Summary   string
	Total     int
	Entities  []option
	Kinds     []option
	Statuses  []option
	Cards     []Card
}

// option is one choice of a filter, with how many conflicts it matches.
type option struct {
	Value string
	Count int
}

// Card is one conflict as a person reads it: every text made visible
// (no control or bidi character), values as values, who the record is and,
// when it is open, the commands that decide it. The HTML page and the
// daemon's console show these.
type Card struct {
	ID                     int64
	Who                    string // who the record is, when known
	Choices                []string
	Entity, EntityID, Kind string
	Field, Policy, Status  string
	Badge                  string // the status's CSS class
	Decided, Pass          string
	Created, CreatedAt     string // for people, and RFC 3339 for <time>
	Resolved, ResolvedAt   string
	Rows                   []Row
}

// Row is the base value or one side of a conflict.
type Row struct {
	Label      string
	Base       bool
	Value      Value
	Modified   string
	ModifiedAt string
	RecordID   string
	URL        string // the record in its system's UI (Options.Link)
	Differs    bool   // a side of a field conflict whose value is not the base
	Winner     bool
}

// Value is a value as shown: compact JSON, a note for null, or the fields
// of an object (a record's canonical view) one per line.
type Value struct {
	Text   string
	Note   bool
	Fields []KV
}

type KV struct{ Key, Value string }

// Cards are cs as the page's cards, open ones first, as o says (its Who,
// Config and Link).
func Cards(cs []tandem.Conflict, o Options) []Card {
	return newView(cs, o).Cards
}

func newView(cs []tandem.Conflict, o Options) view {
	v := view{CSP: csp, Style: template.CSS(pageCSS), Script: template.JS(pageJS),
		Generated: when(o.Generated), Source: visible(o.Source), Total: len(cs)}
	entities, kinds, statuses := map[string]int{}, map[string]int{}, map[string]int{}
	for _, c := range openFirst(cs) {
		// Counted as shown, so that a filter's values are the cards'
		// data-* attributes.
		entities[visible(c.Entity)]++
		kinds[visible(c.Kind)]++
		statuses[visible(c.Status)]++
		k := newCard(c, o)
		k.Who = visible(o.Who[c.EntityID])
		if k.Who == "" {
			k.Who = visible(whoOf(c))
		}
		if c.Status == tandem.ConflictOpen {
			k.Choices = choices(c, o.Config)
		}
		v.Cards = append(v.Cards, k)
	}
	v.Entities = options(entities, nil)
	v.Kinds = options(kinds, []string{tandem.ConflictField, tandem.ConflictIdentity, tandem.ConflictDelete, tandem.ConflictValue})
	v.Statuses = options(statuses, []string{tandem.ConflictOpen, tandem.ConflictResolved, tandem.ConflictAuto})
	v.Summary = summary(len(cs), v.Statuses, v.Kinds)
	return v
}

// options lists the values seen, those of known first in its order, then
// the rest alphabetically.
func options(seen map[string]int, known []string) []option {
	var out []option
	for _, k := range known {
		if n, ok := seen[k]; ok {
			out = append(out, option{k, n})
		}
	}
	var rest []string
	for k := range seen {
		if !slices.Contains(known, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		out = append(out, option{k, seen[k]})
	}
	return out
}

// summary is "5 conflicts: 2 open, 3 auto · 4 field, 1 delete".
func summary(n int, statuses, kinds []option) string {
	if n == 0 {
		return "No conflicts."
	}
	part := func(os []option) string {
		var s []string
		for _, o := range os {
			s = append(s, fmt.Sprintf("%d %s", o.Count, o.Value))
		}
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("%s: %s · %s", plural(n, "conflict"), part(statuses), part(kinds))
}

func newCard(c tandem.Conflict, o Options) Card {
	k := Card{ID: c.ID, Entity: visible(c.Entity), EntityID: visible(c.EntityID), Kind: visible(c.Kind), Field: visible(c.Field),
		Policy: visible(c.Policy), Status: visible(c.Status), Badge: "other", Decided: visible(c.Decided), Pass: visible(c.Pass),
		Created: when(c.Created), CreatedAt: stamp(c.Created), Resolved: when(c.Resolved), ResolvedAt: stamp(c.Resolved)}
	switch c.Status {
	case tandem.ConflictOpen, tandem.ConflictResolved, tandem.ConflictAuto:
		k.Badge = c.Status
	}
	_, won := c.Values[c.Decided]
	switch {
	case won:
		k.Decided = visible(c.Decided) + " won"
	case c.Decided == "value":
		k.Decided = "a person gave the value"
	}
	// The base is what all sides agreed on before; it only means something
	// for a field. Identity and delete conflicts carry whole records.
	field := c.Kind == tandem.ConflictField
	if field || c.Base != nil {
		k.Rows = append(k.Rows, Row{Label: "base", Base: true, Value: show(c.Base, "(none)", o.Refs)})
	}
	empty := "(empty)"
	if c.Kind == tandem.ConflictDelete {
		empty = "deleted"
	}
	for _, sys := range systems(c) {
		s := c.Values[sys]
		k.Rows = append(k.Rows, Row{Label: visible(sys), Value: show(s.Value, empty, o.Refs), Modified: when(s.ModifiedAt), ModifiedAt: stamp(s.ModifiedAt),
			RecordID: visible(s.RecordID), URL: o.url(c.Entity, sys, s.RecordID), Differs: field && !tandem.Equal(s.Value, c.Base), Winner: won && sys == c.Decided})
	}
	return k
}

// url is a side's record in its system's UI: the side is named by its
// system, or "system:record id" when one system has several.
func (o Options) url(entity, side, recordID string) string {
	if o.Link == nil || recordID == "" {
		return ""
	}
	system, _, _ := strings.Cut(side, ":")
	return o.Link(entity, system, recordID)
}

// show is how a value reads on the page: null and empty text as notes,
// a reference as its target's name and id, text as it is, an object as
// its fields, anything else as compact JSON (so "", null and "null" still
// read differently).
func show(v any, null string, refs map[string]Ref) Value {
	if id, r, ok := refOf(refs, v); ok {
		return Value{Text: r.label(id, false)}
	}
	switch v := v.(type) {
	case nil:
		return Value{Text: null, Note: true}
	case string:
		if v == "" {
			return Value{Text: "(empty text)", Note: true}
		}
		return Value{Text: visible(v)}
	case map[string]any:
		var fs []KV
		for _, key := range slices.Sorted(maps.Keys(v)) {
			text := visible(compact(v[key]))
			if id, r, ok := refOf(refs, v[key]); ok {
				text = r.label(id, false)
			}
			fs = append(fs, KV{visible(key), text})
		}
		if len(fs) > 0 {
			return Value{Text: visible(compact(v)), Fields: fs}
		}
	}
	return Value{Text: visible(compact(v))}
}
