// Package salesforce is Tandem's connector for Salesforce, through the REST
// API. It pulls the changes of any sObject with SOQL ordered by
// SystemModstamp, behind a cursor that is safe when many records share a
// stamp, re-reads records by id through sObject Collections retrieve, and
// writes through sObject Collections, 200 records a call. A create is an
// upsert on an External ID field that holds Tandem's entity id, so a create
// repeated after a crash finds the record it made the first time.
//
// It authenticates as a connected app with the OAuth 2.0 client-credentials
// flow, or with a refresh token the org issued to it, renews the session
// when Salesforce says it has expired, and accepts a second client secret
// while the app's secret is being rotated. Every call goes through the
// shared client, which keeps the org's daily API allowance, and a reserve
// of it, from what Salesforce's Sforce-Limit-Info header says.
package salesforce

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"go.yaml.in/yaml/v3"

	"tandem/connectors"
)

func init() { connectors.Register("salesforce", New) }

var (
	_ connectors.Connector = (*Client)(nil)
	_ connectors.Healther  = (*Client)(nil)
	_ connectors.Keyed     = (*Client)(nil)
)

// Options is the config section of a Salesforce system.
type Options struct {
	InstanceURL string `yaml:"instance_url"` // https://MyDomain.my.salesforce.com
	TokenURL    string `yaml:"token_url"`    // default InstanceURL + /services/oauth2/token
	ClientID    string `yaml:"client_id"`    // the connected app's consumer key

	// The connected app's consumer secret: ClientSecret, or the first line
	// of ClientSecretFile. ClientSecretNext (or the file's second line) is
	// the secret being rotated in, tried when the token endpoint refuses
	// the other as invalid_client.
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretNext string `yaml:"client_secret_next"`
	ClientSecretFile string `yaml:"client_secret_file"`

	// A refresh token issued to the app (web-server flow, or the CLI): with
	// one, sessions are had with grant_type=refresh_token, as the user who
	// authorized the app; without, with the client-credentials flow.
	RefreshToken     string `yaml:"refresh_token"`
	RefreshTokenFile string `yaml:"refresh_token_file"`

	// Overlap is how far before its cursor each pull reads again, for
	// records a transaction stamped before a query and committed after it
	// (see Pull): 0 takes DefaultOverlap, a negative value reads nothing
	// again (in the config file, overlap: 0s).
	Overlap time.Duration `yaml:"overlap"`

	// ConditionalWindow: an update of a record modified this recently
	// before the write (by the re-read just before it) is sent with
	// If-Unmodified-Since (Composite, 25 a call), so an edit made between
	// the re-read and the write is refused (412) instead of overwritten
	// (conditional.go).
	// Default 5m; conditional_window: 0s sends every update in batches.
	ConditionalWindow time.Duration `yaml:"conditional_window"`

	APIVersion      string        `yaml:"api_version"`       // default v62.0
	ExternalIDField string        `yaml:"external_id_field"` // default Tandem_Id__c
	Timeout         time.Duration `yaml:"timeout"`           // one call, retries included; default 60s

	// RateLimit is a request rate to keep to (none by default: Salesforce
	// has a daily allowance, not a per-second one). DailyReserve is the
	// share of the daily allowance kept back from writes: 0 takes the
	// default 0.05, a negative value keeps none (in the config file,
	// daily_reserve: 0 keeps none).
	RateLimit    connectors.RateLimit `yaml:"rate_limit"`
	DailyReserve float64              `yaml:"daily_reserve"`
	// Breaker tunes the circuit breaker (connectors.BreakerConfig).
	Breaker connectors.BreakerConfig `yaml:"breaker"`

	// Webhook, when set, takes generic HMAC-signed webhooks (see
	// webhook.go): Salesforce signs none itself, so they come from a relay
	// (a Flow or Apex callout, middleware) that signs its POSTs.
	Webhook *connectors.HMACConfig `yaml:"webhook"`

	Logger *slog.Logger `yaml:"-"` // default slog.Default()
	// Observe is told of every HTTP attempt (connectors.Config.Observe).
	Observe func(connectors.Attempt) `yaml:"-"`
}

// Defaults.
const (
	DefaultAPIVersion      = "v62.0"
	DefaultExternalIDField = "Tandem_Id__c"
	DefaultTimeout         = 60 * time.Second
	DefaultDailyReserve    = 0.05
	// DefaultConditionalWindow: people edit a record in bursts; one edited
	// in the last minutes is the one likely edited again while Tandem
	// writes it.
	DefaultConditionalWindow = 5 * time.Minute
	// DefaultOverlap covers the longest transaction there is: Salesforce
	// ends an API request, and the transaction it runs, after 10 minutes.
	DefaultOverlap = 10 * time.Minute
)

