package conflict

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"tandem"
	"tandem/mapping"
)

// goldens is a store of golden records by entity id; a missing one is
// sql.ErrNoRows, as the state's is; down fails every read.
type goldens struct {
	g     map[string]tandem.Golden
	reads int
	down  bool
}

func (s *goldens) Golden(_ context.Context, id string) (tandem.Golden, error) {
	s.reads++
	if s.down {
		return nil, errors.New("database is locked")
	}
	if g, ok := s.g[id]; ok {
		return g, nil
	}
	return nil, sql.ErrNoRows
}

// The report names each conflict's record by its golden record's name and
// email, once per entity, a sensitive name masked; an entity merged away
// since is left to show its id; a store that fails says so.
func TestWhoIs(t *testing.T) {
	cfg := maskConfig(t) // contact: name sensitive
	store := &goldens{g: map[string]tandem.Golden{
		"e1": {"email": {Value: "ann@x.com"}, "name": {Value: "Ann"}},
		"e2": {"domain": {Value: "x.com"}, "email": {Value: "info@x.com"}, "name": {Value: "X Corp"}},
	}}
	cs := []tandem.Conflict{
		{Entity: "contact", EntityID: "e1"},
		{Entity: "contact", EntityID: "e1", Field: "phone"},
		{Entity: "company", EntityID: "e2"},
		{Entity: "contact", EntityID: "gone"},
		{Entity: "contact"}, // no entity: a record held before it had one
	}
	who, err := WhoIs(context.Background(), store, cfg, cs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"e1": mapping.Masked + " <ann@x.com>", "e2": "X Corp <info@x.com>"}
	if len(who) != len(want) || who["e1"] != want["e1"] || who["e2"] != want["e2"] {
		t.Errorf("who = %q, want %q", who, want)
	}
	if store.reads != 3 {
		t.Errorf("%d golden records read, want 3 (e1 once, e2, gone)", store.reads)
	}
	store.down = true
	if _, err := WhoIs(context.Background(), store, cfg, cs); err == nil {
		t.Error("a store that fails: no error")
	}
}
