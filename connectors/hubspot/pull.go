package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
)

// cursor is where a pull resumes. Live covers the live records: the
// shared watermark (connectors.Watermark), placed on the modified-date
// property (epoch ms). Each pull searches again from the lookback window
// before it, since HubSpot's search index shows a write only seconds
// after it is made, and skips the versions (id and bytes) it has emitted.
//
// Arch and AIDs cover the recycle bin, which search never shows (see
// archive.go): every record archived before Arch (epoch ms) has been
// emitted as a delete, or was archived before the connector started
// looking; AIDs are the records archived at or after Arch that have been
// emitted, by id, with their archivedAt (epoch ms). Arch is 0 until the
// connector has looked: in the empty cursor, and in cursors written
// before deletes were pulled, which still parse.
//
// Rej are the records of the recycle bin that could not be read and have
// been set aside (Page.Rejected), by "id:<id>" or, without an id,
// "sha256:<hash of the bytes>", for as long as the bin lists them.
type cursor struct {
	Live connectors.Watermark `json:"live"`
	Arch int64                `json:"arch,omitempty"`
	AIDs map[string]int64     `json:"aids,omitempty"`
	Rej  []string             `json:"rej,omitempty"`
	// List is where a full read by list stands (list.go); nil otherwise.
	List *listPos `json:"list,omitempty"`
}

// cursorJSON is a cursor as stored. TS and IDs are the live part of a
// cursor written before the watermark: the newest modified time emitted
// (epoch ms) and the ids emitted at it.
type cursorJSON struct {
	Live *connectors.Watermark `json:"live,omitempty"`
	TS   int64                 `json:"ts,omitempty"`
	IDs  []string              `json:"ids,omitempty"`
	Arch int64                 `json:"arch,omitempty"`
	AIDs map[string]int64      `json:"aids,omitempty"`
	Rej  []string              `json:"rej,omitempty"`
	List *listPos              `json:"list,omitempty"`
}

// parseCursor reads a cursor. One written before the watermark
// ({"ts","ids",…}) still resumes: from its time, less the lookback. Its
// ids (emitted at that time, by id alone) are not trusted to skip
// anything, so the records at that time are emitted once more; for the
// engine they are records equal to their snapshot, which change nothing.
func (c *Client) parseCursor(op string, after tandem.Cursor) (cursor, error) {
	var cur cursor
	if after == "" {
		return cur, nil
	}
	var j cursorJSON
	dec := json.NewDecoder(strings.NewReader(string(after)))
	dec.DisallowUnknownFields() // another connector's cursor is refused, not read as empty
	err := dec.Decode(&j)
	if _, more := dec.Token(); err == nil && more != io.EOF {
		err = errors.New("more after the cursor's JSON object")
	}
	// A time past the year 9999 cannot be written back into a watermark,
	// so the cursor after it could not be read: refused now, not then.
	if err != nil || j.TS < 0 || j.Arch < 0 || j.TS > maxStampMS || j.List != nil && (j.List.At <= 0 || j.List.At > maxStampMS) {
		why := "not a JSON object, or a time out of range"
		if err != nil {
			why = err.Error()
		}
		return cur, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("cursor %.100q was not made by the hubspot connector: %s", string(after), why)}
	}
	cur = cursor{Arch: j.Arch, AIDs: j.AIDs, Rej: j.Rej, List: j.List}
	switch {
	case j.Live != nil:
		cur.Live = *j.Live
	case j.TS > 0:
		cur.Live.Stamp = time.UnixMilli(j.TS).UTC()
	}
	return cur, nil
}

// minStampMS and maxStampMS are the first millisecond of the year 0 and
// the last of the year 9999: the times a watermark writes.
const (
	minStampMS = -62167219200000
	maxStampMS = 253402300799999
)

