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
	// Precision of Modified, as its source stamps it (Record.Precision).
	Precision time.Duration `json:"p,omitempty"`
	// Held: the systems disagree on the field and a person decides (an
	// open conflict). Until then the field is written nowhere.
	Held bool `json:"h,omitempty"`
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
	// Deleted is when the record was deleted in its system (zero while it
	// lives). The link stays as a tombstone: the delete's echo is
	// recognised, and nothing is written to the record again.
	Deleted time.Time
}

// Conflict kinds and statuses.
const (
	ConflictField    = "field"    // one field changed differently in several systems
	ConflictIdentity = "identity" // a record matches several entities, or shares a key in its system
	ConflictDelete   = "delete"   // a record was deleted in one system
	// ConflictValue: a system holds a value its mapping cannot read (policy
	// "mapping"), or refuses the value Tandem would write to it (policy
	// "write"): that field, for that system, is held until it is fixed
	// there, the value changes, or a person decides.
	ConflictValue = "value"
	// The policies of a value conflict a write opened: the system refused
	// the value (a text too long for its column), or the mapping cannot
	// write it there (a value its map does not list).
	PolicyWrite  = "write"
	PolicyMapOut = "map out"

	ConflictOpen     = "open"     // held for a person (tandem resolve)
	ConflictResolved = "resolved" // decided by a person
	ConflictAuto     = "auto"     // decided by the policy
)

// HeldWrite reports whether the conflict holds a field back from a system
// because its value cannot be written there (rather than read).
func (c *Conflict) HeldWrite() bool {
	return c.Kind == ConflictValue && (c.Policy == PolicyWrite || c.Policy == PolicyMapOut)
}

// SideValue is one system's value in a conflict.
type SideValue struct {
	Value      any       `json:"value"`
	ModifiedAt time.Time `json:"modified_at"`
	RecordID   string    `json:"record_id"`
}

// Conflict records a decision a policy made, or could not make alone.
// Its JSON form is what `tandem conflicts --format json` prints.
type Conflict struct {
	ID       int64                `json:"id"`
	Entity   string               `json:"entity"`
	EntityID string               `json:"entity_id"`
	Kind     string               `json:"kind"`
	Field    string               `json:"field"`
	Base     any                  `json:"base"`
	Values   map[string]SideValue `json:"values"` // system -> its value
	Policy   string               `json:"policy"`
	Status   string               `json:"status"`
	// Decided is the system whose value won, "value" when a person gave
	// one, or, while open, why nothing was decided.
	Decided  string    `json:"decided"`
	Pass     string    `json:"pass,omitempty"` // the pass that met it
	Created  time.Time `json:"created_at"`
	Resolved time.Time `json:"resolved_at,omitzero"` // when a person or the policy closed it
}
