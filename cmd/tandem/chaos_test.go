package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
	"tandem/state"
)

// The chaos suite (issue 7, part 3): Tandem's daemon, a real `tandem run`
// subprocess, keeps three emulated systems (HubSpot, Salesforce and the
// custom CRM of the sandbox; -chaos.systems chooses) in step while users
// edit each of them,
// every connection to the systems goes through a toxiproxy proxy that adds
// latency, stalls, resets and trickles at random, the systems answer
// bursts of 5xx and of rate-limit refusals, HubSpot's webhooks to the
// daemon are dropped and duplicated, and the daemon is SIGKILLed at random
// moments and started again. Then the faults go, the daemon is stopped
// (SIGTERM, exit 0), `tandem sync` passes run until one writes nothing, and
// the invariants are checked (chaos_check_test.go says exactly how).
//
//	go test -short -run Chaos ./cmd/tandem                     # the CI run: 2,000 records, ≥ 5 kills, ~1.5 min (also without -short)
//	go test -run Chaos -chaos.full -timeout 3h ./cmd/tandem    # the full run: 100,000 records, ≥ 20 kills
//
// The random choices (the workload's and the faults') come from one seed,
// printed with a command that replays it. The timing is real, so a replay
// makes the same choices, not the same interleaving.
//
// The files: chaos_env_test.go (emulators, recorder, proxies, processes),
// chaos_workload_test.go (the users and the model), chaos_inject_test.go
// (the faults), chaos_check_test.go (the invariants, and the known Tandem
// issues they report instead of failing on), chaos_repro_test.go (a
// minimal, deterministic reproduction of each known issue, skipped unless
// -chaos.strict, which also makes the suite fail on them).

var (
	chaosSeedFlag     = flag.Uint64("chaos.seed", 0, "seed of TestChaos (0: $TANDEM_CHAOS_SEED, else fixed at the CI size and random at full size)")
	chaosRecordsFlag  = flag.Int("chaos.records", 0, "records of TestChaos, every system together (0: 2,000 at the CI size, 100,000 at full size)")
	chaosSystemsFlag  = flag.String("chaos.systems", "hubspot,salesforce,crm", "the systems TestChaos keeps in step, two or more of hubspot, salesforce and crm")
	chaosKillsFlag    = flag.Int("chaos.kills", 0, "least number of SIGKILLs of the daemon (0: 5 at the CI size, 20 at full size)")
	chaosDurationFlag = flag.Duration("chaos.duration", 0, "least time the faults and edits go on (0: 70s at the CI size, 5m at full size)")
	chaosRateFlag     = flag.Float64("chaos.rate", 0, "user actions a second (0: 15 at the CI size, 30 at full size)")
	chaosDeletesFlag  = flag.Bool("chaos.deletes", true, "users also delete people (propagated)")
	chaosStrictFlag   = flag.Bool("chaos.strict", false, "fail on the known Tandem issues too, and run their reproductions (chaos_repro_test.go)")
	chaosKeepFlag     = flag.Bool("chaos.keep", false, "keep the state file and the logs (they are kept anyway when the test fails)")
	// The full run is asked for, so that the README's `go test ./...`
	// (which CI runs) gets the CI size with or without -short.
	chaosFullFlag = flag.Bool("chaos.full", false, "the full-size run (100,000 records, 20 kills, 5 minutes; also TANDEM_CHAOS=full); without it, or with -short, the CI size")
)

// chaosShort reports whether TestChaos runs at the CI size: unless the
// full run is asked for (-chaos.full or TANDEM_CHAOS=full) without -short.
func chaosShort() bool {
	return testing.Short() || !(*chaosFullFlag || os.Getenv("TANDEM_CHAOS") == "full")
}

// chaosShortSeed is the CI run's seed.
const chaosShortSeed = 7

type chaosSettings struct {
	seed     uint64
	records  int
	kills    int
	duration time.Duration
	rate     float64
	deletes  bool
	strict   bool
	killMin  time.Duration
	killMax  time.Duration
	gap      time.Duration // the most between the two edits of a two-system episode
	systems  []string
}

