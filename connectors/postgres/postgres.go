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
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

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
	_ connectors.Follower   = (*Client)(nil)
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
	// LockTimeout is how long a write waits for a row another transaction
	// holds (someone editing it) before it fails alone, to be tried again
	// later; default 5s.
	LockTimeout time.Duration `yaml:"lock_timeout"`

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
	DefaultLockTimeout = 5 * time.Second
)

var (
	identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)
	slotRE  = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)
)

// Client is one configured PostgreSQL database.
type Client struct {
	system string
	o      Options
	pool   *pgxpool.Pool

	mu       sync.Mutex
	tables   map[string]*table // by object, read from the catalog once
	read     map[string]seen   // object+"\x00"+id: the row as Fetch last read it
	failures int               // calls failed in a row, for Health
}

// seen is a row as a read returned it: the write that follows is made
// conditional on it (see Apply).
type seen struct {
	modified time.Time
	xmin     string
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

// note records the outcome of a call for Health.
func (c *Client) note(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.failures = 0
	} else {
		c.failures++
	}
}

// Health reports the calls that failed in a row (each after its retries);
// there is no breaker nor rate budget: a database paces its clients by
// their connections.
func (c *Client) Health() connectors.Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	return connectors.Health{Breaker: "closed", RateSource: "none", Failures: c.failures}
}

// warn logs what the connector handles itself (a retry, a change it
// cannot place).
func (c *Client) warn(msg string, args ...any) {
	l := c.o.Logger
	if l == nil {
		l = slog.Default()
	}
	l.Warn("postgres: "+msg, append([]any{"system", c.system}, args...)...)
}
