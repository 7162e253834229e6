// Package schedules is the daemon: cron jobs per entity (incremental
// passes on `schedule`, reconciliation sweeps on `reconcile`), the worker
// that merges webhook events from the inbox, the writer that drains the
// outbox, the passes run at once when a followed system holds changes
// (a database's replication slot: follow.go), the backfills asked for
// with `tandem backfill`, the HTTP servers (webhooks on the public
// listener; /healthz, /metrics and the console on the admin listener, or
// on the public one when there is none) and graceful shutdown.
//
// Every piece of work goes through the one Engine, which gives one
// operation at a time its turn (a pass, a batch of webhook events, a page
// of a sweep or backfill), so they interleave without running over each
// other.
package schedules

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"golang.org/x/net/netutil"

	"tandem/conflict"
	"tandem/mapping"
	"tandem/mapping/config"
	"tandem/state"
)

// Daemon runs Tandem as a service. Set the exported fields, then Run.
type Daemon struct {
	Config  *config.Config
	Store   *state.Store
	Engine  *conflict.Engine // its Systems are the daemon's
	Log     *slog.Logger
	Metrics *Metrics // NewMetrics; nil: none kept

	// Listener serves webhooks, and /healthz and /metrics when there is
	// no Admin listener; nil: no server.
	Listener net.Listener
	// Admin, when set, is the admin listener, apart from the public one:
	// it serves /healthz, /metrics and the Console. Only people who run
	// the daemon should reach it (loopback, or behind a proxy).
	Admin net.Listener
	// Console serves the conflict console on Admin (everything but
	// /healthz and /metrics); nil: none.
	Console http.Handler
	// PublicURL is the scheme and host senders call, as they sign it
	// ("https://sync.example.com"); empty: taken from each request.
	PublicURL string

	// Coalesce is how long the inbox worker waits after the first event of
	// a burst for more (default 10ms): one fetch then covers them all.
	Coalesce time.Duration
	// DrainEvery is how often the writer retries what waits in the outbox
	// (default 2s).
	DrainEvery time.Duration
	// MaxConns caps the connections the listener serves at once (default
	// 256); more wait in the kernel's backlog. ReadTimeout bounds the
	// reading of one request, body included (default 30s), so a sender
	// that stops half way is cut off: together they keep a flood of slow
	// or idle connections from holding every file descriptor, the state
	// file's included.
	MaxConns    int
	ReadTimeout time.Duration

	// Grace is how long work in flight may take to finish on shutdown
	// before it is cancelled (default 20s). Cancelled work is safe: every
	// step is a transaction, and the outbox keeps what was not written.
	Grace time.Duration

	wake     chan struct{} // an inbox delivery arrived
	stopping atomic.Bool
	cron     *cron.Cron
	started  time.Time

	mu   sync.Mutex
	jobs map[string]*jobState // by entity + "/" + kind
}

// jobState is how a scheduled job last went, for /healthz.
type jobState struct {
	entity, kind string
	entry        cron.EntryID
	running      bool
	last         time.Time // when the last run finished
	err          string
}

func (d *Daemon) defaults() {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Coalesce <= 0 {
		d.Coalesce = 10 * time.Millisecond
	}
	if d.DrainEvery <= 0 {
		d.DrainEvery = 2 * time.Second
	}
	if d.Grace <= 0 {
		d.Grace = 20 * time.Second
	}
	if d.MaxConns <= 0 {
		d.MaxConns = 256
	}
	if d.ReadTimeout <= 0 {
		d.ReadTimeout = 30 * time.Second
	}
	d.wake = make(chan struct{}, 1)
	d.jobs = map[string]*jobState{}
	d.started = time.Now()
}