var (
	versionRE = regexp.MustCompile(`^v\d+\.\d$`)
	// An External ID field is always a custom field: its name ends in __c.
	customFieldRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*__c$`)
	// API names of objects and fields.
	nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
)

// Client is one configured Salesforce org.
type Client struct {
	system     string
	instance   string // scheme://host, no trailing slash
	data       string // instance + /services/data/vXX.X
	extID      string
	condWindow time.Duration    // ConditionalWindow; negative: off
	now        func() time.Time // the local clock, for the window (tests set it)
	overlap    time.Duration    // Options.Overlap, defaulted
	tokens     *tokenSource
	http       *connectors.HTTP
	webhook    *connectors.HMACReceiver // nil: no webhook configured
}

// New opens the system described by a config section. Credential files
// are read now, once; a relative path is from the working directory, like
// the state file's.
func New(cfg connectors.Config) (connectors.Connector, error) {
	o, err := decodeOptions(cfg)
	if err != nil {
		return nil, err
	}
	o.Logger, o.Observe = cfg.Logger, cfg.Observe
	rx, key, err := openWebhook(cfg.Name, o)
	if err != nil {
		return nil, configError(cfg, key, err.Error())
	}
	c := newClient(cfg.Name, o)
	c.webhook = rx
	return c, nil
}

// decodeOptions decodes, checks and completes a config section.
func decodeOptions(cfg connectors.Config) (Options, error) {
	var o Options
	if err := cfg.CheckHMAC("webhook"); err != nil {
		return o, err
	}
	// overlap is checked before Decode, whose error for a bad duration
	// would name the section and not the key.
	var overlap time.Duration
	if n := connectors.Child(cfg.Node, "overlap"); n != nil {
		d, err := time.ParseDuration(n.Value)
		switch {
		case n.Kind != yaml.ScalarNode || err != nil:
			return o, configError(cfg, "overlap", fmt.Sprintf("must be a duration like 10m, got %q", n.Value))
		case d < 0 || d > 24*time.Hour:
			return o, configError(cfg, "overlap", fmt.Sprintf("must be from 0s to 24h, got %v", d))
		case d == 0:
			d = -1 // none; Options reads 0 as the default
		}
		overlap = d
	}
	// timeout, rate_limit, daily_reserve and breaker are the shared
	// client's keys, checked once for every connector (connectors.HTTPConfig),
	// before Decode, whose errors would name the section and not the key.
	var hc connectors.HTTPConfig
	var ho connectors.HTTPOptions
	if err := cfg.Node.Decode(&hc); err != nil {
		return o, &connectors.ConfigError{File: cfg.File, Line: cfg.Node.Line, Key: "systems." + cfg.Name, Msg: err.Error()}
	}
	if err := hc.Apply(cfg, &ho); err != nil {
		return o, err
	}
	if err := cfg.Decode(&o, "instance_url", "client_id"); err != nil {
		return o, err
	}
	o.Timeout, o.RateLimit, o.DailyReserve = ho.Timeout, ho.Rate, ho.DailyReserve
	o.Overlap = overlap
	o.ClientSecretFile, o.RefreshTokenFile = cfg.Path(o.ClientSecretFile), cfg.Path(o.RefreshTokenFile)
	if o.Webhook != nil {
		o.Webhook.SecretFile = cfg.Path(o.Webhook.SecretFile)
	}
	// A key given but empty is an environment variable that is not set.
	// Left alone, an empty refresh_token would fall back to the
	// client-credentials flow without a word.
	for _, key := range []string{"refresh_token", "refresh_token_file", "client_secret_file"} {
		if n := connectors.Child(cfg.Node, key); n != nil && n.Value == "" {
			return o, configError(cfg, key, "is empty (is its environment variable set?)")
		}
	}
	if n := connectors.Child(cfg.Node, "conditional_window"); n != nil && o.ConditionalWindow == 0 {
		o.ConditionalWindow = -1 // given as 0: off; unset takes the default
	}
	if key, err := o.normalize(); err != nil {
		return o, configError(cfg, key, err.Error())
	}
	return o, nil
}

// NewClient opens a Salesforce system from options given in code, for
// tests and tools; New is the path from a config file.
func NewClient(system string, o Options) (*Client, error) {
	for _, req := range []struct{ key, v string }{{"instance_url", o.InstanceURL}, {"client_id", o.ClientID}} {
		if req.v == "" {
			return nil, fmt.Errorf("salesforce %s: %s: required", system, req.key)
		}
	}
	if key, err := o.normalize(); err != nil {
		return nil, fmt.Errorf("salesforce %s: %s: %w", system, key, err)
	}
	rx, key, err := openWebhook(system, o)
	if err != nil {
		return nil, fmt.Errorf("salesforce %s: %s: %w", system, key, err)
	}
	c := newClient(system, o)
	c.webhook = rx
	return c, nil
}

// normalize applies defaults, reads credential files and checks values,
// naming the key at fault.
func (o *Options) normalize() (key string, err error) {
	inst, err := checkURL(o.InstanceURL)
	if err != nil {
		return "instance_url", err
	}
	if inst.Path != "" && inst.Path != "/" || inst.RawQuery != "" {
		return "instance_url", fmt.Errorf("must be the org's base URL without a path, like https://MyDomain.my.salesforce.com; got %q", o.InstanceURL)
	}
	o.InstanceURL = strings.TrimSuffix(o.InstanceURL, "/")
	if o.TokenURL == "" {
		o.TokenURL = o.InstanceURL + "/services/oauth2/token"
	} else if _, err := checkURL(o.TokenURL); err != nil {
		return "token_url", err
	}
	if key, err := o.credentials(); err != nil {
		return key, err
	}
	if o.APIVersion == "" {
		o.APIVersion = DefaultAPIVersion
	} else if !versionRE.MatchString(o.APIVersion) {
		return "api_version", fmt.Errorf("must look like v62.0, got %q", o.APIVersion)
	}
	if o.ExternalIDField == "" {
		o.ExternalIDField = DefaultExternalIDField
	} else if !customFieldRE.MatchString(o.ExternalIDField) {
		return "external_id_field", fmt.Errorf("must be the API name of a custom External ID field (ending in __c), got %q", o.ExternalIDField)
	}
	switch {
	case o.Timeout == 0:
		o.Timeout = DefaultTimeout
	case o.Timeout < 0:
		return "timeout", fmt.Errorf("must be positive, got %v", o.Timeout)
	}
	if o.Overlap == 0 {
		o.Overlap = DefaultOverlap
	}
	switch {
	case o.ConditionalWindow == 0:
		o.ConditionalWindow = DefaultConditionalWindow
	case o.ConditionalWindow < 0:
		o.ConditionalWindow = -1
	}
	if o.Breaker.Failures < 0 {
		return "breaker.failures", fmt.Errorf("must be 1 or more, got %d", o.Breaker.Failures)
	}
	if o.Breaker.Cooldown < 0 {
		return "breaker.cooldown", fmt.Errorf("must be a positive duration like 30s, got %v", o.Breaker.Cooldown)
	}
	if o.RateLimit != (connectors.RateLimit{}) {
		if o.RateLimit.Requests <= 0 {
			return "rate_limit.requests", fmt.Errorf("must be a positive number of requests, got %d", o.RateLimit.Requests)
		}
		if o.RateLimit.Per <= 0 {
			return "rate_limit.per", fmt.Errorf("must be a positive duration like 1s, got %v", o.RateLimit.Per)
		}
	}
	switch {
	case o.DailyReserve == 0:
		o.DailyReserve = DefaultDailyReserve
	case o.DailyReserve < 0:
		o.DailyReserve = -1
	case o.DailyReserve >= 1:
		return "daily_reserve", fmt.Errorf("must be a share of the daily allowance, less than 1, got %v", o.DailyReserve)
	}
	return "", nil
}

// credentials settles the secrets and the refresh token from the options
// and their files. No error shows a credential.
func (o *Options) credentials() (key string, err error) {
	if o.ClientSecretFile != "" {
		if o.ClientSecret != "" {
			return "client_secret_file", fmt.Errorf("give client_secret or client_secret_file, not both")
		}
		lines, err := readCredentialFile(o.ClientSecretFile, 2)
		if err != nil {
			return "client_secret_file", err
		}
		o.ClientSecret = lines[0]
		if len(lines) == 2 {
			if o.ClientSecretNext != "" {
				return "client_secret_next", fmt.Errorf("client_secret_file has a second line, the next secret, already")
			}
			o.ClientSecretNext = lines[1]
		}
	}
	if o.ClientSecret == "" {
		return "client_secret", fmt.Errorf("required (or client_secret_file)")
	}
	if o.ClientSecretNext == o.ClientSecret {
		o.ClientSecretNext = ""
	}
	if o.RefreshTokenFile != "" {
		if o.RefreshToken != "" {
			return "refresh_token_file", fmt.Errorf("give refresh_token or refresh_token_file, not both")
		}
		lines, err := readCredentialFile(o.RefreshTokenFile, 1)
		if err != nil {
			return "refresh_token_file", err
		}
		o.RefreshToken = lines[0]
	}
	return "", nil
}

// maxCredentialFile bounds a credential file: a secret or a token is a
// few hundred bytes, so anything larger is the wrong file.
const maxCredentialFile = 16 << 10

// readCredentialFile reads a file of credentials, one a line: its non-empty
// lines, trimmed (a trailing newline or CRLF is the norm). Errors name the
// file and never its content.
func readCredentialFile(path string, maxLines int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCredentialFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCredentialFile {
		return nil, fmt.Errorf("%s: larger than %d bytes, too large for a credential file", path, maxCredentialFile)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	switch {
	case len(lines) == 0:
		return nil, fmt.Errorf("%s: empty", path)
	case len(lines) > maxLines:
		return nil, fmt.Errorf("%s: %d lines, at most %d expected", path, len(lines), maxLines)
	}
	return lines, nil
}

// configError is a ConfigError at the line of a dotted key of the
// section ("rate_limit.per"), or of the nearest part of it present.
func configError(cfg connectors.Config, key, msg string) error {
	line := 0
	if cfg.Node != nil {
		line = cfg.Node.Line
	}
	n := cfg.Node
	for _, part := range strings.Split(key, ".") {
		if n = connectors.Child(n, part); n == nil {
			break
		}
		line = n.Line
	}
	return &connectors.ConfigError{File: cfg.File, Line: line, Key: "systems." + cfg.Name + "." + key, Msg: msg}
}

func checkURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("must be an http(s) URL, got %q", s)
	}
	return u, nil
}

func newClient(system string, o Options) *Client {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	log := o.Logger.With("system", system)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	ts := &tokenSource{
		clientID:  o.ClientID,
		tokenURL:  o.TokenURL,
		secrets:   []string{o.ClientSecret},
		refresh:   o.RefreshToken,
		byRefresh: o.RefreshToken != "",
		client:    tokenClient(transport, o.Timeout),
		log:       log,
	}
	if o.ClientSecretNext != "" {
		ts.secrets = append(ts.secrets, o.ClientSecretNext)
	}
	return &Client{
		system:     system,
		instance:   o.InstanceURL,
		data:       o.InstanceURL + "/services/data/" + o.APIVersion,
		extID:      o.ExternalIDField,
		condWindow: o.ConditionalWindow,
		now:        time.Now,
		overlap:    max(o.Overlap, 0),
		tokens:     ts,
		http:       connectors.NewHTTP(httpOptions(system, o, transport)),
	}
}

// tokenClient is the client of token calls: a 5xx, a 429 or a dropped
// connection is tried again, a few times with backoff, as every other call
// is; a 4xx (a refused credential) is not.
func tokenClient(transport http.RoundTripper, timeout time.Duration) *http.Client {
	rc := retryablehttp.NewClient()
	rc.HTTPClient = &http.Client{Transport: transport, Timeout: timeout}
	rc.RetryMax = 3
	rc.RetryWaitMin, rc.RetryWaitMax = 250*time.Millisecond, 5*time.Second
	rc.Logger = nil // it would log the token URL's exchange; the caller reports the outcome
	rc.CheckRetry = retryablehttp.DefaultRetryPolicy
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	c := rc.StandardClient()
	c.Timeout = timeout // the whole token call, its retries included
	return c
}

// httpOptions tunes the shared client for one org: its deadline, the
// budget read from Sforce-Limit-Info, and a rate only when configured.
// The session is set on each call (see call), not by the transport, so a
// 401 drops exactly the session it was refused with.
func httpOptions(system string, o Options, transport http.RoundTripper) connectors.HTTPOptions {
	return connectors.HTTPOptions{
		System:       system,
		Timeout:      o.Timeout,
		Logger:       o.Logger,
		Observe:      o.Observe,
		Base:         &http.Client{Transport: transport},
		Rate:         o.RateLimit,
		RateHeaders:  limitInfo,
		DailyReserve: o.DailyReserve,

		BreakerFailures: o.Breaker.Failures,
		BreakerTimeout:  o.Breaker.Cooldown,
	}
}

// Health is how the org's client is doing, for `tandem status`: its
// breaker, its pace, and the daily allowance as Sforce-Limit-Info last
// told it, with writes paused at the reserve.
func (c *Client) Health() connectors.Health { return c.http.Health() }
