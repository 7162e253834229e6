package main

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/rest/resttest"
	"tandem/connectors/salesforce/salesforcetest"
)

// The convergence property test, model-based: three emulated systems (two
// HubSpot portals and a Salesforce org on one clock) take random edits,
// creates, deletes and undeletes, with a `tandem sync` every few actions,
// and the faults of property_faults_test.go: edits made during passes,
// lost answers to writes, crashes between a write and its checkpoint,
// HubSpot's search lag, Salesforce's whole-second stamps and late commits,
// a lossy mapping. A model of what each round (a pass, and when a fault
// hit it, the passes that follow until one writes nothing) must do,
// written from the semantics in DESIGN.md rather than from the engine's
// code, is checked after every round: the systems agree, each field holds
// the value the newest policy picks, deletes propagate unless an edit came
// after them, and the conflicts recorded are exactly the ones the window's
// edits call for, one per contested field.
//
// A failure prints the seed and the command that replays it. A run is
// deterministic for a seed up to the order in which concurrent writes to
// different systems meet the clock (every random choice is made over
// sorted records, and the gates draw from one generator per system).

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

// propAction is one step: an edit, create or delete made as a person in a
// system's UI, or a pass.
type propAction struct {
	step   int
	kind   string // edit, create, delete, pass
	system string
	email  string
	id     string
	field  string
	value  string // canonical value the edit set ("" cleared it), as the system reads it
	how    string // unique, copy, clear, late or a fault class (edits); the raw values (creates)
	at     time.Time
	stamp  time.Time // the modified time the system gave the change
	// sequential: an edit made during a pass over a value Tandem had
	// written to the record in that pass: made after the person saw the
	// merged value, so it follows the window's other edits instead of
	// contesting them.
	sequential bool
}

func (a propAction) String() string {
	at := a.at.Format("15:04:05.000")
	switch a.kind {
	case "pass":
		return fmt.Sprintf("step %4d  %s  pass %s", a.step, at, a.how)
	case "note":
		return fmt.Sprintf("step %4d  %s  %s", a.step, at, a.how)
	case "edit":
		return fmt.Sprintf("step %4d  %s  %-10s edit   %s (%s) %s = %q (%s)", a.step, at, a.system, a.email, a.id, a.field, a.value, a.how)
	case "create":
		return fmt.Sprintf("step %4d  %s  %-10s create %s (%s) %s", a.step, at, a.system, a.email, a.id, a.how)
	case "undelete":
		return fmt.Sprintf("step %4d  %s  %-10s undelete %s (%s)", a.step, at, a.system, a.email, a.id)
	default:
		return fmt.Sprintf("step %4d  %s  %-10s delete %s (%s)", a.step, at, a.system, a.email, a.id)
	}
}

// propFieldConflict is a field two or more systems set to different
// values in one window: the pass must record one conflict for it.
type propFieldConflict struct {
	values map[string]string    // editing system -> its value
	last   map[string]time.Time // editing system -> its record's last edit
	winner string               // the system whose record was edited last
	// ok are the values that may win, when the pass may have seen a
	// record before its last edit (see expect); else empty.
	ok []string
	// optional: the contest may have been settled without a conflict,
	// by an edit made after Tandem wrote the value to that system.
	optional bool
}

// propDelete is what the deletes of one person in one window must do.
type propDelete struct {
	deleters map[string]time.Time // system -> its delete
	alive    bool                 // an edit in another system came after the last delete
	revivers []string
}

// propExpect is what one pass must leave behind.
type propExpect struct {
	alive     map[string]propVals // email -> values in every system
	conflicts map[[2]string]*propFieldConflict
	deletes   map[string]*propDelete
	// loose are the fields a pass may have seen in a state the window
	// passed through rather than in its last: edited twice in one system
	// (the first edit seen, the second hidden by the search lag or made
	// after the pull), or edited during the pass. Their values at the end
	// are exact; their conflicts are at most one per pass of the round,
	// with the values the passes saw.
	loose map[[2]string]bool
	// merged are the values the merge of the window comes to, for every
	// person the window started with, deleted or not.
	merged map[string]propVals
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

	stats  map[string]int
	faults *propFaults

	// The pass running and its faults: the gates read them.
	planMu  sync.Mutex
	running *passPlan
	hookMu  sync.Mutex                    // one person's edit at a time
	before  map[string]map[string]propRec // the systems at the start of the pass
	midSeq  int
	lag     time.Duration                 // the longest search lag of this window
	passAt  time.Time                     // when the last pass began
	quiet   bool                          // the last passes: no more faults
	cur     map[string]map[string]propRec // what expect works from
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
	t.Logf("seed %d, %d steps (replay: %s)", seed, steps, p.replay())
	p.run()
}

