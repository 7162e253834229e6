package conflict

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"tandem"
	"tandem/connectors"
	"tandem/mapping"
	"tandem/state"
)

// Engine runs passes: pull every system of an entity, merge, queue
// intents, push them, checkpoint. It runs one pass at a time (a pass's id
// is kept on it); the daemon gives each entity's passes their turn.
type Engine struct {
	Store   *state.Store
	Systems map[string]connectors.Connector // by system name
	Log     *slog.Logger
	// BatchSize is how many intents one push step sends (default: the
	// connector's connectors.Batcher size, or 100).
	BatchSize int
	// Overlap starts a system's writes as soon as its own pull is done,
	// while the other systems are still pulled (tandem sync sets it). Off,
	// a pass pulls everything, then pushes: the crash tests count a pass's
	// steps, which overlapping would interleave.
	Overlap bool
	// Force lets a pass delete more than the entity's deletes.max_share
	// of a system's records (tandem sync --force).
	Force bool
	// Now is the clock of quarantines and of decisions recorded (default
	// time.Now); tests set it.
	Now func() time.Time
	// Step, when set, is called at every step boundary of a pass (after a
	// page is staged, around each push). Tests use it to crash a pass at a
	// chosen point; it has no other use.
	Step func(point string)

	// mu gives one operation at a time its turn: a pass, a batch of
	// webhook events, a page of a sweep or a backfill. pass is the id of
	// the one holding it: one conflict per entity, field and pass.
	mu   sync.Mutex
	pass string
}

func (e *Engine) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

func (e *Engine) step(point string) {
	if e.Step != nil {
		e.Step(point)
	}
}

// log is the engine's logger; while an operation holds the turn, every
// line carries its pass id.
func (e *Engine) log() *slog.Logger {
	l := e.baseLog()
	if e.pass != "" {
		l = l.With("pass", e.pass)
	}
	return l
}

// baseLog is the engine's logger without a pass id: for code that runs
// outside the turn, where another operation's pass id may change under it.
func (e *Engine) baseLog() *slog.Logger {
	if e.Log == nil {
		return slog.Default()
	}
	return e.Log
}

// Sync runs one incremental pass over an entity: pull every system, then
// push what the merge decided. A system whose pull failed is not written
// to in this pass, since its latest edits are unknown. It returns one Run
// per system and the first error met; the other systems still run.
func (e *Engine) Sync(ctx context.Context, ent *mapping.Entity) ([]state.Run, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	pass := uuid.NewString()
	e.pass = pass
	defer func() { e.pass = "" }()
	ctx = connectors.WithCorrelation(ctx, pass)
	log := e.log().With("entity", ent.Name)
	runs := make([]state.Run, len(ent.Systems))
	var firstErr error
	fail := func(r *state.Run, err error) {
		if r.Error == "" {
			r.Error = err.Error()
		}
		if firstErr == nil {
			firstErr = err
		}
		log.Error("pass step failed", "system", r.System, "err", err)
	}
	// Each system's writes start as soon as its own pull is done (its
	// edits are merged), while the others are still pulled: see pushEarly.
	pulled := make(chan struct{})
	var wg sync.WaitGroup
	early := make([]struct{ written, failed int }, len(ent.Systems))
	for i, sm := range ent.Systems {
		r := &runs[i]
		*r = state.Run{Pass: pass, Entity: ent.Name, System: sm.Name, Object: sm.Object, Started: time.Now()}
		n, err := e.pull(ctx, ent, sm)
		r.Pulled = n
		if err != nil {
			fail(r, err)
			continue
		}
		if e.Overlap {
			wg.Add(1)
			go func() {
				defer wg.Done()
				early[i].written, early[i].failed = e.pushEarly(ctx, ent, sm, pulled)
			}()
		}
	}
	close(pulled)
	wg.Wait()
	for i := range runs {
		runs[i].Written, runs[i].Failed = early[i].written, early[i].failed
	}
	if err := e.releaseDeletes(ctx, ent); err != nil {
		fail(&runs[0], err)
	}
	guard := e.Guard(ctx, ent)
	for i, sm := range ent.Systems {
		r := &runs[i]
		if r.Error != "" || guard != nil {
			if guard != nil && r.Error == "" {
				r.Error = guard.Error()
			}
			continue
		}
		w, f, err := e.push(ctx, ent, sm, false)
		r.Written, r.Failed = r.Written+w, r.Failed+f
		if err != nil {
			fail(r, err)
		}
	}
	for i := range runs {
		runs[i].Finished = time.Now()
		if err := e.Store.AddRun(ctx, runs[i]); err != nil && firstErr == nil {
			firstErr = err
		}
		log.Info("pass", "system", runs[i].System, "object", runs[i].Object, "pulled", runs[i].Pulled,
			"written", runs[i].Written, "failed", runs[i].Failed)
	}
	e.recordHealth(ctx, ent)
	if guard != nil {
		return runs, guard
	}
	return runs, firstErr
}

