package state

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"tandem"
)

// Reads for a chunk of pulled records: each answers, in one query (or one
// per few hundred ids), what the per-record reads answer one at a time, so
// that the engine can load what a chunk's decisions need before making
// them.

// inList is the placeholders of an IN list of n values: "?, ?, ?".
func inList(n int) string {
	return "?" + strings.Repeat(", ?", n-1)
}

// eachPart calls fn with ids in parts small enough for one statement.
func eachPart(ids []string, fn func(part []string, args []any) error) error {
	const most = 500
	for len(ids) > 0 {
		part := ids[:min(most, len(ids))]
		ids = ids[len(part):]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		if err := fn(part, args); err != nil {
			return err
		}
	}
	return nil
}

// EntityRow is an entity as a chunk loads it: its type, golden record and
// delete state (nil while it lives).
type EntityRow struct {
	Entity string
	Golden tandem.Golden
	Delete *Delete
}

// Entities returns the entities of ids that exist, by id.
func (q queries) Entities(ctx context.Context, ids []string) (map[string]*EntityRow, error) {
	out := make(map[string]*EntityRow, len(ids))
	err := eachPart(ids, func(part []string, args []any) error {
		rows, err := q.db.QueryContext(ctx, `SELECT id, entity, golden, delete_state, delete_after, deleted_by, deleted_at, delete_conflict
			FROM entities WHERE id IN (`+inList(len(part))+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, g string
			var r EntityRow
			var st, after, by, at sql.NullString
			var conflict sql.NullInt64
			if err := rows.Scan(&id, &r.Entity, &g, &st, &after, &by, &at, &conflict); err != nil {
				return err
			}
			g, err := q.keys.openText("golden", g)
			if err != nil {
				return fmt.Errorf("state: entity %s: %w", id, err)
			}
			if err := json.Unmarshal([]byte(g), &r.Golden); err != nil {
				return fmt.Errorf("state: entity %s: bad golden record: %w", id, err)
			}
			if st.Valid {
				r.Delete = &Delete{State: st.String, After: parseTS(after), By: by.String, At: parseTS(at), Conflict: conflict.Int64}
			}
			out[id] = &r
		}
		return rows.Err()
	})
	return out, err
}

// LinksOf returns every link of the entities of ids.
func (q queries) LinksOf(ctx context.Context, ids []string) ([]*tandem.Link, error) {
	var out []*tandem.Link
	err := eachPart(ids, func(part []string, args []any) error {
		rows, err := q.db.QueryContext(ctx, `SELECT `+linkCols+` FROM links WHERE entity_id IN (`+inList(len(part))+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			l, err := q.scanLink(rows)
			if err != nil {
				return err
			}
			out = append(out, l)
		}
		return rows.Err()
	})
	return out, err
}

// KeyOwners returns, for each match-key value asked (by key name), the
// entities holding it, in id order (Candidates' order); a value no entity
// holds maps to none.
func (q queries) KeyOwners(ctx context.Context, entity string, values map[string][]string) (map[[2]string][]string, error) {
	out := map[[2]string][]string{}
	for name, vs := range values {
		for _, v := range vs {
			out[[2]string{name, v}] = nil
		}
		err := eachPart(vs, func(part []string, args []any) error {
			rows, err := q.db.QueryContext(ctx, `SELECT value, entity_id FROM match_keys WHERE entity = ? AND name = ? AND value IN (`+
				inList(len(part))+`) ORDER BY value, entity_id`, append([]any{entity, name}, args...)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var v, id string
				if err := rows.Scan(&v, &id); err != nil {
					return err
				}
				k := [2]string{name, v}
				out[k] = append(out[k], id)
			}
			return rows.Err()
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// InFlights returns the values in flight (InFlight) to the records of the
// entities of ids in (system, object), by entity id; an entity with
// nothing in flight is absent. By the entities' own rows: left to itself,
// SQLite reads every pending row of (system, object) instead, for every
// chunk (a quarter of a million-record initial sync's CPU).
func (q queries) InFlights(ctx context.Context, system, object string, ids []string) (map[string]InFlight, error) {
	out := map[string]InFlight{}
	err := eachPart(ids, func(part []string, args []any) error {
		rows, err := q.db.QueryContext(ctx, `SELECT entity_id, sent FROM outbox INDEXED BY outbox_one_pending WHERE entity_id IN (`+inList(len(part))+`)
			AND system = ? AND object = ? AND status = 'pending' AND sent IS NOT NULL`, append(args, system, object)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, s string
			if err := rows.Scan(&id, &s); err != nil {
				return err
			}
			s, err := q.keys.openText("sent", s)
			if err != nil {
				return fmt.Errorf("outbox of %s in %s %s: %w", id, system, object, err)
			}
			f := InFlight{}
			if err := json.Unmarshal([]byte(s), &f); err != nil {
				return fmt.Errorf("outbox of %s in %s %s: sent values: %w", id, system, object, err)
			}
			out[id] = f
		}
		return rows.Err()
	})
	return out, err
}

// Recorded is a conflict as a chunk loads it, with the record it names
// (identity and value conflicts: the record held back or held; its
// payload is not loaded).
type Recorded struct {
	tandem.Conflict
	Record Pending
}

// ConflictsAbout returns, oldest first, the conflicts a chunk's decisions
// may meet again: the open ones of the entities of ids and those pass
// recorded on them; the open ones naming the records exts of (system,
// object); and the conflicts numbered byID (the entities' delete
// conflicts). Each once.
func (q queries) ConflictsAbout(ctx context.Context, ids []string, pass, system, object string, exts []string, byID []int64) ([]Recorded, error) {
	seen := map[int64]bool{}
	var out []Recorded
	run := func(where string, args ...any) error {
		rows, err := q.db.QueryContext(ctx, `SELECT `+conflictCols+`, COALESCE(system, ''), COALESCE(object, ''), COALESCE(external_id, '')
			FROM conflicts `+where, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Recorded
			c, err := q.scanConflict(scanTail{rows, []any{&r.Record.System, &r.Record.Object, &r.Record.ExternalID}})
			if err != nil {
				return err
			}
			if !seen[c.ID] {
				seen[c.ID] = true
				r.Conflict = *c
				out = append(out, r)
			}
		}
		return rows.Err()
	}
	err := eachPart(ids, func(part []string, args []any) error {
		return run(`WHERE entity_id IN (`+inList(len(part))+`) AND (status = ? OR pass = ?)`, append(args, tandem.ConflictOpen, pass)...)
	})
	if err == nil {
		err = eachPart(exts, func(part []string, args []any) error {
			return run(`WHERE system = ? AND object = ? AND external_id IN (`+inList(len(part))+`) AND status = ?`,
				append(append([]any{system, object}, args...), tandem.ConflictOpen)...)
		})
	}
	for _, id := range byID {
		if err != nil {
			break
		}
		if !seen[id] {
			err = run(`WHERE id = ?`, id)
		}
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Recorded) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// scanTail scans a row's leading columns with the caller's destinations
// and the trailing ones into tail.
type scanTail struct {
	row  interface{ Scan(...any) error }
	tail []any
}

func (s scanTail) Scan(dest ...any) error { return s.row.Scan(append(dest, s.tail...)...) }