func chaosSettingsFor(t *testing.T) chaosSettings {
	s := chaosSettings{seed: *chaosSeedFlag, records: *chaosRecordsFlag, kills: *chaosKillsFlag, duration: *chaosDurationFlag,
		rate: *chaosRateFlag, deletes: *chaosDeletesFlag, strict: *chaosStrictFlag, gap: 400 * time.Millisecond,
		systems: strings.Split(*chaosSystemsFlag, ",")}
	if s.seed == 0 {
		if v, err := strconv.ParseUint(os.Getenv("TANDEM_CHAOS_SEED"), 10, 64); err == nil {
			s.seed = v
		}
	}
	short := chaosShort()
	def := func(v *int, shortV, fullV int) {
		if *v <= 0 {
			*v = fullV
			if short {
				*v = shortV
			}
		}
	}
	if s.seed == 0 {
		s.seed = rand.Uint64()%1_000_000 + 1
		if short {
			s.seed = chaosShortSeed
		}
	}
	def(&s.records, 2000, 100_000)
	def(&s.kills, 5, 20)
	if s.duration <= 0 {
		s.duration = 5 * time.Minute
		if short {
			s.duration = 70 * time.Second
		}
	}
	if s.rate <= 0 {
		s.rate = 30
		if short {
			s.rate = 15
		}
	}
	s.killMin, s.killMax = 4*time.Second, 11*time.Second
	if !short {
		s.killMin, s.killMax = 5*time.Second, 15*time.Second
	}
	return s
}

// chaosRun is one run of the suite.
type chaosRun struct {
	t        *testing.T
	s        chaosSettings
	env      *chaosEnv
	people   *chaosPeople
	inject   *chaosInjector
	kills    int
	restarts int
	crashes  int // daemons that ended on their own
	settled  int // final passes until one wrote nothing
	drained  time.Duration
	counters map[string]int // the emulators' counts, kept across ResetRequests
	cmu      sync.Mutex
	emu      sync.Mutex
	events   []chaosEvent // the daemons' starts and kills

	initialConflicts int
	merges           map[string]time.Time         // webhook merge pass -> when, from the logs (webhookMerges)
	st               *state.Store                 // the state, read-only, while the checks run
	conflicts        map[string][]tandem.Conflict // field conflicts by entity, while the checks run
}

// chaosEvent is a daemon started or killed, in the sequence the edits and
// requests share.
type chaosEvent struct {
	seq  int64
	at   time.Time
	what string
}

func (r *chaosRun) event(what string) {
	r.emu.Lock()
	r.events = append(r.events, chaosEvent{seq: r.env.seq.Add(1), at: time.Now(), what: what})
	r.emu.Unlock()
}