// Run runs the daemon until ctx is done, then shuts down: it stops taking
// webhooks and starting work, lets what is in flight finish for up to
// Grace, cancels what is left, and returns nil. An error is returned only
// when the daemon cannot start.
func (d *Daemon) Run(ctx context.Context) error {
	d.defaults()
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	d.cronInit()
	if err := d.schedule(work); err != nil {
		return err
	}
	var srvs []*http.Server
	serveErr := make(chan error, 2)
	for _, s := range []struct {
		l net.Listener
		h func() http.Handler
	}{{d.Listener, d.Handler}, {d.Admin, d.AdminHandler}} {
		if s.l == nil {
			continue
		}
		srv := &http.Server{
			Handler:           s.h(),
			ReadHeaderTimeout: min(10*time.Second, d.ReadTimeout),
			ReadTimeout:       d.ReadTimeout,
			WriteTimeout:      d.ReadTimeout + 30*time.Second,
			IdleTimeout:       2 * d.ReadTimeout,
		}
		srvs = append(srvs, srv)
		l := netutil.LimitListener(s.l, d.MaxConns)
		go func() { serveErr <- srv.Serve(l) }()
	}
	var loops sync.WaitGroup
	stop := make(chan struct{})
	for _, loop := range []func(context.Context, <-chan struct{}){d.inboxLoop, d.writerLoop, d.backfillLoop, d.pruneLoop, d.followLoop} {
		loops.Add(1)
		go func() { defer loops.Done(); loop(work, stop) }()
	}
	d.cron.Start()
	d.Log.Info("daemon started", "entities", len(d.Config.Entities), "listen", listenAddr(d.Listener), "admin", listenAddr(d.Admin))

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		d.Log.Error("http server stopped", "err", err)
	}
	d.Log.Info("shutting down: no new work; waiting for work in flight", "grace", d.Grace)
	d.stopping.Store(true)
	for _, srv := range srvs {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	close(stop)
	cronDone := d.cron.Stop()
	done := make(chan struct{})
	go func() { loops.Wait(); <-cronDone.Done(); close(done) }()
	select {
	case <-done:
	case <-time.After(d.Grace):
		d.Log.Warn("work in flight cancelled at the end of the grace period; it resumes on the next start")
		cancelWork()
		<-done
	}
	d.Log.Info("daemon stopped")
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func listenAddr(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// cronInit makes the daemon's clock: UTC, a panicking job recovered and
// logged, a job still running when it is due again skipped.
func (d *Daemon) cronInit() {
	d.cron = cron.New(cron.WithLocation(time.UTC), cron.WithLogger(cronLogger{d.Log}),
		cron.WithChain(cron.Recover(cronLogger{d.Log}), cron.SkipIfStillRunning(cronLogger{d.Log})))
}

// schedule adds each entity's cron jobs.
func (d *Daemon) schedule(work context.Context) error {
	for _, ent := range d.Config.Entities {
		sched := d.Config.Schedules[ent.Name]
		for _, j := range []struct {
			kind, spec string
			run        func(context.Context, *mapping.Entity) error
		}{
			{state.RunSync, sched.Sync, d.pass},
			{state.RunReconcile, sched.Reconcile, d.reconcile},
		} {
			if j.spec == "" {
				continue
			}
			js := &jobState{entity: ent.Name, kind: j.kind}
			id, err := d.cron.AddFunc(j.spec, func() {
				if d.stopping.Load() {
					return
				}
				d.locked(func() { js.running = true })
				err := j.run(work, ent)
				d.locked(func() {
					js.running, js.last, js.err = false, time.Now(), ""
					if err != nil {
						js.err = err.Error()
					}
				})
			})
			if err != nil {
				return err // specs are checked at load: this is a bug
			}
			js.entry = id
			d.jobs[ent.Name+"/"+j.kind] = js
		}
	}
	return nil
}

// locked runs fn holding the daemon's lock on its jobs' states.
func (d *Daemon) locked(fn func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn()
}

// pass runs one scheduled incremental pass over an entity.
func (d *Daemon) pass(ctx context.Context, ent *mapping.Entity) error {
	start := time.Now()
	runs, err := d.Engine.Sync(ctx, ent)
	d.Metrics.runs(runs, time.Since(start))
	if err != nil {
		d.Log.Error("pass failed", "entity", ent.Name, "err", err)
	}
	return err
}

// reconcile runs one sweep over an entity, then writes what it repaired.
func (d *Daemon) reconcile(ctx context.Context, ent *mapping.Entity) error {
	start := time.Now()
	runs, err := d.Engine.Reconcile(ctx, ent)
	written, derr := d.Engine.Drain(ctx, ent, state.RunReconcile)
	for i := range runs {
		for _, w := range written {
			if w.System == runs[i].System {
				runs[i].Written, runs[i].Failed = runs[i].Written+w.Written, runs[i].Failed+w.Failed
			}
		}
		if aerr := d.Store.AddRun(ctx, runs[i]); aerr != nil {
			d.Log.Error("run not recorded", "err", aerr)
		}
		d.Metrics.drift(runs[i])
	}
	d.Metrics.runs(runs, time.Since(start))
	err = errors.Join(err, derr)
	if err != nil {
		d.Log.Error("reconcile failed", "entity", ent.Name, "err", err)
	}
	return err
}

// Wake tells the inbox worker events arrived.
func (d *Daemon) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// inboxLoop merges webhook events: woken by each delivery (and once a
// second, for events left by a failure or a restart), it waits Coalesce
// for the rest of a burst, merges, and writes what follows at once.
func (d *Daemon) inboxLoop(ctx context.Context, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-d.wake:
		case <-tick.C:
		}
		select {
		case <-stop:
			return
		case <-time.After(d.Coalesce):
		}
		for _, ent := range d.Config.Entities {
			start := time.Now()
			runs, err := d.Engine.Inbox(ctx, ent)
			if err != nil {
				d.Log.Warn("webhook events wait in the inbox", "entity", ent.Name, "err", err)
			}
			if len(runs) == 0 {
				continue
			}
			written, err := d.Engine.Drain(ctx, ent, state.RunWebhook)
			if err != nil {
				d.Log.Warn("writes after webhook events wait in the outbox", "entity", ent.Name, "err", err)
			}
			d.Metrics.runs(append(runs, written...), time.Since(start))
		}
	}
}

// writerLoop drains the outbox on its own clock: writes a failure or a
// guard left there go as soon as they can.
func (d *Daemon) writerLoop(ctx context.Context, stop <-chan struct{}) {
	tick := time.NewTicker(d.DrainEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for _, ent := range d.Config.Entities {
			start := time.Now()
			runs, err := d.Engine.Drain(ctx, ent, state.RunWrite)
			if err != nil {
				d.Log.Debug("outbox not drained", "entity", ent.Name, "err", err)
			}
			d.Metrics.runs(runs, time.Since(start))
		}
	}
}

// pruneLoop forgets merged inbox events after a day, once an hour.
func (d *Daemon) pruneLoop(ctx context.Context, stop <-chan struct{}) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		if err := d.Store.PruneInbox(ctx, time.Now().Add(-24*time.Hour)); err != nil {
			d.Log.Warn("inbox not pruned", "err", err)
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// cronLogger sends cron's own lines (a panic recovered, a run skipped) to
// slog.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
