package hubspot

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
)

// Deletes. HubSpot archives a deleted record (its recycle bin keeps it for
// 90 days) and search never returns archived records; archiving does not
// touch updatedAt or the modified-date property either. So the only way
// to see a delete without webhooks is to list the recycle bin
// (GET /crm/v3/objects/{object}?archived=true), every page of it, on every
// pull, and emit the records archived since the cursor's watermark.
//
// The listing runs in id order, not in archive order, and takes time: a
// record archived while it runs, behind the page being read, is missed by
// this pull while a later archive may already have been seen. So the
// watermark is never moved past the time the pull started (the portal's
// clock, from the Date header of its first response) less archiveMargin;
// the records archived after the watermark that have been emitted ride in
// the cursor instead (AIDs, id -> archivedAt), so they are emitted once. The same margin
// covers the first pull: a record the first search returned and that was
// archived before the listing still reaches the engine as a delete, while
// the older contents of the recycle bin are not replayed as deletes.

// archiveMargin is how far before a pull's start an archive may lie and
// still be unseen by that pull: the Date header's whole seconds, the
// search index lag (seconds), clock skew inside HubSpot, with room to spare.
const archiveMargin = time.Minute

// maxArchivePages bounds the listing: ten million archived records at 100
// a page, far more than a recycle bin keeps.
const maxArchivePages = 100_000

// archiveListLimit is the largest page the list endpoint serves.
const archiveListLimit = 100

// archivedRecord is a record of the recycle bin and its archivedAt.
type archivedRecord struct {
	rec tandem.Record
	at  int64 // archivedAt, epoch ms
}

// firstArch places the watermark of a cursor that has none yet, given the
// portal's time at the start of the pull. A new cursor starts at the pull
// less archiveMargin: a first full read has nothing to delete, except what
// is archived while it runs. A cursor written before deletes were pulled
// starts at its own modified time less the margin, so the deletes made
// since the pull that wrote it are not lost.
func firstArch(cur cursor, now time.Time) int64 {
	w := now.Add(-archiveMargin).UnixMilli()
	if ts := cur.Live.Stamp; !ts.IsZero() {
		w = min(w, ts.UnixMilli()-archiveMargin.Milliseconds())
	}
	return max(w, 1) // 0 means "not set"
}

// pullArchived is the delete phase of a pull: it lists the recycle bin and
// emits, oldest archive first, the records archived at or after the
// watermark that the cursor has not emitted yet, as Deleted records
// (Raw is the archived object, Modified its archivedAt), c.pageSize to a
// page. Each page's cursor keeps the search part of cur and moves the
// watermark as far as is safe: to the last archive of the page, and never
// past now less archiveMargin.
//
// Records of the bin that cannot be read (no id, no archivedAt …) go into
// the first page's Rejected, once: the cursor keeps their keys (Rej) for
// as long as the bin lists them, since the whole bin is listed again on
// every pull. Nothing to emit, no page.
func (c *Client) pullArchived(ctx context.Context, op, object string, props []string, cur cursor, now time.Time, page func(tandem.Page) error) error {
	all, bad, err := c.listArchived(ctx, op, object, props)
	if err != nil {
		return err
	}
	// An id emitted before counts as done only with the same archivedAt:
	// a record restored and archived again is a new delete.
	done := func(a archivedRecord) bool { at, ok := cur.AIDs[a.rec.ID]; return ok && at == a.at }
	var todo []archivedRecord
	for _, a := range all {
		if a.at >= cur.Arch && !done(a) {
			todo = append(todo, a)
		}
	}
	slices.SortFunc(todo, func(a, b archivedRecord) int {
		return cmp.Or(cmp.Compare(a.at, b.at), compareIDs(a.rec.ID, b.rec.ID))
	})
	var rejected []tandem.Rejected
	var rej []string // every unreadable record still in the bin
	for _, r := range bad {
		rej = append(rej, r.key)
		if !slices.Contains(cur.Rej, r.key) {
			rejected = append(rejected, r.Rejected)
		}
	}
	if len(todo) == 0 && len(rejected) > 0 {
		next := cur
		next.Rej = rej
		return page(tandem.Page{Rejected: rejected, Cursor: next.encode()})
	}
	horizon := now.Add(-archiveMargin).UnixMilli()
	emitted := map[string]bool{}
	for start := 0; start < len(todo); start += c.pageSize {
		end := min(start+c.pageSize, len(todo))
		recs := make([]tandem.Record, 0, end-start)
		for _, a := range todo[start:end] {
			emitted[a.rec.ID] = true
			recs = append(recs, a.rec)
		}
		// Everything archived before w is now emitted (or was before the
		// watermark): on the last page every archive listed; on others the
		// archives before the page's last one, which the rest may tie.
		w := horizon
		if end < len(todo) {
			w = min(w, todo[end-1].at)
		}
		w = max(w, cur.Arch)
		next := cur
		next.Arch, next.AIDs, next.Rej = w, map[string]int64{}, rej
		for _, a := range all {
			if a.at >= w && (done(a) || emitted[a.rec.ID]) {
				next.AIDs[a.rec.ID] = a.at
			}
		}
		p := tandem.Page{Records: recs, Cursor: next.encode()}
		if start == 0 {
			p.Rejected = rejected
		}
		if err := page(p); err != nil {
			return err
		}
	}
	return nil
}

