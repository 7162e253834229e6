package salesforcetest

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/tidwall/gjson"
)

// The test API acts as a user working in the Salesforce UI: changes are
// validated and stamped like API writes, but they are not API requests and
// do not appear in Requests or Writes.

// Create creates a record of object with fields (API names; values as
// JSON would carry them) and returns its 18-character id. Validation is the
// API's: a missing required field fails with REQUIRED_FIELD_MISSING.
func (e *Emulator) Create(object string, fields map[string]any) (string, error) {
	b, err := json.Marshal(fields)
	if err != nil {
		return "", fmt.Errorf("salesforcetest: create %s: %w", object, err)
	}
	return e.createJSON(object, gjson.ParseBytes(b), time.Time{})
}

// CommitLate commits a write of a transaction that began at began, before
// the emulator's clock: a long Apex job, a bulk load, a trigger chain.
// Salesforce stamps SystemModstamp (and LastModifiedDate) when the
// transaction's DML runs, but no query sees the write until the
// transaction commits, so a query that ran in between returned records
// stamped later than this one and not this one. id "" creates a record
// (its id is returned), else the live record id is updated. began is
// rounded down to the second, as every stamp is.
func (e *Emulator) CommitLate(object, id string, fields map[string]any, began time.Time) (string, error) {
	b, err := json.Marshal(fields)
	if err != nil {
		return "", fmt.Errorf("salesforcetest: commit late %s: %w", object, err)
	}
	began = began.UTC().Truncate(time.Second)
	if id == "" {
		return e.createJSON(object, gjson.ParseBytes(b), began)
	}
	return id, e.updateJSON(object, id, b, began)
}

// createJSON creates a record stamped at, or now when at is zero.
func (e *Emulator) createJSON(object string, rec gjson.Result, at time.Time) (string, error) {
	e.mu.Lock()
	x := &tx{}
	defer e.unlockAndNotify(x)
	t := e.table(object)
	if t == nil {
		return "", apiErr("INVALID_TYPE", "sObject type '"+object+"' is not supported.")
	}
	as, recErr, reqErr := parseFields(t.obj, rec, nil)
	if reqErr != nil {
		return "", reqErr
	}
	if recErr != nil {
		return "", recErr
	}
	x.now = e.now()
	if !at.IsZero() {
		x.now = at
	}
	id, aerr := e.insert(x, t, as)
	if aerr != nil {
		return "", aerr
	}
	return id, nil
}

// Update sets fields of a live record; nil clears a field.
func (e *Emulator) Update(object, id string, fields map[string]any) error {
	b, err := json.Marshal(fields)
	if err != nil {
		return fmt.Errorf("salesforcetest: update %s %s: %w", object, id, err)
	}
	return e.updateJSON(object, id, b, time.Time{})
}

// updateJSON updates a record, stamped at, or now when at is zero.
func (e *Emulator) updateJSON(object, id string, b []byte, at time.Time) error {
	e.mu.Lock()
	x := &tx{}
	defer e.unlockAndNotify(x)
	t := e.table(object)
	if t == nil {
		return apiErr("INVALID_TYPE", "sObject type '"+object+"' is not supported.")
	}
	nid, ierr := resolveID(t.obj, id)
	if ierr != nil {
		return ierr
	}
	as, recErr, reqErr := parseFields(t.obj, gjson.ParseBytes(b), nil)
	if reqErr != nil {
		return reqErr
	}
	if recErr != nil {
		return recErr
	}
	x.now = e.now()
	if !at.IsZero() {
		x.now = at
	}
	if uerr := e.update(x, t, nid, as); uerr != nil {
		return uerr
	}
	return nil
}

// Delete moves a live record to the recycle bin: IsDeleted is true,
// LastModifiedDate and SystemModstamp take the emulator's clock, queryAll
// still returns it and query no longer does. Undelete brings it back.
func (e *Emulator) Delete(object, id string) error {
	e.mu.Lock()
	x := &tx{}
	defer e.unlockAndNotify(x)
	t := e.table(object)
	if t == nil {
		return apiErr("INVALID_TYPE", "sObject type '"+object+"' is not supported.")
	}
	nid, ierr := resolveID(t.obj, id)
	if ierr != nil {
		return ierr
	}
	x.now = e.now()
	if rerr := e.remove(x, t, nid); rerr != nil {
		return rerr
	}
	return nil
}

// Undelete restores a record from the recycle bin, as undelete does in
// Salesforce: IsDeleted is false again, LastModifiedDate and
// SystemModstamp take the emulator's clock, and query sees the record
// again. A live record fails with UNDELETE_FAILED, an unknown id with
// INVALID_CROSS_REFERENCE_KEY, and a record whose unique value another
// live record now holds with DUPLICATE_VALUE. The emulator never empties
// its recycle bin: a record stays undeletable for as long as the test runs.
func (e *Emulator) Undelete(object, id string) error {
	e.mu.Lock()
	x := &tx{}
	defer e.unlockAndNotify(x)
	t := e.table(object)
	if t == nil {
		return apiErr("INVALID_TYPE", "sObject type '"+object+"' is not supported.")
	}
	nid, ierr := resolveID(t.obj, id)
	if ierr != nil {
		return ierr
	}
	x.now = e.now()
	if rerr := e.restore(x, t, nid); rerr != nil {
		return rerr
	}
	return nil
}

// Get returns a copy of the record with id (15 or 18 characters), deleted
// ones included.
func (e *Emulator) Get(object, id string) (Record, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.table(object)
	nid, ok := NormalizeID(id)
	if t == nil || !ok || t.rows[nid] == nil {
		return Record{}, false
	}
	return t.rows[nid].clone(), true
}

// List returns copies of the live records of object, sorted by id.
func (e *Emulator) List(object string) []Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.table(object)
	if t == nil {
		return nil
	}
	return t.sortedLive()
}

// LoadSeed creates the records of a JSON file shaped
// {"Account": [{...}, ...], "Contact": [...]}, objects in file order.
func (e *Emulator) LoadSeed(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("salesforcetest: seed: %w", err)
	}
	if !gjson.ValidBytes(b) || !gjson.ParseBytes(b).IsObject() {
		return fmt.Errorf("salesforcetest: seed %s: not a JSON object", path)
	}
	var failure error
	gjson.ParseBytes(b).ForEach(func(obj, recs gjson.Result) bool {
		if !recs.IsArray() {
			failure = fmt.Errorf("salesforcetest: seed %s: %s: not an array of records", path, obj.String())
			return false
		}
		for i, rec := range recs.Array() {
			if _, err := e.createJSON(obj.String(), rec, time.Time{}); err != nil {
				failure = fmt.Errorf("salesforcetest: seed %s: %s[%d]: %w", path, obj.String(), i, err)
				return false
			}
		}
		return true
	})
	return failure
}

// Objects lists the object types the emulator serves.
func (e *Emulator) Objects() []string { return e.objectNames() }

// objectNames lists the object types by name; the schema never changes
// after New, so it needs no lock.
func (e *Emulator) objectNames() []string {
	var names []string
	for _, t := range e.tables {
		names = append(names, t.obj.Name)
	}
	sort.Strings(names)
	return names
}
