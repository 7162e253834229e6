package schedules

import (
	"context"
	"sync"

	"tandem/connectors"
	"tandem/mapping"
)

// followLoop runs a pass over an entity as soon as one of its systems
// that can follow its changes (connectors.Follower: a database's
// replication slot) says it holds new ones, rather than at the next
// scheduled pass. Signals that come while a pass runs make one more pass
// after it; the engine runs passes one at a time.
func (d *Daemon) followLoop(ctx context.Context, stop <-chan struct{}) {
	fctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for _, ent := range d.Config.Entities {
		kick := make(chan struct{}, 1)
		following := 0
		for _, sm := range ent.Systems {
			f, ok := d.Engine.Systems[sm.Name].(connectors.Follower)
			if !ok {
				continue
			}
			following++
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := f.Follow(fctx, sm.Object, func() {
					select {
					case kick <- struct{}{}:
					default:
					}
				})
				if err != nil {
					d.Log.Warn("stopped following changes; passes run on the schedule", "system", sm.Name, "object", sm.Object, "err", err)
				}
			}()
		}
		if following > 0 {
			wg.Add(1)
			go func() { defer wg.Done(); d.passOnKick(fctx, ctx, ent, kick) }()
		}
	}
	select {
	case <-stop:
	case <-ctx.Done():
	}
}

// passOnKick runs a pass over ent each time kick fires, until done.
func (d *Daemon) passOnKick(done, work context.Context, ent *mapping.Entity, kick <-chan struct{}) {
	for {
		select {
		case <-done.Done():
			return
		case <-kick:
		}
		if d.stopping.Load() {
			return
		}
		d.Log.Info("changes waiting: pass now", "entity", ent.Name)
		d.pass(work, ent)
	}
}
