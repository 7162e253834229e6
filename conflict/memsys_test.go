package conflict

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"tandem"
	"tandem/connectors"
)

// memSystem is a system held in memory for engine tests: flat records
// ({"email": …, "name": …}), stamped by the bench's clock, pulled after a
// modified-time cursor, read by id, written by Apply. It tells deletes
// (with their time) through FetchDeleted, unless purged.
type memSystem struct {
	mu    sync.Mutex
	clock func() time.Time
	recs  map[string]*memRecord
	seq   int
	// applied, when set, is called after a write is applied and before
	// it is answered (a test crashes the pass there).
	applied func()
	// down fails every call.
	down bool
	// writes is every write sent, in order (applied or refused).
	writes []tandem.Write
	// overwrote, when set, says what an update replaced that was set
	// after its read (tandem.Result.Overwritten).
	overwrote func(w tandem.Write) []tandem.Overwrite
	// conditional refuses an update of a record modified after its
	// Write.Unmodified, as Salesforce's If-Unmodified-Since does.
	conditional bool
	// refuse, when set, is the system's answer to a write it refuses
	// (nil: applied).
	refuse func(w tandem.Write) error
	// answer returns with each write the record as written
	// (tandem.Result.Record), as HubSpot's batch writes do.
	answer bool
	// fetched is every id Fetch was asked for, in order.
	fetched []string
}

type memRecord struct {
	fields   map[string]any
	modified time.Time
	deleted  time.Time // zero: live
	purged   bool      // deleted, and no trace of when
}

var (
	_ connectors.Fetcher       = (*memSystem)(nil)
	_ connectors.DeleteFetcher = (*memSystem)(nil)
)

func newMemSystem(clock func() time.Time) *memSystem {
	return &memSystem{clock: clock, recs: map[string]*memRecord{}}
}

// put creates or edits a record, as a person in that system would.
func (m *memSystem) put(id string, fields map[string]any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.recs[id]
	if r == nil {
		r = &memRecord{fields: map[string]any{}}
		m.recs[id] = r
	}
	maps.Copy(r.fields, fields)
	r.modified = m.clock()
}

// remove deletes a record; purged leaves no trace of when.
func (m *memSystem) remove(id string, purged bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.recs[id]
	r.deleted, r.purged = m.clock(), purged
}

func (m *memSystem) get(id string) map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.recs[id]; r != nil && r.deleted.IsZero() {
		return maps.Clone(r.fields)
	}
	return nil
}

func (m *memSystem) live() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, r := range m.recs {
		if r.deleted.IsZero() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (m *memSystem) record(id string, r *memRecord) tandem.Record {
	raw, _ := json.Marshal(r.fields)
	if !r.deleted.IsZero() {
		return tandem.Record{ID: id, Raw: raw, Modified: r.deleted, Deleted: true}
	}
	return tandem.Record{ID: id, Raw: raw, Modified: r.modified}
}

var errDown = &tandem.Error{Op: "call", Message: "down", Retryable: true}

// Pull returns every record (deletes too) stamped after the cursor.
func (m *memSystem) Pull(_ context.Context, q tandem.Query, page func(tandem.Page) error) error {
	m.mu.Lock()
	if m.down {
		m.mu.Unlock()
		return errDown
	}
	var after time.Time
	if q.After != "" {
		after, _ = time.Parse(time.RFC3339Nano, string(q.After))
	}
	var p tandem.Page
	last := after
	for _, id := range slices.Sorted(maps.Keys(m.recs)) {
		r := m.recs[id]
		if r.purged {
			continue
		}
		rec := m.record(id, r)
		if rec.Modified.After(after) {
			p.Records = append(p.Records, rec)
			if rec.Modified.After(last) {
				last = rec.Modified
			}
		}
	}
	m.mu.Unlock()
	slices.SortFunc(p.Records, func(a, b tandem.Record) int { return a.Modified.Compare(b.Modified) })
	p.Cursor = tandem.Cursor(last.Format(time.RFC3339Nano))
	return page(p)
}

func (m *memSystem) Fetch(_ context.Context, _ tandem.Query, ids []string) ([]tandem.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, errDown
	}
	m.fetched = append(m.fetched, ids...)
	var out []tandem.Record
	for _, id := range ids {
		if r := m.recs[id]; r != nil && r.deleted.IsZero() {
			out = append(out, m.record(id, r))
		}
	}
	return out, nil
}

func (m *memSystem) FetchDeleted(_ context.Context, _ tandem.Query, ids []string) ([]tandem.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, errDown
	}
	var out []tandem.Record
	for _, id := range ids {
		if r := m.recs[id]; r != nil && !r.deleted.IsZero() && !r.purged {
			out = append(out, m.record(id, r))
		}
	}
	return out, nil
}

func (m *memSystem) Apply(_ context.Context, _ string, ws []tandem.Write) ([]tandem.Result, error) {
	m.mu.Lock()
	if m.down {
		m.mu.Unlock()
		return nil, errDown
	}
	res := make([]tandem.Result, len(ws))
	m.writes = append(m.writes, ws...)
	for i, w := range ws {
		if m.refuse != nil {
			if res[i].Err = m.refuse(w); res[i].Err != nil {
				continue
			}
		}
		var fields map[string]any
		json.Unmarshal(w.Payload, &fields)
		switch w.Op {
		case tandem.OpCreate:
			m.seq++
			id := fmt.Sprintf("n%d", m.seq)
			m.recs[id] = &memRecord{fields: fields, modified: m.clock()}
			res[i].ID = id
		case tandem.OpUpdate:
			r := m.recs[w.ID]
			if r == nil || !r.deleted.IsZero() {
				res[i].Err = &tandem.Error{Op: "update", Message: "not found"}
				continue
			}
			if m.conditional && !w.Unmodified.IsZero() && r.modified.After(w.Unmodified) {
				res[i].Err = &tandem.Error{Op: "update", Status: 412, Retryable: true, Err: tandem.ErrConflict}
				continue
			}
			maps.Copy(r.fields, fields)
			r.modified = m.clock()
			res[i].ID = w.ID
			if m.overwrote != nil {
				res[i].Overwritten = m.overwrote(w)
			}
		case tandem.OpDelete:
			if r := m.recs[w.ID]; r != nil && r.deleted.IsZero() {
				r.deleted = m.clock()
			}
			res[i].ID = w.ID
		}
		if r := m.recs[res[i].ID]; m.answer && r != nil && w.Op != tandem.OpDelete {
			rec := m.record(res[i].ID, r)
			res[i].Record = &rec
		}
	}
	hook := m.applied
	m.mu.Unlock()
	if hook != nil {
		hook()
	}
	return res, nil
}

// hidden is a system that cannot tell when a record was deleted: it has
// no FetchDeleted.
type hidden struct{ m *memSystem }

func (h hidden) Pull(ctx context.Context, q tandem.Query, page func(tandem.Page) error) error {
	return h.m.Pull(ctx, q, page)
}
func (h hidden) Fetch(ctx context.Context, q tandem.Query, ids []string) ([]tandem.Record, error) {
	return h.m.Fetch(ctx, q, ids)
}
func (h hidden) Apply(ctx context.Context, o string, ws []tandem.Write) ([]tandem.Result, error) {
	return h.m.Apply(ctx, o, ws)
}
