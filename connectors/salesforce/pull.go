package salesforce

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
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
//
// Rejected holds fingerprints of records set aside as unreadable that the
// stamp and ids cannot cover (no usable Id or SystemModstamp, or stamped
// past the query's second), so that reading them again, as the next query
// may, does not set them aside twice.
type cursor struct {
	Stamp    time.Time
	IDs      []string
	Rejected []string
}

type cursorJSON struct {
	Stamp    string   `json:"stamp"`
	IDs      []string `json:"ids"`
	Rejected []string `json:"rejected,omitempty"`
}

func (c cursor) encode() tandem.Cursor {
	if c.Stamp.IsZero() && len(c.Rejected) == 0 {
		return ""
	}
	j := cursorJSON{IDs: c.IDs, Rejected: c.Rejected}
	if !c.Stamp.IsZero() {
		j.Stamp = c.Stamp.UTC().Format(cursorTime)
	}
	b, _ := json.Marshal(j)
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
	c := cursor{IDs: j.IDs, Rejected: j.Rejected}
	if j.Stamp != "" {
		t, err := time.Parse(cursorTime, j.Stamp)
		if err != nil {
			return cursor{}, fmt.Errorf("invalid cursor %q: stamp: %w", clip(string(s), 80), err)
		}
		c.Stamp = t
	} else if len(j.Rejected) == 0 {
		return cursor{}, fmt.Errorf("invalid cursor %q: no stamp", clip(string(s), 80))
	}
	return c, nil
}

// sinceCursor is the cursor a pull from a time (tandem.Query.Since)
// starts from: a stamp and no ids, as if every record stamped before
// since had been emitted. The pages' cursors move on from it as from any
// other, so a pull from a time resumes like any pull. SystemModstamp has
// milliseconds, and so does a cursor, so since is rounded up to one: a
// record stamped in since's millisecond but before since was not
// modified at or after it.
func sinceCursor(since time.Time) cursor {
	stamp := since.UTC().Truncate(time.Millisecond)
	if stamp.Before(since) {
		stamp = stamp.Add(time.Millisecond)
	}
	return cursor{Stamp: stamp}
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

// maxRejectMemo bounds the fingerprints a cursor keeps. Past it the oldest
// are forgotten: at worst a record is set aside twice, never lost.
const maxRejectMemo = 500

// rejectMemo is the fingerprints of records set aside that the cursor
// cannot cover: those the starting cursor had, and those met in this
// pull (new, or read again).
type rejectMemo struct {
	had map[string]bool
	met []string
}

func newRejectMemo(start cursor) *rejectMemo {
	m := &rejectMemo{had: map[string]bool{}}
	for _, f := range start.Rejected {
		m.had[f] = true
	}
	return m
}

func (m *rejectMemo) meet(fp string) {
	if !slices.Contains(m.met, fp) {
		m.met = append(m.met, fp)
	}
}

// list is what a page's cursor keeps. Until the query's last batch, the
// starting cursor's fingerprints not met yet may still come; after it,
// only those met can: the next query reads a part of this one's window,
// and a record that changed since has other bytes.
func (m *rejectMemo) list(last bool) []string {
	out := slices.Clone(m.met)
	if !last {
		for f := range m.had {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
		slices.Sort(out[len(m.met):])
	}
	if len(out) > maxRejectMemo {
		out = out[len(out)-maxRejectMemo:]
	}
	return out
}

// fingerprint names a record's exact bytes, for the cursor.
func fingerprint(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:8])
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
// one page per query batch; without q.After, those stamped at or after
// q.Since when it is set (see sinceCursor), else all of them. It uses queryAll, so records deleted into the
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
	if q.After == "" && !q.Since.IsZero() {
		start = sinceCursor(q.Since)
	}
	fields, err := selectList(q.Fields)
	if err != nil {
		return fail("%v", err)
	}
	next := c.data + "/queryAll?q=" + url.QueryEscape(soql(q.Object, fields, start))
	cur := cursor{Stamp: start.Stamp, IDs: slices.Clone(start.IDs)}
	memo := newRejectMemo(start)
	var ceiling time.Time // the cursor stays below it; zero: no Date header
	// The loop's bound: every batch but the last holds at least one record,
	// so a query of totalSize records ends within totalSize+1 batches.
	maxBatches := 1
	for n := 1; ; n++ {
		if n > maxBatches {
			return fail("query did not end after %d batches (totalSize %d allows fewer)", n-1, maxBatches-2)
		}
		resp, err := c.call(ctx, connectors.Read, op, http.MethodGet, next, nil)
		if err != nil {
			return err
		}
		if !gjson.ValidBytes(resp.Body) {
			return fail("batch %d: response is not JSON", n)
		}
		res := gjson.ParseBytes(resp.Body)
		if n == 1 {
			maxBatches = int(res.Get("totalSize").Int()) + 2
			if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
				ceiling = d.Add(time.Second)
			}
		}
		recs, rejected, err := c.batch(res, start, &cur, ceiling, memo)
		if err != nil {
			return fail("batch %d: %v", n, err)
		}
		done := res.Get("done").Bool()
		cur.Rejected = memo.list(done)
		if err := page(tandem.Page{Records: recs, Rejected: rejected, Cursor: cur.encode()}); err != nil {
			return err
		}
		if done {
			return nil
		}
		more := res.Get("nextRecordsUrl").String()
		if !strings.HasPrefix(more, "/services/data/") {
			return fail("batch %d: not done, but nextRecordsUrl is %q", n, more)
		}
		if len(res.Get("records").Array()) == 0 {
			return fail("batch %d: empty, but not done", n)
		}
		if c.instance+more == next {
			return fail("batch %d: nextRecordsUrl %q points at the batch just read", n, more)
		}
		next = c.instance + more
	}
}

