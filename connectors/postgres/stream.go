package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"tandem"
)

// Logical replication. Each table has a replication slot of its own
// (slots are per consumer: one table's pull must never confirm another
// table's changes), decoding with the built-in pgoutput plugin the tables
// of one publication.
//
// A pull reads the changes the slot holds with
// pg_logical_slot_peek_binary_changes, which leaves them in the slot, a
// page of whole transactions at a time; the engine stages the page (and
// its cursor, the LSN at the end of its last transaction) in one
// transaction of its own; only then is the slot advanced to that LSN
// (pg_replication_slot_advance), so the server never forgets a change
// that is not staged (invariant 1). A crash in between costs nothing: the
// next pull starts by advancing the slot to the cursor the engine kept,
// and reads the rest again.
//
// The changes say which rows changed; the rows are then read as they are
// now, in one query (so a row reads the same by replication, polling and
// Fetch, unchanged TOASTed values included). A row changed and then
// deleted is left to its delete, which comes in the same or a later page.
//
// The slot only holds changes made after it was made. So the first pull
// (no cursor) makes the slot if it is missing, notes its position, reads
// the whole table ordered by (updated_at, key) (the scan), then reads the
// slot from that position: a row changed during the scan comes twice, and
// reads the same both times.

// slotName is the slot of a table: the configured prefix and the table.
func (c *Client) slotName(t *table) string {
	name := c.o.Slot + "_" + strings.ToLower(sanitize(t.name))
	if t.schema != "public" {
		name = c.o.Slot + "_" + strings.ToLower(sanitize(t.schema)) + "_" + strings.ToLower(sanitize(t.name))
	}
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

func (c *Client) pullStream(ctx context.Context, op string, t *table, cols []string, start cursor, q tandem.Query, page func(tandem.Page) error) error {
	if err := c.again(ctx, func() error { return c.checkPublication(ctx, t) }); err != nil {
		return c.fail(op, fmt.Errorf("%w; %s", err, c.publicationFix(ctx, t)))
	}
	slot := c.slotName(t)
	switch {
	case start.Mark != nil:
		return c.fail(op, bad("the cursor is a polling cursor, but capture is replication: reset the cursor (tandem backfill) to change how changes are captured"))
	case start.LSN == "" && start.Scan == nil:
		var lsn string
		err := c.again(ctx, func() (err error) { lsn, err = c.ensureSlot(ctx, slot); return err })
		if err != nil {
			return c.fail(op, err)
		}
		start.Scan = &scan{Start: lsn}
		if !q.Since.IsZero() {
			start.Scan.Stamp = q.Since.UTC()
		}
	}
	if start.Scan != nil {
		lsn, err := c.scan(ctx, op, t, cols, *start.Scan, page)
		if err != nil || !q.Since.IsZero() && q.After == "" {
			return err // a read from a time (backfill) is the scan alone
		}
		start = cursor{LSN: lsn}
	}
	return c.stream(ctx, op, t, cols, slot, start.LSN, page)
}

// checkPublication makes sure the publication has the table: without it,
// the slot reads none of its changes.
func (c *Client) checkPublication(ctx context.Context, t *table) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	var n int
	if err := c.pool.QueryRow(ctx, "SELECT count(*) FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3",
		c.o.Publication, t.schema, t.name).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return bad("the publication %s does not include %s, so no change of it would be read", c.o.Publication, t.qname)
	}
	return nil
}

// publicationFix is the SQL that publishes the table.
func (c *Client) publicationFix(ctx context.Context, t *table) string {
	var n int
	_ = c.pool.QueryRow(ctx, "SELECT count(*) FROM pg_publication WHERE pubname = $1", c.o.Publication).Scan(&n)
	if n == 0 {
		return fmt.Sprintf("CREATE PUBLICATION %s FOR TABLE %s;", quote(c.o.Publication), t.qname)
	}
	return fmt.Sprintf("ALTER PUBLICATION %s ADD TABLE %s;", quote(c.o.Publication), t.qname)
}

