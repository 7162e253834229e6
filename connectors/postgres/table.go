package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// table is one object's table as the catalog describes it.
type table struct {
	object    string
	schema    string
	name      string
	qname     string // "schema"."name", quoted
	key       string
	updatedAt string
	tandemID  string
	cols      map[string]column
	order     []string // column names, in the table's order
	unique    map[string]bool
	identity  string // REPLICA IDENTITY: d(efault), n(othing), f(ull), i(ndex)
	pkey      []string
}

// column is one column of a table.
type column struct {
	Name      string
	Type      string // format_type: "character varying(80)", "text[]", "numeric(10,2)"
	Base      string // the element's type name: varchar, int4, numeric, timestamptz …
	Array     bool
	NotNull   bool
	Generated bool // an identity or generated column: not written
	MaxLen    int  // varchar(n), char(n): n; else 0
	// Precision and Scale of a numeric(p,s); 0 for an unbounded numeric.
	Precision, Scale int
}

func quote(id string) string { return `"` + strings.ReplaceAll(id, `"`, `""`) + `"` }

// errNoTable is a table the database does not have.
var errNoTable = errors.New("no such table")

// table reads an object's table from the catalog, once.
func (c *Client) table(ctx context.Context, object string) (*table, error) {
	c.mu.Lock()
	t := c.tables[object]
	c.mu.Unlock()
	if t != nil {
		return t, nil
	}
	err := c.again(ctx, func() (err error) { t, err = c.loadTable(ctx, object); return err })
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.tables[object] = t
	c.mu.Unlock()
	return t, nil
}

// tableWith is an object's table and the columns a read of paths
// returns. A column the table did not have when it was read from the
// catalog sends it to be read again, once: an admin may have added it
// since (tandem doctor's fix), and a daemon runs for weeks.
func (c *Client) tableWith(ctx context.Context, object string, paths []string) (*table, []string, error) {
	t, err := c.table(ctx, object)
	if err != nil {
		return nil, nil, err
	}
	cols, err := t.columns(paths)
	if err == nil {
		return t, cols, nil
	}
	c.mu.Lock()
	delete(c.tables, object)
	c.mu.Unlock()
	if t, err = c.table(ctx, object); err != nil {
		return nil, nil, err
	}
	cols, err = t.columns(paths)
	return t, cols, err
}

