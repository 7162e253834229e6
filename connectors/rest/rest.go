// Package rest is Tandem's declarative connector for any REST API (type
// "rest"): a custom CRM, json-server, PocketBase. Everything about the API
// is config, with no Go code per API: where the records sit in a list
// answer, their id and updated-at paths, how the list pages (page number,
// offset, a next-cursor token, the Link header, keyset by filter), how an
// incremental pull filters, how creates are made idempotent (a search by
// Tandem's key first, a unique index, an idempotency-key header), and
// whether updates are conditional (ETag with If-Match, a version field).
//
// Pulls are incremental behind the shared tie-safe watermark
// (connectors.Watermark); every call goes through the shared resilient
// client. README.md documents every option; resttest holds an emulator of
// the awkward cases and starts the real servers the tests run against.
package rest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"tandem"
	"tandem/connectors"
)

func init() { connectors.Register("rest", New) }

var (
	_ connectors.Connector       = (*Client)(nil)
	_ connectors.Fetcher         = (*Client)(nil)
	_ connectors.Keyed           = (*Client)(nil)
	_ connectors.KeyFetcher      = (*Client)(nil)
	_ connectors.Describer       = (*Client)(nil)
	_ connectors.Healther        = (*Client)(nil)
	_ connectors.WebhookReceiver = (*Client)(nil)
)

// Client is one configured REST system.
type Client struct {
	name    string
	base    string
	objects map[string]objectOptions
	auth    authenticator
	renewOn []int // statuses that renew the credential
	http    *connectors.HTTP
	webhook *connectors.HMACReceiver // nil: webhooks refused
}

// New opens a REST system from its config section.
func New(cfg connectors.Config) (connectors.Connector, error) {
	return open(cfg, connectors.HTTPOptions{})
}

// open is New with the HTTP client's tuning open to tests.
func open(cfg connectors.Config, ho connectors.HTTPOptions) (*Client, error) {
	o, err := decode(cfg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Client{name: cfg.Name, base: o.BaseURL, objects: o.Objects, renewOn: o.Auth.RenewOn}
	ho.System, ho.Logger, ho.Observe = cfg.Name, log, cfg.Observe
	if err := o.HTTPConfig.Apply(cfg, &ho); err != nil {
		return nil, err
	}
	ho.RateHeaders = rateHeaders(o.RateWindow)
	if c.auth, err = newAuth(cfg, o, ho.Base); err != nil {
		return nil, err
	}
	c.http = connectors.NewHTTP(ho)
	if o.Webhook != nil {
		rx, err := connectors.NewHMACReceiver(cfg.Name, *o.Webhook)
		if err != nil {
			var ce *connectors.HMACConfigError
			if errors.As(err, &ce) {
				return nil, errAt(cfg, "webhook."+ce.Key, "%s", ce.Msg)
			}
			return nil, errAt(cfg, "webhook", "%v", err)
		}
		c.webhook = rx
	}
	return c, nil
}

// Health is the client's breaker, pace and quota, for `tandem status`.
func (c *Client) Health() connectors.Health { return c.http.Health() }

// object is the options of a configured object, or an error naming the
// objects there are.
func (c *Client) object(op, name string) (objectOptions, error) {
	ob, ok := c.objects[name]
	if !ok {
		known := slices.Sorted(maps.Keys(c.objects))
		return ob, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("object %q is not configured under objects: (configured: %s)", name, strings.Join(known, ", "))}
	}
	return ob, nil
}

// call sends one request with the system's auth, through the shared
// client. A 401 (auth.renew_on) renews a renewable credential and is
// tried once more. Any status comes back for the caller to judge.
func (c *Client) call(ctx context.Context, kind connectors.Kind, op, method, u string, header http.Header, body []byte) (*connectors.Response, error) {
	for attempt := 0; ; attempt++ {
		h := header.Clone()
		if h == nil {
			h = http.Header{}
		}
		au, err := c.auth.apply(ctx, u, h)
		if err != nil {
			return nil, &tandem.Error{Op: op, System: c.name, Code: "AUTH", Retryable: true, Err: err}
		}
		resp, err := c.http.DoKind(ctx, kind, op, method, au, h, body)
		if err != nil {
			return nil, err
		}
		if attempt == 0 && slices.Contains(c.renewOn, resp.Status) && c.auth.renew() {
			continue
		}
		return resp, nil
	}
}

// url joins the base URL, a path and a query.
func (c *Client) url(path string, q url.Values) string {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// failed is the error of an answer that is not a success: retryable for
// 429 and 5xx (the shared client has retried them already), permanent
// for the rest, with the API's own message when it gives one.
func (c *Client) failed(op string, resp *connectors.Response) error {
	return &tandem.Error{Op: op, System: c.name, Status: resp.Status, Message: apiMessage(resp.Body),
		Retryable: resp.Status == http.StatusTooManyRequests || resp.Status >= 500 && resp.Status != http.StatusNotImplemented}
}

func ok(resp *connectors.Response) bool { return resp.Status >= 200 && resp.Status < 300 }
