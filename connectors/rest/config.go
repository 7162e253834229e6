package rest

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"tandem/connectors"
)

// options is the connector's section of the config file. README.md
// documents every key.
type options struct {
	// timeout, rate_limit, daily_reserve, breaker: the keys every
	// connector on the shared client takes.
	connectors.HTTPConfig `yaml:",inline"`

	BaseURL    string                   `yaml:"base_url"`
	Auth       authOptions              `yaml:"auth"`
	RateWindow time.Duration            `yaml:"rate_window"`
	Webhook    *connectors.HMACConfig   `yaml:"webhook"`
	Objects    map[string]objectOptions `yaml:"objects"`
}

// authOptions is the auth: mapping. Secrets are named by environment
// variable (the *_env keys), never written in the file.
type authOptions struct {
	Type string `yaml:"type"` // none, bearer, api_key, basic, oauth2, login

	TokenEnv string `yaml:"token_env"` // bearer

	KeyEnv string `yaml:"key_env"` // api_key: in Header, or in the query parameter Query
	Header string `yaml:"header"`  // api_key; login: the header the token goes in (default Authorization)
	Query  string `yaml:"query"`

	UsernameEnv string `yaml:"username_env"` // basic, login
	PasswordEnv string `yaml:"password_env"`

	TokenURL        string   `yaml:"token_url"` // oauth2
	ClientIDEnv     string   `yaml:"client_id_env"`
	ClientSecretEnv string   `yaml:"client_secret_env"`
	Scopes          []string `yaml:"scopes"`

	// login: POST {UsernameField: user, PasswordField: password} to URL,
	// the token is at TokenPath of the answer, sent as Prefix + token in
	// Header; it lasts TokenTTL, or until the exp of a JWT, or until a 401.
	URL           string        `yaml:"url"`
	UsernameField string        `yaml:"username_field"`
	PasswordField string        `yaml:"password_field"`
	TokenPath     string        `yaml:"token_path"`
	Prefix        *string       `yaml:"prefix"`
	TokenTTL      time.Duration `yaml:"token_ttl"`

	// RenewOn are the statuses that say a token is no longer good (oauth2,
	// login): it is renewed and the call tried once more. Default [401];
	// PocketBase answers a stale token with 403.
	RenewOn []int `yaml:"renew_on"`
}

// objectOptions describes one object (a collection of records) of the API.
type objectOptions struct {
	Path       string `yaml:"path"`        // list and create: /contacts
	RecordPath string `yaml:"record_path"` // read, update, delete: default Path + "/{id}"
	Records    string `yaml:"records"`     // gjson path of the records in a list answer; "" the body is the array
	ID         string `yaml:"id"`          // default "id"
	Updated    string `yaml:"updated"`     // the updated-at path (required)
	// UpdatedFormat is rfc3339 (default), unix, unix_ms, or a Go time
	// layout; {since} and {last_updated} are written the same way.
	UpdatedFormat string         `yaml:"updated_format"`
	Precision     time.Duration  `yaml:"precision"` // of the updated-at stamps; default 1ms (1s for unix)
	Overlap       *time.Duration `yaml:"overlap"`   // read again before the cursor; default 1m
	Deleted       string         `yaml:"deleted"`   // tombstone path: true (or a time) there is a deleted record
	// DeletedList is a deleted-records endpoint, described as an object
	// is (path, records, id, updated: the time of the delete, query,
	// paging); what it lists is deleted.
	DeletedList *objectOptions `yaml:"deleted_list"`

	Query      map[string]string `yaml:"query"`       // list query templates
	Paging     string            `yaml:"paging"`      // none, page, offset, cursor, link, keyset
	PageSize   int               `yaml:"page_size"`   // {limit}; default 100
	FirstPage  *int              `yaml:"first_page"`  // default 1
	NextCursor string            `yaml:"next_cursor"` // paging: cursor: gjson path of the next token
	Keyset     map[string]string `yaml:"keyset"`      // paging: keyset: query after the first page
	MaxPages   int               `yaml:"max_pages"`   // default 10000

	Key         string                       `yaml:"key"`       // payload path of Tandem's key
	KeyQuery    map[string]string            `yaml:"key_query"` // the list query that finds {key}
	Create      string                       `yaml:"create"`    // search, unique, header
	IdemHeader  string                       `yaml:"idempotency_header"`
	Unique      map[string]map[string]string `yaml:"unique"`      // payload path -> list query finding {value}
	Update      string                       `yaml:"update"`      // patch (default) or put
	Concurrency string                       `yaml:"concurrency"` // none, etag, version
	Version     string                       `yaml:"version"`     // concurrency: version: its path
	Fetch       *fetchOptions                `yaml:"fetch"`
	Schema      string                       `yaml:"schema"` // describe: a JSON Schema file or URL; default a sample page
}