// sinceCursor is the cursor a pull from a time (tandem.Query.Since)
// starts from: as if every record modified before since, and every record
// archived before it, had been emitted. The pages' cursors move on from
// it as from any other, so a pull from a time resumes like any pull.
//
// HubSpot stamps in milliseconds, so since is rounded up to one: a record
// stamped in since's millisecond but before since was not modified at or
// after it. Arch is at least 1, since 0 means "not looked yet", which
// would place the watermark at the pull's start instead.
func sinceCursor(since time.Time) cursor {
	ms := since.UnixMilli()
	if time.UnixMilli(ms).Before(since) {
		ms++
	}
	return cursor{Live: connectors.Watermark{Floor: time.UnixMilli(max(ms, 0)).UTC()}, Arch: max(ms, 1)}
}

func (cur cursor) encode() tandem.Cursor {
	b, _ := json.Marshal(cur)
	return tandem.Cursor(b)
}

// topLevel are the fields of a HubSpot object outside properties.
var topLevel = map[string]bool{"id": true, "createdAt": true, "updatedAt": true, "archived": true, "archivedAt": true}

var propertyName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// searchProperties turns the payload paths the caller reads into the
// property names to ask for; the modified-date property is always asked
// for, since the cursor is made of it.
func searchProperties(object string, fields []string) ([]string, error) {
	props := []string{modifiedProperty(object)}
	for _, f := range fields {
		head, rest, _ := strings.Cut(f, ".")
		if head == "associations" {
			continue // not a property: associations.go
		}
		if head != "properties" {
			if !topLevel[head] {
				return nil, fmt.Errorf("field path %q: a HubSpot record has %s and properties.<name>, nothing else", f, "id, createdAt, updatedAt, archived")
			}
			continue
		}
		name, _, _ := strings.Cut(rest, ".")
		if !propertyName.MatchString(name) {
			return nil, fmt.Errorf("field path %q: %q is not a HubSpot property name", f, name)
		}
		if !slices.Contains(props, name) {
			props = append(props, name)
		}
	}
	return props, nil
}

