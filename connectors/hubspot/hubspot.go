// Package hubspot is the connector for HubSpot's CRM v3 objects API
// (contacts, companies and other standard or custom objects). It pulls
// changes with the search endpoint, oldest first, behind a tie-safe cursor,
// and writes with the batch endpoints, every create made idempotent as an
// upsert by a unique property. Its emulator is the hubspottest package.
package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
)

func init() { connectors.Register("hubspot", New) }

var (
	_ connectors.Connector = (*Client)(nil)
	_ connectors.Fetcher   = (*Client)(nil)
)

const (
	defaultBaseURL  = "https://api.hubapi.com"
	defaultPageSize = 100
	maxPageSize     = 200    // the search endpoint's largest page
	searchCap       = 10_000 // no search pages past this many results
)

// options is the connector's section of the config file.
type options struct {
	BaseURL    string            `yaml:"base_url"`
	Token      string            `yaml:"token"`
	IDProperty map[string]string `yaml:"id_property"`
	PageSize   *int              `yaml:"page_size"`
	Timeout    string            `yaml:"timeout"`
	// PropertyHistory asks HubSpot when each pulled or fetched property
	// was last set, for Record.FieldTimes: one more batch/read per 50
	// records pulled.
	PropertyHistory bool `yaml:"property_history"`
}

// Client is one configured HubSpot portal.
type Client struct {
	name     string
	base     string
	token    string
	idProp   map[string]string // object -> unique property creates upsert by
	pageSize int
	history  bool // property_history: fill Record.FieldTimes
	http     *connectors.HTTP
	// searchCap is HubSpot's 10,000-result limit; tests lower it to reach
	// it without creating 10,000 records.
	searchCap int
}

// New opens a HubSpot connector from its config section.
func New(cfg connectors.Config) (connectors.Connector, error) {
	c, err := newClient(cfg, connectors.HTTPOptions{})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// newClient is New with the HTTP client's tuning open to tests.
func newClient(cfg connectors.Config, ho connectors.HTTPOptions) (*Client, error) {
	var o options
	if err := cfg.Decode(&o, "token"); err != nil {
		return nil, err
	}
	c := &Client{name: cfg.Name, base: defaultBaseURL, token: o.Token, pageSize: defaultPageSize, searchCap: searchCap,
		history: o.PropertyHistory, idProp: map[string]string{"contacts": "email"}}
	if strings.IndexFunc(o.Token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return nil, cfg.Errorf("token", "contains whitespace or control characters (value not shown)")
	}
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, cfg.Errorf("base_url", "%q is not an http(s) URL like %s", o.BaseURL, defaultBaseURL)
		}
		c.base = strings.TrimRight(o.BaseURL, "/")
	}
	for object, prop := range o.IDProperty {
		if object == "" || strings.ContainsAny(object, "/?#") {
			return nil, cfg.Errorf("id_property", "%q is not an object type", object)
		}
		c.idProp[object] = strings.TrimSpace(prop) // "" turns creates off for the object
	}
	if o.PageSize != nil {
		if *o.PageSize < 1 || *o.PageSize > maxPageSize {
			return nil, cfg.Errorf("page_size", "must be between 1 and %d, got %d", maxPageSize, *o.PageSize)
		}
		c.pageSize = *o.PageSize
	}
	if o.Timeout != "" {
		d, err := time.ParseDuration(o.Timeout)
		if err != nil || d <= 0 {
			return nil, cfg.Errorf("timeout", "%q is not a positive duration like 60s", o.Timeout)
		}
		ho.Timeout = d
	}
	ho.System = cfg.Name
	c.http = connectors.NewHTTP(ho)
	return c, nil
}

// modifiedProperty is the property that holds an object's last-modified
// time: contacts kept their old name, every other object has the hs_ one.
func modifiedProperty(object string) string {
	if object == "contacts" || object == "0-1" {
		return "lastmodifieddate"
	}
	return "hs_lastmodifieddate"
}

// call sends one request and returns the response when HubSpot accepted
// it (2xx, 207 included); any other status becomes a *tandem.Error.
func (c *Client) call(ctx context.Context, op, method, path string, body any) (*connectors.Response, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, &tandem.Error{Op: op, System: c.name, Err: err}
		}
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+c.token)
	h.Set("Accept", "application/json")
	resp, err := c.http.Do(ctx, op, method, c.base+path, h, b)
	if err != nil {
		return nil, err
	}
	if resp.Status/100 == 2 {
		return resp, nil
	}
	return nil, c.httpError(op, resp)
}

// httpError classifies a failed call. Only 429 and 5xx are worth another
// try (the HTTP client has already retried them); the rest will fail the
// same way again. The body's category becomes Code; the token is never in
// a response, so it cannot leak through the message.
func (c *Client) httpError(op string, resp *connectors.Response) *tandem.Error {
	e := &tandem.Error{Op: op, System: c.name, Status: resp.Status, Retryable: resp.Status == http.StatusTooManyRequests || resp.Status >= 500}
	if gjson.ValidBytes(resp.Body) && gjson.GetBytes(resp.Body, "message").Exists() {
		body := gjson.ParseBytes(resp.Body)
		e.Code = body.Get("category").String()
		if e.Code == "" {
			e.Code = body.Get("errorType").String() // 429s name the limit this way
		}
		e.Message = body.Get("message").String()
		if id := body.Get("correlationId").String(); id != "" {
			e.Message += " (correlationId " + id + ")"
		}
	} else {
		e.Message = fmt.Sprintf("unexpected response: %.200q", resp.Body)
	}
	switch {
	case e.Code == "OBJECT_NOT_FOUND":
		e.Err = tandem.ErrNotFound
	case resp.Status == http.StatusConflict:
		e.Err = tandem.ErrConflict
	}
	return e
}

// fatal reports whether an error of one call dooms every other call of
// the same Apply: the caller gave up, or the token is refused.
func fatal(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	var e *tandem.Error
	return errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// parseRecord reads one object of a response: it needs a string id and an
// updatedAt timestamp. Raw keeps the object's bytes exactly as received.
func (c *Client) parseRecord(op string, obj gjson.Result) (tandem.Record, error) {
	bad := func(format string, args ...any) (tandem.Record, error) {
		return tandem.Record{}, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf(format, args...)}
	}
	if !obj.IsObject() {
		return bad("record is not a JSON object: %.100s", obj.Raw)
	}
	id := obj.Get("id")
	if id.Type != gjson.String || id.Str == "" {
		return bad("record without an id: %.200s", obj.Raw)
	}
	ua := obj.Get("updatedAt")
	modified, err := time.Parse(time.RFC3339Nano, ua.String())
	if ua.Type != gjson.String || err != nil {
		return bad("record %s: updatedAt %s is not an RFC 3339 timestamp", id.Str, orMissing(ua))
	}
	return tandem.Record{ID: id.Str, Raw: json.RawMessage(obj.Raw), Modified: modified, Deleted: obj.Get("archived").Bool()}, nil
}

func orMissing(v gjson.Result) string {
	if !v.Exists() {
		return "(missing)"
	}
	return v.Raw
}
