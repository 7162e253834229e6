package schedules

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tandem"
	"tandem/connectors"
	"tandem/mapping/config"
	"tandem/state"
)

// Metrics are the daemon's Prometheus metrics, on their own registry.
// Counters and histograms are kept as work happens; depths, conflicts,
// circuits and budgets are read when scraped. A nil *Metrics keeps nothing.
type Metrics struct {
	reg        *prometheus.Registry
	pulled     *prometheus.CounterVec
	written    *prometheus.CounterVec
	failed     *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	drifted    *prometheus.GaugeVec
	deliveries *prometheus.CounterVec
	calls      *prometheus.CounterVec
}

// NewMetrics registers the daemon's metrics. The gauges read at scrape
// time come from store and from the systems' clients (systems may be
// filled in later: it is read at each scrape).
func NewMetrics(cfg *config.Config, store *state.Store, systems map[string]connectors.Connector) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.pulled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_records_pulled_total",
		Help: "Records read from a system, by entity, system and kind of run (sync, reconcile, backfill, webhook)."},
		[]string{"entity", "system", "kind"})
	m.written = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_records_written_total",
		Help: "Records written to a system, by entity, system and kind of run."}, []string{"entity", "system", "kind"})
	m.failed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_write_failures_total",
		Help: "Writes a system refused or that failed, by entity, system and kind of run."}, []string{"entity", "system", "kind"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tandem_pass_duration_seconds",
		Help:    "How long a run took, by entity and kind (sync, reconcile, backfill, webhook, write).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900}}, []string{"entity", "kind"})
	m.drifted = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tandem_reconcile_drift",
		Help: "Records the last reconciliation sweep found out of step, by entity and system."}, []string{"entity", "system"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_webhook_deliveries_total",
		Help: "Webhook deliveries by system and result (accepted, duplicate, replay, unverified, too_large, bad_request, unknown_system, stopping, error)."},
		[]string{"system", "result"})
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_http_requests_total",
		Help: "HTTP attempts to a system's API, by system, method and status (0: no answer)."}, []string{"system", "method", "status"})
	b := tandem.BuildInfo()
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "tandem_build_info",
		Help:        "Always 1; the labels say which binary runs: module version, VCS commit, Go version.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "goversion": b.Go}})
	build.Set(1)
	m.reg.MustRegister(m.pulled, m.written, m.failed, m.duration, m.drifted, m.deliveries, m.calls, build,
		&scraped{cfg: cfg, store: store, systems: systems},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Observe counts one HTTP attempt (connectors.Config.Observe).
func (m *Metrics) Observe(a connectors.Attempt) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(a.System, a.Method, strconv.Itoa(a.Status)).Inc()
}

func (m *Metrics) runs(runs []state.Run, took time.Duration) {
	if m == nil || len(runs) == 0 {
		return
	}
	for _, r := range runs {
		m.pulled.WithLabelValues(r.Entity, r.System, r.Kind).Add(float64(r.Pulled))
		m.written.WithLabelValues(r.Entity, r.System, r.Kind).Add(float64(r.Written))
		m.failed.WithLabelValues(r.Entity, r.System, r.Kind).Add(float64(r.Failed))
	}
	m.duration.WithLabelValues(runs[0].Entity, runs[0].Kind).Observe(took.Seconds())
}

func (m *Metrics) drift(r state.Run) {
	if m != nil {
		m.drifted.WithLabelValues(r.Entity, r.System).Set(float64(r.Drift))
	}
}

func (m *Metrics) delivery(system, result string) {
	if m != nil {
		m.deliveries.WithLabelValues(system, result).Inc()
	}
}

// scraped reads, at each scrape, what the state file and the clients know.
type scraped struct {
	cfg     *config.Config
	store   *state.Store
	systems map[string]connectors.Connector
}

var (
	outboxDesc   = prometheus.NewDesc("tandem_outbox_depth", "Writes waiting in the outbox, by system and object.", []string{"system", "object"}, nil)
	deadDesc     = prometheus.NewDesc("tandem_dead_letters", "Records and writes set aside for a person, by system and object.", []string{"system", "object"}, nil)
	inboxDesc    = prometheus.NewDesc("tandem_inbox_depth", "Webhook events waiting to be merged, by system and object.", []string{"system", "object"}, nil)
	conflictDesc = prometheus.NewDesc("tandem_conflicts", "Conflicts recorded, by kind (field, identity, delete) and status (open, resolved, auto).", []string{"kind", "status"}, nil)
	circuitDesc  = prometheus.NewDesc("tandem_circuit_state", "A system's circuit breaker: 0 closed, 1 half-open, 2 open.", []string{"system"}, nil)
	rateDesc     = prometheus.NewDesc("tandem_rate_budget_per_second", "A system's request budget, in requests per second (0: unlimited).", []string{"system"}, nil)
	remainDesc   = prometheus.NewDesc("tandem_rate_remaining", "Requests left in the system's current rate window, as its API last said.", []string{"system"}, nil)
	dailyDesc    = prometheus.NewDesc("tandem_daily_quota_remaining", "Requests left in the system's daily quota, as its API last said.", []string{"system"}, nil)
)

func (s *scraped) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{outboxDesc, deadDesc, inboxDesc, conflictDesc, circuitDesc, rateDesc, remainDesc, dailyDesc} {
		ch <- d
	}
}

func (s *scraped) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	seen := map[string]bool{}
	for _, e := range s.cfg.Entities {
		for _, sm := range e.Systems {
			if st, err := s.store.Status(ctx, sm.Name, sm.Object); err == nil {
				gauge(outboxDesc, float64(st.Outbox), sm.Name, sm.Object)
				gauge(deadDesc, float64(st.DeadLetters), sm.Name, sm.Object)
			}
			if n, err := s.store.InboxDepth(ctx, sm.Name, sm.Object); err == nil {
				gauge(inboxDesc, float64(n), sm.Name, sm.Object)
			}
			if seen[sm.Name] {
				continue
			}
			seen[sm.Name] = true
			h, ok := s.systems[sm.Name].(connectors.Healther)
			if !ok {
				continue
			}
			hl := h.Health()
			gauge(circuitDesc, map[string]float64{"closed": 0, "half-open": 1, "open": 2}[hl.Breaker], sm.Name)
			gauge(rateDesc, hl.Rate, sm.Name)
			if l := hl.Limits; l != nil {
				if l.Remaining >= 0 {
					gauge(remainDesc, float64(l.Remaining), sm.Name)
				}
				if l.DailyRemaining >= 0 && l.DailyLimit > 0 {
					gauge(dailyDesc, float64(l.DailyRemaining), sm.Name)
				}
			}
		}
	}
	if counts, err := s.store.ConflictCounts(ctx); err == nil {
		for k, n := range counts {
			gauge(conflictDesc, float64(n), k[0], k[1])
		}
	}
}
