package hubspot

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"tandem"
)

// The write gap (issue 11, case 13). HubSpot has no conditional write: an
// edit made between the engine's re-read of a record and its batch/update
// is overwritten, whatever Tandem does. With property_history on it can at
// least be seen after the fact: the history of each property written holds
// the overwritten value, stamped after the re-read (Write.Unmodified) and
// before Tandem's own value. findOverwritten reads that history once the
// writes are done (batch/read, 50 records a call) and reports such values
// in Result.Overwritten; the engine merges them as the edits they were (a
// recorded conflict) and writes back the value the policy decides.
//
// What remains: the person's value is gone from HubSpot until Tandem
// writes it back (the next push), and without property_history nothing
// is seen at all.

// findOverwritten sets Overwritten on the done updates of writes that
// carry the time they were read at. It is best effort: the writes are done
// whatever it finds, so a failed history read is logged, not returned.
func (c *Client) findOverwritten(ctx context.Context, object string, writes []tandem.Write, results []tandem.Result) {
	if !c.history {
		return
	}
	type check struct {
		i     int
		props map[string]string
	}
	var checks []check
	names := map[string]bool{}
	for i, w := range writes {
		r := results[i]
		if w.Op != tandem.OpUpdate || w.Unmodified.IsZero() || r.Err != nil || r.ID == "" {
			continue
		}
		props, err := properties(w.Payload)
		if err != nil || len(props) == 0 {
			continue
		}
		checks = append(checks, check{i, props})
		for p := range props {
			names[p] = true
		}
	}
	if len(checks) == 0 {
		return
	}
	hist := make([]string, 0, len(names))
	for p := range names {
		hist = append(hist, p)
	}
	slices.Sort(hist)
	op := "check overwritten " + object
	for start := 0; start < len(checks); start += maxHistoryBatch {
		chunk := checks[start:min(start+maxHistoryBatch, len(checks))]
		ids := make([]string, len(chunk))
		for k, ch := range chunk {
			ids[k] = results[ch.i].ID
		}
		objs, err := c.batchRead(ctx, op, object, ids, nil, hist)
		if err != nil {
			c.log.Warn("property history after a write not read: an edit made just before the write may go unseen", "object", object, "records", len(ids), "err", err)
			return
		}
		byID := map[string][]byte{}
		for _, obj := range objs {
			byID[obj.Get("id").String()] = []byte(obj.Raw)
		}
		for _, ch := range chunk {
			raw, ok := byID[results[ch.i].ID]
			if !ok {
				continue
			}
			results[ch.i].Overwritten = overwritten(raw, writes[ch.i].Unmodified, ch.props)
		}
	}
}

// overwritten reads one record's property history (an object of
// batch/read with propertiesWithHistory) for the values set after read and
// before the write that set props: for each property, the newest such
// value that is not the one written.
func overwritten(obj []byte, read time.Time, props map[string]string) []tandem.Overwrite {
	var out []tandem.Overwrite
	var doc struct {
		History map[string][]struct {
			Value     string `json:"value"`
			Timestamp string `json:"timestamp"`
		} `json:"propertiesWithHistory"`
	}
	if json.Unmarshal(obj, &doc) != nil {
		return nil
	}
	names := make([]string, 0, len(props))
	for p := range props {
		names = append(names, p)
	}
	slices.Sort(names)
	for _, p := range names {
		sent := props[p]
		// Tandem's own value: the newest entry holding what was sent.
		var own time.Time
		for _, e := range doc.History[p] {
			if ts, err := time.Parse(time.RFC3339Nano, e.Timestamp); err == nil && e.Value == sent && ts.After(own) {
				own = ts
			}
		}
		if own.IsZero() {
			continue // the write is not in the history (yet): nothing to compare with
		}
		var best time.Time
		var value string
		for _, e := range doc.History[p] {
			ts, err := time.Parse(time.RFC3339Nano, e.Timestamp)
			if err != nil || !ts.After(read) || !ts.Before(own) || e.Value == sent || !ts.After(best) {
				continue
			}
			best, value = ts, e.Value
		}
		if !best.IsZero() {
			v, _ := json.Marshal(value)
			out = append(out, tandem.Overwrite{Path: "properties." + p, Value: v, At: best})
		}
	}
	return out
}
