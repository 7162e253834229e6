package postgres

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.yaml.in/yaml/v3"

	"tandem/connectors"
)

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
	// A row locked by another transaction (a person's, left open) fails its
	// own write after this long, and the batch's others go on.
	pc.ConnConfig.RuntimeParams["lock_timeout"] = fmt.Sprint(o.LockTimeout.Milliseconds())
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
	if !slotRE.MatchString(o.Slot) {
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
	if o.LockTimeout == 0 {
		o.LockTimeout = min(DefaultLockTimeout, o.Timeout/2)
	} else if o.LockTimeout < time.Millisecond || o.LockTimeout >= o.Timeout {
		return "lock_timeout", fmt.Errorf("must be from 1ms to less than timeout (%v), got %v", o.Timeout, o.LockTimeout)
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
