package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"tandem"
	"tandem/connectors"
)

// fetchBatch is the most ids one query asks for.
const fetchBatch = 1000

// Fetch reads the live rows among ids. The engine calls it just before
// writing; each row's xmin is kept, so the update that follows is made
// conditional on the row being as read (see Apply).
func (c *Client) Fetch(ctx context.Context, q tandem.Query, ids []string) ([]tandem.Record, error) {
	recs, err := c.fetchBy(ctx, "fetch "+q.Object, q, "key", ids)
	c.note(err)
	return recs, err
}

// FetchKeys reads the rows that hold Tandem's keys (the entity ids) in
// the tandem_id column: a create whose answer was lost is found again.
func (c *Client) FetchKeys(ctx context.Context, q tandem.Query, keys []string) ([]tandem.Record, error) {
	recs, err := c.fetchBy(ctx, "fetch "+q.Object+" by key", q, "tandem_id", keys)
	c.note(err)
	return recs, err
}

func (c *Client) fetchBy(ctx context.Context, op string, q tandem.Query, by string, ids []string) ([]tandem.Record, error) {
	t, cols, err := c.tableWith(ctx, q.Object, q.Fields)
	if err != nil {
		return nil, c.fail(op, err)
	}
	where := "r." + quote(t.key) + " = ANY(" + t.keysParam(1) + ")"
	if by == "tandem_id" {
		if !t.hasKey() {
			return nil, nil // no row can hold a key
		}
		where = "r." + quote(t.tandemID) + " = ANY($1::text[]::" + t.cols[t.tandemID].Type + "[])"
	}
	sql := "SELECT r." + quote(t.key) + "::text, r." + quote(t.updatedAt) + ", r.xmin::text, " + payloadExpr(cols) +
		" FROM " + t.qname + " r WHERE " + where
	var out []tandem.Record
	for chunk := range slices.Chunk(ids, fetchBatch) {
		var recs []tandem.Record
		err := c.again(ctx, func() (err error) { recs, err = c.fetchRows(ctx, t, sql, chunk); return err })
		if err != nil {
			return nil, c.fail(op, err)
		}
		out = append(out, recs...)
	}
	return out, nil
}

func (c *Client) fetchRows(ctx context.Context, t *table, sql string, ids []string) ([]tandem.Record, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	rows, err := c.pool.Query(ctx, sql, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tandem.Record
	for rows.Next() {
		var id, xmin, raw string
		var stamp *time.Time
		if err := rows.Scan(&id, &stamp, &xmin, &raw); err != nil {
			return nil, err
		}
		rec := tandem.Record{ID: id, Raw: json.RawMessage(raw)}
		if stamp != nil {
			rec.Modified = *stamp
		}
		c.remember(t, id, seen{modified: rec.Modified, xmin: xmin})
		out = append(out, rec)
	}
	return out, rows.Err()
}

// maxRemembered bounds the rows remembered for conditional updates; past
// it the memory starts again (an update then falls back to updated_at).
const maxRemembered = 100000

func (c *Client) remember(t *table, id string, s seen) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.read) >= maxRemembered {
		c.read = map[string]seen{}
	}
	c.read[t.object+"\x00"+id] = s
}

func (c *Client) recall(t *table, id string) (seen, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.read[t.object+"\x00"+id]
	return s, ok
}

// KeyPath is the column holding Tandem's entity id.
func (c *Client) KeyPath(object string) string {
	return or(c.tableOptions(object).TandemID, "tandem_id")
}

// KeySetup is the SQL that makes that column.
func (c *Client) KeySetup(object string) string {
	schema, name, err := splitName(object)
	if err != nil {
		return "a text column with a unique constraint, named " + c.KeyPath(object)
	}
	return fmt.Sprintf("ALTER TABLE %s.%s ADD COLUMN %s text UNIQUE;", quote(schema), quote(name), quote(c.KeyPath(object)))
}

// Describe lists the table's columns. The key column and generated
// columns are read-only; a column with a unique index of its own is
// Unique.
func (c *Client) Describe(ctx context.Context, object string) ([]connectors.FieldInfo, error) {
	c.mu.Lock()
	delete(c.tables, object) // read the catalog afresh
	c.mu.Unlock()
	t, err := c.table(ctx, object)
	c.note(err)
	if err != nil {
		return nil, c.fail("describe "+object, err)
	}
	var out []connectors.FieldInfo
	for _, name := range t.order {
		col := t.cols[name]
		out = append(out, connectors.FieldInfo{Path: name, Label: name, Type: col.Type,
			ReadOnly: col.Generated || name == t.key, Unique: t.unique[name]})
	}
	return out, nil
}
