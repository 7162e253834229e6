package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// cursor is where a pull resumes. TS and IDs cover the live records: the
// modified time (epoch ms) of the newest record emitted, and the ids
// emitted with exactly that time. HubSpot stamps in milliseconds, so many
// records can share one; the next search asks for everything at or after
// TS and skips these ids, so a tie cut by a page boundary is neither lost
// nor repeated.
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
	TS   int64            `json:"ts"`
	IDs  []string         `json:"ids,omitempty"`
	Arch int64            `json:"arch,omitempty"`
	AIDs map[string]int64 `json:"aids,omitempty"`
	Rej  []string         `json:"rej,omitempty"`
}

func (c *Client) parseCursor(op string, after tandem.Cursor) (cursor, error) {
	var cur cursor
	if after == "" {
		return cur, nil
	}
	if err := json.Unmarshal([]byte(after), &cur); err != nil || cur.TS < 0 || cur.Arch < 0 {
		return cur, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("cursor %.100q was not made by the hubspot connector", string(after))}
	}
	return cur, nil
}

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
	return cursor{TS: max(ms, 0), Arch: max(ms, 1)}
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
// and those archived, at or after it; without either, it reads every live
// record, and of the deletes only the most recent (see firstArch).
//
// Each page is a fresh search from the cursor (modified >= cursor time,
// ascending) rather than the next offset of the previous search: offsets
// shift when a record in the part already read is edited mid-pull (it
// moves to the end), which would skip a record without a trace. Offsets
// (paging.next.after) are followed only while a page makes no headway,
// i.e. through a run of records sharing the cursor's millisecond, and a
// search is never paged into HubSpot's 10,000-result cap.
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
	tr := newTracker(cur)
	now, err := c.pullLive(ctx, op, q.Object, props, hist, tr, page)
	if err != nil {
		return err
	}
	return c.pullArchived(ctx, op, q.Object, props, tr.cur, now, page)
}

// pullLive is the search phase of a pull. It returns the portal's time at
// its first response, which places the archive watermark.
func (c *Client) pullLive(ctx context.Context, op, object string, props, hist []string, tr *tracker, page func(tandem.Page) error) (time.Time, error) {
	var now time.Time
	mod := modifiedProperty(object)
	path := "/crm/v3/objects/" + url.PathEscape(object) + "/search"
	from, offset := tr.cur.TS, 0 // the current search, and where in it we are
	budget := -1                 // pages allowed, set from the first total
	for pages := 0; ; pages++ {
		if err := ctx.Err(); err != nil {
			return now, err
		}
		if budget >= 0 && pages > budget {
			return now, &tandem.Error{Op: op, System: c.name, Retryable: true, Message: fmt.Sprintf(
				"stopped after %d pages: records are being modified faster than they can be read; the next pull resumes from the last page", pages)}
		}
		if offset >= c.searchCap { // only reached inside a run of ties
			return now, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("more than %d records share %s %s: HubSpot's search cannot page past them",
				c.searchCap, mod, time.UnixMilli(from).UTC().Format(time.RFC3339Nano))}
		}
		req := searchRequest{
			Sorts:      []searchSort{{PropertyName: mod, Direction: "ASCENDING"}},
			Properties: props, After: strconv.Itoa(offset),
			Limit: min(c.pageSize, c.searchCap-offset), // HubSpot refuses a page that reaches past the cap
		}
		req.FilterGroups = append(req.FilterGroups, struct {
			Filters []searchFilter `json:"filters"`
		}{[]searchFilter{{PropertyName: mod, Operator: "GTE", Value: strconv.FormatInt(from, 10)}}})
		if err := c.searchPace.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return now, ctx.Err()
			}
			return now, &tandem.Error{Op: op, System: c.name, Retryable: true, Message: "no slot for a search within search_rate_limit before the deadline", Err: err}
		}
		resp, err := c.call(ctx, connectors.Read, op, http.MethodPost, path, req)
		if err != nil {
			return now, err
		}
		if pages == 0 {
			now = serverTime(resp)
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
			budget = 2*(int(body.Get("total").Int())/max(1, c.pageSize-1)+1) + 10
		}
		var recs []tandem.Record
		var rejected []tandem.Rejected
		for _, obj := range results {
			rec, ts, err := c.pulledRecord(op, obj, mod)
			switch {
			case err == nil:
				if tr.take(rec.ID, ts) {
					recs = append(recs, rec)
				}
			case tr.reject(rec.ID, ts, obj.Raw):
				rejected = append(rejected, tandem.Rejected{ID: rec.ID, Raw: json.RawMessage(obj.Raw), Reason: reason(err)})
			}
		}
		if len(recs) > 0 && len(hist) > 0 {
			if err := c.addFieldTimes(ctx, op, object, recs, hist); err != nil {
				return now, err
			}
		}
		if len(recs) > 0 || len(rejected) > 0 {
			if err := page(tandem.Page{Records: recs, Rejected: rejected, Cursor: tr.cur.encode()}); err != nil {
				return now, err
			}
		}
		next := body.Get("paging.next.after")
		switch {
		case !next.Exists() || len(results) == 0:
			return now, nil
		case tr.cur.TS > from: // headway: search again from the cursor
			from, offset = tr.cur.TS, 0
		default: // a page of ties at the cursor's time: page through them
			n, err := strconv.Atoi(next.String())
			if err != nil || n <= offset {
				return now, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("search paging.next.after %s does not move forward from %d", next.Raw, offset)}
			}
			offset = n
		}
	}
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
	seen map[string]bool // cur.IDs
	// unplaced are the rejected records this pull has set aside that the
	// cursor cannot step over (no id, or no time), by id or content, so
	// that a later search of the same pull does not set them aside again.
	unplaced map[string]bool
}

func newTracker(cur cursor) *tracker {
	t := &tracker{cur: cur, seen: map[string]bool{}, unplaced: map[string]bool{}}
	for _, id := range cur.IDs {
		t.seen[id] = true
	}
	return t
}

// reject reports whether a search result that could not be parsed is new
// to the pull, to be set aside. With an id and a modified time (ts >= 0)
// it is placed like any record: the cursor moves over it and it is set
// aside once. Without, the cursor cannot step over it, and a later pull
// from a cursor before it sets it aside again (see the README).
func (t *tracker) reject(id string, ts int64, raw string) bool {
	if id != "" && ts >= 0 {
		return t.take(id, ts)
	}
	key := "id:" + id
	if id == "" {
		key = "raw:" + raw
	}
	if t.unplaced[key] {
		return false
	}
	t.unplaced[key] = true
	return true
}

// take reports whether a record modified at ts is new to the cursor, and
// moves the cursor over it. A record older than the cursor can only come
// from a tie run paged by offset while records were being edited; it is
// taken, and the cursor stays put.
func (t *tracker) take(id string, ts int64) bool {
	switch {
	case ts == t.cur.TS && t.seen[id]:
		return false // emitted by an earlier page or pull
	case ts > t.cur.TS:
		t.cur.TS, t.cur.IDs, t.seen = ts, nil, map[string]bool{}
	}
	if ts == t.cur.TS {
		t.cur.IDs = append(t.cur.IDs, id)
		t.seen[id] = true
	}
	return true
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
func parseStamp(v string) (int64, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, err
	}
	return t.UnixMilli(), nil
}
