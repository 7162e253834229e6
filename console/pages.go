package console

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"tandem"
	"tandem/conflict"
	"tandem/conflict/report"
	"tandem/state"
)

var (
	//go:embed templates
	templateFS embed.FS
	//go:embed static
	staticFS  embed.FS
	static, _ = fs.Sub(staticFS, "static")

	funcs = template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
	}
	pages = map[string]*template.Template{}
)

func init() {
	for _, name := range []string{"login", "conflicts", "deadletters", "status", "audit"} {
		pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
}

// page is what the layout renders around a page's content.
type page struct {
	Title  string
	Nav    string // the page's name in the menu; "" for the login page
	CSRF   string
	Flash  string
	Failed bool
	Error  string // a problem reading what the page shows
	Open   int    // open conflicts, for the menu
	Dead   int    // dead letters, for the menu
	Data   any
}

// render writes a page. A page of a session shows the outcome of the
// session's last action once, and carries its CSRF token for the forms.
func (c *Console) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	if s := c.session(r); s != nil && p.Nav != "" {
		c.mu.Lock()
		p.CSRF, p.Flash, p.Failed = s.csrf, s.flash, s.failed
		s.flash, s.failed = "", false
		c.mu.Unlock()
	}
	if p.Nav != "" {
		if cs, err := c.store.Conflicts(r.Context(), true); err == nil {
			p.Open = len(cs)
		}
		if ds, err := c.store.DeadLetters(r.Context()); err == nil {
			p.Dead = len(ds)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := pages[name].ExecuteTemplate(w, "layout", p); err != nil {
		c.log.Error("console: page not rendered", "page", name, "err", err)
	}
}

// conflictView is one conflict's card with the console's choices.
type conflictView struct {
	report.Card
	Open bool
	// Take lists the sides a person can take: a field's systems, or a
	// delete's (Deleted: the side that deleted it).
	Take     []side
	Value    bool // a value can be entered (a field, or a unique key held)
	Identity bool // --link / --split
	Note     string
}

type side struct {
	System, Label string
}

func (c *Console) conflictsPage(w http.ResponseWriter, r request) {
	all := r.URL.Query().Get("all") != ""
	p := page{Title: "Conflicts", Nav: "conflicts"}
	cs, err := c.store.Conflicts(r.Context(), !all)
	var who map[string]string
	var refs map[string]report.Ref
	if err == nil {
		cs = c.cfg.MaskConflicts(cs) // fields marked sensitive: true
		who, err = conflict.WhoIs(r.Context(), c.store, c.cfg, cs)
	}
	if err == nil {
		refs, err = report.RefNames(r.Context(), c.store, c.cfg, cs) // a contact's company by its name
	}
	if err != nil {
		p.Error = "state file: " + err.Error()
	}
	byID := map[int64]tandem.Conflict{}
	for _, cf := range cs {
		byID[cf.ID] = cf
	}
	var views []conflictView
	for _, card := range report.Cards(cs, report.Options{Who: who, Config: c.cfg.File, Link: c.cfg.RecordURL, Refs: refs}) {
		views = append(views, choicesOf(card, byID[card.ID]))
	}
	p.Data = struct {
		All   bool
		Cards []conflictView
	}{all, views}
	c.render(w, r.Request, http.StatusOK, "conflicts", p)
}

// choicesOf is what a person can decide about a conflict, as tandem
// resolve offers it.
func choicesOf(card report.Card, cf tandem.Conflict) conflictView {
	v := conflictView{Card: card, Open: cf.Status == tandem.ConflictOpen}
	if !v.Open {
		return v
	}
	systems := slices.Sorted(func(yield func(string) bool) {
		for s := range cf.Values {
			if !yield(s) {
				return
			}
		}
	})
	switch cf.Kind {
	case tandem.ConflictField:
		for _, s := range systems {
			v.Take = append(v.Take, side{s, "Take " + s})
		}
		v.Value = true
	case tandem.ConflictDelete:
		for _, s := range systems {
			if cf.Values[s].Value == nil {
				v.Take = append(v.Take, side{s, "Delete everywhere (as " + s + " did)"})
			} else {
				v.Take = append(v.Take, side{s, "Keep it (as " + s + " has it)"})
			}
		}
	case tandem.ConflictIdentity:
		if cf.Field != "" { // a unique value a system refused: the field is held
			v.Value = true
		} else {
			v.Identity = true
		}
	case tandem.ConflictValue:
		if cf.HeldWrite() {
			for _, s := range systems {
				v.Take = append(v.Take, side{s, "Write it to " + s + " again (its column was fixed)"})
			}
			v.Value = true
			v.Note = "The system refused this value: the record's other fields are still written. Fix the value anywhere (a new value is tried again), or widen the column and write it again."
			break
		}
		v.Note = "Tandem cannot read this value: fix it in the system's own record; the next pass that reads it fixed closes this conflict."
	}
	return v
}

func (c *Console) resolve(w http.ResponseWriter, r request) {
	const back = "/conflicts"
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.Error(w, "no such conflict", http.StatusNotFound)
		return
	}
	cf, _, err := c.store.Conflict(r.Context(), id)
	if err != nil {
		c.done(w, r, back, "", fmt.Errorf("conflict %d: %w", id, err))
		return
	}
	ent, ok := c.cfg.Entity(cf.Entity)
	if !ok {
		c.done(w, r, back, "", fmt.Errorf("conflict %d is about entity %s, which %s no longer declares", id, cf.Entity, c.cfg.File))
		return
	}
	d, err := decision(r.Request)
	if err != nil {
		c.done(w, r, back, "", fmt.Errorf("conflict %d: %w", id, err))
		return
	}
	d.Actor = r.actor()
	cf, err = c.actions.Resolve(r.Context(), ent, id, d)
	if err != nil {
		c.done(w, r, back, "", err)
		return
	}
	c.done(w, r, back, fmt.Sprintf("Conflict %d resolved (%s): the daemon writes it to every system within seconds.", cf.ID, cf.Decided), nil)
}

// decision reads a resolve form: action take (with take=SYSTEM), value
// (with value=…: JSON when it reads as JSON, else the text as typed),
// link (with an optional to=ENTITY_ID) or split.
func decision(r *http.Request) (conflict.Decision, error) {
	var d conflict.Decision
	switch r.PostFormValue("action") {
	case "take":
		d.Take = r.PostFormValue("take")
		if d.Take == "" {
			return d, fmt.Errorf("no side chosen")
		}
	case "value":
		text := r.PostFormValue("value")
		d.HasValue = true
		if json.Unmarshal([]byte(text), &d.Value) != nil {
			d.Value = text // text as typed: no quotes needed
		}
	case "link":
		d.Link, d.To = true, strings.TrimSpace(r.PostFormValue("to"))
	case "split":
		d.Split = true
	default:
		return d, fmt.Errorf("unknown action %q", r.PostFormValue("action"))
	}
	return d, nil
}

// deadView is a dead letter as the page shows it.
type deadView struct {
	state.DeadLetter
	Sent    []kv   // a write's values, by field
	Payload string // a record's payload, indented
}

type kv struct{ Key, Value string }

func (c *Console) deadLettersPage(w http.ResponseWriter, r request) {
	p := page{Title: "Dead letters", Nav: "deadletters"}
	ds, err := c.store.DeadLetters(r.Context())
	if err != nil {
		p.Error = "state file: " + err.Error()
	}
	var views []deadView
	for _, d := range ds {
		conflict.MaskDeadLetter(c.cfg, &d)
		v := deadView{DeadLetter: d}
		for _, f := range slices.Sorted(func(yield func(string) bool) {
			for f := range d.Sent {
				if !yield(f) {
					return
				}
			}
		}) {
			var vs []string
			for _, x := range d.Sent[f] {
				vs = append(vs, plain(x))
			}
			v.Sent = append(v.Sent, kv{f, strings.Join(vs, " | ")})
		}
		if len(d.Raw) > 0 {
			b, _ := json.MarshalIndent(d.Raw, "", "  ")
			v.Payload = string(b)
		} else {
			v.Payload = d.RawText
		}
		views = append(views, v)
	}
	p.Data = views
	c.render(w, r.Request, http.StatusOK, "deadletters", p)
}

// plain shows a value as a person reads it: text bare, others as JSON.
func plain(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return "(empty)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (c *Console) retry(w http.ResponseWriter, r request) {
	const back = "/deadletters"
	id := r.PathValue("id")
	d, err := c.deadLetter(r, id)
	if err != nil {
		c.done(w, r, back, "", err)
		return
	}
	msg, err := c.actions.Retry(r.Context(), c.cfg, *d, r.actor())
	if err != nil {
		c.done(w, r, back, "", err)
		return
	}
	c.done(w, r, back, fmt.Sprintf("%s: %s; the daemon sends it within seconds.", id, msg), nil)
}

func (c *Console) discard(w http.ResponseWriter, r request) {
	const back = "/deadletters"
	id := r.PathValue("id")
	if _, err := c.deadLetter(r, id); err != nil {
		c.done(w, r, back, "", err)
		return
	}
	if err := c.actions.Discard(r.Context(), r.actor(), id); err != nil {
		c.done(w, r, back, "", err)
		return
	}
	c.done(w, r, back, id+": discarded.", nil)
}

func (c *Console) deadLetter(r request, id string) (*state.DeadLetter, error) {
	if _, _, err := state.ParseDeadLetterID(id); err != nil {
		return nil, err
	}
	d, err := c.store.DeadLetter(r.Context(), id)
	if err == nil && d == nil {
		err = fmt.Errorf("no dead letter %s (retried or discarded already?)", id)
	}
	return d, err
}

func (c *Console) statusPage(w http.ResponseWriter, r request) {
	p := page{Title: "Status", Nav: "status"}
	if c.health != nil {
		h := c.health(r.Request)
		p.Data = &h
	}
	c.render(w, r.Request, http.StatusOK, "status", p)
}

func (c *Console) auditPage(w http.ResponseWriter, r request) {
	p := page{Title: "Audit trail", Nav: "audit"}
	entries, err := c.store.AuditLog(r.Context(), 200)
	if err != nil {
		p.Error = "state file: " + err.Error()
	}
	p.Data = entries
	c.render(w, r.Request, http.StatusOK, "audit", p)
}
