package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/salesforce/salesforcetest"
	"tandem/state"
)

// The convergence property test: three emulated systems (two HubSpot
// portals and a Salesforce org on one clock) take random edits, creates
// and deletes, with a `tandem sync` every few actions. A model of what each
// pass must do, written from the semantics in DESIGN.md rather than from
// the engine's code, is checked after every pass: the systems agree, each
// field holds the value the newest policy picks, deletes propagate unless
// an edit came after them, and the conflicts recorded are exactly the ones
// the window's edits call for.
//
// A failure prints the seed and the command that replays it; the run is
// deterministic for a seed (the emulators' clock ticks on every read, and
// every random choice is made over sorted records).

var (
	propertySeed  = flag.Uint64("property.seed", 0, "seed of TestPropertyConvergence (0: from $TANDEM_PROPERTY_SEED, else random; printed on failure)")
	propertySteps = flag.Int("property.steps", 0, "steps of TestPropertyConvergence, actions and passes counted (0: 1000, or 300 with -short)")
)

// propFields are the canonical fields of the test's contact entity;
// email is the identity the model follows a person by, so it is never
// edited. last_name is never cleared: Salesforce requires it.
var (
	propFields    = []string{"email", "first_name", "last_name", "phone", "title"}
	propEditable  = []string{"first_name", "last_name", "phone", "title"}
	propClearable = map[string]bool{"first_name": true, "phone": true, "title": true}
)

// propVals are a record's canonical values; "" is the empty value.
type propVals map[string]string

func (v propVals) equal(w propVals) bool {
	for _, f := range propFields {
		if v[f] != w[f] {
			return false
		}
	}
	return true
}

func (v propVals) clone() propVals {
	out := propVals{}
	for _, f := range propFields {
		out[f] = v[f]
	}
	return out
}

func (v propVals) String() string {
	var b strings.Builder
	for i, f := range propFields[1:] {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%q", f, v[f])
	}
	return b.String()
}

// propRec is one live record of a system, read back through the
// emulator's test API and put in canonical form.
type propRec struct {
	id       string
	v        propVals
	modified time.Time
}

// propSystem is one emulated system as a person in its UI sees it.
type propSystem interface {
	name() string
	object() string
	records() []propRec
	// create and set take raw values, as a person types them ("" clears).
	create(raw map[string]string) (string, error)
	set(id, field, raw string) error
	remove(id string) error
	writes() int
}

// hubspotSystem is a hubspottest portal's contacts.
type hubspotSystem struct {
	sys string
	srv *hubspottest.Server
}

var hubspotProps = map[string]string{"email": "email", "first_name": "firstname", "last_name": "lastname", "phone": "phone", "title": "jobtitle"}

func (h *hubspotSystem) name() string   { return h.sys }
func (h *hubspotSystem) object() string { return "contacts" }
func (h *hubspotSystem) writes() int    { return h.srv.Writes() }

func (h *hubspotSystem) records() []propRec {
	var out []propRec
	for _, o := range h.srv.List("contacts") {
		v := propVals{}
		for f, p := range hubspotProps {
			v[f] = o.Properties[p]
		}
		out = append(out, propRec{id: o.ID, v: canonical(v), modified: o.UpdatedAt})
	}
	return out
}

func (h *hubspotSystem) create(raw map[string]string) (string, error) {
	props := map[string]any{}
	for f, s := range raw {
		if s != "" {
			props[hubspotProps[f]] = s
		}
	}
	return h.srv.Create("contacts", props)
}

func (h *hubspotSystem) set(id, field, raw string) error {
	return h.srv.Update("contacts", id, map[string]any{hubspotProps[field]: raw}) // "" clears, as in HubSpot
}

func (h *hubspotSystem) remove(id string) error { return h.srv.Delete("contacts", id) }

// salesforceSystem is a salesforcetest org's Contacts.
type salesforceSystem struct {
	sys string
	srv *salesforcetest.Server
}

var salesforceFields = map[string]string{"email": "Email", "first_name": "FirstName", "last_name": "LastName", "phone": "Phone", "title": "Title"}

func (s *salesforceSystem) name() string   { return s.sys }
func (s *salesforceSystem) object() string { return "Contact" }
func (s *salesforceSystem) writes() int    { return s.srv.Writes() }

func (s *salesforceSystem) records() []propRec {
	var out []propRec
	for _, r := range s.srv.List("Contact") {
		v := propVals{}
		for f, api := range salesforceFields {
			v[f] = str(r.Fields[api])
		}
		out = append(out, propRec{id: r.ID, v: canonical(v), modified: r.LastModifiedDate})
	}
	return out
}

func (s *salesforceSystem) create(raw map[string]string) (string, error) {
	fields := map[string]any{}
	for f, v := range raw {
		if v != "" {
			fields[salesforceFields[f]] = v
		}
	}
	return s.srv.Create("Contact", fields)
}

func (s *salesforceSystem) set(id, field, raw string) error {
	var v any = raw
	if raw == "" {
		v = nil // Salesforce clears with null
	}
	return s.srv.Update("Contact", id, map[string]any{salesforceFields[field]: v})
}

func (s *salesforceSystem) remove(id string) error { return s.srv.Delete("Contact", id) }

