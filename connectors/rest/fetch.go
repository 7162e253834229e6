package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"go.yaml.in/yaml/v3"

	"tandem"
	"tandem/connectors"
)

var _ connectors.WebhookReplayGuard = (*Client)(nil)

// Fetch reads live records by id (connectors.Fetcher): with fetch: set,
// in list calls of fetch.size ids; else one GET a record, each inside
// the rate budget. Ids not found, or found deleted, are left out; records
// that came back but cannot be parsed are returned in a
// tandem.RejectedError beside the others. It is
// also how the reconciliation sweep confirms that a record it did not see
// is gone, for APIs that delete for good (json-server, PocketBase).
func (c *Client) Fetch(ctx context.Context, q tandem.Query, ids []string) ([]tandem.Record, error) {
	op := "fetch " + q.Object
	ob, err := c.object(op, q.Object)
	if err != nil {
		return nil, err
	}
	var out []tandem.Record
	var rejected []tandem.Rejected
	if f := ob.Fetch; f != nil {
		for start := 0; start < len(ids); start += f.Size {
			batch := ids[start:min(start+f.Size, len(ids))]
			vals := expand(f.Query, map[string]string{"limit": strconv.Itoa(len(batch))})
			var each []string
			for _, id := range batch {
				each = append(each, strings.ReplaceAll(f.Each, "{id}", id))
			}
			if f.Join == "" {
				vals[f.Param] = each
			} else {
				vals.Set(f.Param, strings.Join(each, f.Join))
			}
			recs, rej, err := c.listAll(ctx, op, ob, vals)
			if err != nil {
				return nil, err
			}
			for _, r := range recs {
				if slices.Contains(batch, r.ID) && !r.Deleted {
					out = append(out, r)
				}
			}
			for _, r := range rej {
				if slices.Contains(batch, r.ID) {
					rejected = append(rejected, r)
				}
			}
		}
	} else {
		for _, id := range ids {
			rec, _, err := c.get(ctx, op, ob, id)
			var u *unparsed
			switch {
			case isNotFound(err):
			case errors.As(err, &u):
				rejected = append(rejected, u.r)
			case err != nil:
				return nil, err
			case !rec.Deleted:
				out = append(out, rec)
			}
		}
	}
	for i := range out {
		out[i].Raw = whole(out[i].Raw, q.Fields)
	}
	if len(rejected) > 0 {
		return out, &tandem.RejectedError{Rejected: rejected}
	}
	return out, nil
}

func isNotFound(err error) bool {
	var e *tandem.Error
	return errors.As(err, &e) && errors.Is(e.Err, tandem.ErrNotFound)
}

// KeyPath is where the object's records hold Tandem's key (key:), for the
// engine to find a record whose create's answer was lost (connectors.Keyed).
func (c *Client) KeyPath(object string) string {
	if ob, ok := c.objects[object]; ok && (ob.Create == "search" || ob.Create == "unique") {
		return ob.Key
	}
	return ""
}

// KeySetup says what the API needs for the key, for `tandem doctor`.
func (c *Client) KeySetup(object string) string {
	ob := c.objects[object]
	return fmt.Sprintf("a field %s on %s that the list query %v finds records by (for create: unique, with a unique index)", ob.Key, ob.Path, ob.KeyQuery)
}

// FetchKeys reads the live records holding the given keys
// (connectors.KeyFetcher), one key_query a key.
func (c *Client) FetchKeys(ctx context.Context, q tandem.Query, keys []string) ([]tandem.Record, error) {
	op := "fetch " + q.Object + " by key"
	ob, err := c.object(op, q.Object)
	if err != nil || c.KeyPath(q.Object) == "" {
		return nil, err
	}
	var out []tandem.Record
	for _, k := range keys {
		r, found, err := c.findKey(ctx, op, ob, k)
		if err != nil {
			return nil, err
		}
		if found {
			r.Raw = whole(r.Raw, q.Fields)
			out = append(out, r)
		}
	}
	return out, nil
}

