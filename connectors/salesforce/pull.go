package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
)

// sfTime is how Salesforce writes datetimes: milliseconds, +0000.
const sfTime = "2006-01-02T15:04:05.000-0700"

// cursorTime is how a cursor writes its stamp.
const cursorTime = "2006-01-02T15:04:05.000Z07:00"

// cursor is where a pull resumes. SystemModstamp has millisecond precision
// and many records can share one (a bulk load, a workflow touching a
// thousand rows), so a stamp alone would either repeat or lose records.
// The cursor holds the last stamp emitted and the ids emitted at exactly
// that stamp: everything before the stamp has been seen, and so have those
// ids at it.
type cursor struct {
	Stamp time.Time
	IDs   []string
}

type cursorJSON struct {
	Stamp string   `json:"stamp"`
	IDs   []string `json:"ids"`
}

func (c cursor) encode() tandem.Cursor {
	if c.Stamp.IsZero() {
		return ""
	}
	b, _ := json.Marshal(cursorJSON{Stamp: c.Stamp.UTC().Format(cursorTime), IDs: c.IDs})
	return tandem.Cursor(b)
}

func decodeCursor(s tandem.Cursor) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	var j cursorJSON
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return cursor{}, fmt.Errorf("invalid cursor %q: %w", clip(string(s), 80), err)
	}
	t, err := time.Parse(cursorTime, j.Stamp)
	if err != nil {
		return cursor{}, fmt.Errorf("invalid cursor %q: stamp: %w", clip(string(s), 80), err)
	}
	return cursor{Stamp: t, IDs: j.IDs}, nil
}

// seen reports whether a record was emitted before the cursor was made.
func (c cursor) seen(stamp time.Time, id string) bool {
	return stamp.Before(c.Stamp) || stamp.Equal(c.Stamp) && slices.Contains(c.IDs, id)
}

// advance records that a record was emitted.
func (c *cursor) advance(stamp time.Time, id string) {
	switch {
	case stamp.After(c.Stamp):
		c.Stamp, c.IDs = stamp, []string{id}
	case stamp.Equal(c.Stamp):
		c.IDs = append(slices.Clip(c.IDs), id)
	}
	// An earlier stamp is covered already: the cursor only moves forward.
}

// fixedFields are read for every record: the id, the stamps the cursor and
// the merge need, and IsDeleted to tell deletions.
var fixedFields = []string{"Id", "SystemModstamp", "LastModifiedDate", "IsDeleted"}

// selectList derives the SOQL field list from the caller's payload paths:
// the first segment of each (gjson escapes a dot with a backslash).
func selectList(paths []string) ([]string, error) {
	list := slices.Clone(fixedFields)
	have := map[string]bool{}
	for _, f := range list {
		have[strings.ToLower(f)] = true
	}
	for _, p := range paths {
		var seg strings.Builder
		for i := 0; i < len(p); i++ {
			if p[i] == '\\' && i+1 < len(p) {
				i++
			} else if p[i] == '.' {
				break
			}
			seg.WriteByte(p[i])
		}
		name := seg.String()
		if name == "attributes" || have[strings.ToLower(name)] {
			continue
		}
		if !nameRE.MatchString(name) {
			return nil, fmt.Errorf("field path %q: %q is not a Salesforce field name", p, name)
		}
		have[strings.ToLower(name)] = true
		list = append(list, name)
	}
	return list, nil
}

// soql builds the query of a pull. The literal has seconds only, rounded
// down, so the query may return records the cursor then skips; it never
// misses one.
func soql(object string, fields []string, after cursor) string {
	q := "SELECT " + strings.Join(fields, ", ") + " FROM " + object
	if !after.Stamp.IsZero() {
		q += " WHERE SystemModstamp >= " + after.Stamp.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z")
	}
	return q + " ORDER BY SystemModstamp, Id"
}

