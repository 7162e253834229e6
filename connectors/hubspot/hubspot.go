// Package hubspot is the connector for HubSpot's CRM v3 objects API
// (contacts, companies and other standard or custom objects). It pulls
// changes with the search endpoint, oldest first, behind a tie-safe cursor,
// and writes with the batch endpoints, every create made idempotent as an
// upsert by a unique property. Its emulator is the hubspottest package.
package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"go.yaml.in/yaml/v3"
	"golang.org/x/time/rate"

	"tandem"
	"tandem/connectors"
)

func init() { connectors.Register("hubspot", New) }

var (
	_ connectors.Connector  = (*Client)(nil)
	_ connectors.Fetcher    = (*Client)(nil)
	_ connectors.Healther   = (*Client)(nil)
	_ connectors.Keyed      = (*Client)(nil)
	_ connectors.KeyFetcher = (*Client)(nil)
)

const (
	defaultBaseURL  = "https://api.hubapi.com"
	defaultPageSize = 100
	maxPageSize     = 200 // the search endpoint's largest page
	// defaultLookback covers the lag of HubSpot's search index behind its
	// writes: seconds as a rule, a minute with a wide margin.
	defaultLookback = time.Minute
)

// options is the connector's section of the config file.
type options struct {
	BaseURL string `yaml:"base_url"`
	// Token is the private app's access token, from the environment
	// (${HUBSPOT_TOKEN}); TokenFile is a file that holds it instead (a
	// mounted secret), read once at open. TokenNext, or a second line in
	// the file, is the other token of a rotation (see auth.go).
	Token      string            `yaml:"token"`
	TokenFile  string            `yaml:"token_file"`
	TokenNext  string            `yaml:"token_next"`
	IDProperty map[string]string `yaml:"id_property"`
	// KeyProperty is the unique-value property that holds Tandem's key
	// (the entity id) in every record Tandem creates, and that creates
	// upsert by (default tandem_id; see key.go). nil: the default.
	KeyProperty *string `yaml:"key_property"`
	PageSize    *int    `yaml:"page_size"`
	// Lookback is how far before its cursor each pull searches again, for
	// writes the search index shows late (see Pull); default
	// defaultLookback.
	Lookback string `yaml:"lookback"`
	// timeout, rate_limit (the portal's request budget, {requests: 100,
	// per: 10s} by default: see defaultRate), daily_reserve (the share of
	// the daily quota kept back, default 0.05) and breaker: the keys
	// every connector on the shared client takes.
	connectors.HTTPConfig `yaml:",inline"`
	// SearchRateLimit is the search endpoints' own limit, {requests: 5,
	// per: 1s} by default.
	SearchRateLimit yaml.Node `yaml:"search_rate_limit"`
	// PropertyHistory asks HubSpot when each pulled or fetched property
	// was last set, for Record.FieldTimes: one more batch/read per 50
	// records pulled.
	PropertyHistory bool `yaml:"property_history"`
	// WebhookSecret is the app's client secret, which signs HubSpot's
	// webhook deliveries (from the environment); WebhookSecretFile a
	// file that holds it instead, read once at open (see webhook.go).
	WebhookSecret     string `yaml:"webhook_secret"`
	WebhookSecretFile string `yaml:"webhook_secret_file"`
}