// fetchOptions reads records by ids in one list call: the query
// parameter Param holds each id written as Each ("{id}"), joined by Join,
// or repeated when Join is empty; Size ids a call.
type fetchOptions struct {
	Param string            `yaml:"param"`
	Each  string            `yaml:"each"`
	Join  string            `yaml:"join"`
	Size  int               `yaml:"size"`
	Query map[string]string `yaml:"query"` // more parameters of the call
}

// errAt is a ConfigError at the line of a dotted key of the section, or
// of the nearest part of it present.
func errAt(cfg connectors.Config, key, format string, args ...any) error {
	line, n := 0, cfg.Node
	if n != nil {
		line = n.Line
	}
	for _, part := range strings.Split(key, ".") {
		if n = connectors.Child(n, part); n == nil {
			break
		}
		line = n.Line
	}
	return &connectors.ConfigError{File: cfg.File, Line: line, Key: "systems." + cfg.Name + "." + key, Msg: fmt.Sprintf(format, args...)}
}

// unknownKeys finds a key, at any depth, that the struct type t does not
// know; Decode checks the top level only.
func unknownKeys(cfg connectors.Config, n *yaml.Node, t reflect.Type, prefix string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	switch t.Kind() {
	case reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := unknownKeys(cfg, n.Content[i+1], t.Elem(), prefix+n.Content[i].Value+"."); err != nil {
				return err
			}
		}
		return nil
	case reflect.Struct:
	default:
		return nil
	}
	fields := map[string]reflect.Type{}
	var names []string
	var collect func(t reflect.Type)
	collect = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			switch {
			case name == "" && opts == "inline":
				collect(f.Type)
				continue
			case name == "" && f.IsExported():
				name = strings.ToLower(f.Name) // yaml.v3's default
			}
			if name != "" && name != "-" {
				fields[name] = f.Type
				names = append(names, name)
			}
		}
	}
	collect(t)
	if prefix == "" {
		fields["type"] = reflect.TypeOf("")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ft, ok := fields[k.Value]
		if !ok {
			return &connectors.ConfigError{File: cfg.File, Line: k.Line, Key: "systems." + cfg.Name + "." + prefix + k.Value,
				Msg: "unknown key (known: " + strings.Join(names, ", ") + ")"}
		}
		switch ft {
		case reflect.TypeOf(connectors.HMACConfig{}), reflect.TypeOf(&connectors.HMACConfig{}), reflect.TypeOf(yaml.Node{}):
			continue // checked by CheckHMAC, and HTTPConfig.Apply
		}
		if err := unknownKeys(cfg, n.Content[i+1], ft, prefix+k.Value+"."); err != nil {
			return err
		}
	}
	return nil
}

