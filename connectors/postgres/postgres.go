// Package postgres is Tandem's connector for PostgreSQL tables: each
// object is a table, each mapped path a column (or a path inside a jsonb
// column), each record a row as a JSON object of its columns.
//
// It captures changes in one of two ways (README.md says which to choose):
// polling on an updated_at column plus the key, behind the shared tie-safe
// watermark; or logical replication with the built-in pgoutput plugin, from
// a publication and a replication slot, whose position is confirmed to the
// server only once the engine has staged the changes.
//
// Writes go in one transaction per batch, one savepoint per write: a
// create is an INSERT … ON CONFLICT on the column holding Tandem's entity
// id (idempotent), an update is conditional on the row as the engine last
// read it (its xmin, else its updated_at), so an edit made in between is
// never overwritten.
//
// The DSN comes from the environment only (dsn_env), and is never printed.
package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.yaml.in/yaml/v3"

	"tandem/connectors"
)

func init() { connectors.Register("postgres", New) }

var (
	_ connectors.Connector  = (*Client)(nil)
	_ connectors.Fetcher    = (*Client)(nil)
	_ connectors.KeyFetcher = (*Client)(nil)
	_ connectors.Keyed      = (*Client)(nil)
	_ connectors.Describer  = (*Client)(nil)
	_ connectors.Healther   = (*Client)(nil)
	_ connectors.Diagnoser  = (*Client)(nil)
)

// Options is the config section of a PostgreSQL system.
type Options struct {
	// DSNEnv names the environment variable holding the connection string
	// (default DATABASE_URL). The config never holds the DSN itself.
	DSNEnv string `yaml:"dsn_env"`
	DSN    string `yaml:"-"` // set in code (tests); else read from DSNEnv
	// Logger is where retries are logged; nil: slog.Default().
	Logger *slog.Logger `yaml:"-"`
	// dial, when set, opens the connections (tests put faults on them).
	dial pgconn.DialFunc

	// Capture is how changes are found: "poll" (default) or "replication".
	Capture     string `yaml:"capture"`
	Publication string `yaml:"publication"` // replication: default tandem
	Slot        string `yaml:"slot"`        // replication: default tandem_<system>

	// Overlap is how far before its cursor a poll reads again, for rows a
	// transaction stamped before a poll and committed after it; default 1m.
	Overlap  time.Duration `yaml:"overlap"`
	PageSize int           `yaml:"page_size"` // rows a page; default 500
	Timeout  time.Duration `yaml:"timeout"`   // one call; default 60s

	// Tables holds the options of each table, by object name (the table,
	// schema-qualified or in public). A table not listed takes the defaults.
	Tables map[string]TableOptions `yaml:"tables"`
}

// TableOptions are one table's columns Tandem needs.
type TableOptions struct {
	Key       string `yaml:"key"`        // the row's id, unique: default id
	UpdatedAt string `yaml:"updated_at"` // the modified time: default updated_at
	TandemID  string `yaml:"tandem_id"`  // holds Tandem's entity id, unique: default tandem_id
}

// Defaults.
const (
	DefaultDSNEnv      = "DATABASE_URL"
	DefaultPublication = "tandem"
	DefaultOverlap     = time.Minute
	DefaultPageSize    = 500
	DefaultTimeout     = 60 * time.Second
)

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)

// Client is one configured PostgreSQL database.
type Client struct {
	system string
	o      Options
	pool   *pgxpool.Pool

	mu     sync.Mutex
	tables map[string]*table // by object, read from the catalog once
	read   map[string]seen   // object+"\x00"+id: the row as Fetch last read it
	health healthState
}

// seen is a row as a read returned it: the write that follows is made
// conditional on it (see Apply).
type seen struct {
	modified time.Time
	xmin     string
}

// New opens the system described by a config section. It does not
// connect: the first call does.
func New(cfg connectors.Config) (connectors.Connector, error) {
	var o Options
	if connectors.Child(cfg.Node, "dsn") != nil {
		return nil, errAt(cfg, "dsn", "the connection string is read from the environment only: name its variable in dsn_env")
	}
	if err := cfg.Decode(&o); err != nil {
		return nil, err
	}
	if err := checkTables(cfg); err != nil {
		return nil, err
	}
	if o.DSNEnv == "" {
		o.DSNEnv = DefaultDSNEnv
	}
	if !identRE.MatchString(o.DSNEnv) {
		return nil, errAt(cfg, "dsn_env", fmt.Sprintf("must name an environment variable, got %q", o.DSNEnv))
	}
	o.DSN, o.Logger = os.Getenv(o.DSNEnv), cfg.Logger
	if o.DSN == "" {
		return nil, errAt(cfg, "dsn_env", fmt.Sprintf("the environment variable %s, which holds the connection string, is not set", o.DSNEnv))
	}
	c, key, err := open(cfg.Name, o)
	if err != nil {
		return nil, errAt(cfg, key, err.Error())
	}
	return c, nil
}

// checkTables refuses keys a table's section does not know (Decode
// checks only the top level).
func checkTables(cfg connectors.Config) error {
	tables := connectors.Child(cfg.Node, "tables")
	if tables == nil {
		return nil
	}
	if tables.Kind != yaml.MappingNode {
		return errAt(cfg, "tables", "must be a mapping of table names to {key, updated_at, tandem_id}")
	}
	for i := 0; i+1 < len(tables.Content); i += 2 {
		obj, sec := tables.Content[i].Value, tables.Content[i+1]
		if sec.Kind != yaml.MappingNode {
			return errAt(cfg, "tables."+obj, "must be a mapping like {key: id, updated_at: updated_at, tandem_id: tandem_id}")
		}
		for j := 0; j+1 < len(sec.Content); j += 2 {
			if k := sec.Content[j].Value; k != "key" && k != "updated_at" && k != "tandem_id" {
				return errAt(cfg, "tables."+obj+"."+k, "unknown key (known: key, updated_at, tandem_id)")
			}
		}
	}
	return nil
}

