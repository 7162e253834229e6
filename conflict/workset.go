package conflict

import (
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"

	"tandem"
	"tandem/state"
)

// errNotLoaded is a decision asking a workset for something its chunk did
// not load. It never happens on the paths the loader knows; if it does,
// the chunk is staged record by record instead (stageAll).
var errNotLoaded = errors.New("not loaded for this chunk")

// Loaded is everything the decisions about a chunk of records of one
// system's object need, read in one batch (Engine.load): plain values.
type Loaded struct {
	// Links are the links of the chunk's records, and every link of the
	// entities in Entities.
	Links []*tandem.Link
	// Entities are the entities the chunk's records are linked to, match
	// by their keys, or name by Tandem's key; nil for an id asked that
	// names none.
	Entities map[string]*state.EntityRow
	// Keys are the entities holding each match-key value (name, value)
	// of the chunk's unlinked records; an empty list for none.
	Keys map[[2]string][]string
	// InFlight are the values in flight to the records of Entities in
	// the chunk's system, by entity id.
	InFlight map[string]state.InFlight
	// Conflicts are those of Entities open or recorded by this pass, the
	// open ones naming the chunk's records, and the entities' delete
	// conflicts, oldest first.
	Conflicts []state.Recorded
}

type linkKey struct{ system, object, id string }
type entKey struct{ entityID, system, object string }

type wsEntity struct {
	row                   state.EntityRow
	isNew, golden, delete bool // made here; golden/keys set; delete set
	keys                  map[string]string
}

type wsConflict struct {
	c     tandem.Conflict
	rec   state.Pending
	isNew bool
	dirty bool
	held  *state.Pending // replaced by UpdateHeldRecord
}

// workset is a view held in memory: what a chunk loaded, as the chunk's
// decisions change it. It answers only what was loaded (errNotLoaded
// otherwise), and what changed is its batch.
type workset struct {
	system, object string
	records        map[string]bool // the chunk's external ids
	links          map[linkKey]*tandem.Link
	byEntity       map[entKey]linkKey
	entities       map[string]*wsEntity
	keys           map[[2]string][]string
	rekeyed        map[string]map[string]string // the match keys of entities whose golden record was put here
	inFlight       map[string]state.InFlight
	conflicts      []*wsConflict
	lastID         int64 // new conflicts are numbered -1, -2, …
	newID          func() string

	order struct {
		entities []string
		links    []linkKey
	}
	dirtyLinks map[linkKey]bool
	intents    []state.Intent
	queued     map[entKey]bool
	dead       []state.SetAside
	ended      []state.Ended
}

func newWorkset(in *Loaded, system, object string, ids []string, newID func() string) *workset {
	w := &workset{system: system, object: object, records: map[string]bool{}, links: map[linkKey]*tandem.Link{},
		byEntity: map[entKey]linkKey{}, entities: map[string]*wsEntity{}, keys: in.Keys, rekeyed: map[string]map[string]string{},
		inFlight: in.InFlight, newID: newID, dirtyLinks: map[linkKey]bool{}, queued: map[entKey]bool{}}
	if w.newID == nil {
		w.newID = state.NewEntityID
	}
	for _, id := range ids {
		w.records[id] = true
		w.links[linkKey{system, object, id}] = nil
	}
	for _, l := range in.Links {
		k := linkKey{l.System, l.Object, l.ExternalID}
		w.links[k] = l
		w.byEntity[entKey{l.EntityID, l.System, l.Object}] = k
	}
	for id, r := range in.Entities {
		if r == nil {
			w.entities[id] = nil
			continue
		}
		w.entities[id] = &wsEntity{row: *r}
	}
	for _, c := range in.Conflicts {
		w.conflicts = append(w.conflicts, &wsConflict{c: c.Conflict, rec: c.Record})
	}
	return w
}

func cloneLink(l *tandem.Link) *tandem.Link {
	if l == nil {
		return nil
	}
	c := *l
	c.Snapshot = maps.Clone(l.Snapshot)
	return &c
}

