package main

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The chaos suite's workload: people in every system, edited as users do
// while Tandem runs, and the model of what each edit must lead to.
//
// The workload acts in episodes. An episode is one user action on a person
// (an edit of one or two fields in one system; the same field edited in
// two systems a moment apart; two different fields edited in two systems
// a moment apart; a create; a delete). A person has one episode in flight
// at a time: the next starts once every system agrees on the person
// again. Between people, everything overlaps: edits, passes, webhooks,
// faults and kills. That keeps the model exact (the outcome of an episode is
// known from the episode alone) without taking the concurrency away where
// it matters: between a user's edit and Tandem's reads and writes of the
// same record.

// chaosPerson is one person, known by email.
type chaosPerson struct {
	email    string
	ids      map[string]string // system -> record id ("" not known yet)
	vals     map[string]string // the model: the values every system agreed on last
	alive    bool
	busy     bool
	episodes []*chaosEpisode
}

// chaosEdit is one write the workload made in a system, as a user.
type chaosEdit struct {
	side, id   string
	fields     map[string]string // canonical field -> value set
	seq0, seq1 int64             // before and after, in the sequence the recorder shares
	at         time.Time
	err        error
}

func (e *chaosEdit) String() string {
	var parts []string
	for _, f := range slices.Sorted(maps.Keys(e.fields)) {
		parts = append(parts, fmt.Sprintf("%s=%q", f, e.fields[f]))
	}
	s := fmt.Sprintf("%s %s: %s, seq %d-%d at %s", e.side, e.id, strings.Join(parts, " "), e.seq0, e.seq1, e.at.Format("15:04:05.000"))
	if e.err != nil {
		s += fmt.Sprintf(" (refused: %v)", e.err)
	}
	return s
}

// chaosEpisode is one user action on a person and what it must lead to.
type chaosEpisode struct {
	n     int
	kind  string // edit, same-field, two-fields, create, delete
	p     *chaosPerson
	edits []*chaosEdit
	want  map[string]string // the values every system must agree on after (nil for a delete)
	from  map[string]string // the values agreed before

	issued atomic.Bool // every edit made
	// Set by the watcher once every system agrees (or, for a delete, all
	// have let the person go):
	done     bool
	got      map[string]string
	doneAt   time.Time
	doneSeq  int64
	finalish bool   // judged on the final state, after the daemon stopped
	split    string // judged on the final state, and the systems disagree
}

func (ep *chaosEpisode) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "episode %d (%s) of %s", ep.n, ep.kind, ep.p.email)
	if ep.from != nil {
		fmt.Fprintf(&b, "\n      from %s", chaosValsString(ep.from))
	}
	for _, e := range ep.edits {
		fmt.Fprintf(&b, "\n      edit %s", e)
	}
	if ep.want != nil {
		fmt.Fprintf(&b, "\n      want %s", chaosValsString(ep.want))
	} else {
		fmt.Fprintf(&b, "\n      want gone everywhere")
	}
	if ep.done {
		if ep.split != "" {
			fmt.Fprintf(&b, "\n      got  systems disagree at the end: %s", ep.split)
		} else if ep.got != nil {
			when := "agreed"
			if ep.finalish {
				when = "agreed at the end, after the last passes,"
			}
			fmt.Fprintf(&b, "\n      got  %s (%s at seq %d, %s)", chaosValsString(ep.got), when, ep.doneSeq, ep.doneAt.Format("15:04:05.000"))
		} else {
			fmt.Fprintf(&b, "\n      gone everywhere at seq %d", ep.doneSeq)
		}
	}
	return b.String()
}

func chaosValsString(v map[string]string) string {
	var parts []string
	for _, f := range chaosFields {
		parts = append(parts, fmt.Sprintf("%s=%q", f, v[f]))
	}
	return strings.Join(parts, " ")
}

func chaosValsEqual(a, b map[string]string) bool {
	for _, f := range chaosFields {
		if a[f] != b[f] {
			return false
		}
	}
	return true
}

// chaosPeople is the workload's registry.
type chaosPeople struct {
	env *chaosEnv

	mu       sync.Mutex
	byEmail  map[string]*chaosPerson
	idle     []*chaosPerson // alive, not busy, every record known
	episodes []*chaosEpisode
	counter  atomic.Int64 // for unique values
	stats    map[string]int
	refused  []string // the users' writes an emulator refused: a mistake in the suite
}

// note keeps a refused write.
func (c *chaosPeople) note(e *chaosEdit) *chaosEdit {
	if e.err != nil {
		c.mu.Lock()
		c.refused = append(c.refused, e.String())
		c.mu.Unlock()
	}
	return e
}

func (c *chaosPeople) uniqueValue(field string) string {
	n := c.counter.Add(1)
	switch field {
	case "first_name":
		return fmt.Sprintf("F%d", n)
	case "last_name":
		return fmt.Sprintf("L%d", n)
	case "phone":
		return fmt.Sprintf("+1555%07d", n)
	default:
		return fmt.Sprintf("T%d", n)
	}
}

