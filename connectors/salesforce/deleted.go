package salesforce

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
)

var _ connectors.DeleteFetcher = (*Client)(nil)

// maxDeletedQuery is how many ids one query of FetchDeleted names: 200
// quoted 18-character ids keep the URL near 5 KB, under the 8 KB that
// proxies on the way often allow (see maxGetURL).
const maxDeletedQuery = 200

// FetchDeleted reads, among ids, the records of q.Object in the recycle
// bin, through queryAll (the query that sees deleted rows) with
// IsDeleted = true, as Deleted records timed by their SystemModstamp:
// Salesforce stamps a row when it is deleted, so that is when a person
// deleted it, by Salesforce's clock, not when Tandem noticed. Ids live,
// unknown, not Salesforce ids, or purged from the bin (emptied, or after
// 15 days) are left out.
func (c *Client) FetchDeleted(ctx context.Context, q tandem.Query, ids []string) ([]tandem.Record, error) {
	op := "fetch deleted " + q.Object
	if !nameRE.MatchString(q.Object) {
		return nil, &tandem.Error{Op: op, System: c.system, Message: fmt.Sprintf("%q is not a Salesforce object name", q.Object)}
	}
	var list []string
	asked := map[string]bool{}
	for _, id := range ids {
		if idRE.MatchString(id) && !asked[id] {
			asked[id] = true
			list = append(list, id)
		}
	}
	var out []tandem.Record
	got := map[string]bool{}
	for start := 0; start < len(list); start += maxDeletedQuery {
		chunk := list[start:min(start+maxDeletedQuery, len(list))]
		soql := "SELECT Id, SystemModstamp, IsDeleted FROM " + q.Object + " WHERE IsDeleted = true AND Id IN ('" + strings.Join(chunk, "','") + "')"
		next := c.data + "/queryAll?q=" + url.QueryEscape(soql)
		// Every batch but the last holds a record, and the query matches
		// at most len(chunk) rows: the loop's bound.
		for n := 0; ; n++ {
			if n > len(chunk) {
				return nil, &tandem.Error{Op: op, System: c.system, Message: fmt.Sprintf("query of %d deleted ids did not end after %d batches", len(chunk), n)}
			}
			resp, err := c.call(ctx, connectors.Read, op, http.MethodGet, next, nil)
			if err != nil {
				return nil, err
			}
			res := gjson.ParseBytes(resp.Body)
			if !gjson.ValidBytes(resp.Body) || !res.Get("records").IsArray() {
				return nil, &tandem.Error{Op: op, System: c.system, Status: resp.Status, Message: "query response has no records array: " + clip(string(resp.Body), 200)}
			}
			for _, r := range res.Get("records").Array() {
				id := r.Get("Id").String()
				stamp, err := time.Parse(sfTime, r.Get("SystemModstamp").String())
				if err != nil || id == "" {
					return nil, &tandem.Error{Op: op, System: c.system, Message: fmt.Sprintf("deleted record without an Id or a SystemModstamp: %s", clip(r.Raw, 200))}
				}
				if r.Get("IsDeleted").Bool() && !got[id] {
					got[id] = true
					out = append(out, tandem.Record{ID: id, Raw: []byte(r.Raw), Modified: stamp, Deleted: true, Precision: stampPrecision})
				}
			}
			if res.Get("done").Bool() {
				break
			}
			more := res.Get("nextRecordsUrl").String()
			if !strings.HasPrefix(more, "/services/data/") {
				return nil, &tandem.Error{Op: op, System: c.system, Message: fmt.Sprintf("query not done, but nextRecordsUrl is %q", more)}
			}
			next = c.instance + more
		}
	}
	return out, nil
}
