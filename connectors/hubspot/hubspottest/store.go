package hubspottest

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// record is one stored CRM object. props holds set values only, the
// server-maintained ones included; history holds every value each
// property has had, oldest first, for propertiesWithHistory.
type record struct {
	id         string
	num        int64
	props      map[string]string
	history    map[string][]change
	created    time.Time
	updated    time.Time
	archived   bool
	archivedAt time.Time
	ix         *ixNode // its place in the table's modified-time index (index.go); nil when archived
}

// change is one value a property took: when, and who set it.
type change struct {
	value string // "" for a cleared value
	at    time.Time
	by    *source
}

// source is who made a write, as propertiesWithHistory names it.
type source struct {
	typ    string // sourceType
	id     string // sourceId
	userID int    // updatedByUserId; 0 when no user made it
}

// The ids the emulated portal stamps on history entries.
const (
	// AppID is the id of the private app the API token belongs to: the
	// sourceId of values written through the API.
	AppID = "3000001"
	// UserID is the HubSpot user who makes the test API's edits ("a user
	// in the UI"): the updatedByUserId of their values.
	UserID = 5000001
)

var (
	// apiWrite is a write through the API with a private app's token,
	// which HubSpot records as an INTEGRATION with the app's id.
	apiWrite = &source{typ: "INTEGRATION", id: AppID}
	// uiEdit is an edit made in HubSpot's UI, recorded as CRM_UI with the
	// user's id.
	uiEdit = &source{typ: "CRM_UI", id: "userId:" + strconv.Itoa(UserID), userID: UserID}
)

// remember notes a property's new value in its history. A write that does
// not change the value leaves no entry.
func (r *record) remember(name, value string, at time.Time, by *source) {
	h := r.history[name]
	if n := len(h); (n == 0 && value == "") || (n > 0 && h[n-1].value == value) {
		return
	}
	r.history[name] = append(h, change{value: value, at: at, by: by})
}

// newestFirst is a property's history as the API lists it.
func (r *record) newestFirst(name string) []change {
	h := slices.Clone(r.history[name])
	slices.Reverse(h)
	return h
}

// table holds the records of one object type in id order (ids only grow,
// so appending keeps the order) with an index per unique property.
type table struct {
	typ    *objectType
	next   int64
	rows   []*record
	byID   map[string]*record
	unique map[string]map[string]*record // property -> value -> live record
	ix     *ixNode                       // live records by (modified, id), as search sees them: index.go
	// lag, pending and shown are the search index's lag (lag.go): shown
	// is what search sees of each record when lag > 0.
	lag      time.Duration
	pending  []pendingIx
	shown    map[*record]*record
	shownSeq map[*record]uint64 // the write shown
	writes   uint64             // writes queued so far
	// events hears every change, for webhooks (webhooks.go); nil when
	// no one listens.
	events func(hookEvent)
}

func newTable(t *objectType) *table {
	tb := &table{typ: t, next: t.firstID, byID: map[string]*record{}, unique: map[string]map[string]*record{}, shown: map[*record]*record{}, shownSeq: map[*record]uint64{}}
	for name, d := range t.props {
		if d.unique && name != "hs_object_id" {
			tb.unique[name] = map[string]*record{}
		}
	}
	return tb
}

// conflictError says a unique value is taken; HubSpot answers it with 409.
type conflictError struct {
	prop, value, existing string
	label                 string
}

func (e *conflictError) Error() string {
	if e.prop == "email" {
		return "Contact already exists. Existing ID: " + e.existing
	}
	return fmt.Sprintf("A %s with %s %q already exists. Existing ID: %s", strings.ToLower(e.label), e.prop, e.value, e.existing)
}

// taken reports the live record other than self that holds value for a
// unique property.
func (tb *table) taken(prop, value string, self *record) *conflictError {
	idx := tb.unique[prop]
	if idx == nil || value == "" {
		return nil
	}
	if r := idx[value]; r != nil && r != self {
		return &conflictError{prop: prop, value: value, existing: r.id, label: tb.typ.label}
	}
	return nil
}

