// Package tandem holds the vocabulary every part of Tandem shares: records as
// a system holds them, cursors and pages, writes and their results, and the
// error type connectors use to say whether a failure is worth retrying.
// It does no I/O.
package tandem

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Cursor is an opaque position in one system's change stream. The zero value
// means "from the beginning". Only the connector that produced it reads it.
type Cursor string

// Record is one record observed in a system.
type Record struct {
	ID       string          // the system's id for the record
	Raw      json.RawMessage // the payload exactly as the API returned it
	Modified time.Time       // the system's own last-modified time
	Deleted  bool            // archived / deleted in the system
	// FieldTimes, when the API tells them, are the times each field was
	// last set, by payload path ("properties.phone"). The merge's newest
	// policy prefers them to Modified. Nil when the API gives none.
	FieldTimes map[string]time.Time
	// Precision is how coarse Modified and FieldTimes are: a stamp T
	// stands for some time in [T, T+Precision). Zero for a millisecond or
	// finer; Salesforce stamps whole seconds.
	Precision time.Duration
}

// Page is one page of changes, oldest first. Cursor resumes after the last
// record of the page.
type Page struct {
	Records []Record
	Cursor  Cursor
	// Rejected are the page's records that could not be parsed (no id, a
	// bad timestamp …): set aside as dead letters with their raw body,
	// while the page goes on.
	Rejected []Rejected
}

// Rejected is a record of a page that could not be parsed.
type Rejected struct {
	ID     string          // the record's id, if it could be read
	Raw    json.RawMessage // the record as the API sent it
	Reason string
}

// Query asks a Source for the changes of one object after a cursor.
type Query struct {
	Object string
	// Fields are the payload paths (gjson syntax) the caller will read; a
	// connector derives from them which fields to ask its API for.
	Fields []string
	After  Cursor
	// Since, when After is empty and Since is not zero, starts the read at
	// the records modified at or after it instead of at the beginning
	// (tandem backfill --since). It is ignored when After is set.
	Since time.Time
}

// Op is the kind of a write.
type Op string

const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// Write is one change Tandem asks a system to make.
type Write struct {
	Op Op
	// ID is the system's record id; empty for a create.
	ID string
	// Key is stable across every retry of this write (the entity id). A
	// connector uses it, or a match key in Payload, to make creates
	// idempotent.
	Key string
	// Payload is the fields to set, shaped as the system's own record
	// (HubSpot {"properties":{...}}, Salesforce {"Email":...}). An update
	// carries only the fields that change.
	Payload json.RawMessage
	// Unmodified, when set on an update, is the record's modified time as
	// Tandem read it just before this write (the re-read). A connector that
	// can make the write conditional on it (Salesforce's If-Unmodified-Since)
	// may do so, and then answers a write refused because the record was
	// modified since with a retryable error wrapping ErrConflict: the edit
	// made in between is read and merged before the write goes again,
	// instead of being overwritten. A connector that cannot ignores it.
	Unmodified time.Time
}

// Result is the outcome of one Write, in the order the writes were given.
type Result struct {
	// ID is the record's id in the system (the new id for a create).
	ID string
	// Record is the record as the system now holds it, when the API returns
	// it; nil otherwise.
	Record *Record
	// Err is nil when the write is done. Otherwise IsRetryable tells whether
	// to try again later or to set the write aside.
	Err error
	// Overwritten, for a done update, are the values someone else set in
	// the record after Write.Unmodified and before this write, which the
	// write replaced, when the system can tell (HubSpot with property
	// history). The engine merges each as an edit made in that system at
	// its time: a conflict with what the write set, decided by the policy,
	// recorded, and written back where it wins.
	Overwritten []Overwrite
}

// Overwrite is one value a write replaced that was set after the record
// was read for it.
type Overwrite struct {
	Path  string          // the payload path, "properties.firstname"
	Value json.RawMessage // the value as the record's payload held it
	At    time.Time       // when it was set, by the system's clock
}

// Contract errors.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// ExistsError is a write a system refused because another of its records
// already holds a unique value the write sets (HubSpot's 409 "Contact
// already exists. Existing ID: 123"): a create that found a record made
// meanwhile, or an update that would give a record another's match key. It
// wraps ErrConflict; the engine links, merges or holds by RecordID.
type ExistsError struct {
	RecordID string // the system's record that holds the value
	// Path is the payload path of the unique value ("properties.email"),
	// when the system says which.
	Path string
}

func (e *ExistsError) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("record %s already holds this %s", e.RecordID, e.Path)
	}
	return "record " + e.RecordID + " already holds this unique value"
}

func (e *ExistsError) Unwrap() error { return ErrConflict }

// UnwritableError is a write a system refused because of the values of
// some of its fields alone, each of which cannot be written there as it
// is (a text too long for its column, a number out of its range, a date
// that does not parse), when the system can say which. The engine holds
// those fields for that system (an open conflict of kind value) and
// writes the others; a field that cannot be named makes the whole write
// fail as before. It is permanent: the same values fail again.
type UnwritableError struct {
	Fields []Unwritable
}

// Unwritable is one value a write could not set.
type Unwritable struct {
	Path   string          // the payload path: "phone", "properties.phone"
	Value  json.RawMessage // the value as the payload held it
	Reason string          // why it does not fit: "column phone (character varying(20)): holds at most 20 characters, got 42"
}

func (e *UnwritableError) Error() string {
	var parts []string
	for _, f := range e.Fields {
		parts = append(parts, f.Reason)
	}
	return "cannot be written: " + strings.Join(parts, "; ")
}

// RejectedError is what a read by id (connectors.Fetcher) returns beside
// the records it could parse, when some it was asked for came back but
// could not be parsed (no modified time, say). Each is named by the id it
// was asked for, so the caller sets it aside instead of taking it for
// deleted, and the others go on. A record whose id cannot be told is not
// rejected this way: the whole read fails.
type RejectedError struct {
	Rejected []Rejected
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d records could not be parsed", len(e.Rejected))
	for i, r := range e.Rejected {
		if i == 3 {
			fmt.Fprintf(&b, "; …")
			break
		}
		fmt.Fprintf(&b, "; %s: %s", r.ID, r.Reason)
	}
	return b.String()
}

// Error is a failure reported by a system or by Tandem about one operation.
type Error struct {
	Op        string // what was being done: "pull contacts", "apply Contact"
	System    string // the configured system name, when known
	Status    int    // HTTP status, when there was one
	Code      string // the API's own error code or category
	Message   string
	Retryable bool
	Err       error
}

func (e *Error) Error() string {
	msg := e.Op
	if e.System != "" {
		msg = e.System + ": " + msg
	}
	if e.Status != 0 {
		msg += fmt.Sprintf(": HTTP %d", e.Status)
	}
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// IsRetryable reports whether err, or an error it wraps, says the operation
// may succeed if tried again later.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}