// read returns a system's record of a person in canonical values, and
// whether it is live.
func (c *chaosPeople) read(side, id string) (map[string]string, bool) {
	if id == "" {
		return nil, false
	}
	sys := c.env.side(side)
	if sys == nil {
		return nil, false // not one of the systems
	}
	raw, ok := sys.raw(id)
	if !ok {
		return nil, false
	}
	return chaosVals(sys, raw), true
}

// write makes a user's edit (fields nil: a delete) in a system and notes it.
func (c *chaosPeople) write(side, id string, fields map[string]string) *chaosEdit {
	e := &chaosEdit{side: side, id: id, fields: fields, at: time.Now()}
	sys := c.env.side(side)
	e.seq0 = c.env.seq.Add(1)
	if fields == nil {
		e.err = sys.remove(id)
	} else {
		e.err = sys.update(id, chaosRaw(sys, fields))
	}
	e.seq1 = c.env.seq.Add(1)
	return c.note(e)
}

// create makes a new person in one system.
func (c *chaosPeople) create(side string, vals map[string]string) (*chaosEdit, error) {
	sys := c.env.side(side)
	e := &chaosEdit{side: side, fields: vals, at: time.Now()}
	e.seq0 = c.env.seq.Add(1)
	var err error
	e.id, err = sys.create(chaosRaw(sys, vals))
	e.seq1 = c.env.seq.Add(1)
	e.err = err
	c.note(e)
	return e, err
}

// pick is one of the systems at random, and other one of the others.
func (w *chaosWorkload) pick() string {
	return w.people.env.sides[w.rng.IntN(len(w.people.env.sides))].name()
}

func (w *chaosWorkload) other(side string) string {
	for {
		if o := w.pick(); o != side {
			return o
		}
	}
}

// take picks an idle person at random and marks it busy.
func (c *chaosPeople) take(rng *rand.Rand) *chaosPerson {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle) == 0 {
		return nil
	}
	i := rng.IntN(len(c.idle))
	p := c.idle[i]
	c.idle[i] = c.idle[len(c.idle)-1]
	c.idle = c.idle[:len(c.idle)-1]
	p.busy = true
	return p
}

func (c *chaosPeople) begin(kind string, p *chaosPerson) *chaosEpisode {
	c.mu.Lock()
	defer c.mu.Unlock()
	ep := &chaosEpisode{n: len(c.episodes) + 1, kind: kind, p: p, from: maps.Clone(p.vals)}
	c.episodes = append(c.episodes, ep)
	p.episodes = append(p.episodes, ep)
	c.stats[kind]++
	return ep
}

// chaosWorkload is the goroutine that acts as the users.
type chaosWorkload struct {
	people  *chaosPeople
	rng     *rand.Rand
	rate    float64 // episodes a second
	gap     time.Duration
	deletes bool
	wg      sync.WaitGroup // the second halves of two-system episodes
}

// run starts episodes at the workload's rate until stop is closed.
func (w *chaosWorkload) run(stop <-chan struct{}) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / w.rate))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			w.wg.Wait()
			return
		case <-tick.C:
		}
		w.step()
	}
}

func (w *chaosWorkload) step() {
	c := w.people
	r := w.rng.IntN(100)
	if r < 10 {
		w.createOne()
		return
	}
	p := c.take(w.rng)
	if p == nil {
		return
	}
	side := w.pick()
	switch {
	case r < 13 && w.deletes:
		ep := c.begin("delete", p)
		ep.edits = append(ep.edits, c.write(side, p.ids[side], nil))
		ep.issued.Store(true)
	case r < 38:
		// The same field edited in two systems, the second edit a moment
		// after the first: a conflict, unless Tandem carried the first
		// edit over before the second was made.
		ep := c.begin("same-field", p)
		f := chaosEditable[w.rng.IntN(len(chaosEditable))]
		v1, v2 := c.uniqueValue(f), c.uniqueValue(f)
		ep.want = maps.Clone(p.vals)
		ep.want[f] = v2 // newest wins: the later edit
		ep.edits = append(ep.edits, c.write(side, p.ids[side], map[string]string{f: v1}))
		w.later(ep, w.other(side), map[string]string{f: v2})
	case r < 50:
		// Two different fields edited in two systems a moment apart:
		// both kept.
		ep := c.begin("two-fields", p)
		i := w.rng.IntN(len(chaosEditable))
		f1, f2 := chaosEditable[i], chaosEditable[(i+1+w.rng.IntN(len(chaosEditable)-1))%len(chaosEditable)]
		v1, v2 := c.uniqueValue(f1), c.uniqueValue(f2)
		ep.want = maps.Clone(p.vals)
		ep.want[f1], ep.want[f2] = v1, v2
		ep.edits = append(ep.edits, c.write(side, p.ids[side], map[string]string{f1: v1}))
		w.later(ep, w.other(side), map[string]string{f2: v2})
	default:
		// One system: one field, now and then two in one save.
		ep := c.begin("edit", p)
		fields := map[string]string{}
		n := 1
		if w.rng.IntN(5) == 0 {
			n = 2
		}
		for _, i := range w.rng.Perm(len(chaosEditable))[:n] {
			f := chaosEditable[i]
			fields[f] = c.uniqueValue(f)
		}
		ep.want = maps.Clone(p.vals)
		maps.Copy(ep.want, fields)
		ep.edits = append(ep.edits, c.write(side, p.ids[side], fields))
		ep.issued.Store(true)
	}
}

