package connectors

import (
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is one system's section of the config file, handed to its
// connector's Factory undecoded so the connector owns its own options.
type Config struct {
	Name string     // the system's name: the key under systems:
	Type string     // the connector type
	File string     // the config file, for error messages
	Node *yaml.Node // the mapping node of the section (already ${ENV}-expanded)
	// Logger is where the connector logs (its client's retries, breaker
	// and budget); nil: slog.Default().
	Logger *slog.Logger
	// Observe, when set, is told of every HTTP attempt the connector's
	// client makes (the daemon counts them for /metrics).
	Observe func(Attempt)
}

// ConfigError is an error in a config file, naming file, line and key.
type ConfigError struct {
	File string
	Line int
	Key  string // dotted path from the top of the file
	Msg  string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Msg)
}

// Errorf returns a ConfigError for key (relative to this system's section),
// at the line of that key when present, else at the section's line.
func (c Config) Errorf(key, format string, args ...any) error {
	line := 0
	if c.Node != nil {
		line = c.Node.Line
		if v := Child(c.Node, key); v != nil {
			line = v.Line
		}
	}
	return &ConfigError{File: c.File, Line: line, Key: "systems." + c.Name + "." + key, Msg: fmt.Sprintf(format, args...)}
}

// Path resolves a file named in the section (a secret file): a relative
// path is relative to the config file's directory, like the state file,
// so Tandem reads the same files whatever directory it is started from (a
// service, cron).
func (c Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.File == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}

// Decode decodes the section into v, a pointer to a struct with yaml tags.
// Keys the struct does not know are errors, and so are keys named in
// required that are missing or empty. The "type" and "record_url" keys
// are always allowed (record_url is every system's: see RecordURL).
func (c Config) Decode(v any, required ...string) error {
	if c.Node == nil || c.Node.Kind != yaml.MappingNode {
		return &ConfigError{File: c.File, Key: "systems." + c.Name, Msg: "must be a mapping"}
	}
	known := map[string]bool{"type": true, "record_url": true}
	for _, name := range yamlKeys(reflect.TypeOf(v).Elem()) {
		known[name] = true
	}
	for i := 0; i+1 < len(c.Node.Content); i += 2 {
		k := c.Node.Content[i]
		if !known[k.Value] {
			return &ConfigError{File: c.File, Line: k.Line, Key: "systems." + c.Name + "." + k.Value, Msg: "unknown key"}
		}
	}
	if err := c.Node.Decode(v); err != nil {
		return &ConfigError{File: c.File, Line: c.Node.Line, Key: "systems." + c.Name, Msg: err.Error()}
	}
	for _, r := range required {
		if n := Child(c.Node, r); n == nil || n.Value == "" {
			return c.Errorf(r, "required")
		}
	}
	return nil
}

// RecordURL is the address of a record in the system's own UI, from the
// section's record_url template ({object} and {id} replaced, the id
// escaped as a path segment); "" when the section has none. The config
// loader checks the template (config.Parse, tandem/mapping/config).
func (c Config) RecordURL(object, id string) string {
	n := Child(c.Node, "record_url")
	if n == nil || n.Kind != yaml.ScalarNode || n.Value == "" || id == "" {
		return ""
	}
	return strings.NewReplacer("{object}", url.PathEscape(object), "{id}", url.PathEscape(id)).Replace(n.Value)
}

// yamlKeys are the keys a struct type decodes, those of the structs it
// embeds inline (HTTPConfig) included.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "" && opts == "inline" && f.Type.Kind() == reflect.Struct:
			keys = append(keys, yamlKeys(f.Type)...)
		case name != "" && name != "-":
			keys = append(keys, name)
		}
	}
	return keys
}

// Child is the value node of key in a mapping node, or nil.
func Child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
