package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/tidwall/gjson"

	"tandem"
)

// Apply writes a batch in one transaction, each write in a savepoint of
// its own: a write that fails (a value that does not fit, a constraint)
// is rolled back alone and the others go on; a failure of the
// transaction itself fails the call, and every write is tried again.
//
// A create is INSERT … ON CONFLICT (tandem_id) DO NOTHING: a create tried
// again finds the row its first try made and leaves it as it is now (the
// engine merges what it holds). A create or an update that would give a
// row a unique value another row holds fails with a *tandem.ExistsError
// naming that row.
//
// An update is conditional on the row being as the engine read it just
// before the write: its xmin as Fetch read it, else its updated_at no
// later than Write.Unmodified. A row modified since is left alone, and
// the write fails with a retryable error wrapping tandem.ErrConflict: the
// engine re-reads the row and merges the edit before writing again. So
// there is no write gap.
func (c *Client) Apply(ctx context.Context, object string, writes []tandem.Write) ([]tandem.Result, error) {
	var rs []tandem.Result
	err := c.again(ctx, func() (err error) { rs, err = c.apply(ctx, object, writes); return err })
	c.note(err)
	return rs, err
}

func (c *Client) apply(ctx context.Context, object string, writes []tandem.Write) ([]tandem.Result, error) {
	op := "apply " + object
	var paths []string
	for _, w := range writes {
		gjson.ParseBytes(w.Payload).ForEach(func(k, _ gjson.Result) bool { paths = append(paths, k.String()); return true })
	}
	// A column the table did not have has the catalog read again (one
	// added since); one it still lacks fails its write (payloadColumns).
	t, _, err := c.tableWith(ctx, object, paths)
	if t == nil {
		return nil, c.fail(op, err)
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return nil, c.fail(op, err)
	}
	defer tx.Rollback(context.Background())
	out := make([]tandem.Result, len(writes))
	var remember []func()
	for i, w := range writes {
		if _, err := tx.Exec(ctx, "SAVEPOINT w"); err != nil {
			return nil, c.fail(op, err)
		}
		res, after, err := c.write(ctx, tx, t, w)
		if err != nil {
			if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT w"); rerr != nil {
				return nil, c.fail(op, rerr)
			}
			if locked(err) {
				err = &tandem.Error{Op: "write", System: c.system, Retryable: true, Err: err,
					Message: "row " + w.ID + " is locked by another transaction (an edit in progress); tried again later"}
			}
			if !isTandem(err) && retryable(err) {
				// The transaction itself failed (a deadlock, the server going
				// away): the whole batch is tried again.
				return nil, c.fail(op, err)
			}
			res = tandem.Result{ID: w.ID, Err: c.fail(op+" "+string(w.Op), err)}
		} else if after != nil {
			remember = append(remember, after)
		}
		out[i] = res
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, c.fail(op, err)
	}
	for _, f := range remember {
		f()
	}
	return out, nil
}