func TestChaos(t *testing.T) {
	s := chaosSettingsFor(t)
	replay := fmt.Sprintf("go test ./cmd/tandem -run TestChaos -v -timeout 3h -chaos.seed=%d -chaos.records=%d -chaos.kills=%d -chaos.duration=%v -chaos.rate=%g -chaos.systems=%s",
		s.seed, s.records, s.kills, s.duration, s.rate, strings.Join(s.systems, ","))
	if !chaosShort() {
		replay += " -chaos.full"
	}
	t.Logf("seed %d, %d records in %s, at least %d kills over at least %v, %g user actions a second (replay: %s)",
		s.seed, s.records, strings.Join(s.systems, ", "), s.kills, s.duration, s.rate, replay)

	dir, err := os.MkdirTemp("", "tandem-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	var env *chaosEnv
	t.Cleanup(func() {
		if t.Failed() || *chaosKeepFlag {
			if env != nil {
				for side, rec := range env.rec {
					rec.writeLog(filepath.Join(dir, "requests-"+side+".log"))
				}
			}
			t.Logf("state file, config and logs kept in %s (replay: %s)", dir, replay)
			return
		}
		os.RemoveAll(dir)
	})
	env, err = newChaosEnv(dir, s.systems)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.close)
	if err := env.writeConfig(); err != nil {
		t.Fatal(err)
	}
	r := &chaosRun{t: t, s: s, env: env, counters: map[string]int{},
		people: &chaosPeople{env: env, byEmail: map[string]*chaosPerson{}, stats: map[string]int{}}}
	r.inject = newChaosInjector(env, s.seed)
	began := time.Now()

	r.seedPeople()
	took := time.Now()
	// The set-up, not under test: a pass may meet a system's request
	// limit (Salesforce's 150 a second, with three systems its creates for
	// two systems' people), and a further pass finishes what it left.
	for i := 1; ; i++ {
		out, err := env.sync(fmt.Sprintf("initial-sync-%d", i), 2*time.Hour)
		if err == nil {
			break
		}
		if i == 3 {
			t.Fatalf("initial tandem sync, %d passes: %v\n%s", i, err, out)
		}
		t.Logf("initial tandem sync, pass %d: %v (again)", i, err)
	}
	t.Logf("initial sync of %d records (%d people): %v", s.records, len(r.people.byEmail), time.Since(took).Round(time.Millisecond))
	r.learnPeople()
	r.resetLogs()
	if st, err := state.OpenReadOnly(env.state); err == nil {
		all, _ := st.Conflicts(context.Background(), false)
		r.initialConflicts = len(all)
		st.Close()
	}
	for _, rec := range env.rec {
		rec.on.Store(true)
	}

	// The daemon, HubSpot's webhooks to it, and the users.
	d, err := env.startDaemon(0)
	if err != nil {
		t.Fatal(err)
	}
	r.event("daemon-00 up")
	t.Cleanup(func() { d.cmd.Process.Kill() }) // after a failure: no daemon outlives the test (d is the last one started)
	if env.hs != nil {
		env.hs.SetWebhooks(&hubspottest.Webhooks{URL: "http://" + env.listen + "/webhooks/hubspot", ClientSecret: chaosHSSecret,
			Drop: 0.2, Duplicate: 0.2, Seed: int64(s.seed)})
	}
	work := &chaosWorkload{people: r.people, rng: rand.New(rand.NewPCG(s.seed, 0x3e11)), rate: s.rate, gap: s.gap, deletes: s.deletes}
	stopWork, stopChaos, stopWatch := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); work.run(stopWork) }()
	chaosDone := make(chan struct{})
	go func() { defer close(chaosDone); r.inject.run(stopChaos) }()
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); r.watch(stopWatch) }()

	// Kill the daemon at random moments until enough time has passed and
	// enough kills were made.
	rng := rand.New(rand.NewPCG(s.seed, 0x6b111))
	chaosStart := time.Now()
	for r.kills < s.kills || time.Since(chaosStart) < s.duration {
		wait := s.killMin + time.Duration(rng.Int64N(int64(s.killMax-s.killMin)))
		select {
		case err := <-d.done:
			d.err = err
			r.crashes++
			t.Errorf("tandem run ended by itself during the chaos: %v\n%s", err, d.tail())
		case <-time.After(wait):
			r.event(fmt.Sprintf("daemon-%02d SIGKILLed", r.kills+r.crashes))
			if err := d.kill(); err != nil {
				t.Errorf("SIGKILL of the daemon: %v", err)
			}
			r.kills++
		}
		time.Sleep(time.Duration(rng.Int64N(int64(1500 * time.Millisecond))))
		if d, err = env.startDaemon(r.kills + r.crashes); err != nil {
			close(stopWork)
			close(stopChaos)
			close(stopWatch)
			wg.Wait()
			t.Fatalf("restart %d: %v", r.restarts+1, err)
		}
		r.restarts++
		r.event(fmt.Sprintf("daemon-%02d up", r.kills+r.crashes))
	}
	chaosTook := time.Since(chaosStart)

	// The end: faults off, users gone, the daemon catches up and stops.
	close(stopChaos)
	<-chaosDone
	close(stopWork)
	wg.Wait()
	close(stopWatch)
	<-watchDone
	// Episodes the daemon does not finish within the limit, or that make
	// no progress for 15 s (one that went wrong may never settle), are
	// judged on the final state.
	drainStart := time.Now()
	inflight, left := r.people.settle(false), 0
	lastLeft, lastMove := inflight, time.Now()
	for {
		left = r.people.settle(false)
		if left != lastLeft {
			lastLeft, lastMove = left, time.Now()
		}
		if left == 0 || time.Since(drainStart) > r.drainLimit() || time.Since(lastMove) > 15*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.drained = time.Since(drainStart)
	var sent, failed, dropped, duplicated int
	if env.hs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		env.hs.FlushWebhooks(ctx)
		cancel()
	}
	r.event("SIGTERM")
	if err := d.stop(); err != nil {
		t.Errorf("tandem run after SIGTERM: %v, want exit 0\n%s", err, d.tail())
	}
	if env.hs != nil {
		env.hs.SetWebhooks(nil)
		sent, failed, dropped, duplicated = env.hs.WebhookStats()
	}

	// Passes until one writes nothing, then one more that must write
	// nothing either.
	r.settled = -1
	for i := 1; i <= 8; i++ {
		before := env.writes()
		if out, err := env.sync(fmt.Sprintf("final-sync-%d", i), time.Hour); err != nil {
			t.Errorf("final tandem sync %d: %v\n%s", i, err, out)
		}
		if env.writes() == before {
			r.settled = i
			break
		}
	}
	before := env.writes()
	if out, err := env.sync("final-sync-quiet", time.Hour); err != nil {
		t.Errorf("the last tandem sync: %v\n%s", err, out)
	}
	quietWrites := env.writes() - before
	r.people.settle(true)
	r.resetLogs()

	res := r.check(quietWrites)
	t.Logf("figures: %d records (%d people at the start, %d at the end); chaos %v; %d SIGKILLs, %d restarts, %d daemon crashes; "+
		"%d episodes (%s); %d in flight when the users stopped, %d of them left after %v of catching up (faults off); "+
		"final passes until one wrote nothing: %d",
		s.records, res.peopleStart, res.peopleEnd, chaosTook.Round(time.Second), r.kills, r.restarts, r.crashes,
		len(r.people.episodes), r.episodeStats(), inflight, left, r.drained.Round(time.Millisecond), r.settled)
	t.Logf("faults injected: %s", r.inject.figures())
	t.Logf("what Tandem met: %s", r.met())
	t.Logf("webhooks: %d deliveries sent, %d given up, %d dropped, %d duplicated; %d HubSpot webhook events merged, by the daemons' logs",
		sent, failed, dropped, duplicated, res.webhookMerges)
	t.Logf("conflicts: %s", res.conflicts)
	t.Logf("the daemons' log lines, by message: %s", res.logged)
	for _, l := range res.lines {
		t.Log(l)
	}
	t.Logf("total %v", time.Since(began).Round(time.Second))
	if r.kills < s.kills {
		t.Errorf("%d SIGKILLs, want at least %d", r.kills, s.kills)
	}
}