// batch turns one query batch into records, skipping those the starting
// cursor has seen, and advances cur over the records emitted.
//
// A record that cannot be read is set aside in the page's Rejected, and
// the batch goes on. When its Id and SystemModstamp are good (its
// LastModifiedDate is not, say), the cursor moves over it as over any
// record, so the next pull does not read it again. When they are not, the
// cursor cannot place it and does not move for it; the records after it
// in the query's order (by SystemModstamp) carry the cursor past it, and
// memo keeps it from being set aside again should the next query, which
// starts at the cursor's second, read it again.
func (c *Client) batch(res gjson.Result, start cursor, cur *cursor, ceiling time.Time, memo *rejectMemo) ([]tandem.Record, []tandem.Rejected, error) {
	raw := res.Get("records")
	if !raw.IsArray() {
		return nil, nil, fmt.Errorf("no records array")
	}
	var recs []tandem.Record
	var rejected []tandem.Rejected
	for _, r := range raw.Array() {
		id, stamp, reason := position(r)
		placed := reason == ""
		if placed && start.seen(stamp, id) {
			continue
		}
		var modified time.Time
		if placed {
			var err error
			if modified, err = time.Parse(sfTime, r.Get("LastModifiedDate").String()); err != nil {
				reason = badTime("LastModifiedDate", r.Get("LastModifiedDate"))
			}
		}
		below := placed && (ceiling.IsZero() || stamp.Before(ceiling))
		if reason == "" {
			recs = append(recs, tandem.Record{
				ID:       id,
				Raw:      json.RawMessage(r.Raw),
				Modified: modified,
				Deleted:  r.Get("IsDeleted").Bool(),
			})
		} else {
			fp := fingerprint(r.Raw)
			switch {
			case memo.had[fp]:
				memo.meet(fp) // set aside by an earlier pull, bytes unchanged
			case !below:
				memo.meet(fp)
				fallthrough
			default:
				rejected = append(rejected, tandem.Rejected{ID: id, Raw: json.RawMessage(r.Raw), Reason: reason})
			}
		}
		if below {
			cur.advance(stamp, id)
		}
	}
	return recs, rejected, nil
}

// position reads what places a record in the query's order: its Id and
// SystemModstamp. reason says what is wrong when either is unusable; id
// is still set when it alone is good.
func position(r gjson.Result) (id string, stamp time.Time, reason string) {
	if !r.IsObject() {
		return "", time.Time{}, "not a JSON object"
	}
	v := r.Get("Id")
	switch {
	case !v.Exists() || v.Type == gjson.Null:
		reason = "no Id"
	case v.Type != gjson.String || !idRE.MatchString(v.String()):
		reason = fmt.Sprintf("Id %s is not a Salesforce id", clip(v.Raw, 40))
	default:
		id = v.String()
	}
	s := r.Get("SystemModstamp")
	t, err := time.Parse(sfTime, s.String())
	if err != nil || s.Type != gjson.String {
		reason = join(reason, badTime("SystemModstamp", s))
	}
	if reason != "" {
		return id, time.Time{}, reason
	}
	return id, t, ""
}

func badTime(field string, v gjson.Result) string {
	if !v.Exists() || v.Type == gjson.Null {
		return "no " + field
	}
	return fmt.Sprintf("%s %s is not a Salesforce datetime like 2024-05-06T07:08:09.000+0000", field, clip(v.Raw, 60))
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