// Describe lists the object's fields (connectors.Describer), for `tandem
// doctor`: from the JSON Schema named by schema: (its properties), or
// else from the records of a first page. Tandem's key is listed even
// before a record holds it, as unique when creates are keyed on it (the
// API's index, or the search before every create, keeps it so).
func (c *Client) Describe(ctx context.Context, object string) ([]connectors.FieldInfo, error) {
	op := "describe " + object
	ob, err := c.object(op, object)
	if err != nil {
		return nil, err
	}
	seen := map[string]connectors.FieldInfo{}
	if ob.Schema != "" {
		where, pointer, _ := strings.Cut(ob.Schema, "#")
		b, err := c.schema(ctx, op, where)
		if err != nil {
			return nil, err
		}
		sch := gjson.ParseBytes(b)
		if pointer != "" { // an OpenAPI document: #/components/schemas/Contact
			var parts []string
			for _, p := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
				parts = append(parts, gjson.Escape(strings.NewReplacer("~1", "/", "~0", "~").Replace(p)))
			}
			if sch = sch.Get(strings.Join(parts, ".")); !sch.IsObject() {
				return nil, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("schema %s: no schema at #%s", where, pointer)}
			}
		}
		sch.Get("properties").ForEach(func(k, v gjson.Result) bool {
			p := gjson.Escape(k.String())
			seen[p] = connectors.FieldInfo{Path: p, Label: v.Get("title").String(), Type: v.Get("type").String(), ReadOnly: v.Get("readOnly").Bool()}
			return true
		})
	} else {
		vars := map[string]string{"limit": strconv.Itoa(min(ob.PageSize, 20)), "page": strconv.Itoa(*ob.FirstPage), "offset": "0"}
		resp, err := c.call(ctx, connectors.Read, op, http.MethodGet, c.url(ob.Path, expand(ob.Query, vars)), nil, nil)
		if err != nil {
			return nil, err
		}
		if !ok(resp) {
			return nil, c.failed(op, resp)
		}
		list, err := records(ob, resp.Body)
		if err != nil {
			return nil, &tandem.Error{Op: op, System: c.name, Message: err.Error()}
		}
		for _, r := range list {
			fields(r, "", seen)
		}
	}
	for _, p := range []string{ob.ID, ob.Updated} {
		f := seen[p]
		f.Path, f.ReadOnly = p, true
		seen[p] = f
	}
	if k := c.KeyPath(object); k != "" {
		f := seen[k]
		f.Path, f.Unique = k, true
		if f.Type == "" {
			f.Type = "string"
		}
		seen[k] = f
	}
	var out []connectors.FieldInfo
	for _, f := range seen {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// fields adds the paths of a sample record, nested objects one level at
// a time.
func fields(r gjson.Result, prefix string, seen map[string]connectors.FieldInfo) {
	r.ForEach(func(k, v gjson.Result) bool {
		p := prefix + gjson.Escape(k.String())
		if _, ok := seen[p]; !ok || seen[p].Type == "null" {
			seen[p] = connectors.FieldInfo{Path: p, Type: jsonType(v)}
		}
		if v.IsObject() && prefix == "" {
			fields(v, p+".", seen)
		}
		return true
	})
}

func jsonType(v gjson.Result) string {
	switch {
	case v.IsObject():
		return "object"
	case v.IsArray():
		return "array"
	}
	switch v.Type {
	case gjson.String:
		return "string"
	case gjson.Number:
		return "number"
	case gjson.True, gjson.False:
		return "boolean"
	}
	return "null"
}

// schema reads a JSON Schema document: a path on the API (/schema/contact),
// an http(s) URL, or a file.
func (c *Client) schema(ctx context.Context, op, where string) ([]byte, error) {
	if strings.HasPrefix(where, "/") && !fileExists(where) || strings.HasPrefix(where, "http") {
		u := where
		if strings.HasPrefix(where, "/") {
			u = c.base + where
		}
		if _, err := url.Parse(u); err != nil {
			return nil, err
		}
		resp, err := c.call(ctx, connectors.Read, op, http.MethodGet, u, nil, nil)
		if err != nil {
			return nil, err
		}
		if !ok(resp) {
			return nil, c.failed(op, resp)
		}
		return schemaJSON(op, c.name, where, resp.Body)
	}
	b, err := os.ReadFile(where)
	if err != nil {
		return nil, &tandem.Error{Op: op, System: c.name, Message: "schema", Err: err}
	}
	return schemaJSON(op, c.name, where, b)
}

// schemaJSON is a schema document as JSON: JSON already, or YAML (as
// OpenAPI documents often are) converted.
func schemaJSON(op, system, where string, b []byte) ([]byte, error) {
	if gjson.ValidBytes(b) {
		return b, nil
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err == nil {
		if j, err := json.Marshal(doc); err == nil {
			return j, nil
		}
	}
	return nil, &tandem.Error{Op: op, System: system, Message: "schema " + where + " is neither JSON nor YAML with string keys"}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Receive verifies a webhook delivery with the shared HMAC scheme
// (connectors.HMACReceiver): thin events, fetched by id afterwards.
func (c *Client) Receive(method, uri string, header http.Header, body []byte, now time.Time) ([]connectors.Event, error) {
	if c.webhook == nil {
		return nil, &connectors.WebhookRejected{System: c.name, Reason: "no webhook: configured for this system"}
	}
	return c.webhook.Receive(method, uri, header, body, now)
}

// ReplayKey is the HMAC receiver's (connectors.WebhookReplayGuard).
func (c *Client) ReplayKey(h http.Header) string {
	if c.webhook == nil {
		return ""
	}
	return c.webhook.ReplayKey(h)
}
