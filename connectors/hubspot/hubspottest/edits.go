package hubspottest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// The methods here are what a person does in HubSpot's UI: they change the
// portal without being API requests, so Requests and Writes do not see
// them, but they are validated and stamped as API writes are. Their values
// enter the properties' history as the UI's do: sourceType CRM_UI, by the
// user UserID (API writes are INTEGRATION, by the app AppID).

// table finds the table of an object type, by name or type id.
func (e *Emulator) table(object string) (*table, error) {
	t := e.types[object]
	if t == nil {
		return nil, fmt.Errorf("hubspottest: unknown object type %q (known: contacts, companies)", object)
	}
	return e.tables[t.name], nil
}

// Create adds a record as a user would in HubSpot's UI: not recorded as an
// API request, but validated and stamped like one.
func (e *Emulator) Create(object string, fields map[string]any) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	tb, err := e.table(object)
	if err != nil {
		return "", err
	}
	props, err := tb.prepare(fields, nil)
	if err != nil {
		return "", err
	}
	return tb.insert(props, e.stamp(), uiEdit).id, nil
}

// Update changes a live record as a user would in HubSpot's UI.
func (e *Emulator) Update(object, id string, fields map[string]any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	tb, err := e.table(object)
	if err != nil {
		return err
	}
	r := tb.lookup("", id, false)
	if r == nil {
		return fmt.Errorf("hubspottest: %s %s not found", object, id)
	}
	props, err := tb.prepare(fields, r)
	if err != nil {
		return err
	}
	tb.set(r, props, e.stamp(), uiEdit)
	return nil
}

// Delete archives a live record, as deleting in HubSpot's UI does:
// archivedAt is stamped from Options.Now; updatedAt and the modified-date
// property keep the time of the last edit, as in HubSpot. The record then
// shows only in archived=true reads.
func (e *Emulator) Delete(object, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	tb, err := e.table(object)
	if err != nil {
		return err
	}
	r := tb.lookup("", id, false)
	if r == nil {
		return fmt.Errorf("hubspottest: %s %s not found", object, id)
	}
	tb.archive(r, e.stamp(), uiEdit)
	return nil
}

// prepare validates fields for a write to target (nil for a new record).
func (tb *table) prepare(fields map[string]any, target *record) (map[string]string, error) {
	props, perrs := tb.typ.normalize(fields)
	if len(perrs) > 0 {
		msgs := make([]string, len(perrs))
		for i, p := range perrs {
			msgs[i] = p.Code + ": " + p.Message
		}
		return nil, fmt.Errorf("hubspottest: %s: %s", tb.typ.name, strings.Join(msgs, "; "))
	}
	if err := tb.checkUnique([]*record{target}, []map[string]string{props}); err != nil {
		return nil, fmt.Errorf("hubspottest: %s: %w", tb.typ.name, err)
	}
	return props, nil
}

// Get returns a record, archived or not.
func (e *Emulator) Get(object, id string) (Object, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	tb, err := e.table(object)
	if err != nil {
		return Object{}, false
	}
	r := tb.byID[id]
	if r == nil {
		return Object{}, false
	}
	return r.object(), true
}

// List returns the live records of an object type, by id.
func (e *Emulator) List(object string) []Object {
	e.mu.Lock()
	defer e.mu.Unlock()
	tb, err := e.table(object)
	if err != nil {
		return nil
	}
	var out []Object
	for _, r := range tb.rows {
		if !r.archived {
			out = append(out, r.object())
		}
	}
	return out
}

// LoadSeed creates the records of a JSON file shaped
// {"contacts": [{"email": "...", ...}, ...], "companies": [...]}, object
// types in name order and records in file order.
func (e *Emulator) LoadSeed(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var seed map[string][]map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&seed); err != nil {
		return fmt.Errorf("hubspottest: seed %s: %w", path, err)
	}
	objects := make([]string, 0, len(seed))
	for o := range seed {
		objects = append(objects, o)
	}
	sort.Strings(objects)
	for _, o := range objects {
		for i, fields := range seed[o] {
			if _, err := e.Create(o, fields); err != nil {
				return fmt.Errorf("seed %s: %s[%d]: %w", path, o, i, err)
			}
		}
	}
	return nil
}