// canonical puts raw values in the form the test's mapping reads them in:
// emails lower-cased, phones in E.164 (the test writes US numbers only,
// in E.164 or as "(555) 123-4567").
func canonical(v propVals) propVals {
	out := propVals{}
	for _, f := range propFields {
		s := strings.TrimSpace(v[f])
		switch f {
		case "email":
			s = strings.ToLower(s)
		case "phone":
			if s != "" && !strings.HasPrefix(s, "+") {
				s = "+1" + strings.Map(func(r rune) rune {
					if r >= '0' && r <= '9' {
						return r
					}
					return -1
				}, s)
			}
		}
		out[f] = s
	}
	return out
}

// propertyConfig is the test's config: three systems, HubSpot paged by
// ten, newest wins with no tolerance, deletes propagated without a guard.
// No system gives per-field times (HubSpot's property_history is off), so
// newest compares the records' modified times.
func propertyConfig(state, hsA, hsB, sf string) string {
	hubspot := func(name string) string {
		return fmt.Sprintf(`      %s:
        object: contacts
        fields:
          email: properties.email
          first_name: properties.firstname
          last_name: properties.lastname
          phone: properties.phone
          title: properties.jobtitle
`, name)
	}
	return fmt.Sprintf(`state: %s
systems:
  hubspot_a:
    type: hubspot
    base_url: %s
    token: hs-a-token
    page_size: 10
  hubspot_b:
    type: hubspot
    base_url: %s
    token: hs-b-token
    page_size: 10
  salesforce:
    type: salesforce
    instance_url: %s
    client_id: cid
    client_secret: csecret
entities:
  contact:
    match: [email]
    phone_region: US
    fields:
      email: email
      first_name: string
      last_name: string
      phone: phone
      title: string
    systems:
%s%s      salesforce:
        object: Contact
        fields:
          email: Email
          first_name: FirstName
          last_name: LastName
          phone: Phone
          title: Title
    conflict: { policy: newest, clock_tolerance: 0s }
    deletes: { policy: propagate, max_share: 1 }
`, state, hsA, hsB, sf, hubspot("hubspot_a"), hubspot("hubspot_b"))
}

// propAction is one step: an edit, create or delete made as a person in a
// system's UI, or a pass.
type propAction struct {
	step   int
	kind   string // edit, create, delete, pass
	system string
	email  string
	id     string
	field  string
	value  string // canonical value the edit set ("" cleared it)
	how    string // unique, copy, clear (edits); the raw values (creates)
	at     time.Time
}

func (a propAction) String() string {
	at := a.at.Format("15:04:05.000")
	switch a.kind {
	case "pass":
		return fmt.Sprintf("step %4d  %s  pass %s", a.step, at, a.how)
	case "edit":
		return fmt.Sprintf("step %4d  %s  %-10s edit   %s (%s) %s = %q (%s)", a.step, at, a.system, a.email, a.id, a.field, a.value, a.how)
	case "create":
		return fmt.Sprintf("step %4d  %s  %-10s create %s (%s) %s", a.step, at, a.system, a.email, a.id, a.how)
	default:
		return fmt.Sprintf("step %4d  %s  %-10s delete %s (%s)", a.step, at, a.system, a.email, a.id)
	}
}

// propFieldConflict is a field two or more systems set to different
// values in one window: the pass must record one conflict for it.
type propFieldConflict struct {
	values map[string]string // editing system -> its value
	last   map[string]int    // editing system -> step of its record's last edit
	winner string            // the system whose record was edited last
}

// propDelete is what the deletes of one person in one window must do.
type propDelete struct {
	deleters map[string]int // system -> step of its delete
	alive    bool           // an edit in another system came after the last delete
	revivers []string
}

// propExpect is what one pass must leave behind.
type propExpect struct {
	alive     map[string]propVals // email -> values in every system
	conflicts map[[2]string]*propFieldConflict
	deletes   map[string]*propDelete
}

// ledgerEntry is the outcome of the last window in which a field of a
// person was edited, for the final no-lost-edit check.
type ledgerEntry struct {
	pass      int // step of the pass
	value     string
	contested map[string]string // system -> value, when contested
	decided   string            // the conflict's decided system, when contested
}

type propTest struct {
	t       *testing.T
	seed    uint64
	steps   int
	rng     *rand.Rand
	clock   *clock
	systems []propSystem
	config  string
	state   string

	step     int
	base     map[string]propVals // email -> agreed values at the window's start
	entity   map[string]string   // email -> entity id
	window   []propAction
	history  []propAction
	hot      map[string]bool // emails touched in this window
	lastConf int64           // highest conflict id already checked
	log      string          // the engine's log of the last pass

	gone    map[string]int // email -> step of the pass that removed it everywhere
	revived map[string]int // email -> step of the pass whose edit beat a delete
	ledger  map[[2]string]ledgerEntry

	stats map[string]int
}

func TestPropertyConvergence(t *testing.T) {
	seed := *propertySeed
	if seed == 0 {
		if s, err := strconv.ParseUint(os.Getenv("TANDEM_PROPERTY_SEED"), 10, 64); err == nil {
			seed = s
		}
	}
	if seed == 0 {
		seed = rand.Uint64()%1_000_000 + 1
	}
	steps := *propertySteps
	if steps <= 0 {
		steps = 1000
		if testing.Short() {
			steps = 300
		}
	}
	p := newPropTest(t, seed, steps)
	t.Logf("seed %d, %d steps (replay: go test ./cmd/tandem -run TestPropertyConvergence -property.seed=%d -property.steps=%d -v)",
		seed, steps, seed, steps)
	p.run()
}