// locked reports a write that waited Options.LockTimeout for a row's
// lock.
func locked(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

func isTandem(err error) bool {
	var te *tandem.Error
	var xe *tandem.ExistsError
	var ue *tandem.UnwritableError
	return errors.As(err, &te) || errors.As(err, &xe) || errors.As(err, &ue)
}

// write makes one write. after, when set, runs once the batch commits.
func (c *Client) write(ctx context.Context, tx pgx.Tx, t *table, w tandem.Write) (res tandem.Result, after func(), err error) {
	if w.Op == tandem.OpDelete {
		_, err := tx.Exec(ctx, "DELETE FROM "+t.qname+" r WHERE r."+quote(t.key)+" = "+t.keyParam(1), w.ID)
		return tandem.Result{ID: w.ID}, nil, err // a row gone already is deleted: done
	}
	cols, err := c.payloadColumns(t, w)
	if err != nil {
		return res, nil, err
	}
	ret := " RETURNING r." + quote(t.key) + "::text, r." + quote(t.updatedAt) + ", r.xmin::text, " + payloadExpr(append([]string{t.key, t.updatedAt}, cols...))
	var row pgx.Row
	switch w.Op {
	case tandem.OpCreate:
		if !t.hasKey() {
			return res, nil, bad("%s has no column %s to hold Tandem's key, so creates cannot be made safe to repeat; make it: %s", t.qname, quote(t.tandemID), c.KeySetup(t.object))
		}
		names := []string{quote(t.tandemID)}
		vals := []string{"$2"}
		for _, col := range cols {
			names, vals = append(names, quote(col)), append(vals, "p."+quote(col))
		}
		row = tx.QueryRow(ctx, "INSERT INTO "+t.qname+" AS r ("+strings.Join(names, ", ")+") SELECT "+strings.Join(vals, ", ")+
			" FROM jsonb_populate_record(NULL::"+t.qname+", $1::jsonb) p ON CONFLICT ("+quote(t.tandemID)+") DO NOTHING"+ret, string(w.Payload), w.Key)
	case tandem.OpUpdate:
		if len(cols) == 0 {
			return tandem.Result{ID: w.ID}, nil, nil
		}
		var set []string
		for _, col := range cols {
			set = append(set, quote(col)+" = p."+quote(col))
		}
		if !slices.Contains(cols, t.updatedAt) && !t.cols[t.updatedAt].Generated {
			set = append(set, quote(t.updatedAt)+" = clock_timestamp()")
		}
		cond, arg := c.condition(t, w)
		row = tx.QueryRow(ctx, "UPDATE "+t.qname+" AS r SET "+strings.Join(set, ", ")+
			" FROM jsonb_populate_record(NULL::"+t.qname+", $1::jsonb) p WHERE r."+quote(t.key)+" = "+t.keyParam(2)+cond+ret,
			string(w.Payload), w.ID, arg)
	default:
		return res, nil, bad("unknown write %q", w.Op)
	}
	var id, xmin, raw string
	var stamp *time.Time
	err = row.Scan(&id, &stamp, &xmin, &raw)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && w.Op == tandem.OpCreate:
		return c.existing(ctx, tx, t, w)
	case errors.Is(err, pgx.ErrNoRows):
		return res, nil, c.refused(ctx, tx, t, w)
	case err != nil:
		return res, nil, c.explain(ctx, tx, t, w, err)
	}
	rec := &tandem.Record{ID: id, Raw: json.RawMessage(raw)}
	if stamp != nil {
		rec.Modified = *stamp
	}
	return tandem.Result{ID: id, Record: rec}, func() { c.remember(t, id, seen{modified: rec.Modified, xmin: xmin}) }, nil
}

// payloadColumns checks a write's payload, a JSON object of columns, and
// each value against its column (fit), and returns the columns it sets.
func (c *Client) payloadColumns(t *table, w tandem.Write) ([]string, error) {
	if !gjson.ValidBytes(w.Payload) || !gjson.ParseBytes(w.Payload).IsObject() {
		return nil, bad("the payload is not a JSON object of columns")
	}
	var cols []string
	var errs []string
	var unfit []tandem.Unwritable
	gjson.ParseBytes(w.Payload).ForEach(func(k, v gjson.Result) bool {
		name := k.String()
		col, ok := t.cols[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Sprintf("%s has no column %s", t.qname, quote(name)))
		case name == t.tandemID && w.Op == tandem.OpCreate:
			// set from Write.Key
		case name == t.key || col.Generated:
			errs = append(errs, fmt.Sprintf("column %s is not written (the key, or generated)", name))
		default:
			if err := fit(col, v); err != nil {
				unfit = append(unfit, tandem.Unwritable{Path: name, Value: json.RawMessage(v.Raw), Reason: err.Error()})
			} else if !slices.Contains(cols, name) {
				cols = append(cols, name)
			}
		}
		return true
	})
	if len(errs) > 0 {
		for _, u := range unfit {
			errs = append(errs, u.Reason)
		}
		return nil, bad("%s", strings.Join(errs, "; "))
	}
	if len(unfit) > 0 {
		// Only values that do not fit their columns: the engine holds
		// those fields and writes the others.
		return nil, &tandem.UnwritableError{Fields: unfit}
	}
	return cols, nil
}

