package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"tandem/connectors"
	"tandem/state"
)

func statusCmd(g *globals) *cobra.Command {
	var format, output string
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

The table fits 120 columns: the records pulled, written and failed, the
drift, the rate and the quota are left out, and the error is cut to fit;
-o wide shows those columns and every error whole. --format json has
everything, the cursor too (as a JSON value) and the lag also in seconds.

Reads the state file only (read-only: it works on a file and directory it
cannot write); contacts no system, so the systems' credentials need not be set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			if output != "" && output != "wide" {
				return fmt.Errorf("-o: want wide, got %q", output)
			}
			cfg, err := loadOffline(g)
			if err != nil {
				return err
			}
			store, err := openStoreReadOnly(cfg.State)
			if err != nil {
				return err
			}
			defer store.Close()
			type objectStatus struct {
				state.ObjectStatus
				// Cursor is the system's cursor as JSON (it is JSON text
				// in the state file), or as a string when it is not JSON.
				Cursor any `json:"cursor"`
				// Lag is how long since the last pass that read the
				// system without an error finished: how stale Tandem's
				// view of it may be (webhooks aside); LagSeconds the same
				// in seconds.
				Lag        string  `json:"lag,omitempty"`
				LagSeconds float64 `json:"lag_seconds,omitempty"`
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
					ost := objectStatus{ObjectStatus: st, Cursor: cursorJSON(st.Cursor)}
					if r := st.LastPass; r != nil && r.Error == "" {
						lag := time.Since(r.Finished).Round(time.Second)
						ost.Lag, ost.LagSeconds = lag.String(), lag.Seconds()
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
			wide := output == "wide"
			var buf bytes.Buffer
			tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
			if wide {
				fmt.Fprintln(tw, "ENTITY\tSYSTEM\tOBJECT\tLINKED\tOUTBOX\tINBOX\tDEAD\tLAST PASS\tLAG\tPULLED\tWRITTEN\tFAILED\tDRIFT\tCIRCUIT\tRATE\tQUOTA\tERROR")
			} else {
				fmt.Fprintln(tw, "ENTITY\tSYSTEM\tOBJECT\tLINKED\tOUTBOX\tINBOX\tDEAD\tLAST PASS\tLAG\tCIRCUIT\tERROR")
			}
			for _, es := range out {
				for _, s := range es.Systems {
					last, pulled, written, failed, errStr := "never", "-", "-", "-", ""
					if r := s.LastPass; r != nil {
						last = r.Finished.Local().Format(time.DateTime)
						if wide {
							last += fmt.Sprintf(" (%s)", r.Finished.Sub(r.Started).Round(time.Millisecond))
						}
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
					if wide {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", es.Entity, s.System, s.Object,
							s.Linked, s.Outbox, s.Inbox, s.DeadLetters, last, lag, pulled, written, failed, drift, circuit, rate, quota, errStr)
					} else {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", es.Entity, s.System, s.Object,
							s.Linked, s.Outbox, s.Inbox, s.DeadLetters, last, lag, circuit, errStr)
					}
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if wide {
				_, err := g.stdout.Write(buf.Bytes())
				return err
			}
			// The error comes last and is cut to fit: -o wide shows it whole.
			cut := false
			for _, line := range strings.SplitAfter(buf.String(), "\n") {
				if r := []rune(strings.TrimSuffix(line, "\n")); len(r) > statusWidth {
					line, cut = string(r[:statusWidth-1])+"…\n", true
				}
				fmt.Fprint(g.stdout, line)
			}
			if cut {
				fmt.Fprintln(g.stdout, "(cut to fit: tandem status -o wide shows every column whole)")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().StringVarP(&output, "output", "o", "", "wide: every column (pulled, written, failed, drift, rate, quota), nothing cut")
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

// statusWidth is what the status table fits in without -o wide.
const statusWidth = 120

// cursorJSON is a cursor as a JSON value: the cursors Tandem keeps are
// JSON text; nil for none.
func cursorJSON(c string) any {
	if c == "" {
		return nil
	}
	if json.Valid([]byte(c)) {
		return json.RawMessage(c)
	}
	return c
}
