// Package salesforce is Tandem's connector for Salesforce, through the REST
// API. It pulls the changes of any sObject with SOQL ordered by
// SystemModstamp, behind a cursor that is safe when many records share a
// stamp, re-reads records by id through sObject Collections retrieve, and
// writes through sObject Collections, 200 records a call. A create is an
// upsert on an External ID field that holds Tandem's entity id, so a create
// repeated after a crash finds the record it made the first time.
//
// It authenticates with the OAuth 2.0 client-credentials flow and renews the
// session when Salesforce says it has expired.
package salesforce

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"tandem/connectors"
)

func init() { connectors.Register("salesforce", New) }

var _ connectors.Connector = (*Client)(nil)

// Options is the config section of a Salesforce system.
type Options struct {
	InstanceURL     string        `yaml:"instance_url"`      // https://MyDomain.my.salesforce.com
	TokenURL        string        `yaml:"token_url"`         // default InstanceURL + /services/oauth2/token
	ClientID        string        `yaml:"client_id"`         // the connected app's consumer key
	ClientSecret    string        `yaml:"client_secret"`     // its consumer secret
	APIVersion      string        `yaml:"api_version"`       // default v62.0
	ExternalIDField string        `yaml:"external_id_field"` // default Tandem_Id__c
	Timeout         time.Duration `yaml:"timeout"`           // one call, retries included; default 60s
}

// Defaults.
const (
	DefaultAPIVersion      = "v62.0"
	DefaultExternalIDField = "Tandem_Id__c"
	DefaultTimeout         = 60 * time.Second
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
	system   string
	instance string // scheme://host, no trailing slash
	data     string // instance + /services/data/vXX.X
	extID    string
	tokens   *tokenSource
	http     *connectors.HTTP
}

// New opens the system described by a config section.
func New(cfg connectors.Config) (connectors.Connector, error) {
	var o Options
	if err := cfg.Decode(&o, "instance_url", "client_id", "client_secret"); err != nil {
		return nil, err
	}
	if key, err := o.normalize(); err != nil {
		return nil, cfg.Errorf(key, "%v", err)
	}
	return newClient(cfg.Name, o), nil
}

// NewClient opens a Salesforce system from options given in code, for
// tests and tools; New is the path from a config file.
func NewClient(system string, o Options) (*Client, error) {
	for _, req := range []struct{ key, v string }{{"instance_url", o.InstanceURL}, {"client_id", o.ClientID}, {"client_secret", o.ClientSecret}} {
		if req.v == "" {
			return nil, fmt.Errorf("salesforce %s: %s: required", system, req.key)
		}
	}
	if key, err := o.normalize(); err != nil {
		return nil, fmt.Errorf("salesforce %s: %s: %w", system, key, err)
	}
	return newClient(system, o), nil
}

// normalize applies defaults and checks values, naming the key at fault.
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
	return "", nil
}

func checkURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("must be an http(s) URL, got %q", s)
	}
	return u, nil
}

func newClient(system string, o Options) *Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	ts := &tokenSource{
		conf: &clientcredentials.Config{
			ClientID:     o.ClientID,
			ClientSecret: o.ClientSecret,
			TokenURL:     o.TokenURL,
			// Salesforce documents the credentials in the form body; sending
			// them there spares the second attempt auto-detection would make.
			AuthStyle: oauth2.AuthStyleInParams,
		},
		client: &http.Client{Transport: transport, Timeout: o.Timeout},
	}
	base := &http.Client{Transport: &oauth2.Transport{Source: ts, Base: transport}}
	return &Client{
		system:   system,
		instance: o.InstanceURL,
		data:     o.InstanceURL + "/services/data/" + o.APIVersion,
		extID:    o.ExternalIDField,
		tokens:   ts,
		http:     connectors.NewHTTP(connectors.HTTPOptions{System: system, Timeout: o.Timeout, Base: base}),
	}
}
