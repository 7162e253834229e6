package schedules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"tandem/conflict"
	"tandem/mapping/config"
	"tandem/state"
)

// backfillLoop runs the backfills asked for while the daemon runs (`tandem
// backfill` hands them over, so they share the daemon's rate budget and
// its turn), one at a time, and resumes those a stop interrupted.
func (d *Daemon) backfillLoop(ctx context.Context, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		bs, err := d.Store.OpenBackfills(ctx)
		if err != nil {
			d.Log.Warn("backfills not read", "err", err)
			continue
		}
		for _, b := range bs {
			if d.stopping.Load() {
				return
			}
			start := time.Now()
			run, _ := Backfill(ctx, d.Config, d.Store, d.Engine, d.Log, b, nil)
			d.Metrics.runs([]state.Run{run}, time.Since(start))
		}
	}
}

// Backfill runs one backfill to its end, then writes what it merged: the
// daemon runs the ones asked of it, and `tandem backfill` runs one itself
// when no daemon holds the state file. Its run is recorded. When ctx ends
// first (a shutdown), the backfill stays running, to resume from its last
// page; another failure marks it failed, and asking again resumes it from
// there too.
func Backfill(ctx context.Context, cfg *config.Config, store *state.Store, eng *conflict.Engine, log *slog.Logger,
	b *state.Backfill, progress func(state.Backfill)) (state.Run, error) {
	ent, ok := cfg.Entity(b.Entity)
	if !ok {
		err := fmt.Errorf("backfill %d: no entity %q in %s", b.ID, b.Entity, cfg.File)
		return state.Run{}, errors.Join(err, store.SetBackfill(ctx, b.ID, state.BackfillFailed, err.Error()))
	}
	if err := store.SetBackfill(ctx, b.ID, state.BackfillRunning, ""); err != nil {
		return state.Run{}, err
	}
	log = log.With("backfill", b.ID, "entity", b.Entity, "system", b.System, "object", b.Object)
	log.Info("backfill started", "since", b.Since, "resumed_after", b.Read)
	run, err := eng.Backfill(ctx, ent, b, progress)
	if err == nil {
		var written []state.Run
		written, err = eng.Drain(ctx, ent, state.RunBackfill)
		for _, w := range written {
			if w.System == run.System {
				run.Written, run.Failed = run.Written+w.Written, run.Failed+w.Failed
			}
		}
		var guard *conflict.GuardError
		if errors.As(err, &guard) {
			log.Warn("backfill done; its deletes wait for --force", "err", err)
			err = nil
		}
	}
	run.Finished = time.Now()
	if run.Error == "" && err != nil {
		run.Error = err.Error()
	}
	bg := context.WithoutCancel(ctx)
	if aerr := store.AddRun(bg, run); aerr != nil {
		log.Error("run not recorded", "err", aerr)
	}
	switch {
	case err == nil:
		log.Info("backfill done", "read", run.Pulled, "written", run.Written)
		return run, store.SetBackfill(bg, b.ID, state.BackfillDone, "")
	case ctx.Err() != nil:
		log.Info("backfill interrupted; it resumes after its last page", "read", run.Pulled)
		return run, err
	default:
		log.Error("backfill failed; asking again resumes it", "err", err)
		return run, errors.Join(err, store.SetBackfill(bg, b.ID, state.BackfillFailed, err.Error()))
	}
}
