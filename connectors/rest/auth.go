package rest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/tidwall/gjson"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"tandem/connectors"
)

// authenticator puts the system's credential on a request: apply returns
// the URL to call (an API key may go in the query) after setting headers;
// renew drops a token the API refused (401) and says whether a new one
// can be had, so the call is tried once more.
type authenticator interface {
	apply(ctx context.Context, u string, h http.Header) (string, error)
	renew() bool
}

// newAuth builds the authenticator of the auth: mapping, reading its
// secrets from the environment now. Token calls go through base's
// transport (nil: the default), with retries of their own.
func newAuth(cfg connectors.Config, o options, base *http.Client) (authenticator, error) {
	a := o.Auth
	tc := tokenClient(base)
	base = tc
	switch a.Type {
	case "", "none":
		return static{}, nil
	case "bearer":
		tok, err := env(cfg, "auth.token_env", a.TokenEnv)
		if err != nil {
			return nil, err
		}
		return static{header: "Authorization", value: "Bearer " + tok}, nil
	case "api_key":
		key, err := env(cfg, "auth.key_env", a.KeyEnv)
		if err != nil {
			return nil, err
		}
		return static{header: a.Header, query: a.Query, value: key}, nil
	case "basic":
		user, err := env(cfg, "auth.username_env", a.UsernameEnv)
		if err != nil {
			return nil, err
		}
		pass, err := env(cfg, "auth.password_env", a.PasswordEnv)
		if err != nil {
			return nil, err
		}
		return static{header: "Authorization", value: "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}, nil
	case "oauth2":
		id, err := env(cfg, "auth.client_id_env", a.ClientIDEnv)
		if err != nil {
			return nil, err
		}
		secret, err := env(cfg, "auth.client_secret_env", a.ClientSecretEnv)
		if err != nil {
			return nil, err
		}
		cc := &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: a.TokenURL, Scopes: a.Scopes}
		o := &oauth{cc: cc, client: base}
		o.renew()
		return o, nil
	case "login":
		user, err := env(cfg, "auth.username_env", a.UsernameEnv)
		if err != nil {
			return nil, err
		}
		pass, err := env(cfg, "auth.password_env", a.PasswordEnv)
		if err != nil {
			return nil, err
		}
		l := &login{url: a.URL, user: user, pass: pass, userField: a.UsernameField, passField: a.PasswordField,
			tokenPath: a.TokenPath, header: a.Header, prefix: "Bearer ", ttl: a.TokenTTL, client: base}
		if !strings.HasPrefix(l.url, "http") {
			l.url = o.BaseURL + l.url
		}
		if l.userField == "" {
			l.userField = "username"
		}
		if l.passField == "" {
			l.passField = "password"
		}
		if l.tokenPath == "" {
			l.tokenPath = "token"
		}
		if l.header == "" {
			l.header = "Authorization"
		}
		if a.Prefix != nil {
			l.prefix = *a.Prefix
		}
		return l, nil
	}
	return nil, errAt(cfg, "auth.type", "unknown auth type %q", a.Type)
}

// tokenClient is the client of token calls: a 5xx, a 429 or a dropped
// connection is tried again, a few times with backoff; a 4xx (a refused
// credential) is not. It logs nothing: the caller reports the outcome.
func tokenClient(base *http.Client) *http.Client {
	rc := retryablehttp.NewClient()
	if base != nil {
		rc.HTTPClient = &http.Client{Transport: base.Transport}
	}
	rc.RetryMax = 3
	rc.RetryWaitMin, rc.RetryWaitMax = 250*time.Millisecond, 5*time.Second
	rc.Logger = nil
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	c := rc.StandardClient()
	c.Timeout = 60 * time.Second
	return c
}

// static is a credential that does not change: a bearer token, an API
// key, basic auth; or none.
type static struct{ header, query, value string }

func (s static) apply(_ context.Context, u string, h http.Header) (string, error) {
	switch {
	case s.query != "":
		p, err := url.Parse(u)
		if err != nil {
			return u, err
		}
		q := p.Query()
		q.Set(s.query, s.value)
		p.RawQuery = q.Encode()
		return p.String(), nil
	case s.header != "":
		h.Set(s.header, s.value)
	}
	return u, nil
}