func newPropTest(t *testing.T, seed uint64, steps int) *propTest {
	c := &clock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	hsA := hubspottest.NewServer(hubspottest.Options{Token: "hs-a-token", Now: c.Now})
	hsB := hubspottest.NewServer(hubspottest.Options{Token: "hs-b-token", Now: c.Now})
	sf := salesforcetest.NewServer(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret", BatchSize: 10, Now: c.Now})
	t.Cleanup(hsA.Close)
	t.Cleanup(hsB.Close)
	t.Cleanup(sf.Close)
	dir := t.TempDir()
	p := &propTest{
		t: t, seed: seed, steps: steps, rng: rand.New(rand.NewPCG(seed, 0x7a4d3e)), clock: c,
		systems: []propSystem{&hubspotSystem{"hubspot_a", hsA}, &hubspotSystem{"hubspot_b", hsB}, &salesforceSystem{"salesforce", sf}},
		config:  filepath.Join(dir, "tandem.yaml"), state: filepath.Join(dir, "tandem.db"),
		base: map[string]propVals{}, entity: map[string]string{},
		hot: map[string]bool{}, gone: map[string]int{}, revived: map[string]int{}, ledger: map[[2]string]ledgerEntry{},
		stats: map[string]int{},
	}
	if err := os.WriteFile(p.config, []byte(propertyConfig(p.state, hsA.URL, hsB.URL, sf.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *propTest) run() {
	p.seedContacts()
	next := p.cadence()
	for p.step < p.steps {
		p.step++
		if next == 0 {
			p.pass()
			next = p.cadence()
			continue
		}
		p.act()
		next--
	}
	// Stop editing: the last window is synced, then passes must go quiet.
	settled := false
	for i := 0; i < 5 && !settled; i++ {
		before := p.writes()
		p.step++
		p.pass()
		settled = p.writes() == before
	}
	if !settled {
		p.fail("five passes after the last edit still write to the systems: ping-pong")
	}
	p.finalChecks()
	p.t.Logf("%d steps: %s", p.step, p.summary())
}

// now is the emulators' clock, without moving it.
func (p *propTest) now() time.Time {
	p.clock.mu.Lock()
	defer p.clock.mu.Unlock()
	return p.clock.t
}

// cadence is how many actions the next window holds.
func (p *propTest) cadence() int { return 4 + p.rng.IntN(5) }

func (p *propTest) writes() int {
	n := 0
	for _, s := range p.systems {
		n += s.writes()
	}
	return n
}

// seedContacts creates eight people, each in one system, two of them in a
// second system too (the same email, other names): matched on email. The
// first pass must bring the systems into agreement; that state is the
// model's start.
func (p *propTest) seedContacts() {
	for i := 1; i <= 8; i++ {
		raw := map[string]string{"email": fmt.Sprintf("seed%d@example.com", i), "first_name": fmt.Sprintf("Seed%d", i),
			"last_name": fmt.Sprintf("Person%d", i), "phone": fmt.Sprintf("+1555000%04d", i), "title": fmt.Sprintf("Seat%d", i)}
		sys := p.systems[i%3]
		if _, err := sys.create(raw); err != nil {
			p.t.Fatalf("seeding %s: %v", sys.name(), err)
		}
		if i <= 2 {
			raw["first_name"] = fmt.Sprintf("Other%d", i)
			other := p.systems[(i+1)%3]
			if _, err := other.create(raw); err != nil {
				p.t.Fatalf("seeding %s: %v", other.name(), err)
			}
		}
	}
	p.sync()
	cur := p.read()
	emails := map[string]bool{}
	for _, s := range p.systems {
		for e := range cur[s.name()] {
			emails[e] = true
		}
	}
	if len(emails) != 8 {
		p.t.Errorf("after seeding, %d people, want 8", len(emails))
	}
	for e := range emails {
		var first propVals
		for _, s := range p.systems {
			r, ok := cur[s.name()][e]
			switch {
			case !ok:
				p.t.Errorf("after the first pass, %s lacks %s", s.name(), e)
			case first == nil:
				first = r.v
			case !r.v.equal(first):
				p.t.Errorf("after the first pass, %s differs: %s in %s, %s in %s", e, first, p.systems[0].name(), r.v, s.name())
			}
		}
		p.base[e] = first
	}
	if p.t.Failed() {
		p.fail("the seeding pass did not bring the systems into agreement")
	}
	p.learnEntities(cur, p.base)
	p.conflictsSince() // the seed's conflicts are not the property's business
}

// act makes one random action.
func (p *propTest) act() {
	sys := p.systems[p.rng.IntN(len(p.systems))]
	switch r := p.rng.IntN(100); {
	case r < 14:
		p.create(sys)
	case r < 24:
		p.remove(sys)
	default:
		p.edit(sys)
	}
}

// pick chooses a live record of a system: half the time among the people
// already touched in this window, so that edits meet edits and deletes.
func (p *propTest) pick(sys propSystem) (propRec, bool) {
	recs := sys.records()
	slices.SortFunc(recs, func(a, b propRec) int { return strings.Compare(a.v["email"], b.v["email"]) })
	var hot []propRec
	for _, r := range recs {
		if p.hot[r.v["email"]] {
			hot = append(hot, r)
		}
	}
	if len(hot) > 0 && p.rng.IntN(2) == 0 {
		return hot[p.rng.IntN(len(hot))], true
	}
	if len(recs) == 0 {
		return propRec{}, false
	}
	return recs[p.rng.IntN(len(recs))], true
}

// uniqueValue is a value no other step writes, so every edit can be told
// apart.
func (p *propTest) uniqueValue(field string) string {
	switch field {
	case "first_name":
		return fmt.Sprintf("F%d", p.step)
	case "last_name":
		return fmt.Sprintf("L%d", p.step)
	case "phone":
		return fmt.Sprintf("+1555%07d", p.step)
	default:
		return fmt.Sprintf("T%d", p.step)
	}
}

// rawOf is how a person types a canonical value: phones sometimes as a
// national number.
func (p *propTest) rawOf(field, v string) string {
	if field == "phone" && v != "" && p.rng.IntN(2) == 0 {
		d := v[2:]
		return fmt.Sprintf("(%s) %s-%s", d[:3], d[3:6], d[6:])
	}
	return v
}

// edit sets one field of a live record: mostly to a value of its own,
// sometimes to another system's value (or back to the start value), now
// and then to empty.
func (p *propTest) edit(sys propSystem) {
	rec, ok := p.pick(sys)
	if !ok {
		p.create(sys)
		return
	}
	email := rec.v["email"]
	field := propEditable[p.rng.IntN(len(propEditable))]
	cur := rec.v[field]
	value, how := p.uniqueValue(field), "unique"
	switch r := p.rng.IntN(100); {
	case r >= 75 && r < 92:
		// Copy a value another system holds, or held at the window's
		// start: equal edits are no conflict, and an edit back to the
		// start value is no edit at all.
		var cands []string
		for _, s := range p.systems {
			if s == sys {
				continue
			}
			for _, o := range s.records() {
				if o.v["email"] == email && o.v[field] != cur && !slices.Contains(cands, o.v[field]) {
					cands = append(cands, o.v[field])
				}
			}
		}
		if b, ok := p.base[email]; ok && b[field] != cur && !slices.Contains(cands, b[field]) {
			cands = append(cands, b[field])
		}
		if field == "last_name" {
			cands = slices.DeleteFunc(cands, func(s string) bool { return s == "" })
		}
		slices.Sort(cands)
		if len(cands) > 0 {
			value, how = cands[p.rng.IntN(len(cands))], "copy"
		}
	case r >= 92 && propClearable[field] && cur != "":
		value, how = "", "clear"
	}
	if err := sys.set(rec.id, field, p.rawOf(field, value)); err != nil {
		p.fail(fmt.Sprintf("step %d: editing %s %s in %s: %v", p.step, email, field, sys.name(), err))
	}
	p.record(propAction{kind: "edit", system: sys.name(), email: email, id: rec.id, field: field, value: value, how: how})
}

// create adds a person with a new email, some fields left empty.
func (p *propTest) create(sys propSystem) {
	email := fmt.Sprintf("p%d@example.com", p.step)
	typed := email
	if p.rng.IntN(4) == 0 {
		typed = fmt.Sprintf("P%d@Example.com", p.step) // matched without case
	}
	raw := map[string]string{"email": typed, "last_name": p.uniqueValue("last_name")}
	if p.rng.IntN(10) > 0 {
		raw["first_name"] = p.uniqueValue("first_name")
	}
	if p.rng.IntN(10) < 7 {
		raw["phone"] = p.rawOf("phone", p.uniqueValue("phone"))
	}
	if p.rng.IntN(10) < 6 {
		raw["title"] = p.uniqueValue("title")
	}
	id, err := sys.create(raw)
	if err != nil {
		p.fail(fmt.Sprintf("step %d: creating %s in %s: %v", p.step, email, sys.name(), err))
	}
	p.record(propAction{kind: "create", system: sys.name(), email: email, id: id, how: canonical(raw).String()})
}

// remove deletes a live record: archived in HubSpot, to the recycle bin
// in Salesforce.
func (p *propTest) remove(sys propSystem) {
	rec, ok := p.pick(sys)
	if !ok {
		p.create(sys)
		return
	}
	if err := sys.remove(rec.id); err != nil {
		p.fail(fmt.Sprintf("step %d: deleting %s in %s: %v", p.step, rec.v["email"], sys.name(), err))
	}
	p.record(propAction{kind: "delete", system: sys.name(), email: rec.v["email"], id: rec.id})
}

func (p *propTest) record(a propAction) {
	a.step, a.at = p.step, p.now()
	p.window = append(p.window, a)
	p.history = append(p.history, a)
	p.hot[a.email] = true
	if a.kind == "edit" {
		p.stats["edit ("+a.how+")"]++
	} else {
		p.stats[a.kind]++
	}
}

// read lists every system's live records by canonical email; a system
// holding one email twice fails the test.
func (p *propTest) read() map[string]map[string]propRec {
	out := map[string]map[string]propRec{}
	for _, s := range p.systems {
		m := map[string]propRec{}
		for _, r := range s.records() {
			if prev, dup := m[r.v["email"]]; dup {
				p.t.Errorf("%s holds %s twice: records %s and %s", s.name(), r.v["email"], prev.id, r.id)
			}
			m[r.v["email"]] = r
		}
		out[s.name()] = m
	}
	return out
}

// sync runs one `tandem sync` in this process, keeping its log.
func (p *propTest) sync() {
	var out, errb bytes.Buffer
	code := execute([]string{"sync", "--config", p.config, "--log-level", "info"}, &out, &errb)
	p.log = errb.String()
	if code != 0 {
		p.fail(fmt.Sprintf("step %d: tandem sync exited %d:\n%s", p.step, code, out.String()))
	}
}

// expect works out, from the window's actions and the systems' records
// just before the pass, what the pass must do. It follows the semantics
// the engine promises, not the engine's code:
//
//   - a field changed in one system, or in several to one value, takes
//     that value; changed to different values, the value of the system
//     whose record was edited last (newest compares record times), and
//     one field conflict;
//   - a person deleted in some systems is gone everywhere, unless another
//     system edited the record after the last of those deletes: then it
//     lives everywhere, with that edit. The deleting systems' own edits
//     went with their records.
//   - a record created in the window is created everywhere, unless it was
//     deleted before the pass saw it.
func (p *propTest) expect(cur map[string]map[string]propRec) *propExpect {
	e := &propExpect{alive: map[string]propVals{}, conflicts: map[[2]string]*propFieldConflict{}, deletes: map[string]*propDelete{}}
	lastEdit := map[[2]string]int{}        // (system, email) -> step of the record's last edit
	deleted := map[string]map[string]int{} // email -> system -> step
	created := map[string]string{}         // email -> system
	for _, a := range p.window {
		switch a.kind {
		case "edit", "create":
			lastEdit[[2]string{a.system, a.email}] = a.step
			if a.kind == "create" {
				created[a.email] = a.system
			}
		case "delete":
			if deleted[a.email] == nil {
				deleted[a.email] = map[string]int{}
			}
			deleted[a.email][a.system] = a.step
		}
	}
	for _, email := range sortedKeys(p.base) {
		base := p.base[email]
		dels := deleted[email]
		last := 0
		for _, st := range dels {
			last = max(last, st)
		}
		d := &propDelete{deleters: dels, alive: len(dels) == 0}
		v := base.clone()
		for _, s := range p.systems {
			if _, ok := dels[s.name()]; ok {
				continue
			}
			r, ok := cur[s.name()][email]
			if !ok {
				p.fail(fmt.Sprintf("model: %s lost %s, which it did not delete", s.name(), email))
			}
			if !r.v.equal(base) && lastEdit[[2]string{s.name(), email}] > last && len(dels) > 0 {
				d.alive = true
				d.revivers = append(d.revivers, s.name())
			}
		}
		for _, f := range propEditable {
			fc := &propFieldConflict{values: map[string]string{}, last: map[string]int{}}
			var distinct []string
			for _, s := range p.systems {
				if _, ok := dels[s.name()]; ok {
					continue
				}
				if val := cur[s.name()][email].v[f]; val != base[f] {
					fc.values[s.name()] = val
					fc.last[s.name()] = lastEdit[[2]string{s.name(), email}]
					if !slices.Contains(distinct, val) {
						distinct = append(distinct, val)
					}
				}
			}
			switch len(distinct) {
			case 0:
			case 1:
				v[f] = distinct[0]
			default:
				for sys, st := range fc.last {
					if fc.winner == "" || st > fc.last[fc.winner] {
						fc.winner = sys
					}
				}
				v[f] = fc.values[fc.winner]
				e.conflicts[[2]string{email, f}] = fc
			}
		}
		if len(dels) > 0 {
			e.deletes[email] = d
		}
		if d.alive {
			e.alive[email] = v
		}
	}
	for email, sys := range created {
		if _, ok := deleted[email][sys]; ok {
			continue // deleted before any pass saw it
		}
		e.alive[email] = cur[sys][email].v
	}
	return e
}

// pass runs a pass and checks it against the model.
func (p *propTest) pass() {
	before := p.read()
	exp := p.expect(before)
	p.history = append(p.history, propAction{step: p.step, kind: "pass", at: p.now(), how: fmt.Sprintf("(after %d actions)", len(p.window))})
	p.stats["pass"]++
	p.sync()
	after := p.read()

	// Every system holds exactly the people the model expects, with the
	// expected values.
	for _, s := range p.systems {
		recs := after[s.name()]
		for _, email := range sortedKeys(exp.alive) {
			want := exp.alive[email]
			r, ok := recs[email]
			switch {
			case !ok:
				p.t.Errorf("%s lacks %s after the pass, want %s%s", s.name(), email, want, p.why(exp, email))
			case !r.v.equal(want):
				p.t.Errorf("%s holds %s as %s, want %s%s", s.name(), email, r.v, want, p.why(exp, email))
			}
		}
		for _, email := range sortedKeys(recs) {
			if _, ok := exp.alive[email]; !ok {
				p.t.Errorf("%s still holds %s (%s) after the pass, want it gone everywhere%s", s.name(), email, recs[email].v, p.why(exp, email))
			}
		}
	}

	st, err := state.OpenReadOnly(p.state)
	if err != nil {
		p.fail(fmt.Sprintf("opening the state: %v", err))
	}
	defer st.Close()
	p.checkStatus(st)
	p.learnEntitiesFrom(st, after, exp.alive)
	news := p.conflictsFrom(st)
	p.checkConflicts(exp, news)
	if p.t.Failed() {
		p.dump(before, after, news)
		p.t.FailNow()
	}

	// The pass is as the model says: its result is the next window's start.
	for email, d := range exp.deletes {
		if len(d.deleters) > 1 {
			p.stats["people deleted in 2+ systems in one window"]++
		}
		if d.alive {
			p.revived[email] = p.step
			p.stats["delete beaten by a later edit"]++
		} else {
			p.gone[email] = p.step
			delete(p.revived, email)
			p.stats["deleted everywhere"]++
		}
	}
	for _, a := range p.window {
		if a.kind == "create" {
			if _, ok := exp.alive[a.email]; !ok {
				p.gone[a.email] = p.step
				p.stats["deleted before any pass saw it"]++
			}
		}
	}
	for k, fc := range exp.conflicts {
		if _, ok := exp.alive[k[0]]; ok {
			p.ledger[k] = ledgerEntry{pass: p.step, value: exp.alive[k[0]][k[1]], contested: fc.values, decided: p.decided(news, k)}
		}
	}
	for email, v := range exp.alive {
		if b, ok := p.base[email]; ok {
			for _, f := range propEditable {
				if _, contested := exp.conflicts[[2]string{email, f}]; !contested && v[f] != b[f] {
					p.ledger[[2]string{email, f}] = ledgerEntry{pass: p.step, value: v[f]}
				}
			}
		}
	}
	p.base = exp.alive
	p.window = nil
	p.hot = map[string]bool{}
}

// why explains the model's expectation for a person, for failures.
func (p *propTest) why(exp *propExpect, email string) string {
	var parts []string
	if d := exp.deletes[email]; d != nil {
		parts = append(parts, fmt.Sprintf("deleted in %v; alive=%v (revived by %v)", d.deleters, d.alive, d.revivers))
	}
	for _, f := range propEditable {
		if fc := exp.conflicts[[2]string{email, f}]; fc != nil {
			parts = append(parts, fmt.Sprintf("%s contested %v, records last edited at steps %v: newest is %s", f, fc.values, fc.last, fc.winner))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " [" + strings.Join(parts, "; ") + "]"
}

// checkStatus: nothing left in the outbox, nothing set aside, no pass error.
func (p *propTest) checkStatus(st *state.Store) {
	for _, s := range p.systems {
		os, err := st.Status(context.Background(), s.name(), s.object())
		if err != nil {
			p.t.Errorf("status of %s: %v", s.name(), err)
			continue
		}
		var passErr string
		if os.LastPass != nil {
			passErr = os.LastPass.Error
		}
		if os.Outbox != 0 || os.DeadLetters != 0 || passErr != "" {
			p.t.Errorf("%s after the pass: %d writes pending, %d set aside, pass error %q", s.name(), os.Outbox, os.DeadLetters, passErr)
		}
	}
}

// learnEntities maps emails to entity ids through the links of their
// records, and checks that every record of a person links to one entity.
func (p *propTest) learnEntities(cur map[string]map[string]propRec, alive map[string]propVals) {
	st, err := state.OpenReadOnly(p.state)
	if err != nil {
		p.fail(fmt.Sprintf("opening the state: %v", err))
	}
	defer st.Close()
	p.learnEntitiesFrom(st, cur, alive)
}

func (p *propTest) learnEntitiesFrom(st *state.Store, cur map[string]map[string]propRec, alive map[string]propVals) {
	ctx := context.Background()
	for _, email := range sortedKeys(alive) {
		for _, s := range p.systems {
			r, ok := cur[s.name()][email]
			if !ok {
				continue // reported already
			}
			l, err := st.Link(ctx, s.name(), s.object(), r.id)
			switch {
			case err != nil:
				p.t.Errorf("link of %s %s: %v", s.name(), r.id, err)
			case l == nil:
				p.t.Errorf("%s record %s (%s) is not linked to any entity", s.name(), r.id, email)
			case p.entity[email] == "":
				p.entity[email] = l.EntityID
			case p.entity[email] != l.EntityID:
				p.t.Errorf("%s record %s (%s) is linked to entity %s, the person's other records to %s", s.name(), r.id, email, l.EntityID, p.entity[email])
			}
		}
	}
}

// conflictsFrom returns the conflicts recorded since the last call.
func (p *propTest) conflictsFrom(st *state.Store) []tandem.Conflict {
	all, err := st.Conflicts(context.Background(), false)
	if err != nil {
		p.fail(fmt.Sprintf("reading conflicts: %v", err))
	}
	var news []tandem.Conflict
	for _, c := range all {
		if c.ID > p.lastConf {
			news = append(news, c)
		}
	}
	if len(all) > 0 {
		p.lastConf = max(p.lastConf, all[len(all)-1].ID)
	}
	return news
}

func (p *propTest) conflictsSince() []tandem.Conflict {
	st, err := state.OpenReadOnly(p.state)
	if err != nil {
		p.fail(fmt.Sprintf("opening the state: %v", err))
	}
	defer st.Close()
	return p.conflictsFrom(st)
}

// emailOf is the person of an entity id.
func (p *propTest) emailOf(id string) string {
	for e, eid := range p.entity {
		if eid == id {
			return e
		}
	}
	return "(entity " + id + ")"
}

// checkConflicts holds the pass's new conflicts to the model: exactly one
// field conflict per contested field, none elsewhere; a delete conflict
// for each person deleted, decided the way the delete went.
func (p *propTest) checkConflicts(exp *propExpect, news []tandem.Conflict) {
	passes := map[string]bool{}
	seen := map[[2]string]int{}
	seenDelete := map[string]int{}
	lastDelete := map[string]tandem.Conflict{}
	for _, c := range news {
		passes[c.Pass] = true
		email := p.emailOf(c.EntityID)
		desc := fmt.Sprintf("conflict %d (%s %s of %s, decided %q, sides %s)", c.ID, c.Kind, c.Field, email, c.Decided, sidesOf(c))
		if c.Status != tandem.ConflictAuto {
			p.t.Errorf("%s: status %s, want auto (newest with no tolerance holds nothing)", desc, c.Status)
		}
		switch c.Kind {
		case tandem.ConflictField:
			k := [2]string{email, c.Field}
			seen[k]++
			fc := exp.conflicts[k]
			if fc == nil {
				p.t.Errorf("%s: not contested in this window (edits: %s)", desc, p.editsOf(email, c.Field))
				continue
			}
			if seen[k] == 2 {
				p.t.Errorf("%s: a second conflict for one field in one pass", desc)
			}
			got := map[string]bool{}
			for sys, sv := range c.Values {
				v := canonicalValue(c.Field, sv.Value)
				got[v] = true
				if want, ok := fc.values[sys]; !ok {
					p.t.Errorf("%s: side %s did not edit %s in this window", desc, sys, c.Field)
				} else if v != want {
					p.t.Errorf("%s: side %s has %q, it set %q", desc, sys, v, want)
				}
			}
			for sys, want := range fc.values {
				if !got[want] {
					p.t.Errorf("%s: %s's value %q is not among the sides", desc, sys, want)
				}
			}
			if _, alive := exp.alive[email]; alive {
				if want, ok := fc.values[c.Decided]; !ok || want != fc.values[fc.winner] {
					p.t.Errorf("%s: decided %q, whose value is not the newest edit's %q (%s, step %d)", desc, c.Decided, fc.values[fc.winner], fc.winner, fc.last[fc.winner])
				}
			}
		case tandem.ConflictDelete:
			// One conflict per delete the pass met; the last one met
			// says how the person's deletes went (checked below).
			seenDelete[email]++
			lastDelete[email] = c
			d := exp.deletes[email]
			if d == nil {
				p.t.Errorf("%s: %s was not deleted in this window", desc, email)
				continue
			}
			for sys, sv := range c.Values {
				if _, deleter := d.deleters[sys]; sv.Value == nil && !deleter {
					p.t.Errorf("%s: side %s is a delete, but %s did not delete %s", desc, sys, sys, email)
				}
			}
		default:
			p.t.Errorf("%s: no %s conflict is expected (every created email is new)", desc, c.Kind)
		}
	}
	if len(passes) > 1 {
		p.t.Errorf("the new conflicts name %d passes, want one: %v", len(passes), passes)
	}
	for _, k := range sortedKeys(exp.conflicts) {
		if seen[k] == 0 {
			fc := exp.conflicts[k]
			p.t.Errorf("no conflict recorded for %s %s, set to different values by %v (steps %v)", k[0], k[1], fc.values, fc.last)
		}
	}
	for _, email := range sortedKeys(exp.deletes) {
		d := exp.deletes[email]
		c, ok := lastDelete[email]
		if !ok {
			p.t.Errorf("no delete conflict recorded for %s, deleted in %v", email, d.deleters)
			continue
		}
		if _, byDeleter := d.deleters[c.Decided]; byDeleter == d.alive {
			p.t.Errorf("conflict %d (delete of %s, sides %s): decided %q, but the delete %s (deleted in %v, edited after the last delete by %v)",
				c.ID, email, sidesOf(c), c.Decided, map[bool]string{true: "lost to a later edit", false: "stands"}[d.alive], d.deleters, d.revivers)
		}
	}
	p.stats["field conflicts checked"] += len(exp.conflicts)
}

// decided is the system the pass's conflict on a field decided for.
func (p *propTest) decided(news []tandem.Conflict, k [2]string) string {
	for _, c := range news {
		if c.Kind == tandem.ConflictField && c.Field == k[1] && p.emailOf(c.EntityID) == k[0] {
			return c.Decided
		}
	}
	return ""
}

func canonicalValue(field string, v any) string {
	s, _ := v.(string)
	return canonical(propVals{field: s})[field]
}

func sidesOf(c tandem.Conflict) string {
	var parts []string
	for _, sys := range sortedKeys(c.Values) {
		sv := c.Values[sys]
		b, _ := json.Marshal(sv.Value)
		parts = append(parts, fmt.Sprintf("%s=%s@%s", sys, b, sv.ModifiedAt.Format("15:04:05.000")))
	}
	return strings.Join(parts, " ")
}

// editsOf lists the window's actions on a person's field (or all its
// actions, field "").
func (p *propTest) editsOf(email, field string) string {
	var parts []string
	for _, a := range p.window {
		if a.email == email && (field == "" || a.field == field || a.kind != "edit") {
			parts = append(parts, fmt.Sprintf("%s %s step %d %q", a.system, a.kind, a.step, a.value))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// finalChecks, once the systems are quiet: they agree, no edit was lost,
// and every delete went as its window said.
func (p *propTest) finalChecks() {
	cur := p.read()
	first := p.systems[0].name()
	for _, s := range p.systems[1:] {
		if len(cur[s.name()]) != len(cur[first]) {
			p.t.Errorf("at the end %s holds %d people, %s %d", s.name(), len(cur[s.name()]), first, len(cur[first]))
		}
		for email, r := range cur[s.name()] {
			if o, ok := cur[first][email]; !ok {
				p.t.Errorf("at the end %s holds %s, %s does not", s.name(), email, first)
			} else if !o.v.equal(r.v) {
				p.t.Errorf("at the end %s differs: %s in %s, %s in %s", email, o.v, first, r.v, s.name())
			}
		}
	}
	for _, k := range sortedKeys(p.ledger) {
		l := p.ledger[k]
		r, ok := cur[first][k[0]]
		if !ok {
			continue // deleted since: checked below
		}
		got := r.v[k[1]]
		switch {
		case l.contested == nil && got != l.value:
			p.t.Errorf("lost edit: %s %s is %q at the end; its last edit (synced at step %d) set %q", k[0], k[1], got, l.pass, l.value)
		case l.contested != nil && (got != l.value || l.contested[l.decided] != got):
			p.t.Errorf("lost edit: %s %s is %q at the end; its last window (synced at step %d) was contested %v and decided for %q", k[0], k[1], got, l.pass, l.contested, l.decided)
		}
	}
	for _, email := range sortedKeys(p.gone) {
		for _, s := range p.systems {
			if _, ok := cur[s.name()][email]; ok {
				p.t.Errorf("%s was deleted (pass at step %d) but %s holds it at the end", email, p.gone[email], s.name())
			}
		}
	}
	for _, email := range sortedKeys(p.revived) {
		for _, s := range p.systems {
			if _, ok := cur[s.name()][email]; !ok {
				p.t.Errorf("%s's delete lost to a later edit (pass at step %d) but %s lacks it at the end", email, p.revived[email], s.name())
			}
		}
	}
	if p.t.Failed() {
		p.dump(cur, cur, nil)
	}
}

func (p *propTest) summary() string {
	var parts []string
	for _, k := range sortedKeys(p.stats) {
		parts = append(parts, fmt.Sprintf("%d %s", p.stats[k], k))
	}
	return strings.Join(parts, ", ") + fmt.Sprintf("; %d people alive at the end", len(p.base))
}

// fail stops the test with the state needed to replay and debug it.
func (p *propTest) fail(msg string) {
	p.t.Helper()
	p.t.Error(msg)
	cur := p.read()
	p.dump(cur, cur, nil)
	p.t.FailNow()
}

// dump prints what a failure needs: the seed, the actions around it, the
// systems' records before and after the pass, the pass's conflicts and the
// engine's log of the pass.
func (p *propTest) dump(before, after map[string]map[string]propRec, news []tandem.Conflict) {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: replay with  go test ./cmd/tandem -run TestPropertyConvergence -property.seed=%d -property.steps=%d -v\n",
		p.seed, p.seed, p.steps)
	fmt.Fprintf(&b, "\nthe last actions (the failing window is the last one):\n")
	from := 0
	for i, passes := len(p.history)-1, 0; i >= 0; i-- {
		if p.history[i].kind == "pass" {
			if passes++; passes == 4 {
				from = i
				break
			}
		}
	}
	for _, a := range p.history[from:] {
		fmt.Fprintf(&b, "  %s\n", a)
	}
	// The people worth reading: those acted on in the actions above, and
	// those whose records do not all hold the model's values.
	emails, quiet := map[string]bool{}, 0
	for _, a := range p.history[from:] {
		if a.kind != "pass" {
			emails[a.email] = true
		}
	}
	all := map[string]bool{}
	for _, m := range []map[string]map[string]propRec{before, after} {
		for _, recs := range m {
			for e := range recs {
				all[e] = true
			}
		}
	}
	for e := range p.base {
		all[e] = true
	}
	for e := range all {
		for _, s := range p.systems {
			for _, m := range []map[string]map[string]propRec{before, after} {
				if r, ok := m[s.name()][e]; !ok || !r.v.equal(p.base[e]) {
					emails[e] = true
				}
			}
		}
		if !emails[e] {
			quiet++
		}
	}
	fmt.Fprintf(&b, "\nrecords (window start = the model's agreed values; before / after the pass, per system), "+
		"%d other people hold the model's values everywhere and are not shown:\n", quiet)
	for _, e := range sortedKeys(emails) {
		fmt.Fprintf(&b, "  %s  entity %s\n", e, p.entity[e])
		if v, ok := p.base[e]; ok {
			fmt.Fprintf(&b, "    %-10s %-7s %s\n", "start", "", v)
		}
		for _, s := range p.systems {
			for _, st := range []struct {
				label string
				m     map[string]map[string]propRec
			}{{"before", before}, {"after", after}} {
				if r, ok := st.m[s.name()][e]; ok {
					fmt.Fprintf(&b, "    %-10s %-7s %s  (id %s, modified %s)\n", s.name(), st.label, r.v, r.id, r.modified.Format("15:04:05.000"))
				} else {
					fmt.Fprintf(&b, "    %-10s %-7s -\n", s.name(), st.label)
				}
			}
		}
	}
	if len(news) > 0 {
		fmt.Fprintf(&b, "\nconflicts the pass recorded:\n")
		for _, c := range news {
			fmt.Fprintf(&b, "  %d %s %s of %s (%s): %s, decided %q; sides %s\n", c.ID, c.Kind, c.Field, p.emailOf(c.EntityID), c.EntityID, c.Status, c.Decided, sidesOf(c))
		}
	}
	if p.log != "" {
		lines := strings.Split(strings.TrimSpace(p.log), "\n")
		if len(lines) > 120 {
			lines = append([]string{fmt.Sprintf("(%d lines before)", len(lines)-120)}, lines[len(lines)-120:]...)
		}
		fmt.Fprintf(&b, "\nthe engine's log of the pass:\n  %s\n", strings.Join(lines, "\n  "))
	}
	p.t.Log(b.String())
}

func sortedKeys[K interface{ ~string | ~[2]string }, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b K) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return keys
}