// compareIDs orders HubSpot's numeric ids as numbers (shorter first),
// and any other ids as text.
func compareIDs(a, b string) int {
	return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
}

// badArchived is a record of the recycle bin that could not be read, and
// the key the cursor knows it by: its id, or a hash of its bytes.
type badArchived struct {
	tandem.Rejected
	key string
}

// listArchived reads every page of the object's recycle bin, with the
// properties the caller reads, as Deleted records, and the records that
// could not be read. The loop is bounded by maxArchivePages and stops at
// a paging token seen before.
func (c *Client) listArchived(ctx context.Context, op, object string, props []string) ([]archivedRecord, []badArchived, error) {
	q := url.Values{"archived": {"true"}, "limit": {strconv.Itoa(archiveListLimit)}, "properties": {strings.Join(props, ",")}}
	path := "/crm/v3/objects/" + url.PathEscape(object)
	var out []archivedRecord
	var bad []badArchived
	seen := map[string]bool{} // ids, and keys of bad records
	tokens := map[string]bool{"": true}
	after := ""
	for pages := 0; ; pages++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if pages == maxArchivePages {
			return nil, nil, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("stopped listing archived records after %d pages", pages)}
		}
		if after != "" {
			q.Set("after", after)
		}
		resp, err := c.call(ctx, connectors.Read, op, http.MethodGet, path+"?"+q.Encode(), nil)
		if err != nil {
			return nil, nil, err
		}
		body := gjson.ParseBytes(resp.Body)
		if !gjson.ValidBytes(resp.Body) || !body.Get("results").IsArray() {
			return nil, nil, c.notAPage(op, "archived records response is not a page of results", resp)
		}
		results := body.Get("results").Array()
		for _, obj := range results {
			a, err := c.archivedRecord(op, obj)
			if err != nil {
				key := "id:" + obj.Get("id").String()
				if id := obj.Get("id"); id.Type != gjson.String || id.Str == "" {
					sum := sha256.Sum256([]byte(obj.Raw))
					key = "sha256:" + hex.EncodeToString(sum[:8])
				}
				if !seen[key] {
					seen[key] = true
					bad = append(bad, badArchived{tandem.Rejected{ID: obj.Get("id").String(), Raw: json.RawMessage(obj.Raw), Reason: reason(err)}, key})
				}
				continue
			}
			if !seen[a.rec.ID] {
				seen[a.rec.ID] = true
				out = append(out, a)
			}
		}
		next := body.Get("paging.next.after")
		if !next.Exists() || len(results) == 0 {
			return out, bad, nil
		}
		if tokens[next.String()] {
			return nil, nil, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("archived records paging.next.after %s after %q was seen before: the listing would go round in circles", next.Raw, after)}
		}
		tokens[next.String()] = true
		after = next.String()
	}
}

// archivedRecord reads one object of the recycle bin; it needs what any
// record needs (parseRecord) and an archivedAt timestamp.
func (c *Client) archivedRecord(op string, obj gjson.Result) (archivedRecord, error) {
	rec, err := c.parseRecord(op, obj)
	if err != nil {
		return archivedRecord{}, err
	}
	v := obj.Get("archivedAt")
	at, err := time.Parse(time.RFC3339Nano, v.String())
	if v.Type != gjson.String || err != nil {
		return archivedRecord{}, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("archived record %s: archivedAt %s is not an RFC 3339 timestamp", rec.ID, orMissing(v))}
	}
	rec.Deleted, rec.Modified = true, at
	return archivedRecord{rec: rec, at: at.UnixMilli()}, nil
}
