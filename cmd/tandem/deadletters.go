package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"tandem/conflict"
	"tandem/mapping"
	"tandem/mapping/config"
	"tandem/state"
)

func deadlettersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deadletters",
		Short: "List, show, retry or discard what was set aside for a person",
		Long: `Dead letters are what a pass set aside for a person: writes that failed for
good (w12: a value the mapping cannot write, a record the system refuses)
and records that could not be read (r3: not JSON, a value of the wrong type).
'tandem status' counts them; this command lists them, shows one whole, tries
them again or forgets them.

  tandem deadletters list [--format table|json]
  tandem deadletters show ID [--format text|json]
  tandem deadletters retry ID... | --all [--queue]
  tandem deadletters discard ID...

list and show read the state file only (read-only) and contact no system, so
they need none of the systems' credentials; neither does retry --queue.`,
	}
	cmd.AddCommand(deadListCmd(g), deadShowCmd(g), deadRetryCmd(g), deadDiscardCmd(g))
	return cmd
}

// readStore opens the config's state file read-only, for the commands
// that change nothing: they need neither the credentials of any system
// nor write access to the file or its directory.
func (g *globals) readStore() (*config.Config, *state.Store, error) {
	cfg, err := loadOffline(g)
	if err != nil {
		return nil, nil, err
	}
	store, err := openStoreReadOnly(cfg.State)
	if err != nil {
		return nil, nil, err
	}
	return cfg, store, nil
}

func deadListCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the dead letters: what failed, where, when and why",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			cfg, store, err := g.readStore()
			if err != nil {
				return err
			}
			defer store.Close()
			ds, err := store.DeadLetters(cmd.Context())
			if err != nil {
				return err
			}
			for i := range ds {
				conflict.MaskDeadLetter(cfg, &ds[i])
			}
			if format == "json" {
				return writeJSON(g.stdout, nonNil(ds))
			}
			if len(ds) == 0 {
				fmt.Fprintln(g.stdout, "no dead letters")
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tSYSTEM\tOBJECT\tRECORD\tFAILED\tREASON")
			for _, d := range ds {
				rec := d.RecordID
				if rec == "" {
					rec = "(create)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Kind, d.System, d.Object, rec,
					d.Failed.Local().Format(time.DateTime), clip(d.Reason, 60))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, "\n(tandem deadletters show ID for one whole; retry ID... or --all; discard ID...)")
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func deadShowCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one dead letter whole: its reason and the values sent, or the payload read",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format, "text", "json"); err != nil {
				return err
			}
			if _, _, err := state.ParseDeadLetterID(args[0]); err != nil {
				return err
			}
			cfg, store, err := g.readStore()
			if err != nil {
				return err
			}
			defer store.Close()
			d, err := store.DeadLetter(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if d == nil {
				return fmt.Errorf("no dead letter %s (tandem deadletters list shows them)", args[0])
			}
			conflict.MaskDeadLetter(cfg, d)
			if format == "json" {
				return writeJSON(g.stdout, d)
			}
			return showDeadLetter(g.stdout, d)
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

func showDeadLetter(w io.Writer, d *state.DeadLetter) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("id", d.ID)
	row("kind", d.Kind)
	row("entity", strings.TrimSpace(d.Entity+" "+d.EntityID))
	row("system", d.System+" "+d.Object)
	row("record", d.RecordID)
	if d.Kind == state.DeadWrite {
		row("attempts", fmt.Sprint(d.Attempts))
		row("queued", d.Created.Local().Format(time.DateTime))
	}
	row("failed", d.Failed.Local().Format(time.DateTime))
	row("reason", d.Reason)
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case d.Kind == state.DeadWrite && len(d.Sent) == 0:
		fmt.Fprintln(w, "\nnothing was sent (it failed before the write left)")
	case d.Kind == state.DeadWrite:
		fmt.Fprintln(w, "\nvalues sent, by field:")
		fields := make([]string, 0, len(d.Sent))
		for f := range d.Sent {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			var vs []string
			for _, v := range d.Sent[f] {
				vs = append(vs, plain(v))
			}
			fmt.Fprintf(w, "  %s: %s\n", f, strings.Join(vs, " | "))
		}
	case len(d.Raw) > 0:
		var buf bytes.Buffer
		if json.Indent(&buf, d.Raw, "  ", "  ") != nil {
			buf.Reset()
			buf.Write(d.Raw)
		}
		fmt.Fprintf(w, "\npayload read:\n  %s\n", buf.String())
	default:
		fmt.Fprintf(w, "\npayload read (not JSON):\n  %q\n", d.RawText)
	}
	if d.Kind == state.DeadWrite {
		fmt.Fprintln(w, "\nA retry plans the write again from the current record, not from what was sent.")
	}
	return nil
}