// ensureSlot makes the slot if it is missing, and returns its position.
func (c *Client) ensureSlot(ctx context.Context, slot string) (string, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	var lsn *string
	err := c.pool.QueryRow(ctx, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()", slot).Scan(&lsn)
	if errors.Is(err, pgx.ErrNoRows) {
		var made string
		if err := c.pool.QueryRow(ctx, "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')", slot).Scan(&made); err != nil {
			return "", fmt.Errorf("make the replication slot %s: %w", slot, err)
		}
		return made, nil
	}
	if err != nil {
		return "", err
	}
	if lsn == nil {
		return "", bad("the replication slot %s is not a logical slot", slot)
	}
	return *lsn, nil
}

// scan reads the whole table (or the rows stamped at or after s.Stamp),
// ordered by (updated_at, key), a page a query. It returns the slot's
// position the stream goes on from.
func (c *Client) scan(ctx context.Context, op string, t *table, cols []string, s scan, page func(tandem.Page) error) (string, error) {
	sel := "SELECT r." + quote(t.key) + "::text, r." + quote(t.updatedAt) + ", " + payloadExpr(cols) + " FROM " + t.qname + " r"
	order := " ORDER BY r." + quote(t.updatedAt) + ", r." + quote(t.key) + " LIMIT " + fmt.Sprint(c.o.PageSize)
	for {
		q, args := sel+" WHERE r."+quote(t.updatedAt)+" IS NOT NULL"+order, []any{}
		switch {
		case s.After != "":
			q = sel + " WHERE (r." + quote(t.updatedAt) + ", r." + quote(t.key) + ") > ($1, " + t.keyParam(2) + ")" + order
			args = []any{s.Stamp, s.After}
		case !s.Stamp.IsZero():
			q = sel + " WHERE r." + quote(t.updatedAt) + " >= $1" + order
			args = []any{s.Stamp}
		}
		var recs []tandem.Record
		err := c.again(ctx, func() (err error) { recs, err = c.rows(ctx, q, args...); return err })
		if err != nil {
			return "", c.fail(op, err)
		}
		cur := cursor{LSN: s.Start}
		if len(recs) == c.o.PageSize {
			last := recs[len(recs)-1]
			s.Stamp, s.After = last.Modified, last.ID
			cur = cursor{Scan: &s}
		}
		if err := page(tandem.Page{Records: recs, Cursor: cur.encode()}); err != nil {
			return "", err
		}
		if cur.Scan == nil {
			return s.Start, nil
		}
	}
}

// rows runs a query of (key, updated_at, payload) rows.
func (c *Client) rows(ctx context.Context, q string, args ...any) ([]tandem.Record, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	rows, err := c.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tandem.Record
	for rows.Next() {
		var id, raw string
		var stamp time.Time
		if err := rows.Scan(&id, &stamp, &raw); err != nil {
			return nil, err
		}
		out = append(out, tandem.Record{ID: id, Raw: json.RawMessage(raw), Modified: stamp})
	}
	return out, rows.Err()
}

// maxPages bounds one pull's pages of changes.
const maxPages = 100000

// stream reads the slot's changes from the position staged, a page at a
// time, and advances the slot past each page once it is staged.
func (c *Client) stream(ctx context.Context, op string, t *table, cols []string, slot, from string, page func(tandem.Page) error) error {
	if err := c.again(ctx, func() error { return c.advance(ctx, slot, from) }); err != nil {
		return c.fail(op, err)
	}
	pos := from
	for n := 0; n < maxPages; n++ {
		var ch changes
		err := c.again(ctx, func() (err error) { ch, err = c.peek(ctx, t, slot); return err })
		if err != nil {
			return c.fail(op, err)
		}
		if ch.end == "" { // nothing more
			if n == 0 {
				return page(tandem.Page{Cursor: cursor{LSN: pos}.encode()})
			}
			return nil
		}
		recs, err := c.records(ctx, t, cols, ch)
		if err != nil {
			return c.fail(op, err)
		}
		if err := page(tandem.Page{Records: recs, Cursor: cursor{LSN: ch.end}.encode()}); err != nil {
			return err
		}
		// Staged: now the server may forget them.
		if err := c.again(ctx, func() error { return c.advance(ctx, slot, ch.end) }); err != nil {
			return c.fail(op, err)
		}
		pos = ch.end
	}
	return c.fail(op, fmt.Errorf("the slot %s still had changes after %d pages", slot, maxPages))
}

// advance confirms the slot's changes up to lsn, when it is ahead of what
// the slot has confirmed.
func (c *Client) advance(ctx context.Context, slot, lsn string) error {
	to, err := pglogrepl.ParseLSN(lsn)
	if err != nil {
		return bad("the cursor's position %q is not an LSN", lsn)
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	var confirmed *string
	err = c.pool.QueryRow(ctx, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()", slot).Scan(&confirmed)
	if errors.Is(err, pgx.ErrNoRows) {
		return bad("the replication slot %s is gone, and the changes it held since the cursor with it: read the table again (tandem backfill) after making it: SELECT pg_create_logical_replication_slot('%s', 'pgoutput');", slot, slot)
	}
	if err != nil || confirmed == nil {
		return err
	}
	at, err := pglogrepl.ParseLSN(*confirmed)
	if err != nil || to <= at {
		return err
	}
	_, err = c.pool.Exec(ctx, "SELECT pg_replication_slot_advance($1, $2::pg_lsn)", slot, lsn)
	return err
}

// changes are the rows a page of the slot's transactions changed.
type changes struct {
	end     string               // the LSN after the page's last transaction
	touched map[string]time.Time // key -> commit time of its last insert or update
	deleted map[string]time.Time // key -> commit time of its delete, when it came last
}

// peek reads a page of the slot's changes, leaving them in the slot: at
// least PageSize messages' worth of whole transactions, or all there are.
func (c *Client) peek(ctx context.Context, t *table, slot string) (changes, error) {
	ch := changes{touched: map[string]time.Time{}, deleted: map[string]time.Time{}}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	rows, err := c.pool.Query(ctx, "SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2, 'proto_version', '1', 'publication_names', $3)",
		slot, c.o.PageSize, c.o.Publication)
	if err != nil {
		return ch, err
	}
	defer rows.Close()
	rels := map[uint32]*pglogrepl.RelationMessage{}
	var commit time.Time
	note := func(rel uint32, tup *pglogrepl.TupleData, deleted bool) {
		r := rels[rel]
		if r == nil || r.Namespace != t.schema || r.RelationName != t.name {
			return // another table of the publication
		}
		key, ok := keyOf(t, r, tup)
		if !ok {
			// Without REPLICA IDENTITY carrying the key (tandem doctor says
			// how), a delete names no row: the reconciliation sweep finds it.
			c.warn("a change that does not carry its key is skipped (see REPLICA IDENTITY)", "table", t.qname, "key", t.key)
			return
		}
		delete(ch.touched, key)
		delete(ch.deleted, key)
		if deleted {
			ch.deleted[key] = commit
		} else {
			ch.touched[key] = commit
		}
	}
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return ch, err
		}
		msg, err := pglogrepl.Parse(data)
		if err != nil {
			return ch, fmt.Errorf("decode the slot's changes: %w", err)
		}
		switch m := msg.(type) {
		case *pglogrepl.RelationMessage:
			rels[m.RelationID] = m
		case *pglogrepl.BeginMessage:
			commit = m.CommitTime
		case *pglogrepl.CommitMessage:
			ch.end = m.TransactionEndLSN.String()
		case *pglogrepl.InsertMessage:
			note(m.RelationID, m.Tuple, false)
		case *pglogrepl.UpdateMessage:
			if m.OldTuple != nil { // the key changed: the row under the old one is gone
				note(m.RelationID, m.OldTuple, true)
			}
			note(m.RelationID, m.NewTuple, false)
		case *pglogrepl.DeleteMessage:
			note(m.RelationID, m.OldTuple, true)
		}
	}
	return ch, rows.Err()
}

// keyOf reads the key column's value from a tuple of the table.
func keyOf(t *table, rel *pglogrepl.RelationMessage, tup *pglogrepl.TupleData) (string, bool) {
	if tup == nil {
		return "", false
	}
	for i, col := range rel.Columns {
		if col.Name == t.key && i < len(tup.Columns) && tup.Columns[i].DataType == pglogrepl.TupleDataTypeText {
			return string(tup.Columns[i].Data), true
		}
	}
	return "", false
}

// records turns a page of changes into records: the changed rows as they
// are now, and the deleted ones, oldest change first.
func (c *Client) records(ctx context.Context, t *table, cols []string, ch changes) ([]tandem.Record, error) {
	var ids []string
	for id := range ch.touched {
		ids = append(ids, id)
	}
	var recs []tandem.Record
	if len(ids) > 0 {
		sql := "SELECT r." + quote(t.key) + "::text, r." + quote(t.updatedAt) + ", r.xmin::text, " + payloadExpr(cols) +
			" FROM " + t.qname + " r WHERE r." + quote(t.key) + " = ANY(" + t.keysParam(1) + ")"
		var err error
		for chunk := range slices.Chunk(ids, fetchBatch) {
			var rs []tandem.Record
			if err = c.again(ctx, func() (err error) { rs, err = c.fetchRows(ctx, t, sql, chunk); return err }); err != nil {
				return nil, err
			}
			recs = append(recs, rs...)
		}
	}
	for id, at := range ch.deleted {
		raw, _ := json.Marshal(map[string]string{t.key: id})
		recs = append(recs, tandem.Record{ID: id, Raw: raw, Modified: at, Deleted: true})
	}
	slices.SortStableFunc(recs, func(a, b tandem.Record) int {
		if c := a.Modified.Compare(b.Modified); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return recs, nil
}