// Pull reads the records of q.Object changed after q.After, oldest first,
// one page per query batch. It uses queryAll, so records deleted into the
// recycle bin come as Deleted records (for as long as Salesforce keeps them
// there, 15 days by default).
//
// A query's result set is fixed when it runs, but each batch is read when
// it is fetched: a record edited meanwhile comes with its new stamp, which
// can be later than edits to other records the query never saw. So the
// cursor never moves past the second the query ran in (the Date of its
// first response): a record stamped later is emitted now and again on the
// next pull, and nothing edited during a long pull is skipped.
func (c *Client) Pull(ctx context.Context, q tandem.Query, page func(tandem.Page) error) error {
	op := "pull " + q.Object
	fail := func(format string, args ...any) error {
		return &tandem.Error{Op: op, System: c.system, Message: fmt.Sprintf(format, args...)}
	}
	if !nameRE.MatchString(q.Object) {
		return fail("%q is not a Salesforce object name", q.Object)
	}
	start, err := decodeCursor(q.After)
	if err != nil {
		return fail("%v", err)
	}
	fields, err := selectList(q.Fields)
	if err != nil {
		return fail("%v", err)
	}
	next := c.data + "/queryAll?q=" + url.QueryEscape(soql(q.Object, fields, start))
	cur := cursor{Stamp: start.Stamp, IDs: slices.Clone(start.IDs)}
	var ceiling time.Time // the cursor stays below it; zero: no Date header
	maxBatches := 1
	for n := 1; ; n++ {
		if n > maxBatches {
			return fail("query did not end after %d batches (totalSize %d allows fewer)", n-1, maxBatches-2)
		}
		resp, err := c.call(ctx, op, http.MethodGet, next, nil)
		if err != nil {
			return err
		}
		if !gjson.ValidBytes(resp.Body) {
			return fail("batch %d: response is not JSON", n)
		}
		res := gjson.ParseBytes(resp.Body)
		if n == 1 {
			// Every batch but the last holds at least one record.
			maxBatches = int(res.Get("totalSize").Int()) + 2
			if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
				ceiling = d.Add(time.Second)
			}
		}
		recs, err := c.batch(res, start, &cur, ceiling)
		if err != nil {
			return fail("batch %d: %v", n, err)
		}
		if err := page(tandem.Page{Records: recs, Cursor: cur.encode()}); err != nil {
			return err
		}
		if res.Get("done").Bool() {
			return nil
		}
		more := res.Get("nextRecordsUrl").String()
		if !strings.HasPrefix(more, "/services/data/") {
			return fail("batch %d: not done, but nextRecordsUrl is %q", n, more)
		}
		if len(res.Get("records").Array()) == 0 {
			return fail("batch %d: empty, but not done", n)
		}
		next = c.instance + more
	}
}

// batch turns one query batch into records, skipping those the starting
// cursor has seen, and advances cur over the records emitted.
func (c *Client) batch(res gjson.Result, start cursor, cur *cursor, ceiling time.Time) ([]tandem.Record, error) {
	raw := res.Get("records")
	if !raw.IsArray() {
		return nil, fmt.Errorf("no records array")
	}
	var recs []tandem.Record
	for i, r := range raw.Array() {
		id := r.Get("Id").String()
		stamp, err := time.Parse(sfTime, r.Get("SystemModstamp").String())
		if id == "" || err != nil {
			return nil, fmt.Errorf("record %d: no Id or SystemModstamp: %s", i, clip(r.Raw, 200))
		}
		if start.seen(stamp, id) {
			continue
		}
		modified, err := time.Parse(sfTime, r.Get("LastModifiedDate").String())
		if err != nil {
			return nil, fmt.Errorf("record %s: LastModifiedDate: %w", id, err)
		}
		recs = append(recs, tandem.Record{
			ID:       id,
			Raw:      json.RawMessage(r.Raw),
			Modified: modified,
			Deleted:  r.Get("IsDeleted").Bool(),
		})
		if ceiling.IsZero() || stamp.Before(ceiling) {
			cur.advance(stamp, id)
		}
	}
	return recs, nil
}
