package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"tandem/conflict"
	"tandem/mapping"
	"tandem/mapping/config"
	"tandem/schedules"
	"tandem/state"
)

func backfillCmd(g *globals) *cobra.Command {
	var entity, system, since, format string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "backfill --entity E [--system S] [--since T] [--dry-run]",
		Short: "Read every record (or those changed since T) once, through the same merge",
		Long: `Read every record of an entity's systems (or of one, with --system), or those
modified since --since, and merge them as a pass would: the same matching,
policies, conflicts and writes. The incremental cursors are left alone.

A backfill keeps its own position, page by page: interrupted (Ctrl-C, a crash,
a failure), the same command resumes it after the last page it finished.
When 'tandem run' holds the state file, the backfill is handed to the daemon,
which runs it between its other work and within the same rate budget; this
command then follows its progress (Ctrl-C stops following, not the backfill).

On a terminal it shows a progress bar with the count and rate; otherwise a
log line every few seconds. With --dry-run it reads the systems but writes
nothing and changes no state (it works on a copy of the state file, as
'tandem plan' does) and lists what the backfill would write; it exits 2 when
that is something.

Like sync, it ends by naming what needs a person (writes failed for good,
records set aside, conflicts held) and exits 4 when some writes failed for
good, 1 when it failed to run.

--since takes a time (2026-11-01, 2026-11-01T08:00:00Z) or a duration back
from now (72h).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
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
			sms := ent.Systems
			if system != "" {
				sm := ent.System(system)
				if sm == nil {
					return fmt.Errorf("--system: entity %s has no system %q", ent.Name, system)
				}
				sms = []*mapping.System{sm}
			}
			t, err := parseSince(since, time.Now())
			if err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if dryRun {
				return g.backfillDryRun(ctx, cfg, ent, sms, t, format)
			}
			lock, err := state.TryLock(cfg.State, "tandem backfill")
			var held *state.LockError
			if errors.As(err, &held) && held.Held() {
				return g.handOver(ctx, cfg, ent, sms, t, format)
			}
			if err != nil {
				return err
			}
			defer lock.Unlock()
			a, err := g.open()
			if err != nil {
				return err
			}
			defer a.Close()
			mark, err := a.store.Mark(ctx)
			if err != nil {
				return err
			}
			var runs []state.Run
			for _, sm := range sms {
				b, err := a.store.RequestBackfill(ctx, ent.Name, sm.Name, sm.Object, t)
				if err != nil {
					return err
				}
				p := g.progress(b)
				run, err := schedules.Backfill(ctx, cfg, a.store, a.engine, g.log, b, p.update)
				p.finish()
				runs = append(runs, run)
				if err != nil {
					if ctx.Err() != nil {
						err = fmt.Errorf("backfill %d interrupted after %d records; run the same command to resume it", b.ID, p.last.Read)
					}
					return outcome(ctx, g.stdout, format, a.store, mark, runs, err)
				}
			}
			return outcome(ctx, g.stdout, format, a.store, mark, runs, nil)
		},
	}
	cmd.Flags().StringVar(&entity, "entity", "", "the entity to backfill (required)")
	cmd.Flags().StringVar(&system, "system", "", "only this system (default: each of the entity's, in turn)")
	cmd.Flags().StringVar(&since, "since", "", "only records modified since: a time, or a duration back from now")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "write nothing; list what the backfill would write")
	cmd.Flags().StringVar(&format, "format", "table", "output: table or json (with --dry-run, the writes; else one object: runs, needs_a_look, dead_writes, error, exit_code)")
	cmd.MarkFlagRequired("entity")
	return cmd
}

// parseSince reads --since: empty, an RFC 3339 time, a date, or a
// duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%q: a duration back from now must be positive", s)
		}
		return now.Add(-d).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want a time (2026-11-01 or 2026-11-01T08:00:00Z) or a duration (72h)", s)
}

// handOver asks the running daemon for the backfills and follows them.
func (g *globals) handOver(ctx context.Context, cfg *config.Config, ent *mapping.Entity, sms []*mapping.System, since time.Time, format string) error {
	store, err := openStore(cfg.State)
	if err != nil {
		return err
	}
	defer store.Close()
	g.note("%s runs on this state file: the backfill is handed to it", state.Holder(cfg.State))
	type handed struct {
		ID     int64  `json:"id"`
		System string `json:"system"`
		Object string `json:"object"`
		Read   int    `json:"read"`
		Status string `json:"status"`
	}
	done := []handed{}
	for _, sm := range sms {
		b, err := store.RequestBackfill(ctx, ent.Name, sm.Name, sm.Object, since)
		if err != nil {
			return err
		}
		p := g.progress(b)
		for b.Open() {
			select {
			case <-ctx.Done():
				p.finish()
				g.note("stopped following; the daemon goes on with backfill %d", b.ID)
				return nil
			case <-time.After(500 * time.Millisecond):
			}
			if b, err = store.Backfill(ctx, b.ID); err != nil {
				return err
			}
			p.update(*b)
		}
		p.finish()
		if b.Status != state.BackfillDone {
			return fmt.Errorf("backfill %d of %s %s: %s: %s", b.ID, sm.Name, sm.Object, b.Status, b.Error)
		}
		if format == "json" {
			done = append(done, handed{b.ID, sm.Name, sm.Object, b.Read, b.Status})
			continue
		}
		fmt.Fprintf(g.stdout, "backfill %d of %s %s done: %d records read\n", b.ID, sm.Name, sm.Object, b.Read)
	}
	if format == "json" {
		return writeJSON(g.stdout, map[string]any{"handed_to_daemon": done})
	}
	return nil
}

// backfillDryRun runs the backfills on a copy of the state file, writing
// nothing to any system, and lists what they would write.
func (g *globals) backfillDryRun(ctx context.Context, cfg *config.Config, ent *mapping.Entity, sms []*mapping.System, since time.Time, format string) error {
	eng, store, done, err := g.onCopy(cfg)
	if err != nil {
		return err
	}
	defer done()
	for _, sm := range sms {
		b, err := store.RequestBackfill(ctx, ent.Name, sm.Name, sm.Object, since)
		if err != nil {
			return err
		}
		p := g.progress(b)
		_, err = eng.Backfill(ctx, ent, b, p.update)
		p.finish()
		if err != nil {
			return err
		}
	}
	changes, err := eng.Planned(ctx, ent)
	if err != nil {
		return err
	}
	if changes == nil {
		changes = []conflict.Change{}
	}
	return writeChanges(g, format, changes, "the backfill would write changes")
}

// progress shows a backfill going: a bar with the count and rate on a
// terminal, a log line every 5 s otherwise.
type progress struct {
	bar   *progressbar.ProgressBar
	g     *globals
	last  state.Backfill
	start time.Time
	base  int // read before this run (a resumed backfill)
	shown time.Time
}

func (g *globals) progress(b *state.Backfill) *progress {
	p := &progress{g: g, last: *b, start: time.Now(), base: b.Read, shown: time.Now()}
	if f, ok := g.stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) && g.notes == nil {
		p.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(g.stderr),
			progressbar.OptionSetDescription(fmt.Sprintf("backfill %s %s", b.System, b.Object)),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("records"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionClearOnFinish())
		p.bar.Set64(int64(b.Read))
	}
	return p
}

func (p *progress) update(b state.Backfill) {
	p.last = b
	if p.bar != nil {
		p.bar.Set64(int64(b.Read))
		return
	}
	if time.Since(p.shown) >= 5*time.Second {
		p.shown = time.Now()
		p.line()
	}
}

// line is the plain progress line written when stderr is not a terminal.
func (p *progress) line() {
	secs := time.Since(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(p.last.Read-p.base) / secs
	}
	p.g.note("backfill %d %s %s: %d records read, %d pages, %.0f records/s",
		p.last.ID, p.last.System, p.last.Object, p.last.Read, p.last.Pages, rate)
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		return
	}
	p.line()
}
