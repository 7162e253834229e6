package salesforcetest

import (
	"maps"
	"sort"
	"strings"
)

// The four writes of the data API, shared by the REST handlers and the test
// API so that both obey the same rules. Each runs inside a tx with the
// emulator's mutex held, and stamps what it changes with tx.now.

// insert creates a record from assigns.
func (e *Emulator) insert(x *tx, t *table, as []assign) (string, *Error) {
	vals, err := e.applyAssigns(t, nil, as)
	if err != nil {
		return "", err
	}
	var missing []string
	for _, f := range t.obj.Fields {
		if _, ok := vals[f.Name]; f.Required && !ok {
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		return "", apiErr("REQUIRED_FIELD_MISSING", "Required fields are missing: ["+strings.Join(missing, ", ")+"]", missing...)
	}
	if err := checkUnique(t, "", vals); err != nil {
		return "", err
	}
	// A rolled-back insert still used its number, as in Salesforce.
	t.seq++
	r := &Record{ID: mintID(t.obj.Prefix, t.seq), Fields: vals, CreatedDate: x.now, LastModifiedDate: x.now, SystemModstamp: x.now}
	x.put(t, r)
	return r.ID, nil
}

// update changes the fields in assigns of the live record id. An update
// that changes nothing still stamps the record, as Salesforce does.
func (e *Emulator) update(x *tx, t *table, id string, as []assign) *Error {
	old, err := t.live(id)
	if err != nil {
		return err
	}
	vals, err := e.applyAssigns(t, old.Fields, as)
	if err != nil {
		return err
	}
	if err := checkUnique(t, id, vals); err != nil {
		return err
	}
	r := *old
	r.Fields = vals
	r.LastModifiedDate, r.SystemModstamp = x.now, x.now
	x.put(t, &r)
	return nil
}

// upsert updates the live record whose external id field ext holds the value
// given in assigns, or creates one.
func (e *Emulator) upsert(x *tx, t *table, ext *field, as []assign) (id string, created bool, err *Error) {
	var key any
	for _, a := range as {
		if a.f == ext {
			key = a.v
		}
	}
	if key == nil {
		return "", false, apiErr("MISSING_ARGUMENT", ext.Name+" not specified", ext.Name)
	}
	if r, ok := t.lookupUnique(ext, key); ok {
		return r.ID, false, e.update(x, t, r.ID, as)
	}
	id, err = e.insert(x, t, as)
	return id, err == nil, err
}

// remove soft-deletes: the record goes to the recycle bin, where queryAll
// still sees it with IsDeleted = true. The live records that point at it
// through a cascading lookup go with it (an Account's Contacts), stamped
// the same, as in Salesforce; the others keep their now dangling value.
func (e *Emulator) remove(x *tx, t *table, id string) *Error {
	old, err := t.live(id)
	if err != nil {
		return err
	}
	r := *old
	r.IsDeleted = true
	r.LastModifiedDate, r.SystemModstamp = x.now, x.now
	x.put(t, &r)
	for _, ct := range e.children(t) {
		for _, cid := range ct.ids(id) {
			c := *ct.t.rows[cid]
			c.IsDeleted, c.deletedWith = true, id
			c.LastModifiedDate, c.SystemModstamp = x.now, x.now
			x.put(ct.t, &c)
		}
	}
	return nil
}

// child is a table with a cascading lookup field to another.
type child struct {
	t *table
	f *field
}

// children lists the tables whose cascading lookups point at t.
func (e *Emulator) children(t *table) []child {
	var out []child
	for _, name := range e.objectNames() {
		other := e.table(name)
		for _, f := range other.obj.Fields {
			if f.Kind == kReference && f.Cascade && f.ReferenceTo == t.obj.Name {
				out = append(out, child{other, f})
			}
		}
	}
	return out
}

// ids lists, in id order, the live records whose lookup holds parent.
func (c child) ids(parent string) []string {
	var out []string
	for id, r := range c.t.rows {
		if !r.IsDeleted && r.Fields[c.f.Name] == parent {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// restore takes a record out of the recycle bin, as Salesforce's undelete
// does: it is live again with the values it had, and stamped now, so a
// replication reading SystemModstamp sees it come back. A unique value
// another live record took meanwhile keeps it in the bin.
func (e *Emulator) restore(x *tx, t *table, id string) *Error {
	old := t.rows[id]
	switch {
	case old == nil:
		return apiErr("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
	case !old.IsDeleted:
		return apiErr("UNDELETE_FAILED", "Entity is not in the recycle bin")
	}
	if err := checkUnique(t, id, old.Fields); err != nil {
		return err
	}
	r := *old
	r.IsDeleted, r.deletedWith = false, ""
	r.LastModifiedDate, r.SystemModstamp = x.now, x.now
	x.put(t, &r)
	// What its delete took along comes back with it.
	for _, ct := range e.children(t) {
		var ids []string
		for cid, c := range ct.t.rows {
			if c.IsDeleted && c.deletedWith == id {
				ids = append(ids, cid)
			}
		}
		sort.Strings(ids)
		for _, cid := range ids {
			if err := e.restore(x, ct.t, cid); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyAssigns returns a copy of base with assigns applied, after checking
// each value.
func (e *Emulator) applyAssigns(t *table, base map[string]any, as []assign) (map[string]any, *Error) {
	vals := maps.Clone(base)
	if vals == nil {
		vals = map[string]any{}
	}
	for _, a := range as {
		v, err := e.checkValue(a.f, a.v)
		if err != nil {
			return nil, err
		}
		if v == nil {
			delete(vals, a.f.Name)
		} else {
			vals[a.f.Name] = v
		}
	}
	return vals, nil
}

// checkUnique reports a unique value already held by another live record.
func checkUnique(t *table, self string, vals map[string]any) *Error {
	for name := range t.uniq {
		v, ok := vals[name]
		if !ok {
			continue
		}
		f := t.obj.field(name)
		if r, found := t.lookupUnique(f, v); found && r.ID != self {
			return apiErr("DUPLICATE_VALUE", "duplicate value found: "+f.Name+" duplicates value on record with id: "+r.ID, f.Name)
		}
	}
	return nil
}

// resolveID turns an id from a request into the stored form, checking it
// belongs to object o. Salesforce names the object in the message.
func resolveID(o *sobject, raw string) (string, *Error) {
	id, ok := NormalizeID(raw)
	if !ok {
		return "", apiErr("MALFORMED_ID", "malformed id "+raw, "Id")
	}
	if id[:3] != o.Prefix {
		return "", apiErr("MALFORMED_ID", o.Label+" ID: id value of incorrect type: "+raw, "Id")
	}
	return id, nil
}
