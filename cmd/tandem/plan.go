package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"tandem/conflict"
	"tandem/mapping"
	"tandem/state"
)

func planCmd(g *globals) *cobra.Command {
	var entity, format string
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what the next pass would write, field by field, without writing",
		Long: `Show what the next pass would write to each system, per record and field
(old -> new): creates, updates and deletes, with the conflicts the merge would
meet decided as the policies say.

plan reads every system as a pass would (the same API calls), and runs the
merge on a copy of the state file in a temporary directory: nothing is written
to any system, and the state file is not changed. Exits 0 when nothing would
change, 2 when something would, 1 when a system could not be read. When the
next pass would stop at the mass-delete guard, plan says so on stderr.

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
			eng, _, done, err := g.onCopy(cfg)
			if err != nil {
				return err
			}
			defer done()
			changes := []conflict.Change{}
			for _, e := range ents {
				if err := eng.Pull(cmd.Context(), e); err != nil {
					return fmt.Errorf("entity %s: %w", e.Name, err)
				}
				cs, err := eng.Planned(cmd.Context(), e)
				if err != nil {
					return fmt.Errorf("entity %s: %w", e.Name, err)
				}
				if err := eng.Guard(cmd.Context(), e); err != nil {
					fmt.Fprintf(g.stderr, "tandem: entity %s: the next pass would stop (exit 3) before writing: %v\n", e.Name, err)
				}
				changes = append(changes, cs...)
			}
			return writeChanges(g, format, changes, "the next pass would write changes")
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
func (g *globals) onCopy(cfg *mapping.Config) (eng *conflict.Engine, store *state.Store, done func(), err error) {
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
		store, err = state.Open(copyPath)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, nil, err
	}
	eng = g.engine(store, systems)
	eng.Step = nil
	return eng, store, func() { store.Close(); os.RemoveAll(dir) }, nil
}
