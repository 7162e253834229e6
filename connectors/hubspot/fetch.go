package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors"
)

// maxHistoryBatch is how many inputs a batch/read takes when it asks for
// propertiesWithHistory; HubSpot refuses more with a 400 ("The maximum
// number of inputs supported in a batch request for property histories is
// 50"), where it takes 100 without history.
const maxHistoryBatch = 50

// batchReadRequest is BatchReadInputSimplePublicObjectId; the spec marks
// all three fields required, so empty lists are sent, never left out.
type batchReadRequest struct {
	Inputs                []batchID `json:"inputs"`
	Properties            []string  `json:"properties"`
	PropertiesWithHistory []string  `json:"propertiesWithHistory"`
	IDProperty            string    `json:"idProperty,omitempty"` // ids are values of this unique property
}

type batchID struct {
	ID string `json:"id"`
}

// Fetch reads the live records among ids with the properties q.Fields
// name, through batch/read: 100 ids a call, or 50 with property_history,
// where the same call also brings the properties' history for FieldTimes
// (and the history is then cut from Raw, which stays the record as a pull
// would show it). Records are built as Pull builds them: Raw is the object,
// Modified its updatedAt. Ids HubSpot does not find, archived ones
// included, are left out; HubSpot reports them in a 207's errors, which is
// not a failure. Repeated and empty ids are read once and not at all.
func (c *Client) Fetch(ctx context.Context, q tandem.Query, ids []string) ([]tandem.Record, error) {
	op := "fetch " + q.Object
	if q.Object == "" || strings.ContainsAny(q.Object, "/?#") {
		return nil, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("%q is not an object type", q.Object)}
	}
	props, err := searchProperties(q.Object, q.Fields)
	if err != nil {
		return nil, &tandem.Error{Op: op, System: c.name, Err: err}
	}
	targets, err := associationTargets(q.Object, q.Fields)
	if err != nil {
		return nil, &tandem.Error{Op: op, System: c.name, Err: err}
	}
	hist := []string{}
	size := maxBatch
	if c.history {
		if hist = historyProperties(q.Fields); len(hist) > 0 {
			size = maxHistoryBatch
		}
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
	var rejected []tandem.Rejected
	// HubSpot answers an id once; should it answer one twice, the caller
	// still gets one record per id, the first.
	got := map[string]bool{}
	for start := 0; start < len(unique); start += size {
		chunk := unique[start:min(start+size, len(unique))]
		objs, err := c.batchRead(ctx, op, q.Object, chunk, props, hist)
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			rec, err := c.parseRecord(op, obj)
			if id := obj.Get("id").String(); err != nil && seen[id] && !got[id] {
				// One record HubSpot sent unreadable: set it aside, by the
				// id asked for, and go on with the others.
				got[id] = true
				rejected = append(rejected, tandem.Rejected{ID: id, Raw: json.RawMessage(obj.Raw), Reason: err.Error()})
				continue
			}
			if err != nil {
				return nil, err // not one of the ids asked for: the answer cannot be trusted
			}
			if rec.Deleted || !seen[rec.ID] || got[rec.ID] {
				continue // not asked for, archived (not live), or given already
			}
			got[rec.ID] = true
			if len(hist) > 0 {
				setFieldTimes(&rec, obj, hist)
				if obj.Get("propertiesWithHistory").Exists() {
					raw, err := sjson.DeleteBytes([]byte(obj.Raw), "propertiesWithHistory")
					if err != nil {
						return nil, &tandem.Error{Op: op, System: c.name, Err: err}
					}
					rec.Raw = json.RawMessage(raw)
				}
			}
			out = append(out, rec)
		}
	}
	if len(targets) > 0 {
		if err := c.addAssociations(ctx, op, q.Object, out, targets); err != nil {
			return nil, err
		}
	}
	if len(rejected) > 0 {
		return out, &tandem.RejectedError{Rejected: rejected}
	}
	return out, nil
}