// condition is the WHERE clause that makes an update conditional on the
// row as it was read, and its argument ($3).
func (c *Client) condition(t *table, w tandem.Write) (string, any) {
	if w.Unmodified.IsZero() {
		return " AND $3::text IS NULL", nil // not re-read: nothing to hold it to
	}
	if s, ok := c.recall(t, w.ID); ok && s.xmin != "" && s.modified.Equal(w.Unmodified) {
		return " AND r.xmin = $3::text::xid", s.xmin
	}
	// Millisecond precision: a time kept elsewhere may have lost the
	// microseconds; an edit in the same millisecond goes unseen.
	return " AND date_trunc('milliseconds', r." + quote(t.updatedAt) + ") <= $3", w.Unmodified
}

// existing is the row a create met holding its key: the create tried
// before made it. It is returned as it is now, not overwritten.
func (c *Client) existing(ctx context.Context, tx pgx.Tx, t *table, w tandem.Write) (tandem.Result, func(), error) {
	var id, raw string
	var stamp *time.Time
	err := tx.QueryRow(ctx, "SELECT r."+quote(t.key)+"::text, r."+quote(t.updatedAt)+", "+payloadExpr(t.order)+" FROM "+t.qname+
		" r WHERE r."+quote(t.tandemID)+" = $1::text::"+t.cols[t.tandemID].Type, w.Key).Scan(&id, &stamp, &raw)
	if err != nil {
		return tandem.Result{}, nil, err
	}
	rec := &tandem.Record{ID: id, Raw: json.RawMessage(raw)}
	if stamp != nil {
		rec.Modified = *stamp
	}
	return tandem.Result{ID: id, Record: rec}, nil, nil
}

// refused explains an update that changed no row: the row is gone, or
// was modified after it was read.
func (c *Client) refused(ctx context.Context, tx pgx.Tx, t *table, w tandem.Write) error {
	var n int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+t.qname+" r WHERE r."+quote(t.key)+" = "+t.keyParam(1), w.ID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return &tandem.Error{Op: "update", System: c.system, Message: "row " + w.ID + " not found", Err: tandem.ErrNotFound}
	}
	return &tandem.Error{Op: "update", System: c.system, Retryable: true, Err: tandem.ErrConflict,
		Message: "row " + w.ID + " was modified after it was read; not overwritten (it is read again and merged)"}
}

// explain turns a failed statement into the write's error: a unique value
// another row holds is a *tandem.ExistsError naming that row.
func (c *Client) explain(ctx context.Context, tx pgx.Tx, t *table, w tandem.Write, err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	if pe.Code == "42P10" { // no unique index on tandem_id for ON CONFLICT
		return bad("column %s of %s is not unique, so creates cannot be made safe to repeat; make it so: CREATE UNIQUE INDEX ON %s (%s);", t.tandemID, t.qname, t.qname, quote(t.tandemID))
	}
	if ue := c.unfit(ctx, tx, t, w, pe); ue != nil {
		return ue
	}
	if pe.Code != "23505" || pe.ConstraintName == "" {
		return err
	}
	// The columns of the unique index that refused the write, and the row
	// holding the values the write would give them.
	if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT w"); rerr != nil {
		return rerr
	}
	var cols []string
	if qerr := tx.QueryRow(ctx, `SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_index i
		JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = $1::regclass AND x.relname = $2`, t.qname, pe.ConstraintName).Scan(&cols); qerr != nil || len(cols) == 0 {
		return err
	}
	var match []string
	for _, col := range cols {
		match = append(match, "r."+quote(col)+" = p."+quote(col))
	}
	var holder string
	if qerr := tx.QueryRow(ctx, "SELECT r."+quote(t.key)+"::text FROM "+t.qname+" r, jsonb_populate_record(NULL::"+t.qname+", $1::jsonb) p WHERE "+
		strings.Join(match, " AND ")+" LIMIT 1", string(w.Payload)).Scan(&holder); qerr != nil {
		return err
	}
	x := &tandem.ExistsError{RecordID: holder}
	if len(cols) == 1 {
		x.Path = cols[0]
	}
	return x
}