func newPropTest(t *testing.T, seed uint64, steps int) *propTest {
	faults, err := newPropFaults(*propertyOff)
	if err != nil {
		t.Fatal(err)
	}
	// The clock starts at the wall clock's second and runs ahead of it:
	// Salesforce's conditional writes are chosen by the local clock (a
	// record modified within conditional_window), as in production.
	c := &clock{t: time.Now().UTC().Truncate(time.Second)}
	hsA := hubspottest.New(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-a-token", Now: c.Now, RateLimit: loopbackRate})
	hsB := hubspottest.New(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-b-token", Now: c.Now, RateLimit: loopbackRate})
	sf := salesforcetest.New(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret", BatchSize: 10, Now: c.Now,
		DailyLimit: 10_000_000}) // 10,000 steps make more calls than an org's default day
	t.Cleanup(hsA.Close)
	t.Cleanup(hsB.Close)
	// The custom CRM stamps whole seconds, as Salesforce does.
	crm := resttest.New(resttest.Options{Precision: time.Second, Now: c.Now})
	t.Cleanup(sf.Close)
	dir := t.TempDir()
	lossy := map[string]bool{}
	if faults.on["lossy"] {
		lossy["title"] = true
		faults.add("lossy")
	}
	p := &propTest{
		t: t, seed: seed, steps: steps, rng: rand.New(rand.NewPCG(seed, 0x7a4d3e)), clock: c,
		systems: []propSystem{&hubspotSystem{"hubspot_a", hsA, nil}, &hubspotSystem{"hubspot_b", hsB, lossy}, &salesforceSystem{"salesforce", sf}, &customCRM{"crm", crm}},
		config:  filepath.Join(dir, "tandem.yaml"), state: filepath.Join(dir, "tandem.db"),
		base: map[string]propVals{}, entity: map[string]string{},
		hot: map[string]bool{}, gone: map[string]int{}, revived: map[string]int{}, ledger: map[[2]string]ledgerEntry{},
		stats: map[string]int{}, faults: faults,
	}
	urls := make([]string, len(p.systems))
	for i, h := range []http.Handler{hsA, hsB, sf, crm} {
		urls[i] = p.serve(p.systems[i], h)
	}
	cfg := propertyConfig(p.state, urls[0], urls[1], urls[2], urls[3], faults.on["lossy"])
	if propertyWithPostgres() {
		pg, dsn := newPostgresSystem(t, c.Now)
		t.Setenv("TANDEM_PROPERTY_PG_DSN", dsn)
		p.systems = append(p.systems, pg)
		system, mapping := postgresSections()
		cfg = strings.Replace(cfg, "entities:\n", system+"entities:\n", 1)
		cfg = strings.Replace(cfg, "    conflict: {", mapping+"    conflict: {", 1)
	}
	if err := os.WriteFile(p.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// beforeSync tells the systems that stamp Tandem's writes themselves (the
// table) the time of the coming pass.
func (p *propTest) beforeSync() {
	for _, s := range p.systems {
		if b, ok := s.(interface{ beforePass(time.Time) }); ok {
			b.beforePass(p.now())
		}
	}
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
	p.quiet = true
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
	p.t.Logf("faults: %s", p.faults)
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
		sys := p.systems[i%len(p.systems)]
		if _, err := sys.create(raw); err != nil {
			p.t.Fatalf("seeding %s: %v", sys.name(), err)
		}
		if i <= 2 {
			raw["first_name"] = fmt.Sprintf("Other%d", i)
			other := p.systems[(i+1)%len(p.systems)]
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
			case !r.v.equal(p.normVals(s, first)):
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

func (p *propTest) systemNamed(name string) propSystem {
	for _, s := range p.systems {
		if s.name() == name {
			return s
		}
	}
	panic("no system " + name)
}

// normVals are canonical values as a system reads them back.
func (p *propTest) normVals(s propSystem, v propVals) propVals {
	out := propVals{}
	for _, f := range propFields {
		out[f] = s.norm(f, v[f])
	}
	return out
}

// sync runs one `tandem sync` in this process, keeping its log.
func (p *propTest) sync() {
	p.beforeSync()
	var out, errb bytes.Buffer
	code := execute([]string{"sync", "--config", p.config, "--log-level", "info"}, &out, &errb)
	p.log += errb.String()
	if code != 0 {
		p.fail(fmt.Sprintf("step %d: tandem sync exited %d:\n%s", p.step, code, out.String()))
	}
}