// historyProperties are the properties named by the payload paths the
// caller reads (already checked by searchProperties): those whose times
// go into Record.FieldTimes.
func historyProperties(fields []string) []string {
	var names []string
	for _, f := range fields {
		head, rest, _ := strings.Cut(f, ".")
		name, _, _ := strings.Cut(rest, ".")
		if head == "properties" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

type searchFilter struct {
	PropertyName string `json:"propertyName"`
	Operator     string `json:"operator"`
	Value        string `json:"value"`
}

type searchSort struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

// searchRequest is PublicObjectSearchRequest, every field the spec
// requires filled in.
type searchRequest struct {
	FilterGroups []struct {
		Filters []searchFilter `json:"filters"`
	} `json:"filterGroups"`
	Sorts      []searchSort `json:"sorts"`
	Properties []string     `json:"properties"`
	Limit      int          `json:"limit"`
	After      string       `json:"after"`
}

// Pull reads the records of q.Object modified at or after the cursor,
// oldest first, one page per search response; then the records archived
// since the cursor, as deletes (see pullArchived). Without a cursor, a
// pull with q.Since starts there (see sinceCursor): the records modified,
// and those archived, at or after it; without either, it is a full read
// of every live record by list, not search (see pullList), and of the
// deletes only the most recent (see firstArch).
//
// Searches never page by offset (paging.next.after): offsets shift when a
// record in the part already read is edited mid-pull (it moves to the
// end), which would skip a record without a trace, and they stop at
// HubSpot's 10,000-result cap. Each page is a fresh search from the
// newest time read so far (modified >= T, ascending), which reads that
// time's records again and skips the versions emitted. Only a page made
// entirely of one time's records makes no headway; that run of ties is
// then paged by id (modified EQ T AND hs_object_id GT the last id, sorted
// by hs_object_id, HubSpot allowing one sort), and the pull goes on with
// modified > T.
//
// HubSpot's search index shows a write seconds after it is made, so a
// record can become searchable after records modified later than it. So
// each pull starts its search the lookback window before its cursor
// (lookback), and the cursor never moves past the portal's time at the
// first search.
//
// A result that cannot be read (no id, a bad updatedAt …) does not stop
// the pull: it goes into its page's Rejected, with its bytes and the
// reason, once (see tracker.reject).
//
// With property_history, each page's records also get FieldTimes, from a
// batch/read of their property history.
func (c *Client) Pull(ctx context.Context, q tandem.Query, page func(tandem.Page) error) error {
	op := "pull " + q.Object
	cur, err := c.parseCursor(op, q.After)
	if err != nil {
		return err
	}
	if q.After == "" && !q.Since.IsZero() {
		cur = sinceCursor(q.Since)
	}
	props, err := searchProperties(q.Object, q.Fields)
	if err != nil {
		return &tandem.Error{Op: op, System: c.name, Err: err}
	}
	var hist []string
	if c.history {
		hist = historyProperties(q.Fields)
	}
	targets, err := associationTargets(q.Object, q.Fields)
	if err != nil {
		return &tandem.Error{Op: op, System: c.name, Err: err}
	}
	if len(targets) > 0 {
		// Each page's records get their associations before they go.
		emit := page
		page = func(p tandem.Page) error {
			if err := c.addAssociations(ctx, op, q.Object, p.Records, targets); err != nil {
				return err
			}
			return emit(p)
		}
	}
	if (q.After == "" && q.Since.IsZero()) || cur.List != nil {
		return c.pullList(ctx, op, q.Object, props, hist, cur, page)
	}
	tr := newTracker(cur, c.window())
	now, err := c.pullLive(ctx, op, q.Object, props, hist, tr, page)
	if err != nil {
		return err
	}
	return c.pullArchived(ctx, op, q.Object, props, tr.cursor(), now, page)
}

// window is how this portal's pulls read from a watermark.
func (c *Client) window() connectors.Window {
	return connectors.Window{Overlap: c.lookback, Precision: time.Millisecond}
}

// search is the next search of a pull.
type search struct {
	kind    searchKind
	from    int64 // epoch ms
	afterID int64 // ties and tail: the last id of from's run read by id
}

type searchKind int

const (
	fromTime searchKind = iota // modified >= from, by modified
	pastTime                   // modified > from, by modified
	ties                       // modified = from and hs_object_id > afterID, by id
	// tail is ties and pastTime in one search (two filter groups, OR'ed),
	// by modified: the rest of from's run comes first, all of it if the
	// page holds anything later.
	tail
)

func (s search) request(mod string, props []string, limit int) searchRequest {
	req := searchRequest{Properties: props, Limit: limit, After: "0"}
	at := strconv.FormatInt(s.from, 10)
	run := []searchFilter{
		{PropertyName: mod, Operator: "EQ", Value: at},
		{PropertyName: "hs_object_id", Operator: "GT", Value: strconv.FormatInt(s.afterID, 10)},
	}
	var groups [][]searchFilter
	req.Sorts = []searchSort{{PropertyName: mod, Direction: "ASCENDING"}}
	switch s.kind {
	case fromTime:
		groups = [][]searchFilter{{{PropertyName: mod, Operator: "GTE", Value: at}}}
	case pastTime:
		groups = [][]searchFilter{{{PropertyName: mod, Operator: "GT", Value: at}}}
	case ties:
		groups = [][]searchFilter{run}
		req.Sorts = []searchSort{{PropertyName: "hs_object_id", Direction: "ASCENDING"}}
	case tail:
		groups = [][]searchFilter{run, {{PropertyName: mod, Operator: "GT", Value: at}}}
	}
	for _, g := range groups {
		req.FilterGroups = append(req.FilterGroups, struct {
			Filters []searchFilter `json:"filters"`
		}{g})
	}
	return req
}

// next is the search after a page of s: full says whether HubSpot has
// more, oldest and newest are the page's times (epoch ms), lastID its
// greatest id. done: the pull has read everything.
func (s search) next(full bool, oldest, newest, lastID int64) (n search, done bool, err error) {
	switch {
	case s.kind == ties && !full: // the run is read: go on after it
		return search{kind: pastTime, from: s.from}, false, nil
	case s.kind == ties:
		if lastID <= s.afterID {
			return s, false, fmt.Errorf("a full page whose ids do not move past %d", s.afterID)
		}
		return search{kind: tail, from: s.from, afterID: lastID}, false, nil
	case !full:
		return s, true, nil
	case oldest == newest || oldest < 0:
		// A full page of one time's records: its run may go on past the
		// page, in an order HubSpot does not promise, so it is paged by id
		// (from the start, or, in a tail still in its run, from where the
		// run was).
		if s.kind == tail && newest == s.from {
			return search{kind: ties, from: s.from, afterID: s.afterID}, false, nil
		}
		return search{kind: ties, from: newest}, false, nil
	default: // headway: search again from the newest time read
		return search{kind: fromTime, from: newest}, false, nil
	}
}

// pullLive is the search phase of a pull. It returns the portal's time at
// its first response, which places the archive watermark.
func (c *Client) pullLive(ctx context.Context, op, object string, props, hist []string, tr *tracker, page func(tandem.Page) error) (time.Time, error) {
	var now time.Time
	mod := modifiedProperty(object)
	path := "/crm/v3/objects/" + url.PathEscape(object) + "/search"
	var s search
	if from := tr.cur.Live.From(c.window()); !from.IsZero() {
		s.from = max(from.UnixMilli(), 0)
	}
	budget := -1 // searches allowed, set from the first total
	for pages := 0; ; pages++ {
		if err := ctx.Err(); err != nil {
			return now, err
		}
		if budget >= 0 && pages > budget {
			return now, &tandem.Error{Op: op, System: c.name, Retryable: true, Message: fmt.Sprintf(
				"stopped after %d searches: records are being modified faster than they can be read; the next pull resumes from the last page", pages)}
		}
		if err := c.searchPace.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return now, ctx.Err()
			}
			return now, &tandem.Error{Op: op, System: c.name, Retryable: true, Message: "no slot for a search within search_rate_limit before the deadline", Err: err}
		}
		resp, err := c.call(ctx, connectors.Read, op, http.MethodPost, path, s.request(mod, props, c.pageSize))
		if err != nil {
			return now, err
		}
		if pages == 0 {
			now = serverTime(resp)
			tr.live.SetCeiling(now)
			if tr.cur.Arch == 0 {
				tr.cur.Arch = firstArch(tr.cur, now)
			}
		}
		body := gjson.ParseBytes(resp.Body)
		results := body.Get("results").Array()
		if !gjson.ValidBytes(resp.Body) || !body.Get("results").IsArray() {
			return now, c.notAPage(op, "search response is not a page of results", resp)
		}
		if budget < 0 {
			// Every search but the last makes headway: it emits a record,
			// or moves along a run of ties.
			budget = 2*int(body.Get("total").Int()) + 10
		}
		var items []any
		oldest, newest, lastID := int64(-1), s.from, s.afterID
		for _, obj := range results {
			rec, ts, err := c.pulledRecord(op, obj, mod)
			switch {
			case err == nil:
				items = append(items, tr.read(rec.ID, ts, obj.Raw, rec)...)
			default:
				items = append(items, tr.reject(rec.ID, ts, obj.Raw, tandem.Rejected{ID: rec.ID, Raw: json.RawMessage(obj.Raw), Reason: reason(err)})...)
			}
			if ts >= 0 && (oldest < 0 || ts < oldest) {
				oldest = ts
			}
			newest = max(newest, ts)
			if n, err := strconv.ParseInt(rec.ID, 10, 64); err == nil {
				lastID = max(lastID, n)
			}
		}
		full := len(results) >= c.pageSize && body.Get("paging.next.after").Exists()
		next, done, err := s.next(full, oldest, newest, lastID)
		if err != nil {
			return now, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("search of the records with %s %d: %v", mod, s.from, err)}
		}
		if done {
			items = append(items, tr.live.Close()...)
		}
		if err := c.emit(ctx, op, object, hist, items, tr, page); err != nil {
			return now, err
		}
		if done {
			return now, nil
		}
		s = next
	}
}