func (static) renew() bool { return false }

// oauth is the OAuth 2.0 client-credentials flow of x/oauth2: the token is
// cached and fetched again shortly before it expires; a 401 drops it.
type oauth struct {
	cc     *clientcredentials.Config
	client *http.Client
	mu     sync.Mutex
	ts     oauth2.TokenSource
}

func (o *oauth) apply(ctx context.Context, u string, h http.Header) (string, error) {
	o.mu.Lock()
	ts := o.ts
	o.mu.Unlock()
	tok, err := ts.Token()
	if err != nil {
		return u, fmt.Errorf("oauth2 token from %s: %w", o.cc.TokenURL, redactToken(err))
	}
	tok.SetAuthHeader(&http.Request{Header: h})
	return u, nil
}

func (o *oauth) renew() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, o.client)
	o.ts = o.cc.TokenSource(ctx) // a fresh cache: the next call fetches a token
	return true
}

// redactToken keeps an oauth2 error's status and drops the body, which a
// misbehaving server may fill with anything.
func redactToken(err error) error {
	if re, ok := err.(*oauth2.RetrieveError); ok {
		return fmt.Errorf("the token endpoint answered %s (%s)", re.Response.Status, re.ErrorCode)
	}
	return err
}

// login is a session got by posting a user name and password (PocketBase's
// auth-with-password, many in-house APIs): the token is kept until its
// ttl, or the exp of a JWT, less a margin, or until a 401.
type login struct {
	url, user, pass, userField, passField, tokenPath, header, prefix string
	ttl                                                              time.Duration
	client                                                           *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
}

// loginMargin: a token this close to its expiry is renewed before use.
const loginMargin = 30 * time.Second

func (l *login) apply(ctx context.Context, u string, h http.Header) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.token == "" || !l.expires.IsZero() && time.Now().Add(loginMargin).After(l.expires) {
		if err := l.fetch(ctx); err != nil {
			return u, err
		}
	}
	h.Set(l.header, l.prefix+l.token)
	return u, nil
}

func (l *login) renew() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.token = ""
	return true
}

func (l *login) fetch(ctx context.Context) error {
	body, _ := json.Marshal(map[string]string{l.userField: l.user, l.passField: l.pass})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("login: cannot build the request to %s", urlPath(l.url))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return fmt.Errorf("login at %s: %w", urlPath(l.url), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("login at %s: HTTP %d: %s", urlPath(l.url), resp.StatusCode, apiMessage(b))
	}
	tok := gjson.GetBytes(b, l.tokenPath)
	if tok.Type != gjson.String || tok.Str == "" {
		return fmt.Errorf("login at %s: no token at %s of the answer", urlPath(l.url), l.tokenPath)
	}
	l.token, l.expires = tok.Str, time.Time{}
	if l.ttl > 0 {
		l.expires = time.Now().Add(l.ttl)
	} else if exp := jwtExpiry(tok.Str); !exp.IsZero() {
		l.expires = exp
	}
	return nil
}

// jwtExpiry is the exp claim of a JWT, read without verifying it (the
// server does): only to renew the token before it is refused.
func jwtExpiry(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	if exp := gjson.GetBytes(b, "exp"); exp.Type == gjson.Number {
		return time.Unix(exp.Int(), 0)
	}
	return time.Time{}
}

// urlPath is a URL without its query, for messages.
func urlPath(u string) string {
	if p, err := url.Parse(u); err == nil {
		p.RawQuery, p.User = "", nil
		return p.String()
	}
	return "the login URL"
}

// apiMessage is an API's error message from an answer body: a message or
// error field, or the body cut short.
func apiMessage(b []byte) string {
	for _, p := range []string{"message", "error.message", "error", "detail", "title"} {
		if v := gjson.GetBytes(b, p); v.Type == gjson.String && v.Str != "" {
			if d := gjson.GetBytes(b, "data"); d.IsObject() && len(d.Map()) > 0 {
				return clip(v.Str + " " + d.Raw)
			}
			return clip(v.Str)
		}
	}
	return clip(strings.TrimSpace(string(b)))
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:297] + "..."
	}
	return s
}
