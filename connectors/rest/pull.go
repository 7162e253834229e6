package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
	"github.com/tomnomnom/linkheader"

	"tandem"
	"tandem/connectors"
)

// Pull reads the records of an object updated since the cursor, oldest
// first, page by page, behind the shared tie-safe watermark: the cursor
// is a connectors.Watermark. The list query's {since} is where the
// watermark says to read from (its stamp less the overlap); with no
// {since} in the query every pull reads the whole list, and the
// watermark skips what it has emitted.
//
// With paging page, offset or link and a {since} in the query, a full
// page that moved the newest stamp on starts the next request from that
// stamp (page one) instead of asking for the next page: an edit made
// while the pull runs moves a record to the end of the list and would
// otherwise shift an unread record onto a page already read. Records at
// that stamp are read again and skipped by the watermark; a run of ties
// longer than a page is paged through with the same {since}.
//
// An object with a deleted_list (a deleted-records endpoint) has it read
// after the live list, the same way, from a watermark of its own; the
// records it lists come as deleted.
func (c *Client) Pull(ctx context.Context, q tandem.Query, page func(tandem.Page) error) error {
	op := "pull " + q.Object
	ob, err := c.object(op, q.Object)
	if err != nil {
		return err
	}
	var cur cursor
	switch {
	case q.After != "":
		if err := json.Unmarshal([]byte(q.After), &cur); err != nil || cur.Live == nil {
			return &tandem.Error{Op: op, System: c.name, Message: "the cursor is not this connector's", Err: err}
		}
	case !q.Since.IsZero():
		cur.Live = &connectors.Watermark{Floor: q.Since.UTC()}
	default:
		cur.Live = &connectors.Watermark{}
	}
	live := c.puller(op, ob, *cur.Live)
	live.fields = q.Fields
	live.cursor = func() cursor { return cursor{Live: ptr(live.tr.Watermark()), Gone: cur.Gone} }
	if err := live.run(ctx, page); err != nil || ob.DeletedList == nil {
		return err
	}
	// The deleted-records endpoint, read after the live list, from its
	// own watermark: what it lists is emitted as deleted.
	after := live.cursor()
	if cur.Gone == nil {
		cur.Gone = &connectors.Watermark{Floor: cur.Live.Floor}
	}
	gone := c.puller(op+" (deleted)", *ob.DeletedList, *cur.Gone)
	gone.deleted = true
	gone.fields = q.Fields
	gone.cursor = func() cursor { return cursor{Live: after.Live, Gone: ptr(gone.tr.Watermark())} }
	return gone.run(ctx, page)
}

