package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// legacyTime is how cursors written before the shared watermark wrote
// their stamp.
const legacyTime = "2006-01-02T15:04:05.000Z07:00"

// stampPrecision is that of SystemModstamp and of SOQL's datetime
// comparisons: the whole second (the API writes milliseconds, always
// .000).
const stampPrecision = time.Second

// cursor is where a pull resumes: the shared watermark
// (connectors.Watermark), which places the next query a window before
// the newest stamp read and skips the versions (id and bytes) already
// emitted, never an id alone: SystemModstamp has whole seconds, so a
// record edited again in the second it was read at keeps its stamp.
//
// Rejected holds fingerprints of records set aside as unreadable that the
// watermark cannot place (no usable Id or SystemModstamp), so that reading
// them again, as the next query may, does not set them aside twice.
type cursor struct {
	Mark     connectors.Watermark
	Rejected []string
}

type cursorJSON struct {
	Mark     *connectors.Watermark `json:"mark,omitempty"`
	Rejected []string              `json:"rejected,omitempty"`
	// Stamp and IDs are the cursor written before the watermark (see
	// decodeCursor).
	Stamp string   `json:"stamp,omitempty"`
	IDs   []string `json:"ids,omitempty"`
}

func (c cursor) encode() tandem.Cursor {
	if c.Mark.Stamp.IsZero() && c.Mark.Floor.IsZero() && len(c.Rejected) == 0 {
		return ""
	}
	j := cursorJSON{Rejected: c.Rejected}
	if !c.Mark.Stamp.IsZero() || !c.Mark.Floor.IsZero() {
		j.Mark = &c.Mark
	}
	b, _ := json.Marshal(j)
	return tandem.Cursor(b)
}

// decodeCursor reads a cursor. One written before the shared watermark,
// {"stamp", "ids"}, still resumes: from its stamp, less the overlap. Its
// ids (emitted at the stamp, by id alone) are not trusted to skip
// anything, so the records at the stamp are emitted once more; for the
// engine they are records equal to their snapshot, which change nothing.
// Nothing is lost and nothing is written twice.
func decodeCursor(s tandem.Cursor) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	var j cursorJSON
	dec := json.NewDecoder(strings.NewReader(string(s)))
	dec.DisallowUnknownFields() // another connector's cursor is refused, not read as empty
	err := dec.Decode(&j)
	if _, more := dec.Token(); err == nil && more != io.EOF {
		err = errors.New("more after the cursor's JSON object")
	}
	if err != nil {
		return cursor{}, fmt.Errorf("invalid cursor %q: not a cursor of the salesforce connector: %w", clip(string(s), 80), err)
	}
	c := cursor{Rejected: j.Rejected}
	switch {
	case j.Mark != nil:
		c.Mark = *j.Mark
	case j.Stamp != "":
		t, err := time.Parse(legacyTime, j.Stamp)
		if err != nil {
			return cursor{}, fmt.Errorf("invalid cursor %q: stamp: %w", clip(string(s), 80), err)
		}
		c.Mark.Stamp = t
	case len(j.Rejected) == 0:
		return cursor{}, fmt.Errorf("invalid cursor %q: not a cursor of the salesforce connector (no mark)", clip(string(s), 80))
	}
	return c, nil
}