func cloneConflict(c *tandem.Conflict) *tandem.Conflict {
	out := *c
	out.Values = maps.Clone(c.Values)
	return &out
}

func (w *workset) Link(system, object, externalID string) (*tandem.Link, error) {
	l, ok := w.links[linkKey{system, object, externalID}]
	if !ok {
		return nil, fmt.Errorf("link of %s %s %s: %w", system, object, externalID, errNotLoaded)
	}
	return cloneLink(l), nil
}

// entity is a loaded or made entity, nil for one asked that is none.
func (w *workset) entity(id string) (*wsEntity, error) {
	e, ok := w.entities[id]
	if !ok {
		return nil, fmt.Errorf("entity %s: %w", id, errNotLoaded)
	}
	if e == nil {
		return nil, fmt.Errorf("state: entity %s: %w", id, sql.ErrNoRows)
	}
	return e, nil
}

func (w *workset) LinkOf(entityID, system, object string) (*tandem.Link, error) {
	if _, ok := w.entities[entityID]; !ok {
		return nil, fmt.Errorf("links of entity %s: %w", entityID, errNotLoaded)
	}
	k, ok := w.byEntity[entKey{entityID, system, object}]
	if !ok {
		return nil, nil
	}
	return cloneLink(w.links[k]), nil
}

func (w *workset) Golden(id string) (tandem.Golden, error) {
	e, err := w.entity(id)
	if err != nil {
		return nil, err
	}
	g := maps.Clone(e.row.Golden)
	if g == nil {
		g = tandem.Golden{}
	}
	return g, nil
}

func (w *workset) DeleteOf(id string) (*state.Delete, error) {
	e, err := w.entity(id)
	if err != nil || e.row.Delete == nil {
		return nil, err
	}
	d := *e.row.Delete
	return &d, nil
}