// cursor is the position of a pull: a watermark on the live list, and
// one on the deleted-records endpoint when the object has one.
type cursor struct {
	Live *connectors.Watermark `json:"live"`
	Gone *connectors.Watermark `json:"gone,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func (c *Client) puller(op string, ob objectOptions, wm connectors.Watermark) *puller {
	win := connectors.Window{Overlap: *ob.Overlap, Precision: ob.Precision}
	p := &puller{c: c, ob: ob, op: op, tr: wm.Track(win, time.Time{}), page: *ob.FirstPage}
	if from := wm.From(win); !from.IsZero() {
		p.since = from
	}
	return p
}

// puller is one Pull as it moves through the list.
type puller struct {
	c       *Client
	ob      objectOptions
	op      string
	tr      *connectors.Tracker
	cursor  func() cursor   // the pull's position after what was emitted
	deleted bool            // the list is of deleted records
	fields  []string        // the paths asked for (tandem.Query.Fields)
	seen    map[string]bool // rejected records without a stamp, set aside once a pull

	since       time.Time // {since}
	page        int       // {page}
	offset      int       // {offset}
	token       string    // {cursor}
	next        string    // the Link header's next URL
	lastUpdated time.Time // {last_updated}, {last_id}: keyset
	lastID      string
	keyset      bool // past the first page of a keyset walk
}

func (p *puller) run(ctx context.Context, emit func(tandem.Page) error) error {
	for n := 0; ; n++ {
		if n >= p.ob.MaxPages {
			return &tandem.Error{Op: p.op, System: p.c.name, Retryable: true,
				Message: fmt.Sprintf("stopped after max_pages (%d) pages; the next pull resumes after the last page", p.ob.MaxPages)}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		resp, err := p.c.call(ctx, connectors.Read, p.op, http.MethodGet, p.url(), nil, nil)
		if err != nil {
			return err
		}
		if !ok(resp) {
			return p.c.failed(p.op, resp)
		}
		if n == 0 {
			if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
				p.tr.SetCeiling(t)
			}
		}
		list, err := records(p.ob, resp.Body)
		if err != nil {
			return &tandem.Error{Op: p.op, System: p.c.name, Status: resp.Status, Message: err.Error()}
		}
		var items []any
		newest := p.since
		for _, r := range list {
			items = append(items, p.read(r)...)
			if t, err := parseTime(p.ob, r.Get(p.ob.Updated)); err == nil && t.After(newest) {
				newest = t
			}
		}
		done := p.advance(resp, list, newest)
		if done {
			items = append(items, p.tr.Close()...)
		}
		if err := p.emit(items, emit); err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// read offers one record to the watermark and returns what to emit.
func (p *puller) read(r gjson.Result) []any {
	rec, err := parseRecord(p.ob, r)
	sum := connectors.Fingerprint([]byte(r.Raw))
	if err != nil {
		// Without a stamp the watermark cannot step over it: it is set
		// aside once a pull, and again by a later pull that reads it.
		rej := tandem.Rejected{ID: rec.ID, Raw: json.RawMessage(r.Raw), Reason: err.Error()}
		if p.seen == nil {
			p.seen = map[string]bool{}
		}
		if p.seen[sum] {
			return nil
		}
		p.seen[sum] = true
		return []any{rej}
	}
	rec.Deleted = rec.Deleted || p.deleted
	rec.Raw = whole(rec.Raw, p.fields)
	return p.tr.Read(rec.ID, rec.Modified, sum, rec)
}

func (p *puller) emit(items []any, emit func(tandem.Page) error) error {
	var pg tandem.Page
	for _, it := range items {
		switch v := it.(type) {
		case tandem.Record:
			pg.Records = append(pg.Records, v)
		case tandem.Rejected:
			pg.Rejected = append(pg.Rejected, v)
		}
	}
	if len(pg.Records) == 0 && len(pg.Rejected) == 0 {
		return nil
	}
	b, err := json.Marshal(p.cursor())
	if err != nil {
		return err
	}
	pg.Cursor = tandem.Cursor(b)
	return emit(pg)
}

// advance sets up the next request from the answer, or says the list is
// read to its end.
func (p *puller) advance(resp *connectors.Response, list []gjson.Result, newest time.Time) (done bool) {
	n := len(list)
	if n == 0 {
		return true
	}
	restart := p.ob.Query != nil && usesSince(p.ob.Query) && newest.After(p.since)
	switch p.ob.Paging {
	case "none":
		return true
	case "page", "offset":
		if n < p.ob.PageSize {
			return true
		}
		if restart {
			p.since, p.page, p.offset = newest, *p.ob.FirstPage, 0
		} else {
			p.page++
			p.offset += n
		}
	case "link":
		next := ""
		for _, l := range linkheader.Parse(resp.Header.Get("Link")).FilterByRel("next") {
			next = l.URL
		}
		if next == "" {
			return true
		}
		if restart {
			p.since, p.next = newest, ""
			return false
		}
		u, err := url.Parse(next)
		if err != nil {
			return true
		}
		p.next = p.c.baseURL().ResolveReference(u).String()
	case "cursor":
		tok := gjson.GetBytes(resp.Body, p.ob.NextCursor)
		if !tok.Exists() || tok.Type == gjson.Null || tok.String() == "" {
			return true
		}
		p.token = tok.String()
	case "keyset":
		if n < p.ob.PageSize {
			return true
		}
		last := list[n-1]
		t, err := parseTime(p.ob, last.Get(p.ob.Updated))
		id := idString(last.Get(p.ob.ID))
		if err != nil || id == "" {
			return true // the last record cannot place the next page: a later pull reads on from the watermark
		}
		p.lastUpdated, p.lastID, p.keyset = t, id, true
	}
	return false
}

func (c *Client) baseURL() *url.URL {
	u, _ := url.Parse(c.base + "/")
	return u
}

// url is the next list request.
func (p *puller) url() string {
	if p.next != "" {
		return p.next
	}
	vars := map[string]string{
		"limit": strconv.Itoa(p.ob.PageSize), "page": strconv.Itoa(p.page), "offset": strconv.Itoa(p.offset), "cursor": p.token,
	}
	if !p.since.IsZero() {
		vars["since"] = formatTime(p.ob, p.since)
	}
	q := map[string]string{}
	for k, v := range p.ob.Query {
		q[k] = v
	}
	if p.keyset {
		vars["last_updated"], vars["last_id"] = formatTime(p.ob, p.lastUpdated), p.lastID
		for k, v := range p.ob.Keyset {
			q[k] = v
		}
	}
	return p.c.url(p.ob.Path, expand(q, vars))
}

// records is the list of records of a list answer.
func records(ob objectOptions, body []byte) ([]gjson.Result, error) {
	if !gjson.ValidBytes(body) {
		return nil, fmt.Errorf("the list answer is not JSON")
	}
	v := gjson.ParseBytes(body)
	if ob.Records != "" {
		v = v.Get(ob.Records)
	}
	if !v.IsArray() {
		where := "the body"
		if ob.Records != "" {
			where = "records: " + ob.Records
		}
		return nil, fmt.Errorf("the list answer holds no array at %s", where)
	}
	return v.Array(), nil
}

// parseRecord reads one record. On an error it still returns the id and
// the time when it could read them.
func parseRecord(ob objectOptions, r gjson.Result) (tandem.Record, error) {
	var rec tandem.Record
	if !r.IsObject() {
		return rec, fmt.Errorf("not an object")
	}
	rec.ID = idString(r.Get(ob.ID))
	t, terr := parseTime(ob, r.Get(ob.Updated))
	rec.Modified = t
	switch {
	case rec.ID == "":
		return rec, fmt.Errorf("no id at %s", ob.ID)
	case terr != nil:
		return rec, fmt.Errorf("%s: %v", ob.Updated, terr)
	}
	rec.Raw = json.RawMessage(r.Raw)
	if ob.Precision > time.Millisecond {
		rec.Precision = ob.Precision // a stamp T stands for [T, T+precision): the merge's newest reads it so
	}
	if ob.Deleted != "" {
		rec.Deleted = truthy(r.Get(ob.Deleted))
	}
	return rec, nil
}

// whole gives a record read in full (from a list, or by id) a null at
// each path asked for that it lacks. Many APIs leave an unset field out
// of a record rather than send it null (json-server, PocketBase's
// omitted fields, Go's omitempty): read whole, a record that lacks a
// field says the field is empty, not that it said nothing of it (as a
// partial webhook payload does). Without this, a field set after being
// empty meets a base that never had it, and the merge takes the edit for
// a conflict. Paths with gjson queries or wildcards are left alone.
func whole(raw json.RawMessage, fields []string) json.RawMessage {
	for _, f := range fields {
		if f == "" || strings.ContainsAny(f, "#*?|@\\") || gjson.GetBytes(raw, f).Exists() {
			continue
		}
		if b, err := sjson.SetRawBytes(raw, f, []byte("null")); err == nil {
			raw = b
		}
	}
	return raw
}

// idString is an id as a string: a string, or a whole number's digits.
func idString(v gjson.Result) string {
	switch v.Type {
	case gjson.String:
		return v.Str
	case gjson.Number:
		if _, err := strconv.ParseInt(v.Raw, 10, 64); err == nil {
			return v.Raw
		}
	}
	return ""
}

// truthy: a tombstone field says deleted with true, a non-empty string (a
// time of deletion) or a number other than 0.
func truthy(v gjson.Result) bool {
	switch v.Type {
	case gjson.True:
		return true
	case gjson.String:
		return v.Str != ""
	case gjson.Number:
		return v.Num != 0
	}
	return false
}