// emit sends one page of what the tracker let through, with the cursor
// after it; nothing to send, no page.
func (c *Client) emit(ctx context.Context, op, object string, hist []string, items []any, tr *tracker, page func(tandem.Page) error) error {
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
	if len(recs) > 0 && len(hist) > 0 {
		if err := c.addFieldTimes(ctx, op, object, recs, hist); err != nil {
			return err
		}
	}
	if len(recs) == 0 && len(rejected) == 0 {
		return nil
	}
	return page(tandem.Page{Records: recs, Rejected: rejected, Cursor: tr.cursor().encode()})
}

// serverTime is the portal's clock at a response, from its Date header
// (whole seconds); the local clock if HubSpot sent none.
func serverTime(resp *connectors.Response) time.Time {
	if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		return t
	}
	return time.Now()
}

// tracker is the cursor as a pull moves it.
type tracker struct {
	cur  cursor
	live *connectors.Tracker
	// unplaced are the rejected records this pull has set aside that the
	// cursor cannot step over (no id, or no time), by id or content, so
	// that a later search of the same pull does not set them aside again.
	unplaced map[string]bool
}

func newTracker(cur cursor, win connectors.Window) *tracker {
	return &tracker{cur: cur, live: cur.Live.Track(win, time.Time{}), unplaced: map[string]bool{}}
}

