package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"
)

// The faults of the convergence property test. Each class is on by
// default and can be switched off by name (-property.off=lost,crash); the
// test counts how often each one happened and prints the counts at the
// end. The faults that happen inside a pass go through a gate in front of
// each emulator: it sees Tandem's requests as they arrive, and can make a
// person's edit before one is served, or serve a write and lose its
// answer.

var propertyOff = flag.String("property.off", "", "comma-separated fault classes TestPropertyConvergence leaves out (see propFaultClasses)")

// propFaultClasses are the fault classes, with what each does.
var propFaultClasses = []struct{ name, what string }{
	{"midpass", "a person edits a record of a system when Tandem's pull of that system arrives"},
	{"reread", "a person edits a record when Tandem's re-read of it, just before writing it, arrives"},
	{"gap", "a person edits a Salesforce record when Tandem's conditional write of it arrives (the write gap)"},
	{"samesecond", "a Salesforce record is edited just after Tandem's query, in the same second"},
	{"lost", "a write is applied but its answer is lost (a 503 or a reset connection)"},
	{"crash", "tandem sync is SIGKILLed between a write and its checkpoint"},
	{"lag", "HubSpot's search index trails the writes by seconds"},
	{"late", "a Salesforce (or table) transaction commits after Tandem's query, stamped before it"},
	{"lossy", "hubspot_b reads the job title in upper case (a mapping that does not round-trip)"},
	{"undelete", "a Salesforce record deleted by a person is undeleted"},
	{"samekey", "a person created in one system is created in another with the same email before a pass"},
	{"rekey", "a person's email is edited to a new one while another system edits another field"},
	{"clash", "a person's email is edited in Salesforce to another person's (an open identity conflict, then resolved)"},
}

// propFaults is which classes are on, and how often each happened.
type propFaults struct {
	on    map[string]bool
	mu    sync.Mutex
	count map[string]int
}

func newPropFaults(off string) (*propFaults, error) {
	f := &propFaults{on: map[string]bool{}, count: map[string]int{}}
	for _, c := range propFaultClasses {
		f.on[c.name] = true
	}
	for _, name := range strings.Split(off, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if _, ok := f.on[name]; !ok {
			return nil, fmt.Errorf("-property.off: no fault class %q", name)
		}
		f.on[name] = false
	}
	return f, nil
}

func (f *propFaults) add(name string) {
	f.mu.Lock()
	f.count[name]++
	f.mu.Unlock()
}

