package hubspot

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

	"tandem"
	"tandem/connectors"
)

// Full reads. A pull with no cursor and no Since (an initial sync, a
// backfill of everything, a reconciliation sweep) reads every live record:
// it lists them (GET /crm/v3/objects/{object}, by id, paged by the after
// token) instead of searching. The list has neither the search's rate
// limit (5 a second) nor its cap of 10,000 results, and reads the records
// themselves, not the search index, which lags.
//
// A full read that stops is resumed from its last page's cursor, which
// holds the list's after token and the portal's time at the read's first
// response (listPos). When the list ends, the cursor becomes an ordinary
// one whose watermark stands at that time: every record modified since
// the read began was either listed as it is now or is modified after
// that time, so the next (searching) pull, which starts the lookback
// window before it, reads it. Records it reads again that the list
// emitted cost the engine a comparison with their snapshot. The recycle
// bin is then read as after a first search (pullArchived, firstArch).

// listWatermark is the watermark after a full read that began at the
// portal's time at: its stamp is at, and it vouches for the versions the
// read emitted that the next search (from the lookback window before at)
// meets again (recent), so that a pull from the end emits nothing. A
// version it cannot vouch for (one listed before a resume, or one whose
// second the next search finds changed) is emitted again: a comparison
// with its snapshot for the engine, never an edit lost.
func listWatermark(at time.Time, recent *connectors.Unordered) connectors.Watermark {
	w := recent.Watermark(at)
	if w.Stamp.Before(at) {
		w.Stamp = at
	}
	return w
}

// listPos is where a full read by list stands.
type listPos struct {
	After string `json:"after,omitempty"` // the list's paging token; "" at the start
	At    int64  `json:"at"`              // the portal's time at the first response (epoch ms)
}

// maxListPages bounds a full read: a hundred million records at 100 a
// page.
const maxListPages = 1_000_000

// listLimit is the largest page the list endpoint serves.
const listLimit = 100

// pullList is a full read: the live records by list, then the recycle
// bin. cur is the empty cursor, or one a full read left (cur.List set).
func (c *Client) pullList(ctx context.Context, op, object string, props, hist []string, cur cursor, page func(tandem.Page) error) error {
	pos := listPos{}
	if cur.List != nil {
		pos = *cur.List
	}
	mod := modifiedProperty(object)
	path := "/crm/v3/objects/" + url.PathEscape(object)
	q := url.Values{"limit": {strconv.Itoa(min(c.pageSize, listLimit))}, "properties": {strings.Join(props, ",")}}
	seen := map[string]bool{pos.After: true}
	recent := connectors.NewUnordered(c.window()) // what the next pull's search will read again
	for pages := 0; ; pages++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if pages == maxListPages {
			return &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("stopped listing records after %d pages", pages)}
		}
		q.Del("after")
		if pos.After != "" {
			q.Set("after", pos.After)
		}
		resp, err := c.call(ctx, connectors.Read, op, http.MethodGet, path+"?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		if pos.At == 0 {
			at := serverTime(resp)
			pos.At = max(at.UnixMilli(), 1)
			if cur.Arch == 0 {
				cur.Arch = firstArch(cursor{}, at)
			}
		}
		from := connectors.Watermark{Stamp: time.UnixMilli(pos.At)}.From(c.window()).UnixMilli()
		body := gjson.ParseBytes(resp.Body)
		if !gjson.ValidBytes(resp.Body) || !body.Get("results").IsArray() {
			return c.notAPage(op, "list response is not a page of results", resp)
		}
		var recs []tandem.Record
		var rejected []tandem.Rejected
		for _, obj := range body.Get("results").Array() {
			rec, ts, err := c.pulledRecord(op, obj, mod)
			if err != nil {
				rejected = append(rejected, tandem.Rejected{ID: rec.ID, Raw: json.RawMessage(obj.Raw), Reason: reason(err)})
				continue
			}
			recs = append(recs, rec)
			if ts >= from {
				recent.Add(rec.ID, time.UnixMilli(ts).UTC(), connectors.SumOf([]byte(obj.Raw)))
			}
		}
		next := strings.Clone(body.Get("paging.next.after").String()) // kept in seen: not a piece of the page
		if next != "" && seen[next] {
			return &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("stopped listing records: paging token %q seen before", next)}
		}
		seen[next] = true
		after := cursor{Arch: cur.Arch}
		if next != "" {
			after.List = &listPos{After: next, At: pos.At}
		} else {
			after.Live = listWatermark(time.UnixMilli(pos.At).UTC(), recent)
		}
		if len(recs) > 0 && len(hist) > 0 {
			if err := c.addFieldTimes(ctx, op, object, recs, hist); err != nil {
				return err
			}
		}
		// The last page is sent even when empty: its cursor ends the
		// full read.
		if len(recs) > 0 || len(rejected) > 0 || next == "" {
			if err := page(tandem.Page{Records: recs, Rejected: rejected, Cursor: after.encode()}); err != nil {
				return err
			}
		}
		if next == "" {
			return c.pullArchived(ctx, op, object, props, after, time.UnixMilli(pos.At).UTC(), page)
		}
		pos.After = next
	}
}