// cursor is the cursor after what the pull has emitted so far.
func (t *tracker) cursor() cursor {
	c := t.cur
	c.Live = t.live.Watermark()
	return c
}

// reject is read for a search result that could not be parsed: what to
// set aside. With an id and a modified time (ts >= 0) it is placed like
// any record, and set aside once per version. Without, the cursor cannot
// step over it: it is set aside once per pull, and a later pull from a
// cursor before it sets it aside again (see the README).
func (t *tracker) reject(id string, ts int64, raw string, r tandem.Rejected) []any {
	if id != "" && ts >= 0 {
		return t.read(id, ts, raw, r)
	}
	key := "id:" + id
	if id == "" {
		key = "raw:" + raw
	}
	if t.unplaced[key] {
		return nil
	}
	t.unplaced[key] = true
	return []any{r}
}

// read offers a record's version (its bytes) modified at ts to the
// watermark, and returns what to emit (see connectors.Tracker.Read).
func (t *tracker) read(id string, ts int64, raw string, payload any) []any {
	return t.live.Read(id, time.UnixMilli(ts).UTC(), connectors.Fingerprint([]byte(raw)), payload)
}

// pulledRecord reads one search result and the modified time (epoch ms)
// the search sorted it by: the modified-date property, which updatedAt
// normally equals. A result that cannot be read still returns what could
// be: the id in rec.ID ("" if none), and the time, or -1 if none.
func (c *Client) pulledRecord(op string, obj gjson.Result, mod string) (tandem.Record, int64, error) {
	rec, err := c.parseRecord(op, obj)
	if id := obj.Get("id"); err != nil && id.Type == gjson.String {
		rec.ID = id.Str
	}
	v := obj.Get("properties").Get(gjson.Escape(mod))
	if !v.Exists() || v.Type == gjson.Null {
		if err != nil {
			return rec, -1, err
		}
		return rec, rec.Modified.UnixMilli(), nil
	}
	ts, perr := parseStamp(v.String())
	switch {
	case perr != nil && err == nil:
		return rec, -1, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("record %s: %s %s is not a timestamp", rec.ID, mod, v.Raw)}
	case perr != nil:
		return rec, -1, err
	}
	return rec, ts, err
}

// reason is the text of a rejected record's error, without the operation
// and system a dead letter records anyway.
func reason(err error) string {
	var te *tandem.Error
	if errors.As(err, &te) && te.Message != "" {
		return te.Message
	}
	return err.Error()
}

// parseStamp reads a HubSpot timestamp property: RFC 3339 (what the v3 API
// returns) or epoch milliseconds (what older objects sometimes hold).
//
// Epoch milliseconds past the year 9999 (or before the year 0) are not a
// timestamp: the watermark could not write them, so the cursor after such
// a record could not be read back and every later pull would fail.
func parseStamp(v string) (int64, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		if ms < minStampMS || ms > maxStampMS {
			return 0, fmt.Errorf("%d ms is out of range", ms)
		}
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, err
	}
	return t.UnixMilli(), nil
}
