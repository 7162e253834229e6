package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"tandem/connectors"
	"tandem/state"
)

func statusCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show cursors, links, outbox depth and the last pass of every system",
		Long: `Show, per entity, how many records it has and how many conflicts wait for a
person; and per system object: the cursor, how many records are linked, how
many writes wait in the outbox and webhook events in the inbox, how many were
set aside as dead letters, the last pass (when, how long, records read and
written, errors), the lag (how long since the last pass that went through),
the drift the last reconciliation sweep found,
and how the system's client stood at the end of it: the circuit breaker
(closed, open, half-open), the rate budget (requests per second, from the
config or from the API's own headers) and the daily quota (writes pause when
it is down to its reserve, and resume when it is back).
Reads the state file only (read-only: it works on a file and directory it
cannot write); contacts no system, so the systems' credentials need not be set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			cfg, err := loadOffline(g)
			if err != nil {
				return err
			}
			store, err := state.OpenReadOnly(cfg.State)
			if err != nil {
				return err
			}
			defer store.Close()
			type objectStatus struct {
				state.ObjectStatus
				// Lag is how long since the last pass that read the
				// system without an error finished: how stale Tandem's
				// view of it may be (webhooks aside).
				Lag string `json:"lag,omitempty"`
			}
			type entityStatus struct {
				Entity        string         `json:"entity"`
				Records       int            `json:"records"`
				OpenConflicts int            `json:"open_conflicts"`
				Systems       []objectStatus `json:"systems"`
			}
			var out []entityStatus
			for _, e := range cfg.Entities {
				es := entityStatus{Entity: e.Name}
				if es.Records, es.OpenConflicts, err = store.EntityCounts(cmd.Context(), e.Name); err != nil {
					return err
				}
				for _, sm := range e.Systems {
					st, err := store.Status(cmd.Context(), sm.Name, sm.Object)
					if err != nil {
						return err
					}
					ost := objectStatus{ObjectStatus: st}
					if r := st.LastPass; r != nil && r.Error == "" {
						ost.Lag = time.Since(r.Finished).Round(time.Second).String()
					}
					es.Systems = append(es.Systems, ost)
				}
				out = append(out, es)
			}
			if format == "json" {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			if h := state.Holder(cfg.State); h != "" {
				fmt.Fprintf(g.stdout, "state %s: held by %s\n", cfg.State, h)
			}
			for _, es := range out {
				fmt.Fprintf(g.stdout, "entity %s: %d records, %d open conflicts\n", es.Entity, es.Records, es.OpenConflicts)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ENTITY\tSYSTEM\tOBJECT\tLINKED\tOUTBOX\tINBOX\tDEAD\tLAST PASS\tLAG\tPULLED\tWRITTEN\tFAILED\tDRIFT\tCIRCUIT\tRATE\tQUOTA\tERROR")
			for _, es := range out {
				for _, s := range es.Systems {
					last, pulled, written, failed, errStr := "never", "-", "-", "-", ""
					if r := s.LastPass; r != nil {
						last = fmt.Sprintf("%s (%s)", r.Finished.Local().Format(time.DateTime), r.Finished.Sub(r.Started).Round(time.Millisecond))
						pulled, written, failed, errStr = fmt.Sprint(r.Pulled), fmt.Sprint(r.Written), fmt.Sprint(r.Failed), r.Error
					}
					circuit, rate, quota := healthColumns(s.Health)
					drift, lag := "-", s.Lag
					if r := s.LastReconcile; r != nil {
						drift = fmt.Sprintf("%d (%s)", r.Drift, r.Finished.Local().Format(time.DateTime))
					}
					if lag == "" {
						lag = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", es.Entity, s.System, s.Object,
						s.Linked, s.Outbox, s.Inbox, s.DeadLetters, last, lag, pulled, written, failed, drift, circuit, rate, quota, errStr)
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

// healthColumns shows a system's client health (connectors.Health as
// JSON) in three short columns: the breaker, the rate budget and the daily
// quota ("writes paused" when it is down to its reserve).
func healthColumns(raw json.RawMessage) (circuit, rate, quota string) {
	if len(raw) == 0 {
		return "-", "-", "-"
	}
	var h connectors.Health
	if json.Unmarshal(raw, &h) != nil {
		return "?", "?", "?"
	}
	circuit, rate, quota = h.Breaker, "unlimited", "ok"
	if h.Rate > 0 {
		rate = fmt.Sprintf("%.1f/s (%s)", h.Rate, h.RateSource)
	}
	if l := h.Limits; l != nil && l.DailyLimit > 0 && l.DailyRemaining >= 0 {
		quota = fmt.Sprintf("%d/%d left", l.DailyRemaining, l.DailyLimit)
	}
	switch {
	case h.ReadsPaused:
		quota += ", spent"
	case h.WritesPaused:
		quota += ", writes paused"
	}
	return circuit, rate, quota
}
