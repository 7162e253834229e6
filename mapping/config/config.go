// Package config reads Tandem's config file: the systems (each connector
// decodes its own section), the admin listener, and the entities with
// their canonical fields, their field mappings (compiled into package
// mapping's form), their schedules and their policies. Every problem is
// reported at once, each naming the file, the line and the key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"tandem/connectors"
	"tandem/mapping"
)

// Config is a loaded, validated config file.
type Config struct {
	File   string
	State  string // path of the SQLite state file; a relative one is resolved against the config file's directory
	Listen string
	// Admin is the daemon's admin listener (admin: { listen: ... }): the
	// conflict console, /healthz and /metrics, apart from the public
	// webhooks on Listen. Empty: no console, and /healthz and /metrics
	// stay on Listen.
	Admin    Admin
	Systems  []connectors.Config // in file order
	Entities []*mapping.Entity   // in file order
	// Schedules are the entities' clocks in the daemon, by entity name
	// (an entity with neither schedule: nor reconcile: has none).
	Schedules map[string]Schedule
}

// Schedule is an entity's cron specs, checked when the file is read; the
// daemon runs them in UTC. "" is no job.
type Schedule struct {
	Sync      string // schedule: incremental passes
	Reconcile string // reconcile: reconciliation sweeps
}

// System returns the named system's section.
func (c *Config) System(name string) (connectors.Config, bool) {
	for _, s := range c.Systems {
		if s.Name == name {
			return s, true
		}
	}
	return connectors.Config{}, false
}

// Entity returns the named entity.
func (c *Config) Entity(name string) (*mapping.Entity, bool) {
	for _, e := range c.Entities {
		if e.Name == name {
			return e, true
		}
	}
	return nil, false
}

// Errors is every problem found in a config file, each naming file, line
// and key.
type Errors []*connectors.ConfigError

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Load reads and validates the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse validates a config file's contents. lookup resolves ${VAR}
// references; a reference to an unset variable is an error.
func Parse(file string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{{File: file, Line: yamlLine(err, data), Key: "(file)", Msg: err.Error()}}
	}
	p := &parser{file: file, regions: map[*mapping.Entity]string{}, refNodes: map[*mapping.Type]*yaml.Node{}}
	if len(doc.Content) == 0 {
		p.errf(&doc, "(file)", "empty config")
		return nil, p.errs
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" && root.Value == "" {
		// A document with nothing in it ("---"): YAML places its implicit
		// null on the line after the marker, which a file that ends there
		// does not have.
		lines := bytes.Count(data, []byte("\n")) + 1
		p.errs = append(p.errs, &connectors.ConfigError{File: file, Line: min(root.Line, lines), Key: "(file)", Msg: "empty config"})
		return nil, p.errs
	}
	p.expand(root, "", lookup)
	cfg := &Config{File: file, State: "tandem.db", Schedules: map[string]Schedule{}}
	p.mapping(root, "", map[string]func(k string, v *yaml.Node){
		"state":  func(k string, v *yaml.Node) { cfg.State = p.str(v, k) },
		"listen": func(k string, v *yaml.Node) { cfg.Listen = p.str(v, k) },
		"admin":  func(k string, v *yaml.Node) { cfg.Admin = p.admin(v, k) },
		"systems": func(k string, v *yaml.Node) {
			p.each(v, k, func(name string, kn, sv *yaml.Node) {
				typ := ""
				if t := child(sv, "type"); t != nil {
					typ = t.Value
				} else {
					p.errf(sv, k+"."+name+".type", "required")
				}
				if u := child(sv, "record_url"); u != nil {
					p.recordURL(u, k+"."+name+".record_url")
				}
				cfg.Systems = append(cfg.Systems, connectors.Config{Name: name, Type: typ, File: file, Node: sv})
			})
		},
		"entities": func(k string, v *yaml.Node) {
			p.each(v, k, func(name string, kn, ev *yaml.Node) {
				if e := p.entity(name, ev, cfg); e != nil {
					cfg.Entities = append(cfg.Entities, e)
				}
			})
		},
	})
	p.refs(cfg)
	cfg.State = beside(file, cfg.State)
	if cfg.Admin.Listen != "" && cfg.Admin.Listen == cfg.Listen {
		p.errf(cfg.Admin.node, "admin.listen", "is the same address as listen: the admin listener must be apart from the public one")
	}
	if len(cfg.Systems) == 0 {
		p.errf(root, "systems", "no systems configured")
	}
	if len(cfg.Entities) == 0 {
		p.errf(root, "entities", "no entities configured")
	}
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool {
			if p.errs[i].Line != p.errs[j].Line {
				return p.errs[i].Line < p.errs[j].Line
			}
			return p.errs[i].Key < p.errs[j].Key
		})
		return nil, p.errs
	}
	return cfg, nil
}