// drainLimit is how long the daemon gets, faults off, to finish the
// episodes in flight.
func (r *chaosRun) drainLimit() time.Duration {
	return 2*time.Minute + time.Duration(r.s.records/1000)*time.Second
}

// watch settles episodes as they end, and keeps the emulators' request
// logs short.
func (r *chaosRun) watch(stop <-chan struct{}) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		r.people.settle(false)
		if time.Since(last) > 20*time.Second {
			r.resetLogs()
			last = time.Now()
		}
	}
}

// resetLogs empties the emulators' request logs (the bodies of every
// request add up), keeping their counts.
func (r *chaosRun) resetLogs() {
	r.cmu.Lock()
	defer r.cmu.Unlock()
	for _, side := range r.env.sides {
		for k, v := range side.counts() {
			r.counters[side.name()+" "+k] += v
		}
		side.resetRequests()
	}
}

// seedPeople creates the records, the systems in turn: each person is in
// one system, and a fifth of the records are the same people in a second
// system too (matched by email, some typed with capitals there, their job
// title different there).
func (r *chaosRun) seedPeople() {
	n, sides := r.s.records, r.env.sides
	shared := n / 5
	for i := range n - shared {
		email := fmt.Sprintf("p%06d@chaos.example", i)
		vals := map[string]string{"email": email, "first_name": fmt.Sprintf("Ada%d", i), "last_name": fmt.Sprintf("Person%d", i),
			"phone": fmt.Sprintf("+1444%07d", i), "title": fmt.Sprintf("Seat%d", i)}
		in := []chaosSide{sides[i%len(sides)]}
		if i < shared {
			in = append(in, sides[(i+1)%len(sides)])
		}
		for j, side := range in {
			if j == 1 {
				vals["title"] = fmt.Sprintf("%sSeat%d", strings.ToUpper(side.name()[:2]), i)
				if i%3 == 0 {
					vals["email"] = strings.ToUpper(email[:1]) + email[1:strings.Index(email, "@")] + "@Chaos.Example"
				}
			}
			if _, err := side.create(chaosRaw(side, vals)); err != nil {
				r.t.Fatal(err)
			}
		}
		r.people.byEmail[email] = nil
	}
}

