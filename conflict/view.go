package conflict

import (
	"context"
	"log/slog"
	"time"

	"tandem"
	"tandem/mapping"
	"tandem/state"
)

// view is what a decision reads and writes of the state: the few
// questions a record's way through link, merge, identity and deletes asks,
// and the changes it makes. A decision never holds a database handle: the
// pull path gives it a workset (chunk.go: values loaded in one batch, the
// changes saved in one), the rarer paths (a write's checkpoint, resolve, a
// re-read before a write) a transaction seen through txView.
type view interface {
	Link(system, object, externalID string) (*tandem.Link, error)
	LinkOf(entityID, system, object string) (*tandem.Link, error)
	Golden(entityID string) (tandem.Golden, error)
	DeleteOf(entityID string) (*state.Delete, error)
	Candidates(entity string, keys map[string]string) ([]string, error)
	InFlight(entityID, system, object string) (state.InFlight, error)
	OpenValues(system, object, externalID string) ([]tandem.Conflict, error)
	WriteHolds(entityID, system, object string) ([]tandem.Conflict, error)
	OpenIdentity(system, object, externalID string) (*tandem.Conflict, error)
	OpenConflict(entityID, kind, field string) (*tandem.Conflict, error)
	PassConflict(pass, entityID, field string) (*tandem.Conflict, error)
	Conflict(id int64) (*tandem.Conflict, error)

	PutLink(l *tandem.Link) error
	DropLink(system, object, externalID string) error
	NewEntity(entity string) (string, error)
	PutGolden(entity, id string, g tandem.Golden, keys map[string]string) error
	SetDelete(entityID string, d *state.Delete) error
	Enqueue(entity, entityID, system, object string) error
	AddConflict(c *tandem.Conflict, rec *state.Pending) error
	UpdateConflict(c *tandem.Conflict) error
	UpdateHeldRecord(c *tandem.Conflict, rec *state.Pending) error
	AddDeadLetter(system, object, externalID string, raw []byte, reason string) error

	// An intent's end: done, tried again later, or set aside.
	Done(intent int64) error
	Retry(intent int64, reason string) error
	Dead(intent int64, reason string) error
}

// decider makes the decisions of one operation over a view: what its
// records link to, merge into, hold, delete and queue.
type decider struct {
	v       view
	pass    string // one conflict per entity, field and pass
	now     func() time.Time
	keyPath func(*mapping.System) string // where a system's records hold Tandem's key ("" for none)
	log     *slog.Logger
}

// over is a decider whose view is a transaction.
func (e *Engine) over(ctx context.Context, tx *state.Tx) *decider {
	return &decider{v: txView{ctx, tx}, pass: e.pass, now: e.now, keyPath: e.keyPath, log: e.log()}
}

// txView is a transaction as a view: each question a statement.
type txView struct {
	ctx context.Context
	tx  *state.Tx
}

func (t txView) Link(system, object, externalID string) (*tandem.Link, error) {
	return t.tx.Link(t.ctx, system, object, externalID)
}
func (t txView) LinkOf(entityID, system, object string) (*tandem.Link, error) {
	return t.tx.LinkOf(t.ctx, entityID, system, object)
}
func (t txView) Golden(id string) (tandem.Golden, error)   { return t.tx.Golden(t.ctx, id) }
func (t txView) DeleteOf(id string) (*state.Delete, error) { return t.tx.DeleteOf(t.ctx, id) }
func (t txView) Candidates(entity string, keys map[string]string) ([]string, error) {
	return t.tx.Candidates(t.ctx, entity, keys)
}
func (t txView) InFlight(entityID, system, object string) (state.InFlight, error) {
	return t.tx.InFlight(t.ctx, entityID, system, object)
}
func (t txView) OpenValues(system, object, externalID string) ([]tandem.Conflict, error) {
	return t.tx.OpenValues(t.ctx, system, object, externalID)
}
func (t txView) WriteHolds(entityID, system, object string) ([]tandem.Conflict, error) {
	return t.tx.WriteHolds(t.ctx, entityID, system, object)
}
func (t txView) OpenIdentity(system, object, externalID string) (*tandem.Conflict, error) {
	return t.tx.OpenIdentity(t.ctx, system, object, externalID)
}
func (t txView) OpenConflict(entityID, kind, field string) (*tandem.Conflict, error) {
	return t.tx.OpenConflict(t.ctx, entityID, kind, field)
}
func (t txView) PassConflict(pass, entityID, field string) (*tandem.Conflict, error) {
	return t.tx.PassConflict(t.ctx, pass, entityID, field)
}
func (t txView) Conflict(id int64) (*tandem.Conflict, error) {
	c, _, err := t.tx.Conflict(t.ctx, id)
	return c, err
}
func (t txView) PutLink(l *tandem.Link) error { return t.tx.PutLink(t.ctx, l) }
func (t txView) DropLink(system, object, externalID string) error {
	return t.tx.DropLink(t.ctx, system, object, externalID)
}
func (t txView) NewEntity(entity string) (string, error) {
	return t.tx.NewEntity(t.ctx, entity, tandem.Golden{}, nil)
}
func (t txView) PutGolden(entity, id string, g tandem.Golden, keys map[string]string) error {
	return t.tx.PutGolden(t.ctx, entity, id, g, keys)
}
func (t txView) SetDelete(id string, d *state.Delete) error { return t.tx.SetDelete(t.ctx, id, d) }
func (t txView) Enqueue(entity, entityID, system, object string) error {
	return t.tx.Enqueue(t.ctx, entity, entityID, system, object)
}
func (t txView) AddConflict(c *tandem.Conflict, rec *state.Pending) error {
	return t.tx.AddConflict(t.ctx, c, rec)
}
func (t txView) UpdateConflict(c *tandem.Conflict) error { return t.tx.UpdateConflict(t.ctx, c) }
func (t txView) UpdateHeldRecord(c *tandem.Conflict, rec *state.Pending) error {
	return t.tx.UpdateHeldRecord(t.ctx, c, rec)
}
func (t txView) AddDeadLetter(system, object, externalID string, raw []byte, reason string) error {
	return t.tx.AddDeadLetter(t.ctx, system, object, externalID, raw, reason)
}
func (t txView) Done(id int64) error                 { return t.tx.Done(t.ctx, id) }
func (t txView) Retry(id int64, reason string) error { return t.tx.Retry(t.ctx, id, reason) }
func (t txView) Dead(id int64, reason string) error  { return t.tx.Dead(t.ctx, id, reason) }