// Client is one configured HubSpot portal.
type Client struct {
	name     string
	base     string
	tokens   tokens
	idProp   map[string]string // object -> unique property creates upsert by, instead of keyProp
	keyProp  string            // the property that holds Tandem's key; "" for none
	pageSize int
	history  bool // property_history: fill Record.FieldTimes
	http     *connectors.HTTP
	log      *slog.Logger
	// searchPace spaces the searches of every pull of the portal so that
	// they stay within the search endpoints' own limit (search_rate_limit).
	searchPace *rate.Limiter
	// lookback is how far before its cursor a pull searches again.
	lookback time.Duration
	// webhookSecret verifies webhook deliveries; empty refuses them all.
	webhookSecret []byte
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
	if err := cfg.Decode(&o); err != nil {
		return nil, err
	}
	o.TokenFile, o.WebhookSecretFile = cfg.Path(o.TokenFile), cfg.Path(o.WebhookSecretFile)
	c := &Client{name: cfg.Name, base: defaultBaseURL, pageSize: defaultPageSize, lookback: defaultLookback,
		history: o.PropertyHistory, idProp: map[string]string{}, keyProp: DefaultKeyProperty}
	if err := c.tokens.load(cfg, o); err != nil {
		return nil, err
	}
	if err := c.loadWebhookSecret(cfg, o); err != nil {
		return nil, err
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
	if o.KeyProperty != nil {
		c.keyProp = strings.TrimSpace(*o.KeyProperty)
		if c.keyProp != "" && !propertyName.MatchString(c.keyProp) {
			return nil, cfg.Errorf("key_property", "%q is not a HubSpot property name", c.keyProp)
		}
	}
	if o.PageSize != nil {
		if *o.PageSize < 1 || *o.PageSize > maxPageSize {
			return nil, cfg.Errorf("page_size", "must be between 1 and %d, got %d", maxPageSize, *o.PageSize)
		}
		c.pageSize = *o.PageSize
	}
	if o.Lookback != "" {
		d, err := time.ParseDuration(o.Lookback)
		if err != nil || d < 0 || d > 24*time.Hour {
			return nil, cfg.Errorf("lookback", "%q is not a duration from 0s to 24h like 1m", o.Lookback)
		}
		c.lookback = d
	}
	ho, err := httpOptions(cfg, o, ho)
	if err != nil {
		return nil, err
	}
	search := defaultSearchRate
	if o.SearchRateLimit.Kind != 0 {
		if search, err = connectors.DecodeRate(cfg, "search_rate_limit", &o.SearchRateLimit); err != nil {
			return nil, err
		}
	}
	c.searchPace = rate.NewLimiter(searchPace(search), 1)
	c.log = ho.Logger.With("system", cfg.Name)
	c.http = connectors.NewHTTP(ho)
	return c, nil
}

// httpOptions tunes the portal's HTTP client from the config: timeout,
// rate_limit, daily_reserve, and the rate-limit headers HubSpot sends. What
// ho sets already (tests) stands in for the defaults; the config wins.
func httpOptions(cfg connectors.Config, o options, ho connectors.HTTPOptions) (connectors.HTTPOptions, error) {
	ho.Observe = cfg.Observe
	if ho.Rate == (connectors.RateLimit{}) {
		ho.Rate = defaultRate
	}
	if ho.DailyReserve == 0 {
		ho.DailyReserve = defaultDailyReserve
	}
	if err := o.HTTPConfig.Apply(cfg, &ho); err != nil {
		return ho, err
	}
	if ho.RateHeaders == nil {
		ho.RateHeaders = rateHeaders
	}
	ho.System = cfg.Name
	if ho.Logger == nil {
		ho.Logger = cfg.Logger
	}
	if ho.Logger == nil {
		ho.Logger = slog.Default()
	}
	return ho, nil
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
func (c *Client) call(ctx context.Context, kind connectors.Kind, op, method, path string, body any) (*connectors.Response, error) {
	resp, err := c.send(ctx, kind, op, method, path, body)
	if err != nil {
		return nil, err
	}
	if resp.Status/100 == 2 {
		return resp, nil
	}
	return nil, c.httpError(op, resp)
}

// send sends one request and returns whatever HubSpot answered; the error
// is for a call that got no answer. kind is what the call does, whatever
// its method: a search or a batch/read is a POST but a Read, which matters
// for its deadline and for the daily reserve (reads go on when writes
// stop).
//
// A 401 with the token in use is sent once more with the other token of a
// rotation, when there is one; if HubSpot takes that one, it is the token
// in use from then on. Any request may be sent twice this way: a 401 means
// HubSpot did nothing with the first.
func (c *Client) send(ctx context.Context, kind connectors.Kind, op, method, path string, body any) (*connectors.Response, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, &tandem.Error{Op: op, System: c.name, Err: err}
		}
	}
	cur, other := c.tokens.get()
	resp, err := c.sendWith(ctx, kind, op, method, path, cur, b)
	if err != nil || resp.Status != http.StatusUnauthorized || other == "" {
		return resp, err
	}
	resp2, err := c.sendWith(ctx, kind, op, method, path, other, b)
	switch {
	case err != nil:
		return nil, err // the other could not be tried: worth another try later
	case resp2.Status == http.StatusUnauthorized:
		return resp, nil // both refused: report the token in use
	}
	if c.tokens.promote(cur, other) {
		c.log.Warn("HubSpot refused the token in use and took the other one of the rotation: using that one from now on; remove the old one from the config",
			"op", op)
	}
	return resp2, nil
}