// beside resolves a path named in the config file against the file's
// directory, as every path in the config is: run from another directory
// (cron, a service), Tandem must find the same state file, not make a new
// one and link everything again.
func beside(file, path string) string {
	if path == "" || filepath.IsAbs(path) || file == "" {
		return path
	}
	return filepath.Join(filepath.Dir(file), path)
}

// yamlLine is the line an error of YAML's names. Its scanner and parser
// say "line N" except on the first line (their marks count from 0 and
// a 0 is left out), and its reader says no line at all for a byte it
// cannot read (bad UTF-8, a control character): that one is found here.
// Nor does its composer for an alias of an unknown anchor: the alias is
// found here. Others (too much aliasing) have no one place: 0.
func yamlLine(err error, data []byte) int {
	msg := err.Error()
	if m := lineRef.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	switch {
	case strings.Contains(msg, "UTF-8"), strings.Contains(msg, "UTF-16"), strings.Contains(msg, "surrogate"),
		strings.Contains(msg, "control characters"), strings.Contains(msg, "Unicode character"):
		if i := unreadable(data); i >= 0 {
			return 1 + bytes.Count(data[:i], []byte("\n"))
		}
		return 1
	case unknownAnchor.MatchString(msg):
		if i := bytes.Index(data, []byte("*"+unknownAnchor.FindStringSubmatch(msg)[1])); i >= 0 {
			return 1 + bytes.Count(data[:i], []byte("\n"))
		}
		return 0
	case strings.Contains(msg, "aliasing"), strings.Contains(msg, "end of stream"):
		return 0
	}
	return 1
}

var (
	lineRef       = regexp.MustCompile(`\bline (\d+)\b`)
	unknownAnchor = regexp.MustCompile(`unknown anchor '(.*)' referenced`)
)

// unreadable is the offset of the first byte YAML's reader refuses:
// invalid UTF-8, or a character outside YAML's printable set; -1 if none.
func unreadable(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			return i
		case r == '\t', r == '\n', r == '\r', r >= 0x20 && r <= 0x7e, r == 0x85,
			r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= 0x10ffff:
		default:
			return i
		}
		i += n
	}
	return -1
}

// RecordURL is the address of an entity's record in a system's own UI,
// from the system's record_url; "" when it has none, or the entity does
// not map that system.
func (c *Config) RecordURL(entity, system, id string) string {
	e, ok := c.Entity(entity)
	if !ok {
		return ""
	}
	sm := e.System(system)
	sc, ok := c.System(system)
	if sm == nil || !ok {
		return ""
	}
	return sc.RecordURL(sm.Object, id)
}

// recordURL checks a system's record_url: an http(s) address template
// with {id} in it (and, if it likes, {object}), for the links of the
// conflict report and the console.
func (p *parser) recordURL(n *yaml.Node, key string) {
	v := p.str(n, key)
	u, err := url.Parse(strings.NewReplacer("{id}", "x", "{object}", "x").Replace(v))
	switch {
	case v == "":
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		p.errf(n, key, "want an http(s) address, like https://example.lightning.force.com/lightning/r/{object}/{id}/view; got %q", v)
	case !strings.Contains(v, "{id}"):
		p.errf(n, key, "names no {id}: every record would link to one page")
	}
}

// parser walks the YAML tree, collecting every error instead of stopping
// at the first.
type parser struct {
	file string
	errs Errors
	// regions are the entities' phone_region, the default region of their
	// phone fields; refNodes the entity: key of each ref field, for errors
	// found once every entity is read.
	regions  map[*mapping.Entity]string
	refNodes map[*mapping.Type]*yaml.Node
}

