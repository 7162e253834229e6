package conflict

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/state"
)

// A chunk staged at once (load, decide, save) leaves the state file as
// staging its records one by one, statement by statement, leaves it:
// the same links, golden records, queued writes and conflicts.
func TestChunkStagesAsRecordByRecord(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := func(id string, sec int, fields map[string]any) tandem.Record {
		raw, _ := json.Marshal(fields)
		return tandem.Record{ID: id, Raw: raw, Modified: at.Add(time.Duration(sec) * time.Second)}
	}
	chunks := []struct {
		sys  string
		recs []tandem.Record
	}{
		{"a", []tandem.Record{
			r("1", 1, map[string]any{"email": "ann@x.com", "name": "Ann", "phone": "1"}),
			r("2", 1, map[string]any{"email": "bob@x.com", "name": "Bob"}),
			r("3", 1, map[string]any{"email": "bob@x.com", "name": "Bobby"}), // Bob's key, taken: an identity conflict
			r("1", 2, map[string]any{"email": "ann@x.com", "name": "Anne", "phone": "1"}),
			{ID: "4", Raw: []byte(`{`)},
		}},
		{"b", []tandem.Record{
			r("x", 3, map[string]any{"email": "ann@x.com", "name": "Ann B", "phone": "2"}), // no base: conflicts
			r("y", 3, map[string]any{"email": "cat@x.com", "name": "Cat"}),
		}},
		{"a", []tandem.Record{
			r("1", 5, map[string]any{"email": "ann@x.com", "name": "Anna", "phone": "1"}),
			{ID: "2", Deleted: true, Modified: at.Add(6 * time.Second)},
			r("3", 7, map[string]any{"email": "rob@x.com", "name": "Rob"}), // edited out of its identity conflict
		}},
		{"b", []tandem.Record{
			r("x", 8, map[string]any{"email": "ann@x.com", "name": "Annie", "phone": "2"}),
			{ID: "y", Deleted: true, Modified: at.Add(9 * time.Second)},
		}},
	}
	dump := func(each bool) string {
		b := newBench(t, "[email]", "{policy: newest}")
		ctx := context.Background()
		for i, c := range chunks {
			b.now = at.Add(time.Duration(10+i) * time.Second)
			err := b.e.Store.Update(ctx, func(tx *state.Tx) error {
				if each {
					return b.e.stageEach(ctx, tx, b.ent, b.ent.System(c.sys), c.recs)
				}
				return b.e.stageAll(ctx, tx, b.ent, b.ent.System(c.sys), c.recs)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		return dumpState(t, b)
	}
	if each, all := dump(true), dump(false); each != all {
		t.Errorf("staged record by record:\n%s\nstaged as chunks:\n%s", each, all)
	}
}

// dumpState writes what the state file holds of the bench's systems,
// entities named by their records (their ids are random).
func dumpState(t *testing.T, b *bench) string {
	ctx := context.Background()
	var lines []string
	name := map[string]string{}
	for _, sys := range []string{"a", "b"} {
		for _, id := range []string{"1", "2", "3", "4", "x", "y"} {
			if l, err := b.e.Store.Link(ctx, sys, strings.ToUpper(sys), id); err == nil && l != nil && name[l.EntityID] == "" {
				name[l.EntityID] = sys + id
			}
		}
	}
	for _, sys := range []string{"a", "b"} {
		for _, id := range []string{"1", "2", "3", "4", "x", "y"} {
			l, err := b.e.Store.Link(ctx, sys, strings.ToUpper(sys), id)
			if err != nil {
				t.Fatal(err)
			}
			if l == nil {
				continue
			}
			g, err := b.e.Store.Golden(ctx, l.EntityID)
			if err != nil {
				t.Fatal(err)
			}
			d, err := b.e.Store.DeleteOf(ctx, l.EntityID)
			if err != nil {
				t.Fatal(err)
			}
			var del string
			if d != nil {
				del = d.State + " by " + d.By
			}
			lines = append(lines, fmt.Sprintf("link %s%s -> %s snapshot %v deleted %v; golden %v; delete %s",
				sys, id, name[l.EntityID], l.Snapshot, !l.Deleted.IsZero(), g.Values(), del))
		}
		intents, err := b.e.Store.Pending(ctx, sys, strings.ToUpper(sys), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range intents {
			lines = append(lines, fmt.Sprintf("intent %s -> %s", name[in.EntityID], sys))
		}
	}
	cs, err := b.e.Store.Conflicts(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		lines = append(lines, fmt.Sprintf("conflict %s %s %s %s %s", name[c.EntityID], c.Kind, c.Field, c.Status, c.Policy))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// A chunk read again loads the entity (golden record, other links, writes
// in flight, conflicts) only of the records that changed: a record whose
// view equals its snapshot is staged from its own link, with nothing to
// fall back on, and the chunk leaves the state as record-by-record
// staging does.
func TestChunkLoadsOnlyWhatChanged(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := func(id string, sec int, fields map[string]any) tandem.Record {
		raw, _ := json.Marshal(fields)
		return tandem.Record{ID: id, Raw: raw, Modified: at.Add(time.Duration(sec) * time.Second)}
	}
	first := []tandem.Record{
		r("1", 1, map[string]any{"email": "ann@x.com", "name": "Ann"}),
		r("2", 1, map[string]any{"email": "bob@x.com", "name": "Bob"}),
		r("3", 1, map[string]any{"email": "cat@x.com", "name": "Cat"}),
	}
	again := []tandem.Record{
		r("1", 1, map[string]any{"email": "ann@x.com", "name": "Ann"}),                   // the same
		r("2", 2, map[string]any{"email": "bob@x.com", "name": "Bob", "unmapped": true}), // moved in an unmapped field only
		r("3", 2, map[string]any{"email": "cat@x.com", "name": "Kat"}),                   // edited
	}
	ctx := context.Background()
	dump := func(each bool) string {
		b := newBench(t, "[email]", "{policy: newest}")
		sm := b.ent.System("a")
		for i, recs := range [][]tandem.Record{first, again} {
			b.now = at.Add(time.Duration(10+i) * time.Second)
			err := b.e.Store.Update(ctx, func(tx *state.Tx) error {
				if each {
					return b.e.stageEach(ctx, tx, b.ent, sm, recs)
				}
				if i == 1 {
					in, err := b.e.load(ctx, tx, b.ent, sm, recs)
					if err != nil {
						return err
					}
					var loaded []string
					for id := range in.Entities {
						loaded = append(loaded, id)
					}
					if want := []string{b.entityOf("a", "3")}; !slices.Equal(loaded, want) {
						t.Errorf("loaded entities %v, want only the edited record's %v", loaded, want)
					}
					if _, err := decide(in, b.e.chunkContext(sm), b.ent, sm, recs); err != nil {
						t.Errorf("decide: %v", err)
					}
				}
				return b.e.stageAll(ctx, tx, b.ent, sm, recs)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		l, err := b.e.Store.Link(ctx, "a", "A", "2")
		if err != nil || !strings.Contains(string(l.Raw), "unmapped") {
			t.Errorf("record 2's payload was not kept: %s (%v)", l.Raw, err)
		}
		return dumpState(t, b)
	}
	if each, all := dump(true), dump(false); each != all {
		t.Errorf("staged record by record:\n%s\nstaged as chunks:\n%s", each, all)
	}
}
