package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"tandem"
	"tandem/connectors"
)

// cursor is where a pull resumes. Polling keeps the shared watermark
// (Mark); replication keeps the position in the slot's stream (LSN), or,
// during the first read of the table, the key read up to (Scan).
type cursor struct {
	Mark *connectors.Watermark `json:"mark,omitempty"`
	LSN  string                `json:"lsn,omitempty"`
	Scan *scan                 `json:"scan,omitempty"`
}

// scan is the first read of a table under replication, ordered by key.
type scan struct {
	Stamp time.Time `json:"stamp,omitzero"`  // the updated_at of the last row read
	After string    `json:"after,omitempty"` // the key of the last row read; "" before the first
	Start string    `json:"start"`           // the slot's position when the scan began
}

func (c cursor) encode() tandem.Cursor {
	b, _ := json.Marshal(c)
	return tandem.Cursor(b)
}

func decodeCursor(s tandem.Cursor) (cursor, error) {
	var c cursor
	if s == "" {
		return c, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(s)))
	dec.DisallowUnknownFields()
	err := dec.Decode(&c)
	if _, more := dec.Token(); err == nil && more != io.EOF {
		err = fmt.Errorf("more after the cursor's JSON object")
	}
	if err == nil && c.Mark == nil && c.LSN == "" && c.Scan == nil {
		err = fmt.Errorf("empty")
	}
	if err != nil {
		return c, bad("invalid cursor %.80q: not a cursor of the postgres connector: %v", s, err)
	}
	return c, nil
}

// precision is that of timestamptz, and of its comparisons.
const precision = time.Microsecond

func (c *Client) window() connectors.Window {
	return connectors.Window{Overlap: c.o.Overlap, Precision: precision}
}

// Pull reads the rows of q.Object changed after q.After, oldest first:
// by polling or from the replication slot (Options.Capture).
func (c *Client) Pull(ctx context.Context, q tandem.Query, page func(tandem.Page) error) error {
	err := c.pull(ctx, q, page)
	c.note(err)
	return err
}

func (c *Client) pull(ctx context.Context, q tandem.Query, page func(tandem.Page) error) error {
	op := "pull " + q.Object
	start, err := decodeCursor(q.After)
	if err != nil {
		return c.fail(op, err)
	}
	t, cols, err := c.tableWith(ctx, q.Object, q.Fields)
	if err != nil {
		return c.fail(op, err)
	}
	if c.o.Capture == "replication" {
		return c.pullStream(ctx, op, t, cols, start, q, page)
	}
	if start.Mark == nil {
		start.Mark = &connectors.Watermark{}
		if q.After == "" && !q.Since.IsZero() {
			start.Mark.Floor = q.Since.UTC().Truncate(precision)
		}
	}
	return c.poll(ctx, op, t, cols, *start.Mark, page)
}

// poll reads the rows stamped at or after the watermark's window, in
// (updated_at, key) order, a page a query (keyset paging: no transaction
// is held open across pages).
//
// A transaction stamps its rows when it writes them (now() is its start)
// and shows them only when it commits, so a poll may meet rows stamped
// after one it cannot see yet. So the watermark never moves past the
// start of the oldest transaction still open when the poll began (the
// ceiling; pg_stat_activity shows other roles' transactions only to a
// role with pg_read_all_stats), and each poll reads again the overlap
// window before it, skipping only the versions it has emitted.
func (c *Client) poll(ctx context.Context, op string, t *table, cols []string, mark connectors.Watermark, page func(tandem.Page) error) error {
	var ceiling time.Time
	err := c.again(ctx, func() error {
		qctx, cancel := c.ctx(ctx)
		defer cancel()
		return c.pool.QueryRow(qctx, `SELECT least(clock_timestamp(), (SELECT min(xact_start) FROM pg_stat_activity
			WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()))`).Scan(&ceiling)
	})
	if err != nil {
		return c.fail(op, err)
	}
	tr := mark.Track(c.window(), ceiling)
	from := mark.From(c.window())
	sel := "SELECT r." + quote(t.key) + "::text, r." + quote(t.updatedAt) + ", " + payloadExpr(cols) + " FROM " + t.qname + " r"
	order := " ORDER BY r." + quote(t.updatedAt) + ", r." + quote(t.key) + " LIMIT " + fmt.Sprint(c.o.PageSize)
	var last *tandem.Record
	for {
		q, args := sel+" WHERE r."+quote(t.updatedAt)+" IS NOT NULL"+order, []any{}
		switch {
		case last != nil:
			q = sel + " WHERE (r." + quote(t.updatedAt) + ", r." + quote(t.key) + ") > ($1, " + t.keyParam(2) + ")" + order
			args = []any{last.Modified, last.ID}
		case !from.IsZero():
			q = sel + " WHERE r." + quote(t.updatedAt) + " >= $1" + order
			args = []any{from}
		}
		var rows []tandem.Record
		if err := c.again(ctx, func() (err error) { rows, err = c.rows(ctx, q, args...); return err }); err != nil {
			return c.fail(op, err)
		}
		var out []any
		for _, r := range rows {
			out = append(out, tr.Read(r.ID, r.Modified, connectors.Fingerprint(r.Raw), r)...)
		}
		end := len(rows) < c.o.PageSize
		if end {
			out = append(out, tr.Close()...)
		} else {
			last = &rows[len(rows)-1]
		}
		recs := make([]tandem.Record, 0, len(out))
		for _, o := range out {
			recs = append(recs, o.(tandem.Record))
		}
		m := tr.Watermark()
		if err := page(tandem.Page{Records: recs, Cursor: cursor{Mark: &m}.encode()}); err != nil {
			return err
		}
		if end {
			return nil
		}
	}
}

// fail wraps a failure of an operation, retryable unless it is about
// what was asked (see classify).
func (c *Client) fail(op string, err error) error {
	if _, ok := err.(*tandem.Error); ok {
		return err
	}
	return &tandem.Error{Op: op, System: c.system, Retryable: retryable(err), Err: err}
}
