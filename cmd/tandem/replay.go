package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"tandem/conflict"
)

func replayCmd(g *globals) *cobra.Command {
	var entity, format string
	cmd := &cobra.Command{
		Use:   "replay --entity E",
		Short: "Re-map stored payloads through the current mapping, as a plan",
		Long: `Re-map the raw payload stored with every snapshot of an entity's records
through the mapping in the config file as it is now, and print what that would
change: in each golden record, and field by field in each system. Use it after
editing a mapping, before the next sync applies it.

Nothing is fetched and nothing is written: replay reads the state file only
(opened read-only). Exits 0 when nothing would change, 2 when something would.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			cfg, err := loadConfig(g)
			if err != nil {
				return err
			}
			ent, ok := cfg.Entity(entity)
			if !ok {
				return fmt.Errorf("--entity: no entity %q in %s", entity, cfg.File)
			}
			store, err := openStoreReadOnly(cfg.State)
			if err != nil {
				return err
			}
			defer store.Close()
			changes, err := conflict.Replay(cmd.Context(), store, ent)
			if err != nil {
				return err
			}
			return writeChanges(g, format, maskChanges(ent, changes), "the current mapping would change records")
		},
	}
	cmd.Flags().StringVar(&entity, "entity", "", "the entity to replay (required)")
	cmd.Flags().StringVar(&format, "format", "table", "output: table or json")
	cmd.MarkFlagRequired("entity")
	return cmd
}

// writeChanges prints a plan (replay's or plan's) as a table or JSON, and
// makes the command exit 2 when it is not empty.
func writeChanges(g *globals, format string, changes []conflict.Change, what string) error {
	if format == "json" {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(changeList(changes)); err != nil {
			return err
		}
	} else {
		printChanges(g.stdout, changes)
	}
	if len(changes) > 0 {
		return &exitError{code: exitChanges, err: errors.New(what)}
	}
	return nil
}

func printChanges(w io.Writer, changes []conflict.Change) {
	if len(changes) == 0 {
		fmt.Fprintln(w, "nothing would change")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY ID\tSYSTEM\tRECORD\tFIELD\tNOW\tAFTER\tNOTE")
	records := map[string]bool{}
	for _, c := range changes {
		sys := c.System
		if sys == "" {
			sys = "(golden)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.EntityID, sys, dash(c.RecordID), dash(c.Field), dash(c.From), dash(c.To), c.Note)
		records[c.EntityID] = true
	}
	tw.Flush()
	fmt.Fprintf(w, "%d changes in %d records\n", len(changes), len(records))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