// checkUnique verifies that a set of writes (each a target record, nil for
// a new one, and its normalized properties) leaves every unique value held
// by at most one live record, counting the writes against each other too.
func (tb *table) checkUnique(targets []*record, props []map[string]string) error {
	for prop := range tb.unique {
		claimed := map[string]*record{}
		for i, p := range props {
			v, ok := p[prop]
			if !ok || v == "" {
				continue
			}
			if err := tb.taken(prop, v, targets[i]); err != nil {
				return err
			}
			if prev, dup := claimed[v]; dup && (prev == nil || prev != targets[i]) {
				return &conflictError{prop: prop, value: v, existing: "(same batch)", label: tb.typ.label}
			}
			claimed[v] = targets[i]
		}
	}
	return nil
}

func (tb *table) insert(props map[string]string, now time.Time, by *source) *record {
	num := tb.next
	tb.next++
	r := &record{id: strconv.FormatInt(num, 10), num: num, props: map[string]string{}, history: map[string][]change{}, created: now}
	r.props["createdate"] = stamp(now)
	r.props["hs_object_id"] = r.id
	r.remember("createdate", r.props["createdate"], now, by)
	r.remember("hs_object_id", r.id, now, by)
	tb.rows = append(tb.rows, r)
	tb.byID[r.id] = r
	tb.notify(r, "creation", now, by)
	tb.set(r, props, now, by)
	return r
}

// set writes values ("" clears) and bumps the modified time. HubSpot bumps
// it on every write, even one that changes nothing, and so do we. by is
// who wrote, for the properties' history.
func (tb *table) set(r *record, props map[string]string, now time.Time, by *source) {
	tb.notifyChanges(r, props, now, by)
	for name, v := range props {
		r.remember(name, v, now, by)
		if idx := tb.unique[name]; idx != nil {
			if old := r.props[name]; old != "" && idx[old] == r {
				delete(idx, old)
			}
			if v != "" {
				idx[v] = r
			}
		}
		if v == "" {
			delete(r.props, name)
		} else {
			r.props[name] = v
		}
	}
	r.updated = now
	r.props[tb.typ.modProp] = stamp(now)
	r.remember(tb.typ.modProp, r.props[tb.typ.modProp], now, by)
	tb.reindex(r, now)
}

// archive moves a record to the recycle bin; by is who deleted it. Only archived and archivedAt
// change: HubSpot leaves updatedAt and the modified-date property at the
// last edit before the archive (as recorded responses of archived deals
// show), which is why search-based pulls never see an archive.
func (tb *table) archive(r *record, now time.Time, by *source) {
	if r.archived {
		return
	}
	tb.notify(r, "deletion", now, by)
	for name, idx := range tb.unique {
		if v := r.props[name]; v != "" && idx[v] == r {
			delete(idx, v)
		}
	}
	r.archived = true
	r.archivedAt = now
	tb.reindex(r, now)
}

// lookup finds a record by id or by the value of a unique property.
// archived selects archived records instead of live ones, as HubSpot's
// archived=true does.
func (tb *table) lookup(idProperty, value string, archived bool) *record {
	var r *record
	switch idProperty {
	case "", "hs_object_id":
		r = tb.byID[value]
	case "email":
		value = strings.ToLower(strings.TrimSpace(value))
		fallthrough
	default:
		if !archived {
			r = tb.unique[idProperty][value]
		} else {
			for _, row := range tb.rows {
				if row.archived && row.props[idProperty] == value {
					r = row
					break
				}
			}
		}
	}
	if r == nil || r.archived != archived {
		return nil
	}
	return r
}

// Object is a stored record as tests see it.
type Object struct {
	ID         string
	Properties map[string]string // set values only
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Archived   bool
	ArchivedAt time.Time // zero unless Archived
}

func (r *record) object() Object {
	return Object{ID: r.id, Properties: maps.Clone(r.props), CreatedAt: r.created, UpdatedAt: r.updated, Archived: r.archived, ArchivedAt: r.archivedAt}
}
