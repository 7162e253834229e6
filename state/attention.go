package state

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"tandem"
)

// Mark is a point in the state file's history: what a command's summary
// counts from.
type Mark struct {
	At         time.Time
	DeadLetter int64 // the last record set aside before it
	Conflict   int64 // the last conflict recorded before it
}

// Mark returns the state file's current point.
func (q queries) Mark(ctx context.Context) (Mark, error) {
	m := Mark{At: time.Now()}
	err := q.db.QueryRowContext(ctx, `SELECT COALESCE((SELECT max(id) FROM dead_letters), 0), COALESCE((SELECT max(id) FROM conflicts), 0)`).
		Scan(&m.DeadLetter, &m.Conflict)
	return m, err
}

// Problem is one kind of thing that needs a person, with how many of it
// there are and one example.
type Problem struct {
	What    string `json:"what"`  // "writes failed for good", "records set aside", …
	Where   string `json:"where"` // system and object, or entity
	Count   int    `json:"count"`
	Example string `json:"example"` // the error or reason of one of them
}

// Attention is what happened since a Mark that a person must look at.
type Attention struct {
	DeadWrites int       // writes set aside for good (tandem status: dead letters)
	Problems   []Problem // every kind, aggregated, in a stable order
}

// AttentionSince counts what needs a person since m: writes that failed for
// good, records set aside as unreadable, conflicts held for a person
// (fields, identities, deletes) and values held because they cannot be
// read. Repeated errors are one Problem with a
// count and an example.
func (q queries) AttentionSince(ctx context.Context, m Mark) (Attention, error) {
	var a Attention
	agg := map[[2]string]*Problem{}
	add := func(what, where, example string) {
		k := [2]string{what, where}
		if p, ok := agg[k]; ok {
			p.Count++
			return
		}
		agg[k] = &Problem{What: what, Where: where, Count: 1, Example: example}
	}
	// Dead writes are updated in place, so they are found by time.
	rows, err := q.db.QueryContext(ctx, `SELECT system, object, COALESCE(last_error, ''), updated_at FROM outbox WHERE status = 'dead'`)
	if err != nil {
		return a, err
	}
	for rows.Next() {
		var sys, obj, why string
		var at sql.NullString
		if err := rows.Scan(&sys, &obj, &why, &at); err != nil {
			rows.Close()
			return a, err
		}
		if !parseTS(at).Before(m.At) {
			a.DeadWrites++
			add("writes failed for good", sys+" "+obj, why)
		}
	}
	if err := rows.Close(); err != nil {
		return a, err
	}
	rows, err = q.db.QueryContext(ctx, `SELECT system, object, reason FROM dead_letters WHERE id > ?`, m.DeadLetter)
	if err != nil {
		return a, err
	}
	for rows.Next() {
		var sys, obj, why string
		if err := rows.Scan(&sys, &obj, &why); err != nil {
			rows.Close()
			return a, err
		}
		add("records set aside", sys+" "+obj, why)
	}
	if err := rows.Close(); err != nil {
		return a, err
	}
	cs, err := q.conflicts(ctx, `WHERE id > ? AND status = ?`, m.Conflict, tandem.ConflictOpen)
	if err != nil {
		return a, err
	}
	for _, c := range cs {
		switch c.Kind {
		case tandem.ConflictField:
			add("fields held for a person", c.Entity+" "+c.Field, c.Decided)
		case tandem.ConflictIdentity:
			add("identity conflicts opened", c.Entity, c.Decided)
		case tandem.ConflictDelete:
			add("deletes quarantined", c.Entity, c.Decided)
		case tandem.ConflictValue:
			if c.HeldWrite() {
				add("values held: a system cannot take them", c.Entity+" "+c.Field, c.Decided)
			} else {
				add("values held: they cannot be read", c.Entity+" "+c.Field, c.Decided)
			}
		default:
			add(c.Kind+" conflicts opened", c.Entity, c.Decided)
		}
	}
	for _, p := range agg {
		a.Problems = append(a.Problems, *p)
	}
	sort.Slice(a.Problems, func(i, j int) bool {
		x, y := a.Problems[i], a.Problems[j]
		if x.What != y.What {
			return x.What < y.What
		}
		if x.Where != y.Where {
			return x.Where < y.Where
		}
		return x.Count > y.Count
	})
	return a, nil
}

// String is one line per problem, for a command's summary.
func (p Problem) String() string {
	return fmt.Sprintf("%s, %s: %d (e.g. %s)", p.What, p.Where, p.Count, p.Example)
}
