package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
)

var _ connectors.Fetcher = (*Client)(nil)

const (
	// maxRetrieve is the most ids one sObject Collections retrieve takes
	// (the POST form; Salesforce documents 2,000).
	maxRetrieve = 2000
	// maxGetURL bounds the URL of a GET retrieve. Salesforce refuses one
	// of about 800 ids (some 16 KB) with 414, and proxies on the way often
	// stop at 8 KB; a set that does not fit goes as a POST, ids in the
	// body, which costs no more calls.
	maxGetURL = 8000
)

// Fetch re-reads records of q.Object by id through sObject Collections
// retrieve, with the fields Pull would select for q.Fields, so a fetched
// record's Raw has the shape of a pulled one. Records come in the order of
// ids. An id that names no live record is left out: Salesforce answers
// null for an id not found, deleted (in the recycle bin), or not valid.
// Ids that cannot be Salesforce ids (not 15 or 18 letters and digits) are
// left out without asking.
//
// A set that fits a URL goes as one GET; a larger one as POSTs of up to
// 2,000 ids. Any failed call fails the whole Fetch: a partial answer would
// make the ids of the missing call look deleted.
func (c *Client) Fetch(ctx context.Context, q tandem.Query, ids []string) ([]tandem.Record, error) {
	op := "fetch " + q.Object
	if !nameRE.MatchString(q.Object) {
		return nil, &tandem.Error{Op: op, System: c.system, Message: fmt.Sprintf("%q is not a Salesforce object name", q.Object)}
	}
	fields, err := selectList(q.Fields)
	if err != nil {
		return nil, &tandem.Error{Op: op, System: c.system, Message: err.Error()}
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
	var rejected []tandem.Rejected
	got := map[string]bool{} // a 15- and an 18-character id may name one record
	for start := 0; start < len(list); start += maxRetrieve {
		recs, err := c.retrieve(ctx, op, q.Object, fields, list[start:min(start+maxRetrieve, len(list))])
		if rej, ok := rejectedOf(err); ok {
			rejected, err = append(rejected, rej...), nil
		}
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if !got[r.ID] {
				got[r.ID] = true
				out = append(out, r)
			}
		}
	}
	if len(rejected) > 0 {
		return out, &tandem.RejectedError{Rejected: rejected}
	}
	return out, nil
}

// rejectedOf returns the records a *tandem.RejectedError sets aside.
func rejectedOf(err error) ([]tandem.Rejected, bool) {
	var rej *tandem.RejectedError
	if errors.As(err, &rej) {
		return rej.Rejected, true
	}
	return nil, false
}

// retrieve reads one set of at most maxRetrieve ids. Salesforce documents
// null for an id that is not valid; should an org refuse the whole call
// for one instead (400 MALFORMED_ID or INVALID_ID_FIELD), the set is
// halved until the refused id stands alone and is left out, so one bad id
// never costs the others. That takes at most about 2·log2(n) more calls
// per bad id.
func (c *Client) retrieve(ctx context.Context, op, object string, fields, ids []string) ([]tandem.Record, error) {
	recs, err := c.retrieveOnce(ctx, op, object, fields, ids)
	if err == nil || !refusedID(err) {
		return recs, err
	}
	if len(ids) == 1 {
		return nil, nil // the refused id itself: it names no record
	}
	half := len(ids) / 2
	var recs2 []tandem.Record
	var rejected []tandem.Rejected
	for _, part := range [][]string{ids[:half], ids[half:]} {
		recs, err := c.retrieve(ctx, op, object, fields, part)
		if rej, ok := rejectedOf(err); ok {
			rejected, err = append(rejected, rej...), nil
		}
		if err != nil {
			return nil, err
		}
		recs2 = append(recs2, recs...)
	}
	if len(rejected) > 0 {
		return recs2, &tandem.RejectedError{Rejected: rejected}
	}
	return recs2, nil
}

func refusedID(err error) bool {
	var e *tandem.Error
	return errors.As(err, &e) && e.Status == http.StatusBadRequest && (e.Code == "MALFORMED_ID" || e.Code == "INVALID_ID_FIELD")
}

// retrieveOnce is one retrieve call: GET when the URL stays short, POST
// otherwise. The response is an array in the order of ids.
func (c *Client) retrieveOnce(ctx context.Context, op, object string, fields, ids []string) ([]tandem.Record, error) {
	base := c.data + "/composite/sobjects/" + object
	// Ids and field names are letters, digits and underscores: nothing to
	// escape, and a literal comma keeps the URL short.
	get := base + "?ids=" + strings.Join(ids, ",") + "&fields=" + strings.Join(fields, ",")
	var resp *connectors.Response
	var err error
	if len(get) <= maxGetURL {
		resp, err = c.call(ctx, connectors.Read, op, http.MethodGet, get, nil)
	} else {
		body, _ := json.Marshal(struct {
			IDs    []string `json:"ids"`
			Fields []string `json:"fields"`
		}{ids, fields})
		resp, err = c.call(ctx, connectors.Read, op, http.MethodPost, base, body)
	}
	if err != nil {
		return nil, err
	}
	fail := func(retryable bool, format string, args ...any) error {
		return &tandem.Error{Op: op, System: c.system, Status: resp.Status, Message: fmt.Sprintf(format, args...), Retryable: retryable}
	}
	res := gjson.ParseBytes(resp.Body)
	if !gjson.ValidBytes(resp.Body) || !res.IsArray() {
		return nil, fail(false, "retrieve response is not a JSON array: %s", clip(string(resp.Body), 200))
	}
	list := res.Array()
	if len(list) != len(ids) {
		// Short of some, those would pass for deleted. Every call is a
		// read, so asking again is safe.
		return nil, fail(true, "retrieve answered %d elements for %d ids", len(list), len(ids))
	}
	var recs []tandem.Record
	var rejected []tandem.Rejected
	for i, r := range list {
		if r.Type == gjson.Null {
			continue
		}
		v := r.Get("Id")
		id := v.Str
		modified, err := time.Parse(sfTime, r.Get("LastModifiedDate").String())
		if !r.IsObject() || v.Type != gjson.String || !idRE.MatchString(id) {
			return nil, fail(false, "element %d (for id %s) has no Id: %s", i, ids[i], clip(r.Raw, 200))
		}
		if err != nil {
			// The element is the record asked for (checked below) but
			// unreadable: set it aside by that id; the others go on.
			if id[:15] == ids[i][:15] {
				rejected = append(rejected, tandem.Rejected{ID: ids[i], Raw: json.RawMessage(r.Raw),
					Reason: fmt.Sprintf("%s: record %s: LastModifiedDate %s is not a timestamp", op, id, clip(r.Get("LastModifiedDate").Raw, 60))})
				continue
			}
		}
		// The answer is in the order of ids, each element the record asked
		// for (by its 18-character id when asked by the 15): any other
		// record there would be taken for this one, and this one for
		// deleted.
		if id[:15] != ids[i][:15] {
			return nil, fail(false, "element %d (for id %s) is the record %s", i, ids[i], id)
		}
		if r.Get("IsDeleted").Bool() {
			continue // retrieve leaves the recycle bin out; should it not, the record is still not live
		}
		recs = append(recs, tandem.Record{ID: id, Raw: json.RawMessage(r.Raw), Modified: modified, Precision: stampPrecision})
	}
	if len(rejected) > 0 {
		return recs, &tandem.RejectedError{Rejected: rejected}
	}
	return recs, nil
}