func (c *Client) sendWith(ctx context.Context, kind connectors.Kind, op, method, path, token string, body []byte) (*connectors.Response, error) {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	h.Set("Accept", "application/json")
	return c.http.DoKind(ctx, kind, op, method, c.base+path, h, body)
}

// Health is how the portal's shared HTTP client is doing (circuit, rate
// budget, daily quota), for `tandem status`.
func (c *Client) Health() connectors.Health { return c.http.Health() }

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
		e.Message = text(body.Get("message").String())
		if id := body.Get("correlationId").String(); id != "" {
			e.Message += " (correlationId " + text(id) + ")"
		}
	} else {
		e.Message = fmt.Sprintf("unexpected response: %.200q", resp.Body)
	}
	switch {
	case e.Code == "OBJECT_NOT_FOUND":
		e.Err = tandem.ErrNotFound
	case resp.Status == http.StatusConflict:
		e.Err = tandem.ErrConflict
		if x := existing(e.Message); x != nil {
			e.Err = x
		}
	}
	return e
}

// maxErrorMessage bounds what of a response's message an error keeps:
// HubSpot's are a sentence or a list of invalid properties; anything
// longer is not a message, and would fill logs and dead letters.
const maxErrorMessage = 1000

// text is a string of a response fit for an error message: valid UTF-8,
// cut to maxErrorMessage bytes.
func text(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxErrorMessage {
		return s
	}
	n := maxErrorMessage
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// fatal reports whether an error of one call dooms every other call of
// the same Apply: the caller gave up, the token is refused, or the shared
// client holds every call back for now (the circuit is open, the daily
// quota is down to its reserve, or HubSpot asked for a longer wait than a
// call may take); the writes left get the same error without being sent.
func fatal(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	var e *tandem.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case "CIRCUIT_OPEN", "DAILY_QUOTA", "RETRY_LATER":
		return true
	}
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// notAPage is the error of a 2xx response that is not what the call
// expects. A body cut short (JSON that ends too soon, or no body at all:
// a connection dropped mid-body behind a proxy that had already sent the
// status) is worth another try; anything else is HubSpot answering
// something else, and will be the same next time.
func (c *Client) notAPage(op, what string, resp *connectors.Response) *tandem.Error {
	e := &tandem.Error{Op: op, System: c.name, Status: resp.Status, Message: fmt.Sprintf("%s: %.200q", what, resp.Body)}
	if truncated(resp.Body) {
		e.Retryable = true
		e.Message = fmt.Sprintf("%s: the body ends too soon (%d bytes), as if cut short: %.200q", what, len(resp.Body), resp.Body)
	}
	return e
}

// truncated reports whether b is the start of a JSON value that ends too
// soon, or nothing at all.
func truncated(b []byte) bool {
	var v json.RawMessage
	err := json.NewDecoder(bytes.NewReader(b)).Decode(&v)
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
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