// batchRead reads up to one batch of records by id and returns the
// objects HubSpot found. Ids it did not find come back in a 207's errors
// as OBJECT_NOT_FOUND and are simply absent; any other error in a 207 is
// a permanent failure of the call, since its records cannot be trusted
// to be all there.
func (c *Client) batchRead(ctx context.Context, op, object string, ids, props, hist []string) ([]gjson.Result, error) {
	req := batchReadRequest{Properties: props, PropertiesWithHistory: hist}
	if req.Properties == nil {
		req.Properties = []string{}
	}
	if req.PropertiesWithHistory == nil {
		req.PropertiesWithHistory = []string{}
	}
	return c.batchReadAs(ctx, op, object, ids, req, "")
}

// batchReadAs is batchRead with the request's properties (and idProperty)
// set by the caller, and a query string ("?archived=true") for the path.
func (c *Client) batchReadAs(ctx context.Context, op, object string, ids []string, req batchReadRequest, query string) ([]gjson.Result, error) {
	for _, id := range ids {
		req.Inputs = append(req.Inputs, batchID{id})
	}
	resp, err := c.call(ctx, connectors.Read, op, http.MethodPost, "/crm/v3/objects/"+url.PathEscape(object)+"/batch/read"+query, req)
	if err != nil {
		return nil, err
	}
	body := gjson.ParseBytes(resp.Body)
	if !gjson.ValidBytes(resp.Body) || !body.Get("results").IsArray() {
		return nil, c.notAPage(op, "batch read response is not a list of results", resp)
	}
	for _, e := range body.Get("errors").Array() {
		if cat := e.Get("category").String(); cat != "OBJECT_NOT_FOUND" {
			return nil, &tandem.Error{Op: op, System: c.name, Status: resp.Status, Code: cat, Message: e.Get("message").String()}
		}
	}
	return body.Get("results").Array(), nil
}

// addFieldTimes reads the property history of recs (a page of a pull),
// 50 records a call, and sets their FieldTimes. A record the read does
// not find (archived since the search) keeps none.
func (c *Client) addFieldTimes(ctx context.Context, op, object string, recs []tandem.Record, names []string) error {
	for start := 0; start < len(recs); start += maxHistoryBatch {
		chunk := recs[start:min(start+maxHistoryBatch, len(recs))]
		ids := make([]string, len(chunk))
		for i, r := range chunk {
			ids[i] = r.ID
		}
		objs, err := c.batchRead(ctx, op, object, ids, nil, names)
		if err != nil {
			return err
		}
		byID := map[string]gjson.Result{}
		for _, obj := range objs {
			byID[obj.Get("id").String()] = obj
		}
		for i := range chunk {
			if obj, ok := byID[chunk[i].ID]; ok {
				setFieldTimes(&chunk[i], obj, names)
			}
		}
	}
	return nil
}

// setFieldTimes sets rec.FieldTimes["properties.<name>"] from obj's
// propertiesWithHistory: the time of the newest value set no later than
// rec.Modified, since rec.Raw holds the record as of that time (the
// history may already hold an edit made after the search). The time is
// kept only when that value is the one rec.Raw holds (no value and ""
// are the same); otherwise the two reads disagree and the property is
// left to rec.Modified.
func setFieldTimes(rec *tandem.Record, obj gjson.Result, names []string) {
	props := gjson.GetBytes(rec.Raw, "properties")
	for _, name := range names {
		key := gjson.Escape(name)
		var best time.Time
		var values []string
		for _, e := range obj.Get("propertiesWithHistory").Get(key).Array() {
			ts, err := time.Parse(time.RFC3339Nano, e.Get("timestamp").String())
			if err != nil || ts.After(rec.Modified) || ts.Before(best) {
				continue
			}
			if ts.After(best) {
				best, values = ts, nil
			}
			values = append(values, e.Get("value").String())
		}
		if best.IsZero() {
			continue
		}
		current := props.Get(key).String() // null and missing read as ""
		for _, v := range values {
			if v == current {
				if rec.FieldTimes == nil {
					rec.FieldTimes = map[string]time.Time{}
				}
				rec.FieldTimes["properties."+name] = best
				break
			}
		}
	}
}