func deadRetryCmd(g *globals) *cobra.Command {
	var all, queue bool
	cmd := &cobra.Command{
		Use:   "retry [ID...|--all]",
		Short: "Try dead letters again: plan writes afresh, read records again",
		Long: `Try dead letters again. A write is planned afresh from the entity's record as
it is now (as a pass would), never from what failed: what was sent before,
or failed to map, is not reused, and a record that agrees already needs no
write. A record set aside is fetched again by its id and read through the
current mapping, as for a webhook.

Then the records are read and the writes sent, at once, with whatever
else waits in the outbox of the entities concerned (as the daemon's writer
would send it): this needs the systems' credentials. With --queue they are
only queued, for the next pass (tandem sync, or the daemon) to send; no
system is contacted and no credential is needed.

Exits 0 when all went through, 4 when a write failed for good again (it is a
dead letter again, with its new reason), 1 when a step failed.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return errors.New("name the dead letters to retry, or --all (not both)")
			}
			return g.deadRetry(cmd.Context(), args, queue)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "retry every dead letter")
	cmd.Flags().BoolVar(&queue, "queue", false, "only queue them for the next pass; contact no system")
	return cmd
}

func (g *globals) deadRetry(ctx context.Context, ids []string, queue bool) error {
	for _, id := range ids {
		if _, _, err := state.ParseDeadLetterID(id); err != nil {
			return err
		}
	}
	load := loadConfig
	if queue {
		load = loadOffline // no system is contacted
	}
	cfg, err := load(g)
	if err != nil {
		return err
	}
	lock, err := state.TryLock(cfg.State, "tandem deadletters retry")
	if err != nil {
		return err
	}
	defer lock.Unlock()
	store, err := openStore(cfg.State)
	if err != nil {
		return err
	}
	defer store.Close()
	var ds []state.DeadLetter
	if len(ids) == 0 {
		if ds, err = store.DeadLetters(ctx); err != nil {
			return err
		}
	}
	for _, id := range ids {
		d, err := store.DeadLetter(ctx, id)
		if err != nil {
			return err
		}
		if d == nil {
			return fmt.Errorf("no dead letter %s (tandem deadletters list shows them)", id)
		}
		ds = append(ds, *d)
	}
	mark, err := store.Mark(ctx)
	if err != nil {
		return err
	}
	eng := g.engine(store, nil)
	touched := map[*mapping.Entity]bool{}
	for _, d := range ds {
		ent := conflict.EntityOf(cfg, d)
		if ent == nil && len(ids) == 0 {
			_, err := eng.Retry(ctx, cfg, d, actor()) // says why
			fmt.Fprintf(g.stdout, "%s: skipped: %v\n", d.ID, err)
			continue
		}
		msg, err := eng.Retry(ctx, cfg, d, actor())
		if err != nil {
			return err
		}
		touched[ent] = true
		fmt.Fprintf(g.stdout, "%s: %s\n", d.ID, msg)
	}
	if queue || len(ds) == 0 {
		if len(ds) > 0 {
			fmt.Fprintln(g.stdout, "queued: the next pass sends them (tandem sync, or the daemon)")
		} else {
			fmt.Fprintln(g.stdout, "no dead letters")
		}
		return nil
	}
	if eng.Systems, err = g.openSystems(cfg); err != nil {
		return fmt.Errorf("%w (the retries are queued: the next pass sends them)", err)
	}
	var runs []state.Run
	var errs []error
	for _, ent := range cfg.Entities {
		if !touched[ent] {
			continue
		}
		rs, err := eng.Inbox(ctx, ent)
		runs = append(runs, rs...)
		errs = append(errs, err)
		rs, err = eng.Drain(ctx, ent, state.RunWrite)
		runs = append(runs, rs...)
		errs = append(errs, err)
	}
	return outcome(ctx, g.stdout, "table", store, mark, runs, errors.Join(errs...))
}

func deadDiscardCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "discard ID...",
		Short: "Forget dead letters: the write is not made, the record is not read",
		Long: `Forget dead letters. A write discarded is not made (a later change to the
record queues a new one); a record discarded stays unread until it changes
in its system again. Contacts no system.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, id := range args {
				if _, _, err := state.ParseDeadLetterID(id); err != nil {
					return err
				}
			}
			cfg, err := loadConfig(g)
			if err != nil {
				return err
			}
			lock, err := state.TryLock(cfg.State, "tandem deadletters discard")
			if err != nil {
				return err
			}
			defer lock.Unlock()
			store, err := openStore(cfg.State)
			if err != nil {
				return err
			}
			defer store.Close()
			err = g.engine(store, nil).Discard(cmd.Context(), actor(), args...)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "discarded %d\n", len(args))
			return nil
		},
	}
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// nonNil makes an empty list print as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// clip shortens s to n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// plain shows a value as a person reads it: a string bare, others as JSON.
func plain(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if v == nil {
		return "(empty)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