// learnPeople reads every system after the initial sync: every person
// must be in each, with the same values; that is the model's start.
func (r *chaosRun) learnPeople() {
	t := r.t
	held := map[string]map[string][]chaosRecord{}
	for _, side := range r.env.names() {
		held[side] = r.listSide(side)
	}
	bad := 0
	for email := range r.people.byEmail {
		p := &chaosPerson{email: email, ids: map[string]string{}, alive: true}
		var have []string
		ok := true
		for _, side := range r.env.names() {
			recs := held[side][email]
			have = append(have, fmt.Sprintf("%s %v", side, recs))
			if len(recs) != 1 || p.vals != nil && !chaosValsEqual(p.vals, recs[0].vals) {
				ok = false
				continue
			}
			p.ids[side] = recs[0].id
			if p.vals == nil {
				p.vals = recs[0].vals
			}
		}
		if !ok {
			if bad++; bad <= 10 {
				t.Errorf("after the initial sync %s: %s", email, strings.Join(have, "; "))
			}
			continue
		}
		r.people.byEmail[email] = p
		r.people.idle = append(r.people.idle, p)
	}
	for _, side := range r.env.names() {
		if len(held[side]) != len(r.people.byEmail) {
			t.Errorf("after the initial sync %s holds %d people; want %d", side, len(held[side]), len(r.people.byEmail))
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// A stable order, so the seed decides which person is picked.
	slicesSortPeople(r.people.idle)
}

type chaosRecord struct {
	id   string
	vals map[string]string
}

func (c chaosRecord) String() string { return c.id + " " + chaosValsString(c.vals) }

// listSide is every live record of a system, by canonical email.
func (r *chaosRun) listSide(side string) map[string][]chaosRecord {
	sys := r.env.side(side)
	out := map[string][]chaosRecord{}
	all := sys.rawAll()
	for _, id := range sortedKeys(all) {
		v := chaosVals(sys, all[id])
		out[v["email"]] = append(out[v["email"]], chaosRecord{id: id, vals: v})
	}
	return out
}

func (r *chaosRun) episodeStats() string {
	var parts []string
	for _, k := range sortedKeys(r.people.stats) {
		parts = append(parts, fmt.Sprintf("%d %s", r.people.stats[k], k))
	}
	return strings.Join(parts, ", ")
}

// met is what Tandem's own requests were answered with, and the
// emulators' counts.
func (r *chaosRun) met() string {
	var parts []string
	for _, side := range r.env.names() {
		st := r.env.rec[side].statuses()
		total := 0
		for _, n := range st {
			total += n
		}
		var codes []string
		for _, code := range sortedKeys(intKeys(st)) {
			c, _ := strconv.Atoi(code)
			if c/100 != 2 {
				label := code
				if c == 0 {
					label = "no answer (dropped)"
				}
				codes = append(codes, fmt.Sprintf("%s: %d", label, st[c]))
			}
		}
		parts = append(parts, fmt.Sprintf("%s %d requests reached the emulator (%s)", side, total, strings.Join(codes, ", ")))
	}
	r.cmu.Lock()
	for _, k := range sortedKeys(r.counters) {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.counters[k]))
	}
	r.cmu.Unlock()
	return strings.Join(parts, "; ")
}

func intKeys(m map[int]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[fmt.Sprintf("%03d", k)] = v
	}
	return out
}

func slicesSortPeople(ps []*chaosPerson) {
	m := map[string]*chaosPerson{}
	for _, p := range ps {
		m[p.email] = p
	}
	for i, e := range sortedKeys(m) {
		ps[i] = m[e]
	}
}
