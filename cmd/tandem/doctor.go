package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tandem/connectors"
	"tandem/console"
	"tandem/mapping/config"
	"tandem/state"
)

func doctorCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	var format string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the config, credentials, remote fields and state file; change nothing",
		Long: `Check everything a sync depends on, and say what is wrong and where:

  config       the file parses; every key, type, transform and path is valid
               (all errors at once, each as file:line: key: message)
  systems      each connector opens with its section of the config
  credentials  each system answers an authenticated call
  fields       every mapped path names a field the system describes, fields
               written are writable, value tables write allowed values
               (HubSpot: GET /crm/v3/properties/{object};
               Salesforce: GET /sobjects/{Object}/describe)
  key          the field creates are keyed on, which holds Tandem's key,
               exists and is unique (HubSpot: key_property, tandem_id by
               default; Salesforce: external_id_field, Tandem_Id__c);
               otherwise it says how to make it
  state        the state file, if it exists, has this binary's schema, passes
               PRAGMA quick_check and can be written (with its directory);
               if not, its directory can be written

Warnings (WARN, not counted as failures) name the mappings that do not
round-trip: a value Tandem writes that reads back as another one (a
split/join of several fields, lower, upper or trim where another system
does not, a map with a default). Tandem does not echo them, but the
systems then hold different values for the field.

Nothing is written anywhere, the state file included. Exits 0 when every
check passes, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := checkFormat(format, "text", "json"); err != nil {
				return err
			}
			var checks []doctorCheck
			failed := doctor(ctx, g.config, func(c doctorCheck) {
				if format == "json" {
					checks = append(checks, c)
				} else {
					fmt.Fprintln(g.stdout, c)
				}
			})
			if format == "json" {
				if err := writeJSON(g.stdout, map[string]any{"checks": nonNil(checks), "failed": failed}); err != nil {
					return err
				}
			}
			if failed > 0 {
				return fmt.Errorf("doctor: %d checks failed", failed)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up on the remote checks after this long")
	cmd.Flags().StringVar(&format, "format", "text", "output: text, or json ({checks: [{status, check, error}], failed})")
	return cmd
}

// doctorCheck is one check's outcome.
type doctorCheck struct {
	Status string `json:"status"` // ok, warn or fail
	Check  string `json:"check"`
	Error  string `json:"error,omitempty"`
}

// String is the check's line of text: "ok    what", "FAIL  what: why".
func (c doctorCheck) String() string {
	line := fmt.Sprintf("%-4s  %s", strings.ToUpper(c.Status), c.Check)
	if c.Status == "ok" {
		line = "ok    " + c.Check
	}
	if c.Error != "" {
		line += ": " + c.Error
	}
	return line
}

// doctor runs the checks, handing each outcome to out, and returns how
// many failed.
func doctor(ctx context.Context, path string, out func(doctorCheck)) (failed int) {
	report := func(err error, format string, args ...any) {
		what := fmt.Sprintf(format, args...)
		if err == nil {
			out(doctorCheck{Status: "ok", Check: what})
			return
		}
		failed++
		out(doctorCheck{Status: "fail", Check: what, Error: err.Error()})
	}
	cfg, err := config.Load(path)
	if errs, ok := config.AsConfigErrors(err); ok {
		for _, e := range errs {
			out(doctorCheck{Status: "fail", Check: e.Error()})
		}
		return len(errs)
	}
	if err != nil {
		report(err, "config %s", path)
		return failed
	}
	report(nil, "config %s: %s, %s", path, count(len(cfg.Systems), "system", "systems"), count(len(cfg.Entities), "entity", "entities"))
	if cfg.Admin.Listen != "" {
		report(checkConsoleToken(), "console on %s: %s set", cfg.Admin.Listen, console.TokenEnv)
	}
	// A mapping that does not round-trip is allowed (Tandem snapshots what
	// the system will read back, so it does not echo), but the systems
	// then hold different values for one field: a warning, not a failure.
	for _, e := range cfg.Entities {
		for _, sm := range e.Systems {
			for _, l := range e.Lossy(sm) {
				out(doctorCheck{Status: "warn", Check: fmt.Sprintf("entity %s, system %s", e.Name, sm.Name), Error: l})
			}
		}
	}

	for _, sc := range cfg.Systems {
		c, err := connectors.Open(sc)
		if err != nil {
			report(err, "system %s", sc.Name)
			continue
		}
		diagnose(ctx, c, sc.Name, cfg, report)
		d, ok := c.(connectors.Describer)
		if !ok {
			report(nil, "system %s: opens (type %s cannot describe its fields: credentials and paths not checked)", sc.Name, sc.Type)
			continue
		}
		described := map[string][]connectors.FieldInfo{}
		for _, e := range cfg.Entities {
			sm := e.System(sc.Name)
			if sm == nil {
				continue
			}
			fields, seen := described[sm.Object]
			if !seen {
				fields, err = d.Describe(ctx, sm.Object)
				if err != nil {
					report(err, "system %s: describe %s", sc.Name, sm.Object)
					described[sm.Object] = nil
					continue
				}
				described[sm.Object] = fields
				report(nil, "system %s: credentials accepted; %s has %d fields", sc.Name, sm.Object, len(fields))
				if k, ok := c.(connectors.Keyed); ok && !sm.ReadOnly && k.KeyPath(sm.Object) != "" {
					report(checkKey(k, sm.Object, fields), "system %s: %s holds Tandem's key in %s", sc.Name, sm.Object, k.KeyPath(sm.Object))
				}
			}
			if fields == nil {
				continue
			}
			problems := config.Check(sm, fields)
			for _, p := range problems {
				report(errors.New(p), "entity %s, system %s", e.Name, sc.Name)
			}
			if len(problems) == 0 {
				report(nil, "entity %s, system %s: %d mapped paths found", e.Name, sc.Name, len(sm.Fields))
			}
		}
	}

	switch v, err := state.Check(cfg.State); {
	case err != nil:
		// The error names the file already; say it once.
		report(errors.New(strings.TrimPrefix(err.Error(), "state "+cfg.State+": ")), "state %s", cfg.State)
	case v == 0:
		report(nil, "state %s: not created yet (the first sync creates it)", cfg.State)
	default:
		report(nil, "state %s: schema version %d, quick_check ok, writable", cfg.State, v)
	}
	return failed
}

// diagnose runs a connector's own checks (connectors.Diagnoser) once per
// object its system syncs, printing the fix of each that fails.
func diagnose(ctx context.Context, c connectors.Connector, system string, cfg *config.Config, report func(error, string, ...any)) {
	dg, ok := c.(connectors.Diagnoser)
	if !ok {
		return
	}
	fields := map[string]map[string]string{} // object -> path -> canonical type
	var objects []string
	for _, e := range cfg.Entities {
		sm := e.System(system)
		if sm == nil {
			continue
		}
		if fields[sm.Object] == nil {
			fields[sm.Object] = map[string]string{}
			objects = append(objects, sm.Object)
		}
		for _, f := range sm.Fields {
			if f.Path == "" {
				continue
			}
			typ := ""
			if f.Type != nil {
				typ = f.Type.Name
			}
			fields[sm.Object][f.Path] = typ
		}
	}
	for _, obj := range objects {
		for _, f := range dg.Diagnose(ctx, obj, fields[obj]) {
			err := f.Err
			if err != nil && f.Fix != "" {
				err = fmt.Errorf("%v\n      fix: %s", err, f.Fix)
			}
			report(err, "system %s: %s", system, f.What)
		}
	}
}

// checkKey checks the field a Keyed connector's creates are keyed on: it
// must exist and be unique, or a create retried after a lost answer could
// make a second record (README, "Idempotent creates").
func checkKey(k connectors.Keyed, object string, fields []connectors.FieldInfo) error {
	path := k.KeyPath(object)
	for _, f := range fields {
		if f.Path != path {
			continue
		}
		if !f.Unique {
			return fmt.Errorf("the field exists but is not unique, so creates cannot be keyed on it; make a unique one: %s", k.KeySetup(object))
		}
		return nil
	}
	return fmt.Errorf("no such field: every create is keyed on it, so none can be made; create it: %s", k.KeySetup(object))
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// checkConsoleToken checks the console's token as tandem run will.
func checkConsoleToken() error {
	_, err := console.ParseTokens(os.Getenv(console.TokenEnv))
	return err
}
