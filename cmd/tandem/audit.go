package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"tandem/state"
)

// actor is who runs this command, for the audit trail: the OS user.
func actor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if name := os.Getenv("USER"); name != "" {
		return name
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}

// audit records a person's decision that is not carried out in a
// transaction of its own (sync --force: the decision is the flag).
func audit(ctx context.Context, store *state.Store, action, subject, detail string) error {
	return store.Update(ctx, func(tx *state.Tx) error {
		return tx.Audit(ctx, state.AuditEntry{Actor: actor(), Action: action, Subject: subject, Detail: detail})
	})
}

func auditCmd(g *globals) *cobra.Command {
	var format string
	var limit int
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List the decisions people made: resolves, dead-letter retries and discards, forced passes",
		Long: `List the audit trail, newest first: every decision a person made through
Tandem — a conflict resolved (tandem resolve), a dead letter retried or
discarded, a pass forced past the mass-delete guard (sync --force) — with who
(the OS user), when and what. A resolve, a retry or a discard and its audit line
are written in one transaction; a forced pass is recorded before it runs. The state file is opened
read-only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format: want table or json, got %q", format)
			}
			cfg, err := loadConfig(g)
			if err != nil {
				return err
			}
			var entries []state.AuditEntry
			store, err := openStoreReadOnly(cfg.State)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				fmt.Fprintf(g.stderr, "state file %s not created yet (no sync has run): no decisions\n", cfg.State)
			case err != nil:
				return err
			default:
				defer store.Close()
				if entries, err = store.AuditLog(cmd.Context(), limit); err != nil {
					return fmt.Errorf("state %s: %w", cfg.State, err)
				}
			}
			if format == "json" {
				if entries == nil {
					entries = []state.AuditEntry{}
				}
				return writeJSON(g.stdout, entries)
			}
			if len(entries) == 0 {
				_, err := fmt.Fprintln(g.stdout, "no decisions recorded")
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tWHEN\tWHO\tACTION\tSUBJECT\tDETAIL")
			for _, e := range entries {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.UTC().Format(time.DateTime+" UTC"), e.Actor, e.Action, e.Subject, e.Detail)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output: table or json")
	cmd.Flags().IntVar(&limit, "limit", 0, "show at most this many, newest first (0: all)")
	return cmd
}
