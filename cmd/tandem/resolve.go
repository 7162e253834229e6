package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"tandem/conflict"
	"tandem/state"
)

func resolveCmd(g *globals) *cobra.Command {
	var d conflict.Decision
	var value, format string
	cmd := &cobra.Command{
		Use:   "resolve ID (--take SYSTEM | --value JSON | --link [--to ENTITY_ID] | --split)",
		Short: "Decide an open conflict; the next pass writes the decision everywhere",
		Long: `Decide a conflict that is held for a person (status open in 'tandem conflicts').

Field conflicts (two systems changed one field, and the policy is manual or the
edits were within clock_tolerance):
  --take SYSTEM   that system's value wins
  --value JSON    this value wins (JSON: "text", 42, true, null), normalised as
                  the field's type says (a phone number becomes E.164)

Delete conflicts (a quarantined delete):
  --take SYSTEM   the system that deleted the record: delete it everywhere now;
                  any other system: keep it (it is created again where deleted)

Identity conflicts (a new record matched several entities, or shares its
match key with another record of the same system):
  --link          the record is the matched entity's record in its system;
                  when the entity's record there is one Tandem created (the
                  conflict says "keep" the person's), it is deleted
  --to ID         with --link, when several entities matched: which one
  --split         the record is an entity of its own; it is created in the
                  other systems only where no record has its match key

Identity conflicts of a value a system refused because another record holds
it (policy unique; the field is held):
  --value JSON    this value wins, as for a field conflict

Nothing is written to any system here: the decision goes into the state file,
and the next 'tandem sync' (or the daemon's next pass) writes it everywhere.

  tandem resolve 12 --take salesforce
  tandem resolve 13 --value '"+14155550123"'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format, "text", "json"); err != nil {
				return err
			}
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("conflict ID: want a number from 'tandem conflicts', got %q", args[0])
			}
			d.HasValue = cmd.Flags().Changed("value")
			if d.HasValue {
				if err := json.Unmarshal([]byte(value), &d.Value); err != nil {
					return fmt.Errorf("--value: not JSON (quote text: '\"Ann\"'): %w", err)
				}
			}
			n := 0
			for _, set := range []bool{d.Take != "", d.HasValue, d.Link, d.Split} {
				if set {
					n++
				}
			}
			if n != 1 {
				return fmt.Errorf("give exactly one of --take, --value, --link, --split")
			}
			if d.To != "" && !d.Link {
				return fmt.Errorf("--to goes with --link")
			}
			a, err := g.openState()
			if err != nil {
				return err
			}
			defer a.Close()
			c, _, err := a.store.Conflict(cmd.Context(), id)
			if err != nil {
				return err
			}
			ent, ok := a.cfg.Entity(c.Entity)
			if !ok {
				return fmt.Errorf("conflict %d is about entity %s, which %s no longer declares", id, c.Entity, a.cfg.File)
			}
			d.Actor = actor()
			c, err = a.engine.Resolve(cmd.Context(), ent, id, d)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(g.stdout, ent.MaskConflict(*c))
			}
			fmt.Fprintf(g.stdout, "conflict %d resolved (%s); the next pass writes it to every system\n", c.ID, c.Decided)
			return nil
		},
	}
	cmd.Flags().StringVar(&d.Take, "take", "", "the system whose side wins")
	cmd.Flags().StringVar(&value, "value", "", "the value that wins, as JSON")
	cmd.Flags().BoolVar(&d.Link, "link", false, "identity: link the record to the matched entity")
	cmd.Flags().StringVar(&d.To, "to", "", "identity, with --link: the entity id to link to")
	cmd.Flags().BoolVar(&d.Split, "split", false, "identity: make the record an entity of its own")
	cmd.Flags().StringVar(&format, "format", "text", "output: text, or json (the conflict as decided, as 'tandem conflicts --format json' shows it)")
	return cmd
}

// openState opens the config and the state file, without connectors:
// for commands that only change the state.
func (g *globals) openState() (*app, error) {
	cfg, err := loadConfig(g)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfg.State); err != nil {
		return nil, fmt.Errorf("state file: %w (no pass has run yet)", err)
	}
	store, err := state.Open(cfg.State)
	if err != nil {
		return nil, err
	}
	return &app{cfg: cfg, store: store, engine: g.engine(store, nil)}, nil
}