// decode reads and checks the section.
func decode(cfg connectors.Config) (options, error) {
	var o options
	if err := cfg.CheckHMAC("webhook"); err != nil {
		return o, err
	}
	if err := unknownKeys(cfg, cfg.Node, reflect.TypeOf(o), ""); err != nil {
		return o, err
	}
	if err := cfg.Decode(&o, "base_url"); err != nil {
		return o, err
	}
	if len(o.Objects) == 0 {
		return o, errAt(cfg, "objects", "required: the objects of the API, by name (see the connector's README)")
	}
	u, err := url.Parse(o.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return o, errAt(cfg, "base_url", "%q is not an http(s) URL without a query, like https://crm.example.com/api", o.BaseURL)
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	if o.Webhook != nil {
		o.Webhook.SecretFile = cfg.Path(o.Webhook.SecretFile)
	}
	if err := checkAuth(cfg, &o.Auth); err != nil {
		return o, err
	}
	for _, name := range slices.Sorted(maps.Keys(o.Objects)) { // the first error, the same each time
		ob := o.Objects[name]
		if err := checkObject(cfg, name, &ob); err != nil {
			return o, err
		}
		if ob.Schema != "" && !strings.HasPrefix(ob.Schema, "/") && !strings.HasPrefix(ob.Schema, "http") {
			ob.Schema = cfg.Path(ob.Schema) // a file beside the config (a #fragment stays on)
		}
		o.Objects[name] = ob
	}
	return o, nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// env reads a secret from the environment variable named at key; the
// error names the variable, never a value.
func env(cfg connectors.Config, key, name string) (string, error) {
	if name == "" {
		return "", errAt(cfg, key, "required: the name of the environment variable that holds it")
	}
	if !envName.MatchString(name) {
		return "", errAt(cfg, key, "%q is not an environment variable name (write the name, not the secret)", name)
	}
	v := os.Getenv(name)
	if v == "" {
		return "", errAt(cfg, key, "environment variable %s is not set", name)
	}
	return v, nil
}

func checkAuth(cfg connectors.Config, a *authOptions) error {
	switch a.Type {
	case "", "none", "bearer", "basic", "oauth2":
	case "api_key":
		if (a.Header == "") == (a.Query == "") {
			return errAt(cfg, "auth", "api_key: give header or query, one of them")
		}
	case "login":
		if a.URL == "" {
			return errAt(cfg, "auth.url", "required for login")
		}
		if a.TokenTTL < 0 {
			return errAt(cfg, "auth.token_ttl", "must be a positive duration")
		}
	default:
		return errAt(cfg, "auth.type", "unknown auth type %q (known: none, bearer, api_key, basic, oauth2, login)", a.Type)
	}
	if len(a.RenewOn) == 0 {
		a.RenewOn = []int{401}
	}
	for _, st := range a.RenewOn {
		if st != 401 && st != 403 {
			return errAt(cfg, "auth.renew_on", "takes 401 and 403, got %d", st)
		}
	}
	if a.Type == "oauth2" {
		if u, err := url.Parse(a.TokenURL); err != nil || u.Host == "" {
			return errAt(cfg, "auth.token_url", "%q is not an http(s) URL", a.TokenURL)
		}
	}
	return nil
}

var placeholder = regexp.MustCompile(`\{([a-z_]+)\}`)

// checkTemplates checks that the templates of a query use only the
// placeholders allowed there.
func checkTemplates(cfg connectors.Config, key string, q map[string]string, allowed ...string) error {
	for p, v := range q {
		for _, m := range placeholder.FindAllStringSubmatch(v, -1) {
			if !slices.Contains(allowed, m[1]) {
				return errAt(cfg, key+"."+p, "unknown placeholder {%s} (allowed here: %s)", m[1], strings.Join(allowed, ", "))
			}
		}
	}
	return nil
}

func checkObject(cfg connectors.Config, name string, ob *objectOptions) error {
	k := "objects." + name + "."
	if ob.Path == "" || !strings.HasPrefix(ob.Path, "/") {
		return errAt(cfg, k+"path", "required: the list path from base_url, like /contacts")
	}
	if ob.RecordPath == "" {
		ob.RecordPath = strings.TrimRight(ob.Path, "/") + "/{id}"
	} else if !strings.Contains(ob.RecordPath, "{id}") {
		return errAt(cfg, k+"record_path", "must hold {id}, like /contacts/{id}")
	}
	if ob.ID == "" {
		ob.ID = "id"
	}
	if ob.Updated == "" {
		return errAt(cfg, k+"updated", "required: the path of the record's updated-at time")
	}
	switch ob.UpdatedFormat {
	case "":
		ob.UpdatedFormat = "rfc3339"
	case "rfc3339", "unix", "unix_ms":
	default:
		if _, err := time.Parse(ob.UpdatedFormat, time.Now().Format(ob.UpdatedFormat)); err != nil || !strings.Contains(ob.UpdatedFormat, "2006") {
			return errAt(cfg, k+"updated_format", "%q is not rfc3339, unix, unix_ms or a Go time layout like 2006-01-02 15:04:05.000Z", ob.UpdatedFormat)
		}
	}
	switch {
	case ob.Precision < 0:
		return errAt(cfg, k+"precision", "must be a positive duration like 1ms")
	case ob.Precision == 0 && ob.UpdatedFormat == "unix":
		ob.Precision = time.Second
	case ob.Precision == 0:
		ob.Precision = time.Millisecond
	}
	if ob.Overlap == nil {
		d := time.Minute
		ob.Overlap = &d
	} else if *ob.Overlap < 0 || *ob.Overlap > 24*time.Hour {
		return errAt(cfg, k+"overlap", "must be from 0s to 24h")
	}
	list := []string{"since", "limit", "page", "offset", "cursor"}
	switch ob.Paging {
	case "":
		ob.Paging = "none"
	case "none", "page", "offset", "link":
	case "cursor":
		if ob.NextCursor == "" {
			return errAt(cfg, k+"next_cursor", "required with paging: cursor: the path of the next-page token in a list answer")
		}
	case "keyset":
		if len(ob.Keyset) == 0 {
			return errAt(cfg, k+"keyset", "required with paging: keyset: the query of the pages after the first, with {last_updated} and {last_id}")
		}
		if err := checkTemplates(cfg, k+"keyset", ob.Keyset, append(list, "last_updated", "last_id")...); err != nil {
			return err
		}
	default:
		return errAt(cfg, k+"paging", "unknown paging %q (known: none, page, offset, cursor, link, keyset)", ob.Paging)
	}
	if err := checkTemplates(cfg, k+"query", ob.Query, list...); err != nil {
		return err
	}
	switch {
	case ob.PageSize == 0:
		ob.PageSize = 100
	case ob.PageSize < 0 || ob.PageSize > 10000:
		return errAt(cfg, k+"page_size", "must be from 1 to 10000")
	}
	if ob.FirstPage == nil {
		one := 1
		ob.FirstPage = &one
	}
	if ob.MaxPages == 0 {
		ob.MaxPages = 10000
	}
	switch ob.Create {
	case "":
		if ob.Key != "" && len(ob.KeyQuery) > 0 {
			ob.Create = "search"
		} else if ob.IdemHeader != "" {
			ob.Create = "header"
		} else {
			ob.Create = "off"
		}
	case "search", "unique":
		if ob.Key == "" || len(ob.KeyQuery) == 0 {
			return errAt(cfg, k+"create", "%s needs key (where Tandem's key is stored) and key_query (how to find it)", ob.Create)
		}
	case "header":
		if ob.IdemHeader == "" {
			ob.IdemHeader = "Idempotency-Key"
		}
	case "off":
	default:
		return errAt(cfg, k+"create", "unknown create %q (known: search, unique, header, off)", ob.Create)
	}
	if err := checkTemplates(cfg, k+"key_query", ob.KeyQuery, "key"); err != nil {
		return err
	}
	for path, q := range ob.Unique {
		if err := checkTemplates(cfg, k+"unique."+path, q, "value"); err != nil {
			return err
		}
	}
	switch ob.Update {
	case "":
		ob.Update = "patch"
	case "patch", "put":
	default:
		return errAt(cfg, k+"update", "unknown update %q (known: patch, put)", ob.Update)
	}
	switch ob.Concurrency {
	case "":
		ob.Concurrency = "none"
	case "none", "etag":
	case "version":
		if ob.Version == "" {
			return errAt(cfg, k+"version", "required with concurrency: version: the path of the version field")
		}
	default:
		return errAt(cfg, k+"concurrency", "unknown concurrency %q (known: none, etag, version)", ob.Concurrency)
	}
	if d := ob.DeletedList; d != nil {
		if err := checkObject(cfg, name+".deleted_list", d); err != nil {
			return err
		}
	}
	if f := ob.Fetch; f != nil {
		if f.Param == "" {
			return errAt(cfg, k+"fetch.param", "required: the query parameter that takes the ids")
		}
		if f.Each == "" {
			f.Each = "{id}"
		} else if !strings.Contains(f.Each, "{id}") {
			return errAt(cfg, k+"fetch.each", "must hold {id}")
		}
		if f.Size <= 0 {
			f.Size = 50
		}
		if err := checkTemplates(cfg, k+"fetch.query", f.Query, "limit"); err != nil {
			return err
		}
	}
	return nil
}
