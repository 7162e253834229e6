package conflict

import (
	"context"
	"fmt"
	"slices"

	"tandem"
	"tandem/connectors"
	"tandem/mapping"
)

// gone turns the ids of linked records that a read by id no longer finds
// (the re-read before a write, a webhook's fetch, a sweep's check) into
// deletes, timed as the system times them (issue 11, case 8). When Tandem
// only notices a delete, when it noticed says nothing about when the
// record was deleted, and timing the delete by Tandem's clock let it beat
// edits made elsewhere before it was noticed, which happened after it.
// So a connector that can tell (connectors.DeleteFetcher) gives each
// delete its own time; a record it does not know as deleted (or a
// connector that cannot tell) gets no time, and deleted() times it by
// when the record was last seen alive, so that every edit that may have
// come after the delete wins over it.
func (e *Engine) gone(ctx context.Context, conn connectors.Connector, sm *mapping.System, ids []string) ([]tandem.Record, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	at := map[string]tandem.Record{}
	if df, ok := conn.(connectors.DeleteFetcher); ok {
		recs, err := df.FetchDeleted(ctx, tandem.Query{Object: sm.Object, Fields: sm.Paths()}, ids)
		if err != nil {
			return nil, fmt.Errorf("%s %s: read when %d records were deleted: %w", sm.Name, sm.Object, len(ids), err)
		}
		for _, r := range recs {
			if r.Deleted {
				at[r.ID] = r // an id not asked for is never looked up below
			}
		}
	}
	out := make([]tandem.Record, 0, len(ids))
	for _, id := range ids {
		r, ok := at[id]
		if !ok {
			r = tandem.Record{ID: id, Deleted: true} // no time: see deleted()
		}
		out = append(out, r)
	}
	return out, nil
}

// missingIDs lists, sorted, the ids a read by id asked for and did not
// get back.
func missingIDs(ids []string, got []tandem.Record) []string {
	found := make(map[string]bool, len(got))
	for _, r := range got {
		found[r.ID] = true
	}
	var out []string
	for _, id := range ids {
		if !found[id] {
			found[id] = true // once
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
