package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"tandem/conflict"
	"tandem/mapping"
	"tandem/mapping/config"
	"tandem/state"
)

func planCmd(g *globals) *cobra.Command {
	var entity, format string
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what the next pass would do: writes, conflicts, deletes, a guard; write nothing",
		Long: `Show what the next pass would do: what it would write to each system, per
record and field (old -> new), creates, updates and deletes; the field
conflicts it would record, with every system's value and the decision the
policy makes (held for a person under manual); the identity conflicts it
would open; the deletes it would quarantine, propagate or ignore; and the
mass-delete guard, when the pass would stop at it. The conflicts already held
for a person are listed after, with their ids for 'tandem resolve'.

plan reads every system as a pass would (the same API calls), and runs the
merge on a copy of the state file in a temporary directory: nothing is written
to any system, and the state file is not changed. Exits 0 when the pass would
do nothing, 2 when it would write, record a conflict or a delete, or stop at
the guard, 1 when a system could not be read. With --format json: one object
{writes, conflicts, identity, deletes, guards, held}, values as JSON values.

  tandem plan                   # every entity
  tandem plan --entity contact --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			cfg, err := loadConfig(g)
			if err != nil {
				return err
			}
			ents := cfg.Entities
			if entity != "" {
				e, ok := cfg.Entity(entity)
				if !ok {
					return fmt.Errorf("--entity: no entity %q in %s", entity, cfg.File)
				}
				ents = []*mapping.Entity{e}
			}
			eng, store, done, err := g.onCopy(cfg)
			if err != nil {
				return err
			}
			defer done()
			ctx := cmd.Context()
			before, held, err := conflictPrints(ctx, store)
			if err != nil {
				return err
			}
			r := &planReport{cfg: cfg}
			names := map[string]bool{}
			for _, e := range ents {
				names[e.Name] = true
				if err := eng.Pull(ctx, e); err != nil {
					return fmt.Errorf("entity %s: %w", e.Name, err)
				}
				cs, err := eng.Planned(ctx, e)
				if err != nil {
					return fmt.Errorf("entity %s: %w", e.Name, err)
				}
				if err := eng.Guard(ctx, e); err != nil {
					r.Guards = append(r.Guards, planGuard{Entity: e.Name, Error: err.Error()})
				}
				r.Writes = append(r.Writes, maskChanges(e, cs)...)
			}
			if err := r.recordConflicts(ctx, store, before, held, names); err != nil {
				return err
			}
			return r.write(g.stdout, format)
		},
	}
	cmd.Flags().StringVar(&entity, "entity", "", "plan only this entity")
	cmd.Flags().StringVar(&format, "format", "table", "output: table or json")
	return cmd
}

// onCopy opens the config's systems and an engine on a copy of the state
// file in a temporary directory, for the commands that run the merge but
// promise to change nothing (plan, backfill --dry-run). done removes the
// copy.
func (g *globals) onCopy(cfg *config.Config) (eng *conflict.Engine, store *state.Store, done func(), err error) {
	systems, err := g.openSystems(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	dir, err := os.MkdirTemp("", "tandem-plan-")
	if err != nil {
		return nil, nil, nil, err
	}
	copyPath := filepath.Join(dir, "state.db")
	if err = state.CopyTo(cfg.State, copyPath); err == nil {
		store, err = openStore(copyPath)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, nil, err
	}
	eng = g.engine(store, systems)
	eng.Step = nil
	return eng, store, func() { store.Close(); os.RemoveAll(dir) }, nil
}