func (c *Client) loadTable(ctx context.Context, object string) (*table, error) {
	schema, name, err := splitName(object)
	if err != nil {
		return nil, bad("%v", err)
	}
	opt := c.tableOptions(object)
	t := &table{object: object, schema: schema, name: name, qname: quote(schema) + "." + quote(name),
		key: or(opt.Key, "id"), updatedAt: or(opt.UpdatedAt, "updated_at"), tandemID: or(opt.TandemID, "tandem_id"),
		cols: map[string]column{}, unique: map[string]bool{}}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	var oid uint32
	err = c.pool.QueryRow(ctx, `SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`, schema, name).Scan(&oid, &t.identity)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", t.qname, errNoTable)
	}
	if err != nil {
		return nil, err
	}
	rows, err := c.pool.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod),
			CASE WHEN t.typelem <> 0 AND t.typlen = -1 THEN e.typname ELSE t.typname END,
			t.typelem <> 0 AND t.typlen = -1, a.attnotnull, a.attidentity <> '' OR a.attgenerated <> '',
			CASE WHEN a.atttypmod > 4 AND COALESCE(e.typname, t.typname) IN ('varchar', 'bpchar') THEN a.atttypmod - 4 ELSE 0 END,
			CASE WHEN a.atttypmod > 4 AND COALESCE(e.typname, t.typname) = 'numeric' THEN ((a.atttypmod - 4) >> 16) & 65535 ELSE 0 END,
			CASE WHEN a.atttypmod > 4 AND COALESCE(e.typname, t.typname) = 'numeric' THEN (a.atttypmod - 4) & 65535 ELSE 0 END
		FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type e ON e.oid = t.typelem
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, oid)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var col column
		if err := rows.Scan(&col.Name, &col.Type, &col.Base, &col.Array, &col.NotNull, &col.Generated, &col.MaxLen, &col.Precision, &col.Scale); err != nil {
			rows.Close()
			return nil, err
		}
		t.cols[col.Name] = col
		t.order = append(t.order, col.Name)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Unique columns: a single-column unique index without a predicate
	// (ON CONFLICT can use it); and the primary key's columns.
	rows, err = c.pool.Query(ctx, `SELECT a.attname, i.indisprimary, i.indnatts FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL`, oid)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var col string
		var primary bool
		var n int
		if err := rows.Scan(&col, &primary, &n); err != nil {
			rows.Close()
			return nil, err
		}
		if n == 1 {
			t.unique[col] = true
		}
		if primary {
			t.pkey = append(t.pkey, col)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, k := range []struct{ what, col string }{{"key", t.key}, {"updated_at", t.updatedAt}} {
		if _, ok := t.cols[k.col]; !ok {
			return nil, bad("%s has no column %s (its %s column: set tables.%s.%s)", t.qname, quote(k.col), k.what, object, k.what)
		}
	}
	return t, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// hasKey reports whether the table holds Tandem's entity id.
func (t *table) hasKey() bool { _, ok := t.cols[t.tandemID]; return ok }

// columns are the columns a read with payload paths returns: the key,
// the updated_at and Tandem's key columns, and the first segment of each
// path (a path into a jsonb column reads the whole column).
func (t *table) columns(paths []string) ([]string, error) {
	out := []string{t.key, t.updatedAt}
	if t.hasKey() {
		out = append(out, t.tandemID)
	}
	for _, p := range paths {
		name := firstSegment(p)
		if name == t.tandemID && !t.hasKey() {
			continue // the engine asks for it; a table without it holds none
		}
		if _, ok := t.cols[name]; !ok {
			return nil, bad("path %q: %s has no column %s", p, t.qname, quote(name))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// firstSegment is a gjson path's first key (a backslash escapes a dot).
func firstSegment(p string) string {
	var seg strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+1 < len(p) {
			i++
		} else if p[i] == '.' {
			break
		}
		seg.WriteByte(p[i])
	}
	return seg.String()
}

// payloadExpr is the SQL that reads a row (alias r) as the record's JSON
// payload, text: its columns by name, typed as JSON types (numbers,
// booleans, arrays, nested jsonb; times and dates as ISO 8601 strings).
// jsonb_build_object takes at most 100 arguments, so it is built in parts.
func payloadExpr(cols []string) string {
	var parts []string
	for i := 0; i < len(cols); i += 40 {
		var args []string
		for _, col := range cols[i:min(i+40, len(cols))] {
			args = append(args, "'"+strings.ReplaceAll(col, "'", "''")+"', r."+quote(col))
		}
		parts = append(parts, "jsonb_build_object("+strings.Join(args, ", ")+")")
	}
	return "(" + strings.Join(parts, " || ") + ")::text"
}

// keyParam casts a text parameter to the key column's type, so the
// key's index is used.
func (t *table) keyParam(n int) string {
	return fmt.Sprintf("$%d::text::%s", n, t.cols[t.key].Type)
}

// keysParam casts a text[] parameter to an array of the key's type.
func (t *table) keysParam(n int) string {
	return fmt.Sprintf("$%d::text[]::%s[]", n, t.cols[t.key].Type)
}

// tableOptions are the options of an object's table, listed under its
// name as the mapping writes it or the other way ("contacts" and
// "public.contacts" are one table).
func (c *Client) tableOptions(object string) TableOptions {
	if o, ok := c.o.Tables[object]; ok {
		return o
	}
	schema, name, err := splitName(object)
	if err != nil {
		return TableOptions{}
	}
	for k, o := range c.o.Tables {
		if s, n, err := splitName(k); err == nil && s == schema && n == name {
			return o
		}
	}
	return TableOptions{}
}