// errAt is a config error at key, a path under the section whose table
// names may hold a dot ("tables.public.contacts.key").
func errAt(cfg connectors.Config, key, msg string) error {
	line := 0
	if cfg.Node != nil {
		line = cfg.Node.Line
	}
	n := cfg.Node
	rest := key
	for rest != "" && n != nil && n.Kind == yaml.MappingNode {
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if rest == k || strings.HasPrefix(rest, k+".") {
				next, line, rest = n.Content[i+1], n.Content[i].Line, strings.TrimPrefix(strings.TrimPrefix(rest, k), ".")
				break
			}
		}
		n = next
	}
	return &connectors.ConfigError{File: cfg.File, Line: line, Key: "systems." + cfg.Name + "." + key, Msg: msg}
}

// NewClient opens a system from options given in code (tests, tools).
func NewClient(system string, o Options) (*Client, error) {
	c, key, err := open(system, o)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %s: %w", system, key, err)
	}
	return c, nil
}

func open(system string, o Options) (*Client, string, error) {
	if key, err := o.normalize(system); err != nil {
		return nil, key, err
	}
	pc, err := pgxpool.ParseConfig(o.DSN)
	if err != nil {
		// The parser's message may quote the DSN: say only where it is.
		return nil, "dsn_env", fmt.Errorf("the connection string in %s does not parse", o.DSNEnv)
	}
	pc.MaxConns = 4
	if o.dial != nil {
		pc.ConnConfig.DialFunc = o.dial
	}
	pc.ConnConfig.RuntimeParams["application_name"] = "tandem"
	// Times in payloads are written in UTC, whatever the server's default:
	// the same row reads as the same bytes from any session.
	pc.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, "dsn_env", fmt.Errorf("the connection string in %s: %v", o.DSNEnv, err)
	}
	return &Client{system: system, o: o, pool: pool, tables: map[string]*table{}, read: map[string]seen{}}, "", nil
}

func (o *Options) normalize(system string) (string, error) {
	switch o.Capture {
	case "":
		o.Capture = "poll"
	case "poll", "replication":
	default:
		return "capture", fmt.Errorf("must be poll or replication, got %q", o.Capture)
	}
	if o.Publication == "" {
		o.Publication = DefaultPublication
	}
	if o.Slot == "" {
		o.Slot = "tandem_" + strings.ToLower(sanitize(system))
	}
	if !identRE.MatchString(o.Publication) {
		return "publication", fmt.Errorf("must be a plain identifier, got %q", o.Publication)
	}
	if !regexp.MustCompile(`^[a-z0-9_]{1,63}$`).MatchString(o.Slot) {
		return "slot", fmt.Errorf("must be lower-case letters, digits and _ (a replication slot's name), got %q", o.Slot)
	}
	if o.Overlap == 0 {
		o.Overlap = DefaultOverlap
	} else if o.Overlap < 0 {
		return "overlap", fmt.Errorf("must be positive, got %v", o.Overlap)
	}
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	} else if o.PageSize < 1 || o.PageSize > 10000 {
		return "page_size", fmt.Errorf("must be from 1 to 10000, got %d", o.PageSize)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	} else if o.Timeout < 0 {
		return "timeout", fmt.Errorf("must be positive, got %v", o.Timeout)
	}
	for obj, t := range o.Tables {
		if _, _, err := splitName(obj); err != nil {
			return "tables." + obj, err
		}
		for k, v := range map[string]string{"key": t.Key, "updated_at": t.UpdatedAt, "tandem_id": t.TandemID} {
			if v != "" && !identRE.MatchString(v) {
				return "tables." + obj + "." + k, fmt.Errorf("must be a column name, got %q", v)
			}
		}
	}
	return "", nil
}

// Close releases the connections.
func (c *Client) Close() { c.pool.Close() }

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// splitName reads an object name: "schema.table" or "table" (public).
func splitName(obj string) (schema, name string, err error) {
	schema, name, ok := strings.Cut(obj, ".")
	if !ok {
		schema, name = "public", obj
	}
	if !identRE.MatchString(schema) || !identRE.MatchString(name) {
		return "", "", fmt.Errorf("%q is not a table name (table or schema.table)", obj)
	}
	return schema, name, nil
}

// ctx bounds one call by the timeout.
func (c *Client) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.o.Timeout)
}

// healthState counts failures in a row, for Health.
type healthState struct {
	failures int
	since    time.Time
}

// note records the outcome of a call for Health.
func (c *Client) note(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		c.health = healthState{}
	case c.health.failures == 0:
		c.health = healthState{failures: 1, since: time.Now()}
	default:
		c.health.failures++
	}
}

// Health reports failures in a row; there is no breaker nor rate budget
// (a database paces its clients by their connections).
func (c *Client) Health() connectors.Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := connectors.Health{Breaker: "closed", RateSource: "none", Failures: c.health.failures}
	if c.health.failures > 0 {
		h.BreakerSince = c.health.since
	}
	return h
}

// log notes a failure the connector handles itself (a retry).
func (c *Client) log(msg string, err error, attempt int) {
	l := c.o.Logger
	if l == nil {
		l = slog.Default()
	}
	l.Warn("postgres: "+msg, "system", c.system, "attempt", attempt, "error", err.Error())
}