// Candidates answers as state's Candidates would after this chunk's
// writes: the loaded owners of each value, less the entities whose keys
// were put here, plus those whose new keys hold it.
func (w *workset) Candidates(entity string, keys map[string]string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for name, v := range keys {
		owners, ok := w.keys[[2]string{name, v}]
		if !ok {
			return nil, fmt.Errorf("owners of %s=%s: %w", name, v, errNotLoaded)
		}
		var ids []string
		for _, id := range owners {
			if _, moved := w.rekeyed[id]; !moved {
				ids = append(ids, id)
			}
		}
		for id, ks := range w.rekeyed {
			if e := w.entities[id]; e != nil && e.row.Entity == entity {
				if kv, ok := ks[name]; ok && kv == v {
					ids = append(ids, id)
				}
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out, nil
}

func (w *workset) InFlight(entityID, system, object string) (state.InFlight, error) {
	if _, ok := w.entities[entityID]; !ok || system != w.system || object != w.object {
		return nil, fmt.Errorf("writes in flight to %s in %s %s: %w", entityID, system, object, errNotLoaded)
	}
	return w.inFlight[entityID], nil
}

// find returns clones of the conflicts that match, oldest first.
func (w *workset) find(match func(*wsConflict) bool) []tandem.Conflict {
	var out []tandem.Conflict
	for _, c := range w.conflicts {
		if match(c) {
			out = append(out, *cloneConflict(&c.c))
		}
	}
	return out
}

func last(cs []tandem.Conflict) *tandem.Conflict {
	if len(cs) == 0 {
		return nil
	}
	return &cs[len(cs)-1]
}

func (w *workset) record(system, object, externalID string) error {
	if system != w.system || object != w.object || !w.records[externalID] {
		return fmt.Errorf("conflicts of %s %s %s: %w", system, object, externalID, errNotLoaded)
	}
	return nil
}

func (w *workset) OpenValues(system, object, externalID string) ([]tandem.Conflict, error) {
	if err := w.record(system, object, externalID); err != nil {
		return nil, err
	}
	return w.find(func(c *wsConflict) bool {
		return c.rec.System == system && c.rec.Object == object && c.rec.ExternalID == externalID &&
			c.c.Kind == tandem.ConflictValue && c.c.Status == tandem.ConflictOpen
	}), nil
}

func (w *workset) WriteHolds(entityID, system, object string) ([]tandem.Conflict, error) {
	if _, ok := w.entities[entityID]; !ok {
		return nil, fmt.Errorf("write holds of entity %s: %w", entityID, errNotLoaded)
	}
	return w.find(func(c *wsConflict) bool {
		return c.c.EntityID == entityID && c.rec.System == system && c.rec.Object == object && c.rec.ExternalID == "" &&
			c.c.Kind == tandem.ConflictValue && c.c.Status == tandem.ConflictOpen
	}), nil
}

func (w *workset) OpenIdentity(system, object, externalID string) (*tandem.Conflict, error) {
	if err := w.record(system, object, externalID); err != nil {
		return nil, err
	}
	return last(w.find(func(c *wsConflict) bool {
		return c.rec.System == system && c.rec.Object == object && c.rec.ExternalID == externalID &&
			c.c.Kind == tandem.ConflictIdentity && c.c.Status == tandem.ConflictOpen
	})), nil
}

func (w *workset) OpenConflict(entityID, kind, field string) (*tandem.Conflict, error) {
	if _, ok := w.entities[entityID]; !ok {
		return nil, fmt.Errorf("conflicts of entity %s: %w", entityID, errNotLoaded)
	}
	return last(w.find(func(c *wsConflict) bool {
		return c.c.EntityID == entityID && c.c.Kind == kind && c.c.Field == field && c.c.Status == tandem.ConflictOpen
	})), nil
}

func (w *workset) PassConflict(pass, entityID, field string) (*tandem.Conflict, error) {
	if _, ok := w.entities[entityID]; !ok {
		return nil, fmt.Errorf("conflicts of entity %s: %w", entityID, errNotLoaded)
	}
	return last(w.find(func(c *wsConflict) bool {
		return c.c.Pass == pass && c.c.EntityID == entityID && c.c.Kind == tandem.ConflictField && c.c.Field == field
	})), nil
}

func (w *workset) conflict(id int64) *wsConflict {
	for _, c := range w.conflicts {
		if c.c.ID == id {
			return c
		}
	}
	return nil
}

func (w *workset) Conflict(id int64) (*tandem.Conflict, error) {
	c := w.conflict(id)
	if c == nil {
		return nil, fmt.Errorf("conflict %d: %w", id, errNotLoaded)
	}
	return cloneConflict(&c.c), nil
}

func (w *workset) PutLink(l *tandem.Link) error {
	k := linkKey{l.System, l.Object, l.ExternalID}
	if old := w.links[k]; old != nil && w.byEntity[entKey{old.EntityID, old.System, old.Object}] == k {
		delete(w.byEntity, entKey{old.EntityID, old.System, old.Object})
	}
	w.links[k] = cloneLink(l)
	w.byEntity[entKey{l.EntityID, l.System, l.Object}] = k
	w.touchLink(k)
	return nil
}

func (w *workset) DropLink(system, object, externalID string) error {
	k := linkKey{system, object, externalID}
	if old := w.links[k]; old != nil && w.byEntity[entKey{old.EntityID, system, object}] == k {
		delete(w.byEntity, entKey{old.EntityID, system, object})
	}
	w.links[k] = nil
	w.touchLink(k)
	return nil
}

func (w *workset) touchLink(k linkKey) {
	if !w.dirtyLinks[k] {
		w.dirtyLinks[k] = true
		w.order.links = append(w.order.links, k)
	}
}

func (w *workset) touchEntity(id string, e *wsEntity) {
	if !e.isNew && !e.golden && !e.delete {
		w.order.entities = append(w.order.entities, id)
	}
}

func (w *workset) NewEntity(entity string) (string, error) {
	id := w.newID()
	w.entities[id] = &wsEntity{row: state.EntityRow{Entity: entity, Golden: tandem.Golden{}}, isNew: true}
	w.order.entities = append(w.order.entities, id)
	return id, nil
}

func (w *workset) PutGolden(entity, id string, g tandem.Golden, keys map[string]string) error {
	e, err := w.entity(id)
	if err != nil {
		return err
	}
	w.touchEntity(id, e)
	e.row.Golden, e.keys, e.golden = maps.Clone(g), maps.Clone(keys), true
	if e.keys == nil {
		e.keys = map[string]string{}
	}
	w.rekeyed[id] = e.keys
	return nil
}

func (w *workset) SetDelete(id string, d *state.Delete) error {
	e, err := w.entity(id)
	if err != nil {
		return err
	}
	w.touchEntity(id, e)
	e.delete, e.row.Delete = true, nil
	if d != nil && d.State != "" {
		c := *d
		e.row.Delete = &c
	}
	return nil
}

func (w *workset) Enqueue(entity, entityID, system, object string) error {
	k := entKey{entityID, system, object}
	if !w.queued[k] {
		w.queued[k] = true
		w.intents = append(w.intents, state.Intent{Entity: entity, EntityID: entityID, System: system, Object: object})
	}
	return nil
}

func (w *workset) AddConflict(c *tandem.Conflict, rec *state.Pending) error {
	w.lastID--
	c.ID = w.lastID
	n := &wsConflict{c: *cloneConflict(c), isNew: true}
	if rec != nil {
		n.rec, n.held = *rec, rec
	}
	w.conflicts = append(w.conflicts, n)
	return nil
}

func (w *workset) UpdateConflict(c *tandem.Conflict) error {
	s := w.conflict(c.ID)
	if s == nil {
		return fmt.Errorf("conflict %d: %w", c.ID, errNotLoaded)
	}
	s.c, s.dirty = *cloneConflict(c), true
	return nil
}

func (w *workset) UpdateHeldRecord(c *tandem.Conflict, rec *state.Pending) error {
	if err := w.UpdateConflict(c); err != nil {
		return err
	}
	s := w.conflict(c.ID)
	held := *rec
	s.held = &held
	return nil
}

func (w *workset) AddDeadLetter(system, object, externalID string, raw []byte, reason string) error {
	w.dead = append(w.dead, state.SetAside{System: system, Object: object, ExternalID: externalID, Raw: raw, Reason: reason})
	return nil
}

func (w *workset) Done(id int64) error { return w.end(state.Ended{ID: id}) }
func (w *workset) Retry(id int64, reason string) error {
	return w.end(state.Ended{ID: id, Retry: true, Reason: reason})
}
func (w *workset) Dead(id int64, reason string) error {
	return w.end(state.Ended{ID: id, Dead: true, Reason: reason})
}
func (w *workset) end(e state.Ended) error {
	w.ended = append(w.ended, e)
	return nil
}

// batch is what the chunk changed, each thing in its final state.
func (w *workset) batch() *state.Batch {
	b := &state.Batch{Intents: w.intents, DeadLetters: w.dead, Ended: w.ended}
	for _, id := range w.order.entities {
		e := w.entities[id]
		b.Entities = append(b.Entities, state.EntityWrite{ID: id, Entity: e.row.Entity, New: e.isNew, SetGolden: e.golden || e.isNew,
			Golden: e.row.Golden, Keys: e.keys, SetDelete: e.delete, Delete: e.row.Delete})
	}
	for _, k := range w.order.links {
		if l := w.links[k]; l != nil {
			b.Links = append(b.Links, l)
		} else {
			b.Dropped = append(b.Dropped, [3]string{k.system, k.object, k.id})
		}
	}
	for _, c := range w.conflicts {
		switch {
		case c.isNew:
			cc := c.c
			b.NewConflicts = append(b.NewConflicts, state.ConflictWrite{C: &cc, Held: c.held})
		case c.dirty:
			cc := c.c
			b.Conflicts = append(b.Conflicts, state.ConflictWrite{C: &cc, Held: c.held})
		}
	}
	return b
}
