package hubspot

import (
	"context"
	"fmt"
	"strings"

	"tandem"
	"tandem/connectors"
)

var _ connectors.DeleteFetcher = (*Client)(nil)

// FetchDeleted reads, among ids, the records in the object's recycle bin,
// through batch/read with archived=true (100 ids a call), as Deleted
// records timed by their archivedAt: when a person deleted them, by
// HubSpot's clock, not when Tandem noticed. Ids that are live, unknown, or
// purged from the bin (after 90 days) come back in a 207's errors as
// OBJECT_NOT_FOUND and are left out. An archived record without a
// readable archivedAt fails the call: a delete with a wrong time is what
// this read is for avoiding.
func (c *Client) FetchDeleted(ctx context.Context, q tandem.Query, ids []string) ([]tandem.Record, error) {
	op := "fetch deleted " + q.Object
	if q.Object == "" || strings.ContainsAny(q.Object, "/?#") {
		return nil, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("%q is not an object type", q.Object)}
	}
	var unique []string
	seen := map[string]bool{}
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			unique = append(unique, id)
		}
	}
	var out []tandem.Record
	for start := 0; start < len(unique); start += maxBatch {
		req := batchReadRequest{Properties: []string{}, PropertiesWithHistory: []string{}}
		objs, err := c.batchReadAs(ctx, op, q.Object, unique[start:min(start+maxBatch, len(unique))], req, "?archived=true")
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			a, err := c.archivedRecord(op, obj)
			if err != nil {
				return nil, err
			}
			if seen[a.rec.ID] && obj.Get("archived").Bool() {
				out = append(out, a.rec)
			}
		}
	}
	return out, nil
}