func (p *parser) errf(n *yaml.Node, key, format string, args ...any) {
	p.errs = append(p.errs, &connectors.ConfigError{File: p.file, Line: n.Line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces ${VAR} in every scalar, keeping line numbers intact.
func (p *parser) expand(n *yaml.Node, key string, lookup func(string) (string, bool)) {
	switch n.Kind {
	case yaml.ScalarNode:
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			name := ref[2 : len(ref)-1]
			v, ok := lookup(name)
			if !ok {
				p.errf(n, keyOr(key), "environment variable %s is not set", name)
			}
			return v
		})
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p.expand(n.Content[i+1], join(key, n.Content[i].Value), lookup)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.expand(c, fmt.Sprintf("%s[%d]", key, i), lookup)
		}
	}
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// mapping calls the handler of each key; unknown keys are errors.
func (p *parser) mapping(n *yaml.Node, key string, handlers map[string]func(string, *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.errf(n, keyOr(key), "must be a mapping")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !p.name(k, key) {
			continue
		}
		h, ok := handlers[k.Value]
		if !ok {
			name := k.Value
			if name == "" {
				name = `""` // an empty key ("": x, or a bare ":") still names a place
			}
			p.errf(k, join(key, name), "unknown key")
			continue
		}
		h(join(key, k.Value), v)
	}
}

func keyOr(k string) string {
	if k == "" {
		return "(file)"
	}
	return k
}

// each calls fn for every entry of a mapping whose keys are names.
func (p *parser) each(n *yaml.Node, key string, fn func(name string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.errf(n, key, "must be a mapping")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if p.name(n.Content[i], key) {
			fn(n.Content[i].Value, n.Content[i], n.Content[i+1])
		}
	}
}

// name reports whether k, a key of the mapping at key, is a string, as
// every key of the file is. YAML also allows a list or a mapping as a key
// ("? [a]"), whose Value is "": the error would name no key. ("" itself
// is a string, and a value map may well map it.)
func (p *parser) name(k *yaml.Node, key string) bool {
	if k.Kind != yaml.ScalarNode {
		p.errf(k, keyOr(key), "a key must be a string, not a list or a mapping")
		return false
	}
	return true
}

func (p *parser) str(n *yaml.Node, key string) string {
	if n.Kind != yaml.ScalarNode {
		p.errf(n, key, "must be a string")
		return ""
	}
	return n.Value
}

func (p *parser) strs(n *yaml.Node, key string) []string {
	if n.Kind != yaml.SequenceNode {
		p.errf(n, key, "must be a list")
		return nil
	}
	var out []string
	for i, c := range n.Content {
		out = append(out, p.str(c, fmt.Sprintf("%s[%d]", key, i)))
	}
	return out
}

func (p *parser) duration(n *yaml.Node, key string) time.Duration {
	s := p.str(n, key)
	d, err := time.ParseDuration(s)
	if err != nil && s != "" {
		p.errf(n, key, "not a duration: %q", s)
	}
	return d
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// cronSpec validates a standard five-field cron spec ("*/5 * * * *", or a
// descriptor such as "@hourly"), so a typo fails at start-up, not at 3 a.m.
// The daemon runs the specs in UTC.
func (p *parser) cronSpec(n *yaml.Node, key string) string {
	s := p.str(n, key)
	if _, err := cron.ParseStandard(s); err != nil {
		p.errf(n, key, "bad cron spec %q: %v", s, err)
	}
	return s
}

// Admin is the admin listener's section.
type Admin struct {
	Listen string // host:port of the console, /healthz and /metrics
	node   *yaml.Node
}

// admin reads `admin: { listen: HOST:PORT }`.
func (p *parser) admin(n *yaml.Node, key string) Admin {
	var a Admin
	p.mapping(n, key, map[string]func(string, *yaml.Node){
		"listen": func(k string, v *yaml.Node) {
			a.Listen, a.node = p.str(v, k), v
			if a.Listen == "" {
				p.errf(v, k, "required: host:port, e.g. 127.0.0.1:9091")
				return
			}
			if _, port, err := net.SplitHostPort(a.Listen); err != nil {
				p.errf(v, k, "want host:port (e.g. 127.0.0.1:9091), got %q", a.Listen)
			} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
				p.errf(v, k, "port %q is not a number from 0 to 65535", port)
			}
		},
	})
	if n.Kind == yaml.MappingNode && child(n, "listen") == nil {
		p.errf(n, key+".listen", "required: host:port, e.g. 127.0.0.1:9091")
	}
	return a
}

// AsConfigErrors unwraps err into the config errors it holds, if any.
func AsConfigErrors(err error) (Errors, bool) {
	var es Errors
	if errors.As(err, &es) {
		return es, true
	}
	return nil, false
}