// later makes the second edit of a two-system episode after a random
// moment (up to the workload's gap), without holding up the workload.
func (w *chaosWorkload) later(ep *chaosEpisode, side string, fields map[string]string) {
	wait := time.Duration(w.rng.Int64N(int64(w.gap) + 1))
	first := time.Now() // the first edit is made (and stamped) by now
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		time.Sleep(wait)
		if w.people.env.side(side).precision() >= time.Second {
			// Salesforce and the CRM stamp whole seconds: an edit in the
			// second of the edit before it would carry an earlier time
			// than that edit (or, in the other of the two, the same), and
			// newest would rightly take the other. The model's "later
			// edit" is later as the systems tell it.
			time.Sleep(time.Until(first.Truncate(time.Second).Add(time.Second)))
		}
		e := w.people.write(side, ep.p.ids[side], fields)
		w.people.mu.Lock()
		ep.edits = append(ep.edits, e)
		w.people.mu.Unlock()
		ep.issued.Store(true)
	}()
}

// createOne creates a new person in one system, every field set.
func (w *chaosWorkload) createOne() {
	c := w.people
	side := w.pick()
	n := c.counter.Add(1)
	email := fmt.Sprintf("new%d@chaos.example", n)
	vals := map[string]string{"email": email}
	for _, f := range chaosEditable {
		vals[f] = c.uniqueValue(f)
	}
	p := &chaosPerson{email: email, ids: map[string]string{}, vals: maps.Clone(vals), alive: true, busy: true}
	c.mu.Lock()
	c.byEmail[email] = p
	c.mu.Unlock()
	ep := c.begin("create", p)
	ep.from = nil
	ep.want = vals
	e, err := c.create(side, vals)
	ep.edits = append(ep.edits, e)
	if err == nil {
		p.ids[side] = e.id
	}
	ep.issued.Store(true)
}

// settle checks the episodes in flight: an episode is over once every
// system agrees on its person (or, for a delete, all let it go). It
// returns how many are still in flight. final says the daemon is stopped
// and the last passes ran: what the systems hold now is the outcome.
func (c *chaosPeople) settle(final bool) int {
	c.mu.Lock()
	var open []*chaosEpisode
	for _, ep := range c.episodes {
		if !ep.done && ep.issued.Load() {
			open = append(open, ep)
		}
	}
	c.mu.Unlock()
	left := 0
	for _, ep := range open {
		if !c.check(ep, final) {
			left++
		}
	}
	return left
}

// check looks at every record of an episode's person.
func (c *chaosPeople) check(ep *chaosEpisode, final bool) bool {
	p := ep.p
	seq := c.env.seq.Add(1)
	for _, side := range c.env.names() {
		if p.ids[side] == "" {
			if id := c.env.rec[side].createdID(p.email); id != "" {
				p.ids[side] = id
			}
		}
	}
	var first map[string]string
	agreed, gone := true, true
	var desc []string
	for i, side := range c.env.names() {
		v, live := c.read(side, p.ids[side])
		if i == 0 {
			first = v
		}
		agreed = agreed && live && chaosValsEqual(v, first)
		gone = gone && !live
		d := "(none)"
		if live {
			d = chaosValsString(v)
		}
		desc = append(desc, side+" "+d)
	}
	switch {
	case gone && ep.want == nil:
	case agreed:
		ep.got = first
	case !final:
		return false
	default:
		// The final state, and the systems disagree: the checks report it.
		ep.split = strings.Join(desc, "; ")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ep.done, ep.doneAt, ep.doneSeq, ep.finalish = true, time.Now(), seq, final
	p.busy = false
	switch {
	case gone && ep.want == nil:
		p.alive = false
	case agreed:
		// The model follows what every system holds now, so that a lost
		// edit is reported once, by its own episode.
		p.vals = maps.Clone(ep.got)
		p.alive = true
		if !final {
			c.idle = append(c.idle, p)
		}
	}
	return true
}

// ok reports whether an episode ended as the model says.
func (ep *chaosEpisode) ok() bool {
	if ep.split != "" {
		return false
	}
	if ep.want == nil {
		return ep.got == nil
	}
	return ep.got != nil && chaosValsEqual(ep.got, ep.want)
}
