package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"tandem"

	"github.com/spf13/cobra"

	"tandem/conflict"
)

func resolveCmd(g *globals) *cobra.Command {
	var d conflict.Decision
	var value, format string
	var all bool
	var only conflictFilter
	cmd := &cobra.Command{
		Use:   "resolve (ID… | --all [--kind K] [--entity E] [--field F]) (--take SYSTEM | --value JSON | --link [--to ENTITY_ID] | --split)",
		Short: "Decide open conflicts; the next pass writes the decisions everywhere",
		Long: `Decide conflicts that are held for a person (status open in 'tandem conflicts').

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

Identity conflicts of a match key held because another entity holds it
(policy unique; the field is held):
  --value JSON    this value wins, as for a field conflict

Value conflicts of a value a system could not take (policy write or map out;
the field is held for that system alone):
  --take SYSTEM   that system: its held value is written to it again (once
                  it can take it: a column widened, a mapping fixed)
  --value JSON    this value wins everywhere, as for a field conflict

Several at once: give several IDs, or --all for every open conflict, narrowed
by --kind (field, delete, identity), --entity and --field. The same decision
is applied to each, each in its own transaction; one that cannot take it (a
system that is not one of its sides) is reported and left open, the others
are decided, and the command exits 1 if any was left.

Nothing is written to any system here: the decision goes into the state file,
and the next 'tandem sync' (or the daemon's next pass) writes it everywhere.

  tandem resolve 12 --take salesforce
  tandem resolve 13 --value '"+14155550123"'
  tandem resolve 14 15 16 --take hubspot
  tandem resolve --all --kind delete --take hubspot`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format, "text", "json"); err != nil {
				return err
			}
			if err := only.check(); err != nil {
				return err
			}
			ids, err := conflictIDs(args, all, only)
			if err != nil {
				return err
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
			if all {
				open, err := a.store.Conflicts(cmd.Context(), true)
				if err != nil {
					return err
				}
				for _, c := range open {
					if only.match(c) {
						ids = append(ids, c.ID)
					}
				}
				if len(ids) == 0 {
					fmt.Fprintln(g.stderr, "no open conflict matches")
					return nil
				}
			}
			d.Actor = actor()
			var done []resolved
			failed := 0
			for _, id := range ids {
				r := resolved{ID: id}
				c, err := resolveOne(cmd, a, id, d)
				if err != nil {
					r.Error, failed = err.Error(), failed+1
				} else {
					r.Conflict = c
				}
				done = append(done, r)
			}
			if len(ids) == 1 && !all {
				if failed > 0 {
					return errors.New(done[0].Error)
				}
				if format == "json" {
					return writeJSON(g.stdout, done[0].Conflict)
				}
				fmt.Fprintf(g.stdout, "conflict %d resolved (%s); the next pass writes it to every system\n", ids[0], done[0].Conflict.Decided)
				return nil
			}
			if format == "json" {
				if err := writeJSON(g.stdout, done); err != nil {
					return err
				}
			} else {
				for _, r := range done {
					if r.Error != "" {
						fmt.Fprintf(g.stdout, "conflict %d left open: %s\n", r.ID, r.Error)
					} else {
						fmt.Fprintf(g.stdout, "conflict %d resolved (%s)\n", r.ID, r.Conflict.Decided)
					}
				}
				fmt.Fprintf(g.stdout, "%d of %d resolved; the next pass writes them to every system\n", len(ids)-failed, len(ids))
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d conflicts left open", failed, len(ids))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&d.Take, "take", "", "the system whose side wins")
	cmd.Flags().StringVar(&value, "value", "", "the value that wins, as JSON")
	cmd.Flags().BoolVar(&d.Link, "link", false, "identity: link the record to the matched entity")
	cmd.Flags().StringVar(&d.To, "to", "", "identity, with --link: the entity id to link to")
	cmd.Flags().BoolVar(&d.Split, "split", false, "identity: make the record an entity of its own")
	cmd.Flags().BoolVar(&all, "all", false, "every open conflict (narrowed by --kind, --entity, --field) instead of IDs")
	cmd.Flags().StringVar(&only.kind, "kind", "", "with --all: field, delete or identity")
	cmd.Flags().StringVar(&only.entity, "entity", "", "with --all: conflicts of this entity only")
	cmd.Flags().StringVar(&only.field, "field", "", "with --all: conflicts on this field only")
	cmd.Flags().StringVar(&format, "format", "text", "output: text, or json (the conflict as decided, as 'tandem conflicts --format json' shows it; an array of {id, conflict | error} for several)")
	return cmd
}

// resolved is one conflict of a resolve of several: decided, or why not.
type resolved struct {
	ID       int64            `json:"id"`
	Conflict *tandem.Conflict `json:"conflict,omitempty"`
	Error    string           `json:"error,omitempty"`
}

// resolveOne decides one conflict, masked as its entity says for output.
func resolveOne(cmd *cobra.Command, a *app, id int64, d conflict.Decision) (*tandem.Conflict, error) {
	c, _, err := a.store.Conflict(cmd.Context(), id)
	if err != nil {
		return nil, err
	}
	ent, ok := a.cfg.Entity(c.Entity)
	if !ok {
		return nil, fmt.Errorf("conflict %d is about entity %s, which %s no longer declares", id, c.Entity, a.cfg.File)
	}
	c, err = a.engine.Resolve(cmd.Context(), ent, id, d)
	if err != nil {
		return nil, err
	}
	m := ent.MaskConflict(*c)
	return &m, nil
}

// conflictFilter narrows resolve --all.
type conflictFilter struct{ kind, entity, field string }

func (f conflictFilter) check() error {
	switch f.kind {
	case "", tandem.ConflictField, tandem.ConflictDelete, tandem.ConflictIdentity:
		return nil
	}
	return fmt.Errorf("--kind: %q: want field, delete or identity", f.kind)
}

func (f conflictFilter) match(c tandem.Conflict) bool {
	return (f.kind == "" || c.Kind == f.kind) && (f.entity == "" || c.Entity == f.entity) && (f.field == "" || c.Field == f.field)
}

// conflictIDs reads the IDs given, or none with --all.
func conflictIDs(args []string, all bool, f conflictFilter) ([]int64, error) {
	switch {
	case all && len(args) > 0:
		return nil, fmt.Errorf("give conflict IDs or --all, not both")
	case !all && len(args) == 0:
		return nil, fmt.Errorf("give a conflict ID from 'tandem conflicts' (or several, or --all)")
	case !all && f != (conflictFilter{}):
		return nil, fmt.Errorf("--kind, --entity and --field go with --all")
	}
	var ids []int64
	for _, s := range args {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("conflict ID: want a number from 'tandem conflicts', got %q", s)
		}
		ids = append(ids, id)
	}
	return ids, nil
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
	store, err := openStore(cfg.State)
	if err != nil {
		return nil, err
	}
	return &app{cfg: cfg, store: store, engine: g.engine(store, nil)}, nil
}
