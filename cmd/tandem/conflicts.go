package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tandem"
	"tandem/conflict"
	"tandem/conflict/report"
)

func conflictsCmd(g *globals) *cobra.Command {
	var format, output, entity, kind string
	var all bool
	kinds := []string{tandem.ConflictField, tandem.ConflictIdentity, tandem.ConflictDelete, tandem.ConflictValue}
	cmd := &cobra.Command{
		Use:   "conflicts",
		Short: "Report the conflicts held for a person (or all of them, with --all)",
		Long: `Report the conflicts Tandem recorded: fields changed differently in several
systems, records that match more than one entity (identity), deletes, and
values a system holds that the mapping cannot read (value: that field of
that record is held, neither read nor written, until it is fixed in the
system; the next pass that reads it fixed closes the conflict).
By default only the open ones, held until a person decides them with
tandem resolve; --all adds those a person resolved and those the policy
decided (status auto).

A reference (a contact's company: a field of type ref) holds its target's
entity id; the table and the page show it with the target's name, read
from its golden record (its entity's name, title, domain or email field,
the first it has, else its first match key): Acme (company 7d3f2a10…).
JSON keeps the id as the value and adds "display": {entity id: name}.

Formats:
  table  one line per conflict, values cut to fit (the default)
  json   every conflict in full, as an array; [] when there are none
  csv    one row per conflict and system, for a spreadsheet; a cell that
         would start with = + - or @ starts with ' so it is never a formula
  html   one self-contained page (no network) with filters by entity, kind,
         status and text; -o to write it to a file and open it in a browser

Reads the state file only (opened read-only) and contacts no system, so the
systems' credentials need not be set. Before the first sync there is no
state file, and so no conflicts.`,
		Example: `  tandem conflicts
  tandem conflicts --all --format html -o conflicts.html
  tandem conflicts --entity contact --kind field --format csv -o conflicts.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, report.Formats...); err != nil {
				return err
			}
			if kind != "" && !slices.Contains(kinds, kind) {
				return fmt.Errorf("--kind: want %s, got %q", strings.Join(kinds, ", "), kind)
			}
			cfg, err := loadOffline(g)
			if err != nil {
				return err
			}
			if _, ok := cfg.Entity(entity); entity != "" && !ok {
				return fmt.Errorf("--entity: no entity %q in %s", entity, cfg.File)
			}
			var cs []tandem.Conflict
			who := map[string]string{}
			var refs map[string]report.Ref
			store, err := openStoreReadOnly(cfg.State)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				// No sync has run: nothing can have conflicted yet.
				g.note("state file %s not created yet (no sync has run): no conflicts", cfg.State)
			case err != nil:
				return err
			default:
				defer store.Close()
				if cs, err = store.Conflicts(cmd.Context(), !all); err != nil {
					return fmt.Errorf("state %s: %w", cfg.State, err)
				}
				cs = slices.DeleteFunc(cs, func(c tandem.Conflict) bool {
					return (entity != "" && c.Entity != entity) || (kind != "" && c.Kind != kind)
				})
				cs = cfg.MaskConflicts(cs) // fields marked sensitive: true
				if format == "html" {
					if who, err = conflict.WhoIs(cmd.Context(), store, cfg, cs); err != nil {
						return fmt.Errorf("state %s: %w", cfg.State, err)
					}
				}
				// A reference (a contact's company) shows its target's name.
				if refs, err = report.RefNames(cmd.Context(), store, cfg, cs); err != nil {
					return fmt.Errorf("state %s: %w", cfg.State, err)
				}
			}
			var b bytes.Buffer
			if format == "html" {
				err = report.WriteHTML(&b, cs, report.Options{Generated: time.Now(), Source: cfg.State, Who: who, Config: cfg.File, Link: cfg.RecordURL, Refs: refs})
			} else {
				err = report.WriteWith(&b, format, cs, report.Options{Refs: refs})
			}
			if err != nil {
				return err
			}
			if output == "" {
				_, err = g.stdout.Write(b.Bytes())
				return err
			}
			if err := writeAtomic(output, b.Bytes()); err != nil {
				return fmt.Errorf("-o: %w", err)
			}
			g.note("wrote %s", output)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output: "+strings.Join(report.Formats, ", "))
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the report to this file (replaced whole, never half-written) instead of stdout")
	cmd.Flags().BoolVar(&all, "all", false, "include resolved and auto-decided conflicts, not only open ones")
	cmd.Flags().StringVar(&entity, "entity", "", "only conflicts of this entity")
	cmd.Flags().StringVar(&kind, "kind", "", "only conflicts of this kind: "+strings.Join(kinds, ", "))
	return cmd
}

// writeAtomic replaces path with data through a temporary file in the same
// directory and a rename, so a reader (a browser reloading the report, a
// sheet importing it) never sees half a file. An existing file keeps its
// mode; a new one is 0600, since a report holds the records' values.
func writeAtomic(path string, data []byte) (err error) {
	mode := fs.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", path)
		}
		mode = st.Mode().Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
