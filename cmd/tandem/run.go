package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"tandem/connectors"
	"tandem/console"
	"tandem/mapping/config"
	"tandem/schedules"
	"tandem/state"
)

func runCmd(g *globals) *cobra.Command {
	var publicURL string
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: schedules, webhooks, writers, the console, /healthz and /metrics",
		Long: `Run Tandem as a service until SIGINT or SIGTERM:

  - each entity's 'schedule' (cron, UTC) runs an incremental pass, and its
    'reconcile' a reconciliation sweep: every record of every system read and
    compared with what Tandem last saw, what a webhook or cursor missed is
    repaired, and the drift is recorded (tandem status shows it);
  - on 'listen', POST /webhooks/SYSTEM takes signed webhook deliveries (HubSpot
    v3 signatures; a generic HMAC scheme for others), stores them and answers
    at once; they are merged within milliseconds; GET /healthz and GET /metrics
    (Prometheus) report on the daemon, here unless there is an admin listener;
  - on 'admin: { listen: HOST:PORT }' (apart from 'listen', keep it on
    loopback or behind a proxy): the conflict console, a few web pages
    where a person sees the conflicts held, the dead letters and the
    daemon's status, resolves a conflict with a click (take a side, enter
    a value, link or split, keep or delete a held delete) and retries or
    discards a dead letter, each recorded in the audit trail as
    "console (ADDR)" like the same tandem resolve or tandem deadletters
    command; and /healthz and /metrics, which then leave 'listen'. Access
    is by the token in $TANDEM_CONSOLE_TOKEN (required with admin:, 16
    characters at least; or several, one per person, "alice:TOKEN
    bob:TOKEN", audited under their names): log in with it at /login, or
    send it as 'Authorization: Bearer TOKEN';
  - writers drain the outbox continuously, and backfills asked for with
    'tandem backfill' run here, sharing the daemon's rate budget.

On SIGINT or SIGTERM it stops taking webhooks and starting work, lets the
work in flight finish (at most --grace, after which it is cancelled: every
step is a transaction, and what was not written stays in the outbox), and
exits 0. One process drives a state file at a time: a second daemon (or a
'tandem sync') on the same file is refused with who holds it.
Logs are JSON lines on stderr when it is not a terminal.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cfg, err := loadConfig(g)
			if err != nil {
				return err
			}
			token := os.Getenv(console.TokenEnv)
			if cfg.Admin.Listen != "" && token == "" {
				return fmt.Errorf("%s: admin.listen is set: %w", cfg.File, console.ErrNoToken)
			}
			lock, err := state.TryLock(cfg.State, "tandem run")
			if err != nil {
				return err
			}
			defer lock.Unlock()
			var metrics *schedules.Metrics
			g.observe = func(a connectors.Attempt) { metrics.Observe(a) }
			a, err := g.open()
			if err != nil {
				return err
			}
			defer a.Close()
			metrics = schedules.NewMetrics(cfg, a.store, a.engine.Systems)
			d := &schedules.Daemon{Config: cfg, Store: a.store, Engine: a.engine, Log: g.log, Metrics: metrics,
				PublicURL: publicURL, Grace: grace}
			if cfg.Admin.Listen != "" {
				// The console decides through an engine of its own over the
				// daemon's state file, as tandem resolve does beside it.
				c, err := console.New(console.Options{Config: cfg, Store: a.store, Actions: g.engine(a.store, nil),
					Health: d.Health, Log: g.log, Token: token})
				if err != nil {
					return fmt.Errorf("%s: admin: %w", cfg.File, err)
				}
				l, err := net.Listen("tcp", cfg.Admin.Listen)
				if err != nil {
					return fmt.Errorf("%s: admin.listen: %w", cfg.File, err)
				}
				d.Admin, d.Console = l, c.Handler()
				g.note("console on http://%s (and /healthz, /metrics)", l.Addr())
			}
			if cfg.Listen != "" {
				l, err := net.Listen("tcp", cfg.Listen)
				if err != nil {
					if d.Admin != nil {
						d.Admin.Close()
					}
					return fmt.Errorf("%s: listen: %w", cfg.File, err)
				}
				d.Listener = l
				if d.Admin != nil {
					g.note("listening on http://%s (webhooks at /webhooks/SYSTEM)", l.Addr())
				} else {
					g.note("listening on http://%s (webhooks at /webhooks/SYSTEM, /healthz, /metrics)", l.Addr())
				}
			}
			warnUnscheduled(g, cfg)
			if keys, _ := stateKeys(); keys != nil { // g.open checked them
				rctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				defer func() { cancel(); <-done }() // before the store closes
				go func() {
					defer close(done)
					// Encryption at rest: reseal in the background what is
					// plain or sealed with an older key (tandem rekey).
					n, err := a.store.Rekey(rctx, 200, rekeyPause)
					switch {
					case err != nil && rctx.Err() == nil:
						g.log.Error("state: rekey stopped", "err", err)
					case n > 0:
						g.log.Info("state: records resealed with the current key", "records", n, "key", keys.ID())
					}
				}()
			}
			return d.Run(ctx)
		},
	}
	cmd.Flags().StringVar(&publicURL, "public-url", "", "scheme and host webhook senders call, as they sign it (default: each request's own)")
	cmd.Flags().DurationVar(&grace, "grace", 20*time.Second, "on SIGINT/SIGTERM, how long work in flight may take to finish")
	return cmd
}

// warnUnscheduled says when the daemon has nothing on its clock.
func warnUnscheduled(g *globals, cfg *config.Config) {
	for _, e := range cfg.Entities {
		if cfg.Schedules[e.Name].Sync == "" {
			g.log.Warn("entity has no schedule: only webhooks, backfills and its reconcile sweeps bring its changes", "entity", e.Name)
		}
	}
}
