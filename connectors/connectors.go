// Package connectors defines what a connector is (a Source and a Sink for one
// configured system), keeps the registry of connector types, and holds what
// every connector shares: strict decoding of its config section and the
// resilient HTTP client.
//
// The client (HTTP, one per system) retries what is worth retrying within a
// deadline per kind of call, paces every attempt by the system's rate budget
// (configured, then corrected from the API's own headers), stops writing when
// the daily quota is down to its reserve, opens a circuit breaker when the
// system keeps failing, logs each attempt without a secret, and reports all
// of that as Health for `tandem status`.
package connectors

import (
	"context"
	"sort"
	"sync"

	"tandem"
)

// Source pulls changes after a cursor, oldest first, one page at a time. Each
// page carries the cursor that resumes after it. If page returns an error,
// Pull stops and returns it.
type Source interface {
	Pull(ctx context.Context, q tandem.Query, page func(tandem.Page) error) error
}

// Sink applies writes to one object. It returns one Result per write, in
// order; the error is for a failure of the whole call. A Sink splits writes
// into batches its API accepts. A write the system refuses because another
// record holds a unique value it sets fails with a *tandem.ExistsError
// naming that record, when the API names it: the engine merges or holds on
// it instead of setting the write aside. A write refused only because some
// values do not fit their fields fails with a *tandem.UnwritableError
// naming each by its payload path, when the system can tell: the engine
// holds those fields and sends the others again.
// Where its API allows, it guards the write gap (an edit made between
// the engine's re-read and the write): it makes an update conditional on
// Write.Unmodified (a refusal is a retryable error wrapping
// tandem.ErrConflict), or reports in Result.Overwritten what the write
// replaced. Neither is required.
type Sink interface {
	Apply(ctx context.Context, object string, writes []tandem.Write) ([]tandem.Result, error)
}

// Batcher is a Sink whose API takes a number of writes a call other than
// the engine's default push batch (100): the engine sends it batches of
// that size, so that one push step is one call (Salesforce's sObject
// Collections take 200).
type Batcher interface {
	WriteBatch() int
}

// Connector is one configured system.
type Connector interface {
	Source
	Sink
}

// Factory opens a connector from its config section. It decodes and
// validates the section itself (see Config.Decode).
type Factory func(cfg Config) (Connector, error)

var (
	mu        sync.Mutex
	factories = map[string]Factory{}
)

// Register makes a connector type available by name. Connector packages call
// it from init.
func Register(typ string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[typ]; dup {
		panic("connectors: type registered twice: " + typ)
	}
	factories[typ] = f
}

// Types lists the registered connector types.
func Types() []string {
	mu.Lock()
	defer mu.Unlock()
	var ts []string
	for t := range factories {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

// Open opens the system described by cfg with the factory of its type.
func Open(cfg Config) (Connector, error) {
	mu.Lock()
	f, ok := factories[cfg.Type]
	mu.Unlock()
	if !ok {
		return nil, cfg.Errorf("type", "unknown connector type %q (known: %v)", cfg.Type, Types())
	}
	return f(cfg)
}

// FieldInfo is one field of a system's object, as the system describes it.
type FieldInfo struct {
	// Path is where the field sits in a record's payload, as a gjson path
	// with dots in names escaped: "properties.firstname" for HubSpot,
	// "FirstName" for Salesforce. A mapped path names this field when it
	// equals Path or continues it with a dot (a nested value).
	Path     string
	Label    string
	Type     string   // the system's own type name: "string", "enumeration", "phone", "double"…
	ReadOnly bool     // the system maintains it; writes are rejected
	Options  []string // the allowed values of a picklist or enumeration, if any
	// Unique: the system keeps the field's values unique among the
	// object's records, and a write can be keyed on it (HubSpot's
	// hasUniqueValue, a Salesforce External ID marked Unique).
	Unique bool
}

// Describer is a connector that can list the fields of an object. `tandem
// doctor` uses it to check mapped paths; connectors that cannot describe
// their objects simply do not implement it.
type Describer interface {
	Describe(ctx context.Context, object string) ([]FieldInfo, error)
}

// Fetcher is a connector that can read records by id in batches. The
// engine re-reads the records it is about to write, just before writing,
// when the system has no optimistic concurrency, so an edit made since
// the last pull is merged first instead of overwritten.
type Fetcher interface {
	// Fetch returns the live records among ids, with the fields of q
	// (q.After is unused), in any order. An id that is not found, or is
	// deleted or archived, is left out of the result; it is not an error.
	// Fetch splits ids into as many calls as the API needs. Records that
	// came back but cannot be parsed are returned in a
	// *tandem.RejectedError beside the others, never left out (which
	// would read as deleted).
	Fetch(ctx context.Context, q tandem.Query, ids []string) ([]tandem.Record, error)
}

// DeleteFetcher is a Fetcher that can also say when records were deleted.
// A record Fetch leaves out is gone; the engine then times its delete by
// the system's own clock when it can (so the delete loses to an edit
// made elsewhere after it, and beats one made before), and otherwise by
// the last time the record was seen alive (so it loses to every edit that
// may have come after it): never by Tandem's clock, which says only when
// the delete was noticed.
type DeleteFetcher interface {
	// FetchDeleted returns, among ids, the records the system still holds
	// as deleted (HubSpot's archived records, Salesforce's recycle bin),
	// each with Deleted set and Modified the system's time of the delete
	// (HubSpot archivedAt, Salesforce SystemModstamp). Ids live, unknown,
	// or deleted beyond recall are left out; they are not an error.
	FetchDeleted(ctx context.Context, q tandem.Query, ids []string) ([]tandem.Record, error)
}

// Keyed is a connector whose creates store Tandem's key (Write.Key, the
// entity id) in the record, in a field the system keeps unique, and upsert
// by it: Salesforce's External ID field, HubSpot's key_property. KeyPath
// names that field as a payload path ("properties.tandem_id"), or "" when
// the object has none. The engine reads it with the mapped fields, so a
// record Tandem created whose answer was lost is found again by its key,
// whatever else changed in it meanwhile.
type Keyed interface {
	KeyPath(object string) string
	// KeySetup says how an admin makes the field, for `tandem doctor`
	// to show when it is missing or not unique.
	KeySetup(object string) string
}

// KeyFetcher is a Keyed connector that can read records by the key they
// hold: the engine asks before it sends a create again, so that a record
// the first try made (its answer lost) is merged as it is now rather than
// overwritten by the create. Keys not found are left out.
type KeyFetcher interface {
	FetchKeys(ctx context.Context, q tandem.Query, keys []string) ([]tandem.Record, error)
}

// Diagnoser is a connector with checks of its own for `tandem doctor`,
// beyond its fields: a database's table, its columns' types against the
// mapping, what its change capture needs. fields are the mapped payload
// paths of the object, each with its canonical type ("string", "number"
// …; "" when it has none, a split or a constant).
type Diagnoser interface {
	Diagnose(ctx context.Context, object string, fields map[string]string) []Finding
}

// Finding is one check a Diagnoser made: what, and Err nil when it
// passed; when it failed, Fix says how to mend it (the exact SQL).
type Finding struct {
	What string
	Err  error
	Fix  string
}

// Follower is a connector that can tell, as they happen, that its system
// holds changes of an object no pull has read yet (a database's
// replication slot): the daemon then runs a pass at once instead of
// waiting for the schedule. Follow blocks until ctx is done, calling
// changed (which does not block) when it sees new changes; it returns
// nil at once when the system, as configured, cannot follow.
type Follower interface {
	Follow(ctx context.Context, object string, changed func()) error
}
