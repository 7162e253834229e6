package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"tandem/conflict"
	"tandem/mapping"
	"tandem/state"
)

func syncCmd(g *globals) *cobra.Command {
	var entity, format string
	var sandbox, force bool
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Run one incremental pass now, then exit",
		Long: `Run one incremental pass over every entity (or one, with --entity): pull what
changed in each system since the last pass, merge it, and write the result to
the other systems. After the table of what each system did, it names what
needs a person: writes that failed for good, records set aside as unreadable,
fields held, identity conflicts opened, deletes quarantined (each kind once,
with a count and an example). The log on stderr does the same: a warning
repeated with the same error is one line with a "count" and the first as
the example, and the error that stopped the pass is said once, as the last
line.

Exits 0 when the pass is done, 1 with the reason when a step failed (what was
done is kept; the next pass resumes from there), 4 when the pass ran but some
writes failed for good (kept as dead letters: 'tandem deadletters list'), and
3 when a guard stopped it: the pass would delete more than the entity's
deletes.max_share of a system's records. No delete is sent then (the other
writes are); look at the deletes with 'tandem conflicts --kind delete --all'
and run again with --force to let them through.

With --sandbox, no config is needed: Tandem starts emulated HubSpot and
Salesforce servers and a custom CRM on loopback, seeded with overlapping
contacts and companies (each contact's company a reference), and shows the
sync between them step by step.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			if sandbox {
				return g.sandboxDemo(ctx)
			}
			cfg, err := loadConfig(g)
			if err != nil {
				return err
			}
			lock, err := state.TryLock(cfg.State, "tandem sync")
			if err != nil {
				return err
			}
			defer lock.Unlock()
			a, err := g.open()
			if err != nil {
				return err
			}
			defer a.Close()
			a.engine.Force = force
			if force {
				subject := "sync"
				if entity != "" {
					subject += " --entity " + entity
				}
				if err := audit(ctx, a.store, "force", subject, "deletes beyond deletes.max_share let through"); err != nil {
					return err
				}
			}
			mark, err := a.store.Mark(ctx)
			if err != nil {
				return err
			}
			runs, err := a.sync(ctx, entity)
			return outcome(ctx, g.stdout, format, a.store, mark, runs, err)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json (one object: runs, needs_a_look, dead_writes, error, exit_code)")
	cmd.Flags().StringVar(&entity, "entity", "", "sync only this entity")
	cmd.Flags().BoolVar(&force, "force", false, "let through deletes beyond deletes.max_share")
	cmd.Flags().BoolVar(&sandbox, "sandbox", false, "run a demonstration on emulated systems, without a config")
	return cmd
}

// sync runs one pass over the named entity, or all of them.
func (a *app) sync(ctx context.Context, entity string) ([]state.Run, error) {
	ents := a.cfg.Entities
	if entity != "" {
		e, ok := a.cfg.Entity(entity)
		if !ok {
			return nil, fmt.Errorf("no entity %q in %s", entity, a.cfg.File)
		}
		ents = []*mapping.Entity{e}
	}
	var all []state.Run
	var errs []error
	for _, e := range ents {
		runs, err := a.engine.Sync(ctx, e)
		all = append(all, runs...)
		if err != nil {
			errs = append(errs, fmt.Errorf("entity %s: %w", e.Name, err))
		}
	}
	return all, errors.Join(errs...)
}

func printRuns(w io.Writer, runs []state.Run) {
	if len(runs) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tSYSTEM\tOBJECT\tPULLED\tWRITTEN\tFAILED\tERROR")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", r.Entity, r.System, r.Object, r.Pulled, r.Written, r.Failed, r.Error)
	}
	tw.Flush()
}

// outcome prints a pass's runs and what needs a person since mark, as a
// table or as JSON, and turns the outcome of the pass into the command's
// error: the guard's code 3, a failure's 1, and, for a pass that ran but
// left writes that failed for good, 4.
func outcome(ctx context.Context, w io.Writer, format string, store *state.Store, mark state.Mark, runs []state.Run, err error) error {
	att, aerr := store.AttentionSince(ctx, mark)
	if aerr != nil {
		err = errors.Join(err, fmt.Errorf("summary: %w", aerr))
	}
	result := exitFor(err, att)
	if format == "json" {
		out := passJSON{Runs: nonNil(runs), NeedsALook: nonNil(att.Problems), DeadWrites: att.DeadWrites, ExitCode: exitOK}
		if result != nil {
			out.Error, out.ExitCode = result.Error(), exitFailed
			var ee *exitError
			if errors.As(result, &ee) {
				out.ExitCode = ee.code
			}
		}
		if jerr := writeJSON(w, out); jerr != nil {
			return errors.Join(result, jerr)
		}
		return result
	}
	printRuns(w, runs)
	if len(att.Problems) > 0 {
		fmt.Fprintln(w, "\nNeeds a look:")
		for _, p := range att.Problems {
			fmt.Fprintln(w, "  "+p.String())
		}
		fmt.Fprintln(w, "  (tandem conflicts lists what is held; tandem deadletters list what was set aside)")
	}
	return result
}

// passJSON is a pass's outcome in --format json.
type passJSON struct {
	Runs       []state.Run     `json:"runs"`
	NeedsALook []state.Problem `json:"needs_a_look"`
	DeadWrites int             `json:"dead_writes"`
	Error      string          `json:"error,omitempty"`
	ExitCode   int             `json:"exit_code"`
}

func exitFor(err error, att state.Attention) error {
	var guard *conflict.GuardError
	switch {
	case errors.As(err, &guard):
		return &exitError{code: exitGuard, err: err}
	case err != nil:
		return err
	case att.DeadWrites > 0:
		return &exitError{code: exitWriteFailed, err: fmt.Errorf("writes failed for good and were set aside: %d", att.DeadWrites)}
	}
	return nil
}
