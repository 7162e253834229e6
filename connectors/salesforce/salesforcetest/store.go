package salesforcetest

import (
	"maps"
	"sort"
	"strings"
	"time"
)

// Record is a stored record as the emulator holds it. Fields holds the
// fields that have a value, by API name; the system fields are the struct's
// own.
type Record struct {
	ID               string
	Fields           map[string]any // string, int64, float64 or bool
	CreatedDate      time.Time
	LastModifiedDate time.Time
	SystemModstamp   time.Time
	IsDeleted        bool
	// deletedWith is the record whose delete cascaded to this one, which
	// restoring that record restores too.
	deletedWith string
}

func (r *Record) clone() Record {
	c := *r
	c.Fields = maps.Clone(r.Fields)
	return c
}

// table holds one object's records. Stored *Records are never changed in
// place: a write stores a new one. That makes a rollback a matter of
// putting the old pointers back, and lets a query batch read a consistent
// record without copying.
type table struct {
	obj  *sobject
	rows map[string]*Record
	// uniq indexes the unique fields of live records: field -> key -> id.
	// Deleted records leave the index, so their values may be reused, as in
	// Salesforce's recycle bin.
	uniq map[string]map[string]string
	seq  int // record number of the last minted id
}

func newTable(o *sobject) *table {
	t := &table{obj: o, rows: map[string]*Record{}, uniq: map[string]map[string]string{}}
	for _, f := range o.Fields {
		if f.Unique {
			t.uniq[f.Name] = map[string]string{}
		}
	}
	return t
}

func uniqKey(f *field, v any) string {
	s, _ := v.(string)
	if f.CaseSensitive {
		return s
	}
	return strings.ToLower(s)
}

// lookupUnique finds the live record holding value v in unique field f.
func (t *table) lookupUnique(f *field, v any) (*Record, bool) {
	id, ok := t.uniq[f.Name][uniqKey(f, v)]
	if !ok {
		return nil, false
	}
	return t.rows[id], true
}

// set stores r under id (nil removes it) and keeps the unique index right.
func (t *table) set(id string, r *Record) {
	if old := t.rows[id]; old != nil && !old.IsDeleted {
		for name, idx := range t.uniq {
			if v, ok := old.Fields[name]; ok {
				delete(idx, uniqKey(t.obj.field(name), v))
			}
		}
	}
	if r == nil {
		delete(t.rows, id)
		return
	}
	t.rows[id] = r
	if !r.IsDeleted {
		for name, idx := range t.uniq {
			if v, ok := r.Fields[name]; ok {
				idx[uniqKey(t.obj.field(name), v)] = id
			}
		}
	}
}

// tx is one API call's unit of work: every change goes through put, which
// remembers what it replaced, so an allOrNone call that fails can undo
// everything. The emulator's mutex is held for the whole transaction.
type tx struct {
	now  time.Time
	undo []undo
}

type undo struct {
	t    *table
	id   string
	prev *Record
}

func (x *tx) put(t *table, r *Record) {
	x.undo = append(x.undo, undo{t: t, id: r.ID, prev: t.rows[r.ID]})
	t.set(r.ID, r)
}

func (x *tx) rollback() {
	for i := len(x.undo) - 1; i >= 0; i-- {
		u := x.undo[i]
		u.t.set(u.id, u.prev)
	}
	x.undo = nil
}

// live returns the record a write may change, or the error a write to id
// gets in Salesforce.
func (t *table) live(id string) (*Record, *Error) {
	r := t.rows[id]
	switch {
	case r == nil:
		return nil, apiErr("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
	case r.IsDeleted:
		return nil, apiErr("ENTITY_IS_DELETED", "entity is deleted")
	}
	return r, nil
}

// sortedLive lists the live records of t by id.
func (t *table) sortedLive() []Record {
	var out []Record
	for _, r := range t.rows {
		if !r.IsDeleted {
			out = append(out, r.clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