// recordHealth keeps, for `tandem status`, how each system's client did:
// breaker, rate budget, daily quota.
func (e *Engine) recordHealth(ctx context.Context, ent *mapping.Entity) {
	for _, sm := range ent.Systems {
		h, ok := e.Systems[sm.Name].(connectors.Healther)
		if !ok {
			continue
		}
		b, err := json.Marshal(h.Health())
		if err == nil {
			err = e.Store.PutHealth(ctx, sm.Name, b)
		}
		if err != nil {
			e.log().Warn("system health not recorded", "system", sm.Name, "err", err)
		}
	}
}

// pushEarly pushes a system's writes while the other systems are still
// pulled, until they all are (pulled is closed): a pass of many records
// writes while it reads instead of after. Deletes wait for the end of the
// pulls and the mass-delete guard. A failure here is only logged: the
// writes stay in the outbox for the pass's last push, which reports it.
func (e *Engine) pushEarly(ctx context.Context, ent *mapping.Entity, sm *mapping.System, pulled <-chan struct{}) (written, failed int) {
	for {
		w, f, err := e.push(ctx, ent, sm, true)
		written, failed = written+w, failed+f
		if err != nil {
			e.log().Warn("early push stopped; the pass's last push retries", "system", sm.Name, "err", err)
			return
		}
		select {
		case <-pulled:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Pull runs the pull half of a pass alone: every system's changes are
// staged, merged and queued, nothing is written to any system. `tandem
// plan` runs it on a copy of the state file, then lists what Planned says.
func (e *Engine) Pull(ctx context.Context, ent *mapping.Entity) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pass = uuid.NewString()
	defer func() { e.pass = "" }()
	var errs []error
	for _, sm := range ent.Systems {
		if _, err := e.pull(ctx, ent, sm); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.releaseDeletes(ctx, ent); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (e *Engine) conn(name string) (connectors.Connector, error) {
	c, ok := e.Systems[name]
	if !ok {
		return nil, fmt.Errorf("system %s is not open", name)
	}
	return c, nil
}

// merge folds a side into its entity's golden record, records the
// conflicts met, and queues the writes that follow. fresh is a new entity
// made for this record (nothing to read of it yet).
func (d *decider) merge(ent *mapping.Entity, sm *mapping.System, link *tandem.Link, side Side, rec tandem.Record, fresh bool) error {
	var golden tandem.Golden
	var del *state.Delete
	if !fresh {
		var err error
		if golden, err = d.v.Golden(link.EntityID); err != nil {
			return err
		}
		if del, err = d.v.DeleteOf(link.EntityID); err != nil {
			return err
		}
	}
	merged, moved := side, false // lossy mappings: see readback.go
	if link.Snapshot != nil {
		side.Snapshot = mergeBase(sm, golden, side.View, link.Snapshot)
		merged = side
	} else if len(golden) > 0 {
		golden, merged.View, moved = firstLink(ent, sm, golden, side.View)
	}
	out := Merge(ent.Name, link.EntityID, golden, merged, readFields(ent, sm), ent.Policy)
	out.Changed = out.Changed || moved
	if err := d.heldKeys(ent, sm, link, side, golden, out.Golden); err != nil {
		return err
	}
	edited := changedFrom(side.View, link.Snapshot)
	del, err := d.reviveIfEdited(ent, link, side, edited, del)
	if err != nil {
		return err
	}
	link.Snapshot = overlay(link.Snapshot, side.View)
	link.Raw, link.Modified = rec.Raw, rec.Modified
	if err := d.v.PutLink(link); err != nil {
		return err
	}
	if out.Changed || len(golden) == 0 {
		if err := d.putGoldenAs(ent, link.EntityID, out.Golden, del); err != nil {
			return err
		}
	}
	for i := range out.Conflicts {
		if err := d.record(ent, &out.Conflicts[i]); err != nil {
			return err
		}
	}
	links := map[string]*tandem.Link{sm.Name: link}
	if fresh {
		for _, t := range ent.Systems {
			if t.Name != sm.Name {
				links[t.Name] = nil // a new entity has no other link
			}
		}
	}
	return d.enqueueAs(ent, link.EntityID, out.Golden, del, links)
}

// putGolden stores a golden record with its match keys; a deleted entity
// keeps none, so a new record with the same keys is a new entity.
func (d *decider) putGolden(ent *mapping.Entity, id string, g tandem.Golden) error {
	dl, err := d.v.DeleteOf(id)
	if err != nil {
		return err
	}
	return d.putGoldenAs(ent, id, g, dl)
}

// putGoldenAs is putGolden with the entity's delete state known.
func (d *decider) putGoldenAs(ent *mapping.Entity, id string, g tandem.Golden, dl *state.Delete) error {
	keys := ent.StoredKeys(g.Values())
	for _, f := range ent.Fields { // what its references point to (refs.go: referrers)
		if id, ok := g[f].Value.(string); ok && ent.Types[f].Target != nil && id != "" {
			keys[mapping.RefKey(f)] = id
		}
	}
	if dl != nil && dl.State == state.DeleteDeleted {
		keys = nil
	}
	return d.v.PutGolden(ent.Name, id, g, keys)
}

// sideOf is a pulled record as a side of the merge, with per-field times
// mapped from the payload paths the connector gave them for.
func sideOf(sm *mapping.System, rec tandem.Record, view tandem.Values) Side {
	side := Side{System: sm.Name, RecordID: rec.ID, View: view, Modified: rec.Modified, Precision: rec.Precision}
	if len(rec.FieldTimes) == 0 {
		return side
	}
	side.FieldTimes = map[string]time.Time{}
	for f := range view {
		for _, p := range sm.SourcePaths(f) {
			if t, ok := rec.FieldTimes[p]; ok && t.After(side.FieldTimes[f]) {
				side.FieldTimes[f] = t
			}
		}
	}
	return side
}

// changedFrom reports whether a view differs from a snapshot on a field
// the view holds: the system's record was edited since Tandem last saw it
// (not merely echoed back).
func changedFrom(view, snapshot tandem.Values) bool {
	for f, v := range view {
		if s, ok := snapshot[f]; !ok || !tandem.Equal(v, s) {
			return true
		}
	}
	return false
}

// record stores a conflict the merge met. A pass records one conflict per
// entity and field, however many systems took part, and a held field has
// one open conflict until a person decides: a later side's value joins it.
func (d *decider) record(ent *mapping.Entity, c *tandem.Conflict) error {
	for sys, v := range c.Values {
		if v.RecordID == "" {
			if sm := ent.System(sys); sm != nil {
				if l, err := d.v.LinkOf(c.EntityID, sys, sm.Object); err == nil && l != nil {
					v.RecordID = l.ExternalID
					c.Values[sys] = v
				}
			}
		}
	}
	prev, err := d.v.OpenConflict(c.EntityID, c.Kind, c.Field)
	if err == nil && prev == nil && d.pass != "" {
		prev, err = d.v.PassConflict(d.pass, c.EntityID, c.Field)
	}
	if err != nil {
		return err
	}
	if prev == nil {
		return d.addConflict(c)
	}
	d.log.Info("conflict", "entity", ent.Name, "id", c.EntityID, "field", c.Field, "policy", c.Policy, "status", c.Status, "decided", c.Decided)
	for sys, v := range c.Values {
		prev.Values[sys] = v // each system's newest value
	}
	if prev.Status != tandem.ConflictOpen {
		prev.Policy, prev.Status, prev.Decided = c.Policy, c.Status, c.Decided
		if c.Status == tandem.ConflictOpen {
			prev.Resolved = time.Time{}
		}
	}
	return d.v.UpdateConflict(prev)
}

// addConflict records a new conflict, stamped with the pass and the time;
// one the policy decided is closed at once.
func (d *decider) addConflict(c *tandem.Conflict) error {
	c.Pass, c.Created = d.pass, d.now()
	if c.Status != tandem.ConflictOpen {
		c.Resolved = c.Created
	}
	d.log.Info("conflict", "entity", c.Entity, "id", c.EntityID, "kind", c.Kind, "field", c.Field, "policy", c.Policy, "status", c.Status, "decided", c.Decided)
	return d.v.AddConflict(c, nil)
}

// readFields lists the canonical fields read from a system.
func readFields(ent *mapping.Entity, sm *mapping.System) []string {
	var fs []string
	for _, f := range ent.Fields {
		if sm.Reads(f) {
			fs = append(fs, f)
		}
	}
	return fs
}

// overlay returns base with every key of top set over it.
func overlay(base, top tandem.Values) tandem.Values {
	out := make(tandem.Values, len(base)+len(top))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range top {
		out[k] = v
	}
	return out
}

// enqueue queues an intent for every system of the entity whose record
// needs a write: to be created, updated to agree with the golden record,
// or deleted with the entity.
func (d *decider) enqueue(ent *mapping.Entity, id string) error {
	golden, err := d.v.Golden(id)
	if err != nil {
		return err
	}
	del, err := d.v.DeleteOf(id)
	if err != nil {
		return err
	}
	return d.enqueueAs(ent, id, golden, del, nil)
}

// enqueueAs is enqueue with the golden record and delete state known, and
// the links of some systems (by name; nil: it has none), read for the
// others.
func (d *decider) enqueueAs(ent *mapping.Entity, id string, golden tandem.Golden, del *state.Delete, known map[string]*tandem.Link) error {
	for _, t := range ent.Systems {
		l, ok := known[t.Name]
		if !ok {
			var err error
			if l, err = d.v.LinkOf(id, t.Name, t.Object); err != nil {
				return err
			}
		}
		if needsWrite(ent, t, golden, l, del) {
			if err := d.v.Enqueue(ent.Name, id, t.Name, t.Object); err != nil {
				return err
			}
		}
	}
	return nil
}

// needsWrite reports whether a system's record of an entity needs a write.
func needsWrite(ent *mapping.Entity, t *mapping.System, golden tandem.Golden, l *tandem.Link, del *state.Delete) bool {
	switch {
	case t.ReadOnly:
		return false
	case l != nil && !l.Deleted.IsZero():
		return false // a tombstone: deleted there, never written again
	case del != nil && del.State == state.DeleteDeleted:
		return l != nil // delete it where it lives
	case del != nil && l == nil:
		return false // a held delete: create nothing meanwhile
	}
	return len(diff(ent, t, golden, l)) > 0
}

// diff lists the fields to write to a system's record so it agrees with the
// golden record: for a record not yet created, every non-empty field. A
// held field is written nowhere until a person decides it. A field whose
// snapshot is already what the golden value reads back as in that system
// (a lossy mapping: readback.go) needs no write.
func diff(ent *mapping.Entity, t *mapping.System, golden tandem.Golden, l *tandem.Link) []string {
	var fs []string
	for _, f := range ent.Fields {
		g, ok := golden[f]
		if !ok || g.Held || !t.Writes(f) {
			continue
		}
		if l == nil {
			if g.Value != nil {
				fs = append(fs, f)
			}
			continue
		}
		s, seen := l.Snapshot[f]
		if !seen && g.Value == nil {
			continue // nothing known there, nothing to set: no write
		}
		if !seen || !tandem.Equal(s, g.Value) {
			fs = append(fs, f)
		}
	}
	if l != nil && len(fs) > 0 {
		fs = unechoed(t, golden, l.Snapshot, fs)
	}
	return fs
}