func (f *propFaults) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var parts []string
	for _, c := range propFaultClasses {
		if !f.on[c.name] {
			parts = append(parts, c.name+" off")
			continue
		}
		n := f.count[c.name]
		parts = append(parts, fmt.Sprintf("%s %d", c.name, n))
		var sub []string
		for _, k := range sortedKeys(f.count) {
			if what, ok := strings.CutPrefix(k, c.name+": "); ok {
				sub = append(sub, fmt.Sprintf("%s %d", what, f.count[k]))
			}
		}
		if len(sub) > 0 {
			parts[len(parts)-1] += " (" + strings.Join(sub, ", ") + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// passPlan is what the gates do during one pass, drawn before it from the
// test's generator, so a seed replays it. The choices a gate makes inside
// the pass (which record, which field) come from each system's own
// generator, seeded from the plan, since systems are written to
// concurrently.
type passPlan struct {
	pullEdit   map[string]bool // system -> edit one of its records when its pull arrives
	rereadEdit map[string]int  // system -> edit a record at its n-th re-read
	gapEdit    int             // edit a record at Salesforce's n-th conditional write
	sameSecond bool            // edit a Salesforce record just after its first query
	lose       map[string]int  // system -> lose the answer of its n-th write
	crashAt    int             // SIGKILL the pass at its n-th "push:after-apply" (subprocess)
	rng        map[string]*rand.Rand

	mu    sync.Mutex
	seen  map[string]int // system/kind -> requests seen
	fired map[string]int // what fired in this pass
}

// plan draws the next pass's faults.
func (p *propTest) plan() *passPlan {
	pl := &passPlan{pullEdit: map[string]bool{}, rereadEdit: map[string]int{}, lose: map[string]int{},
		rng: map[string]*rand.Rand{}, seen: map[string]int{}, fired: map[string]int{}}
	on := p.faults.on
	if p.quiet {
		on = map[string]bool{}
	}
	for i, s := range p.systems {
		pl.rng[s.name()] = rand.New(rand.NewPCG(p.rng.Uint64(), uint64(i)))
		if on["midpass"] && p.rng.IntN(100) < 12 {
			pl.pullEdit[s.name()] = true
		}
		if on["reread"] && p.rng.IntN(100) < 12 {
			pl.rereadEdit[s.name()] = 1 + p.rng.IntN(2)
		}
		if on["lost"] && p.rng.IntN(100) < 8 {
			pl.lose[s.name()] = 1 + p.rng.IntN(2)
		}
	}
	if on["gap"] && p.rng.IntN(100) < 25 {
		pl.gapEdit = 1 + p.rng.IntN(2)
	}
	if on["samesecond"] && p.rng.IntN(100) < 15 {
		pl.sameSecond = true
	}
	if on["crash"] && p.rng.IntN(100) < 6 {
		pl.crashAt = 1 + p.rng.IntN(3)
	}
	return pl
}

// gate stands in front of one emulator.
type gate struct {
	p   *propTest
	sys propSystem
	h   http.Handler
}

func (p *propTest) serve(sys propSystem, h http.Handler) string {
	srv := httptest.NewServer(&gate{p: p, sys: sys, h: h})
	p.t.Cleanup(srv.Close)
	return srv.URL
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	kind := g.sys.classify(r)
	pl := g.p.current()
	if pl == nil || kind == "" {
		g.h.ServeHTTP(w, r)
		return
	}
	name := g.sys.name()
	pl.mu.Lock()
	pl.seen[name+"/"+kind]++
	n := pl.seen[name+"/"+kind]
	pl.mu.Unlock()
	switch kind {
	case "pull":
		if n == 1 && pl.pullEdit[name] {
			g.p.midEdit(pl, g.sys, "midpass", nil)
		}
		if n == 1 && pl.sameSecond && name == "salesforce" {
			// Served first, then the edit, without moving the clock: the
			// record's new stamp is the second the query ran in.
			rec := httptest.NewRecorder()
			g.h.ServeHTTP(rec, r)
			g.p.midEdit(pl, g.sys, "samesecond", nil)
			copyResponse(w, rec)
			return
		}
	case "reread":
		if n == pl.rereadEdit[name] {
			g.p.midEdit(pl, g.sys, "reread", rereadIDs(r, body))
		}
	case "write":
		if name == "salesforce" && strings.HasSuffix(r.URL.Path, "/composite") {
			pl.mu.Lock()
			pl.seen["salesforce/conditional"]++
			c := pl.seen["salesforce/conditional"]
			pl.mu.Unlock()
			if c == pl.gapEdit {
				g.p.midEdit(pl, g.sys, "gap", conditionalIDs(body))
			}
		}
		if n == pl.lose[name] {
			rec := httptest.NewRecorder()
			g.h.ServeHTTP(rec, r)
			pl.mu.Lock()
			pl.fired["lost"]++
			pl.mu.Unlock()
			g.p.note(fmt.Sprintf("%-10s answer lost: %s %s (%s)", name, r.Method, r.URL.Path, map[bool]string{true: "503", false: "reset"}[n%2 == 0]))
			if n%2 == 0 {
				g.p.faults.add("lost")
				g.p.faults.add("lost: 503")
				http.Error(w, "upstream connect error", http.StatusServiceUnavailable)
				return
			}
			g.p.faults.add("lost")
			g.p.faults.add("lost: reset")
			resetConn(w)
			return
		}
	}
	g.h.ServeHTTP(w, r)
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// resetConn drops the connection without an answer, as a load balancer
// does: the client reads a TCP reset.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// rereadIDs are the ids a re-read asks for: HubSpot's batch/read inputs,
// Salesforce's retrieve (ids in the body of a POST, or the query of a GET).
func rereadIDs(r *http.Request, body []byte) []string {
	var ids []string
	if q := r.URL.Query().Get("ids"); q != "" {
		return strings.Split(q, ",")
	}
	for _, v := range gjson.GetBytes(body, "inputs.#.id").Array() {
		ids = append(ids, v.String())
	}
	for _, v := range gjson.GetBytes(body, "ids").Array() {
		ids = append(ids, v.String())
	}
	return ids
}

// conditionalIDs are the records of a Composite call's sObject Rows
// updates.
func conditionalIDs(body []byte) []string {
	var ids []string
	for _, u := range gjson.GetBytes(body, "compositeRequest.#.url").Array() {
		s := u.String()
		ids = append(ids, s[strings.LastIndex(s, "/")+1:])
	}
	return ids
}

// current is the plan of the pass running, nil between passes.
func (p *propTest) current() *passPlan {
	p.planMu.Lock()
	defer p.planMu.Unlock()
	return p.running
}

// midEdit is a person's edit made while a pass runs: one field of a
// record of sys, among ids when given (the records Tandem's request is
// about), else among the records the systems held when the pass began.
// It moves the clock to a second of its own first, so the model can order
// it against every other edit, except for samesecond.
func (p *propTest) midEdit(pl *passPlan, sys propSystem, class string, ids []string) {
	p.hookMu.Lock()
	defer p.hookMu.Unlock()
	rng := pl.rng[sys.name()]
	var cands []propRec
	for _, r := range sys.records() {
		if _, known := p.before[sys.name()][r.v["email"]]; !known {
			continue // made by this pass: the model follows people it knew
		}
		if ids == nil || slices.ContainsFunc(ids, func(id string) bool { return sameID(id, r.id) }) {
			cands = append(cands, r)
		}
	}
	if len(cands) == 0 {
		return
	}
	slices.SortFunc(cands, func(a, b propRec) int { return strings.Compare(a.id, b.id) })
	rec := cands[rng.IntN(len(cands))]
	if class != "samesecond" {
		p.tick()
	}
	field := propEditable[rng.IntN(len(propEditable))]
	// After its pull, a system whose record holds what the merge of the
	// window so far decides has agreed to it (Tandem may have written it
	// there already): an edit now follows the window's edits.
	seq := false
	if class != "midpass" {
		exp := p.expect(p.withMidEdits(p.before))
		v, ok := exp.alive[rec.v["email"]]
		if !ok {
			v, ok = exp.merged[rec.v["email"]] // being deleted: Tandem may have written the merge there first
		}
		if ok {
			seq = rec.v[field] == sys.norm(field, v[field])
		}
	}
	p.midSeq++
	value := p.midValue(field, p.midSeq)
	if propClearable[field] && rng.IntN(10) == 0 && rec.v[field] != "" {
		value = ""
	}
	if err := sys.set(rec.id, field, p.rawOf(field, value, rng)); err != nil {
		p.t.Errorf("%s edit of %s %s in %s: %v", class, rec.v["email"], field, sys.name(), err)
		return
	}
	pl.mu.Lock()
	pl.fired[class]++
	pl.mu.Unlock()
	p.faults.add(class)
	p.record(propAction{kind: "edit", system: sys.name(), email: rec.v["email"], id: rec.id, field: field,
		value: sys.norm(field, value), how: class, sequential: seq})
}

// sameID compares Salesforce's 15- and 18-character ids, and HubSpot's.
func sameID(a, b string) bool {
	if len(a) >= 15 && len(b) >= 15 && len(a) != len(b) {
		return a[:15] == b[:15]
	}
	return a == b
}

// midValue is a value no other action writes.
func (p *propTest) midValue(field string, n int) string {
	switch field {
	case "first_name":
		return fmt.Sprintf("Mf%d", n)
	case "last_name":
		return fmt.Sprintf("Ml%d", n)
	case "phone":
		return fmt.Sprintf("+1556%07d", n)
	default:
		return fmt.Sprintf("Mt%d", n)
	}
}

// tick moves the clock to the middle of the next second: an action there
// is later than every earlier one in every system's stamps (Salesforce
// has whole seconds).
func (p *propTest) tick() {
	p.clock.mu.Lock()
	p.clock.t = p.clock.t.Truncate(time.Second).Add(time.Second + 500*time.Millisecond)
	p.clock.mu.Unlock()
}

// setLag draws the search lag of each HubSpot portal for the next window.
func (p *propTest) setLag() {
	p.lag = 0
	for _, s := range p.systems {
		h, ok := s.(*hubspotSystem)
		if !ok {
			continue
		}
		var d time.Duration
		if p.faults.on["lag"] && !p.quiet && p.rng.IntN(100) < 15 {
			d = []time.Duration{2 * time.Second, 5 * time.Second, 20 * time.Second}[p.rng.IntN(3)]
			p.faults.add("lag")
			p.faults.add(fmt.Sprintf("lag: %s", d))
		}
		h.srv.SetSearchLag(d)
		p.lag = max(p.lag, d)
	}
}

// note adds a fault to the history that failures print.
func (p *propTest) note(what string) {
	p.hookMu.Lock()
	defer p.hookMu.Unlock()
	p.history = append(p.history, propAction{step: p.step, kind: "note", at: p.now(), how: what})
}
