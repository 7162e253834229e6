package connectors

import (
	"fmt"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// HTTPConfig is the keys of a system's section that every connector on
// the shared client takes, decoded and checked here once:
//
//	timeout: 60s                        # one call, retries included
//	rate_limit: {requests: 100, per: 10s}
//	daily_reserve: 0.05                 # 0: none
//	breaker: {failures: 5, cooldown: 30s}
//
// A connector embeds it in its options, inline, and calls Apply:
//
//	type options struct {
//		connectors.HTTPConfig `yaml:",inline"`
//		BaseURL string `yaml:"base_url"`
//	}
//
// The values stay YAML nodes until Apply, so each error names the line of
// its own key.
type HTTPConfig struct {
	Timeout      yaml.Node     `yaml:"timeout"`
	RateLimit    yaml.Node     `yaml:"rate_limit"`
	DailyReserve yaml.Node     `yaml:"daily_reserve"`
	Breaker      BreakerConfig `yaml:"breaker"`
}

// Apply checks the keys given and sets them into o; what is not given
// leaves o as it is (the connector's defaults, or the client's).
func (h HTTPConfig) Apply(cfg Config, o *HTTPOptions) error {
	if n := h.Timeout; n.Kind != 0 {
		d, err := time.ParseDuration(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil || d <= 0 {
			return cfg.Errorf("timeout", "%q is not a positive duration like 60s", n.Value)
		}
		o.Timeout = d
	}
	if h.RateLimit.Kind != 0 {
		r, err := DecodeRate(cfg, "rate_limit", &h.RateLimit)
		if err != nil {
			return err
		}
		o.Rate = r
	}
	if n := h.DailyReserve; n.Kind != 0 {
		if n.Kind == yaml.ScalarNode && n.Value == "" || n.Tag == "!!null" {
			return cfg.Errorf("daily_reserve", "is empty (is its environment variable set?)")
		}
		r, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || err != nil || !(r >= 0 && r < 1) {
			return cfg.Errorf("daily_reserve", "must be a share of the daily quota from 0 (none) to below 1, like 0.05; got %s", n.Value)
		}
		o.DailyReserve = r
		if r == 0 {
			o.DailyReserve = -1 // the shared client's "none"; its zero is the default
		}
	}
	return h.Breaker.Apply(cfg, o)
}

// DecodeRate reads a rate like {requests: 100, per: 10s} at key.
func DecodeRate(cfg Config, key string, n *yaml.Node) (RateLimit, error) {
	bad := func(format string, args ...any) (RateLimit, error) {
		return RateLimit{}, cfg.Errorf(key, format, args...)
	}
	if n.Kind != yaml.MappingNode {
		return bad("must be a mapping like {requests: 100, per: 10s}")
	}
	var r struct {
		Requests *int   `yaml:"requests"`
		Per      string `yaml:"per"`
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Value != "requests" && k.Value != "per" {
			return RateLimit{}, &ConfigError{File: cfg.File, Line: k.Line, Key: "systems." + cfg.Name + "." + key + "." + k.Value, Msg: "unknown key (known: requests, per)"}
		}
	}
	if err := n.Decode(&r); err != nil {
		return bad("must be like {requests: 100, per: 10s}: %v", err)
	}
	at := func(sub, format string, args ...any) error {
		line := n.Line
		if v := Child(n, sub); v != nil {
			line = v.Line
		}
		return &ConfigError{File: cfg.File, Line: line, Key: "systems." + cfg.Name + "." + key + "." + sub, Msg: fmt.Sprintf(format, args...)}
	}
	if r.Requests == nil || *r.Requests < 1 {
		got := "none"
		if r.Requests != nil {
			got = strconv.Itoa(*r.Requests)
		}
		return RateLimit{}, at("requests", "must be a positive number of requests, got %s", got)
	}
	per, err := time.ParseDuration(r.Per)
	if err != nil || per <= 0 {
		return RateLimit{}, at("per", "must be a positive duration like 10s, got %q", r.Per)
	}
	return RateLimit{Requests: *r.Requests, Per: per}, nil
}
