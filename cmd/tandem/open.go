package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"tandem/conflict"
	"tandem/connectors"
	"tandem/mapping/config"
	"tandem/state"
)

// app is a loaded config with its state file and open connectors.
type app struct {
	cfg    *config.Config
	store  *state.Store
	engine *conflict.Engine
}

func (g *globals) open() (*app, error) {
	cfg, err := config.Load(g.config)
	if err != nil {
		return nil, err
	}
	systems, err := g.openSystems(cfg)
	if err != nil {
		return nil, err
	}
	store, err := openStore(cfg.State)
	if err != nil {
		return nil, err
	}
	return &app{cfg: cfg, store: store, engine: g.engine(store, systems)}, nil
}

func (g *globals) engine(store *state.Store, systems map[string]connectors.Connector) *conflict.Engine {
	return &conflict.Engine{Store: store, Systems: systems, Log: g.log, Step: stepHook, Now: engineNow,
		Overlap: stepHook == nil}
}

// openSystems opens a connector for every configured system; the config
// errors of all of them come back together.
func (g *globals) openSystems(cfg *config.Config) (map[string]connectors.Connector, error) {
	systems := map[string]connectors.Connector{}
	var errs config.Errors
	for _, sc := range cfg.Systems {
		sc.Logger, sc.Observe = g.log, g.observe
		c, err := connectors.Open(sc)
		if err != nil {
			var ce *connectors.ConfigError
			if errors.As(err, &ce) {
				errs = append(errs, ce)
				continue
			}
			return nil, fmt.Errorf("system %s: %w", sc.Name, err)
		}
		systems[sc.Name] = c
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return systems, nil
}

// Close closes the state file and the connectors that hold connections
// of their own (a database's pool): a command run in a process that goes
// on (the tests, the console) leaves none open.
func (a *app) Close() error {
	for _, c := range a.engine.Systems {
		if cl, ok := c.(interface{ Close() }); ok {
			cl.Close()
		}
	}
	return a.store.Close()
}

func loadConfig(g *globals) (*config.Config, error) { return config.Load(g.config) }

// loadOffline loads the config for a command that contacts no system
// (status, conflicts, deadletters list): the credentials of the systems
// are not needed there, so a ${VAR} left unset inside a system's section
// is no error. One unset anywhere else (state:, say) still is.
func loadOffline(g *globals) (*config.Config, error) {
	cfg, err := config.Load(g.config)
	errs, ok := config.AsConfigErrors(err)
	if !ok {
		return cfg, err
	}
	unset := map[string]bool{}
	for _, e := range errs {
		name, isEnv := strings.CutPrefix(e.Msg, "environment variable ")
		name, isUnset := strings.CutSuffix(name, " is not set")
		if !isEnv || !isUnset || !strings.HasPrefix(e.Key, "systems.") {
			return nil, err
		}
		unset[name] = true
	}
	data, rerr := os.ReadFile(g.config)
	if rerr != nil {
		return nil, err
	}
	return config.Parse(g.config, data, func(name string) (string, bool) {
		if v, ok := os.LookupEnv(name); ok {
			return v, true
		}
		return "", unset[name]
	})
}
