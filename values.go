package tandem

import (
	"encoding/json"
	"time"
)

// Values are the canonical field values of one record, as one system holds
// them (a view or a snapshot). A missing key means the system said nothing
// about the field; a nil value means the field is empty (cleared). The
// difference matters: absent leaves other systems alone, empty clears them.
type Values map[string]any

// Equal reports whether two canonical values are the same.
func Equal(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if sa, ok := a.(string); ok {
		sb, ok := b.(string)
		return ok && sa == sb
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// Field is one field of a golden record: the agreed value, when it was set
// in the system it came from, and which system that was.
type Field struct {
	Value    any       `json:"v"`
	Modified time.Time `json:"t"`
	Source   string    `json:"s"`
}

// Golden is the merged canonical record of one entity: the base of the
// next three-way merge.
type Golden map[string]Field

// Values returns the golden values alone.
func (g Golden) Values() Values {
	v := make(Values, len(g))
	for k, f := range g {
		v[k] = f.Value
	}
	return v
}

// Link ties an entity to one record in one system, with the snapshot of
// what Tandem last saw in, or wrote to, that record.
type Link struct {
	EntityID   string
	System     string
	Object     string
	ExternalID string
	Snapshot   Values
	Raw        json.RawMessage // the payload last read from the system
	Modified   time.Time       // the system's modified time of that payload
}

// Conflict kinds and statuses.
const (
	ConflictField    = "field"
	ConflictIdentity = "identity"

	ConflictOpen = "open"
	ConflictAuto = "auto"
)

// SideValue is one system's value in a conflict.
type SideValue struct {
	Value      any       `json:"value"`
	ModifiedAt time.Time `json:"modified_at"`
	RecordID   string    `json:"record_id"`
}

// Conflict records a decision a policy made, or could not make alone.
type Conflict struct {
	ID       int64
	Entity   string
	EntityID string
	Kind     string
	Field    string
	Base     any
	Values   map[string]SideValue // system -> its value
	Policy   string
	Status   string
	Decided  string // the system whose value won, or why nothing was decided
	Created  time.Time
}