// sinceCursor is the cursor a pull from a time (tandem.Query.Since)
// starts from: a floor, as if every record stamped before since had been
// emitted. The pages' cursors move on from it as from any other, so a
// pull from a time resumes like any pull. SystemModstamp has whole
// seconds, so since is rounded down to one: a record stamped in since's
// second may have been modified after since.
func sinceCursor(since time.Time) cursor {
	return cursor{Mark: connectors.Watermark{Floor: since.UTC().Truncate(stampPrecision)}}
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

// soql builds the query of a pull: the records stamped at or after from
// (whole seconds), or all of them when from is zero.
func soql(object string, fields []string, from time.Time) string {
	q := "SELECT " + strings.Join(fields, ", ") + " FROM " + object
	if !from.IsZero() {
		q += " WHERE SystemModstamp >= " + from.UTC().Truncate(stampPrecision).Format("2006-01-02T15:04:05Z")
	}
	return q + " ORDER BY SystemModstamp, Id"
}

// window is how this org's pulls read from a watermark.
func (c *Client) window() connectors.Window {
	return connectors.Window{Overlap: c.overlap, Precision: stampPrecision}
}

// Pull reads the records of q.Object changed after q.After, oldest first,
// one page per query batch; without q.After, those stamped at or after
// q.Since when it is set (see sinceCursor), else all of them. It uses
// queryAll, so records deleted into the recycle bin come as Deleted
// records (for as long as Salesforce keeps them there, 15 days by
// default).
//
// Two things make a record readable only after records stamped later than
// it. A transaction stamps its records when its DML runs but shows them
// only when it commits, so a query may return records stamped after one
// it cannot see yet. And a query's result set is fixed when it runs while
// each batch is read when fetched, so a record edited meanwhile comes
// with a stamp later than edits the query never saw. So the cursor never
// moves past the server's time before the query ran (the Date of a call
// made just before it, the ceiling), and each pull reads again from the
// overlap window before its cursor (Options.Overlap), skipping only the
// versions it has emitted (see cursor).
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
	ceiling, err := c.serverTime(ctx, op)
	if err != nil {
		return err
	}
	next := c.data + "/queryAll?q=" + url.QueryEscape(soql(q.Object, fields, start.Mark.From(c.window())))
	tr := start.Mark.Track(c.window(), ceiling)
	memo := newRejectMemo(start)
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
		}
		recs, rejected, err := c.batch(res, tr, memo)
		if err != nil {
			return fail("batch %d: %v", n, err)
		}
		done := res.Get("done").Bool()
		if done {
			r, rj := split(tr.Close())
			recs, rejected = append(recs, r...), append(rejected, rj...)
		}
		cur := cursor{Mark: tr.Watermark(), Rejected: memo.list(done)}
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

// serverTime is the org's clock before a query: the Date of the cheapest
// authenticated call there is (the list of the API version's resources).
// Whole seconds, rounded down, so it is never after the query begins.
// Zero when Salesforce sent no Date: the overlap window alone then covers
// late commits.
func (c *Client) serverTime(ctx context.Context, op string) (time.Time, error) {
	resp, err := c.call(ctx, connectors.Read, op, http.MethodGet, c.data+"/", nil)
	if err != nil {
		return time.Time{}, err
	}
	d, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return time.Time{}, nil
	}
	return d.UTC(), nil
}

// batch turns one query batch into records, skipping the versions the
// cursor has emitted, and moves the tracker over the records emitted.
//
// A record that cannot be read is set aside in the page's Rejected, and
// the batch goes on. When its Id and SystemModstamp are good (its
// LastModifiedDate is not, say), the tracker takes it as any record, so
// the same bytes are not set aside twice. When they are not, the tracker
// cannot place it; memo keeps it from being set aside again should the
// next query, which starts before the cursor, read it again.
func (c *Client) batch(res gjson.Result, tr *connectors.Tracker, memo *rejectMemo) ([]tandem.Record, []tandem.Rejected, error) {
	raw := res.Get("records")
	if !raw.IsArray() {
		return nil, nil, fmt.Errorf("no records array")
	}
	var out []any
	var rejected []tandem.Rejected
	for _, r := range raw.Array() {
		id, stamp, reason := position(r)
		if reason == "" {
			var item any
			if modified, err := time.Parse(sfTime, r.Get("LastModifiedDate").String()); err == nil {
				item = tandem.Record{ID: id, Raw: json.RawMessage(r.Raw), Modified: modified, Deleted: r.Get("IsDeleted").Bool(), Precision: stampPrecision}
			} else {
				item = tandem.Rejected{ID: id, Raw: json.RawMessage(r.Raw), Reason: badTime("LastModifiedDate", r.Get("LastModifiedDate"))}
			}
			out = append(out, tr.Read(id, stamp, connectors.Fingerprint([]byte(r.Raw)), item)...)
			continue
		}
		fp := connectors.Fingerprint([]byte(r.Raw))
		seen := memo.had[fp]
		memo.meet(fp)
		if !seen { // else set aside by an earlier pull, bytes unchanged
			rejected = append(rejected, tandem.Rejected{ID: id, Raw: json.RawMessage(r.Raw), Reason: reason})
		}
	}
	recs, rj := split(out)
	return recs, append(rj, rejected...), nil
}

// split sorts what a tracker let through into records and rejects.
func split(items []any) ([]tandem.Record, []tandem.Rejected) {
	var recs []tandem.Record
	var rejected []tandem.Rejected
	for _, it := range items {
		switch v := it.(type) {
		case tandem.Record:
			recs = append(recs, v)
		case tandem.Rejected:
			rejected = append(rejected, v)
		}
	}
	return recs, rejected
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
