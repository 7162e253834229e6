package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// result is one scenario's figures. Only the figures that make sense for
// the scenario are set (a noop has no latency); the JSON holds those, in
// the order of keys.
type result struct {
	scenario string
	metrics  map[string]float64
	err      string // why the run is not valid, "" when it is
}

// keys are the figures, in output order. counts are printed as integers.
var keys = []string{
	"records", "seconds", "records_per_s", "peak_rss_mb", "api_calls", "api_calls_per_record", "writes",
	"ratio_to_baseline",
	"deliveries", "lost", "p50_ms", "p95_ms", "p99_ms",
	"ceiling_seconds", "ceiling_burst_seconds", "ceiling_records_per_s", "share_of_ceiling", "rate_limited", "failed_requests",
	"runs",
}

var counts = map[string]bool{"records": true, "api_calls": true, "writes": true, "deliveries": true, "lost": true,
	"rate_limited": true, "failed_requests": true, "runs": true}

func newResult(scenario string) *result {
	return &result{scenario: scenario, metrics: map[string]float64{}}
}

func (r *result) set(key string, v float64) { r.metrics[key] = v }

func (r *result) get(key string) float64 { return r.metrics[key] }

func (r *result) has(key string) bool {
	_, ok := r.metrics[key]
	return ok
}

// fail records why the run is not valid; the first reason is kept first.
func (r *result) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if r.err == "" {
		r.err = msg
	} else {
		r.err += "; " + msg
	}
}

// throughput sets seconds, records_per_s, api_calls and its share.
func (r *result) throughput(records int, seconds float64, calls int) {
	r.set("records", float64(records))
	r.set("seconds", seconds)
	if seconds > 0 {
		r.set("records_per_s", float64(records)/seconds)
	}
	r.set("api_calls", float64(calls))
	if records > 0 {
		r.set("api_calls_per_record", float64(calls)/float64(records))
	}
}

// json is the result as one line of JSON.
func (r *result) json() string {
	var b strings.Builder
	b.WriteString(`{"scenario":`)
	q, _ := json.Marshal(r.scenario)
	b.Write(q)
	for _, k := range keys {
		v, ok := r.metrics[k]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, ",%q:%s", k, number(k, v))
	}
	if r.err != "" {
		e, _ := json.Marshal(r.err)
		b.WriteString(`,"error":`)
		b.Write(e)
	}
	b.WriteString("}")
	return b.String()
}

// number writes v as JSON: counts as integers when they are (a median of
// an even number of runs may not be), the rest with enough digits.
func number(k string, v float64) string {
	switch {
	case math.IsInf(v, 0) || math.IsNaN(v):
		return "null"
	case counts[k] && v == math.Trunc(v):
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', decimals(v), 64)
}

func decimals(v float64) int {
	switch a := math.Abs(v); {
	case a >= 100:
		return 1
	case a >= 1:
		return 3
	default:
		return 4
	}
}

// median is the per-figure median of the runs of one scenario; runs is
// set when there were several. A run that failed makes the result fail.
func median(runs []*result) *result {
	if len(runs) == 1 {
		return runs[0]
	}
	out := newResult(runs[0].scenario)
	for _, k := range keys {
		var vs []float64
		for _, r := range runs {
			if v, ok := r.metrics[k]; ok {
				vs = append(vs, v)
			}
		}
		if len(vs) == 0 {
			continue
		}
		slices.Sort(vs)
		m := vs[len(vs)/2]
		if len(vs)%2 == 0 {
			m = (vs[len(vs)/2-1] + m) / 2
		}
		out.set(k, m)
	}
	out.set("runs", float64(len(runs)))
	for i, r := range runs {
		if r.err != "" {
			out.fail("run %d: %s", i+1, r.err)
		}
	}
	return out
}

// table prints the results for people, with what each scenario counts as
// a record.
func table(w io.Writer, results []*result, o options) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	cols := []struct{ head, key string }{
		{"RECORDS", "records"}, {"SECONDS", "seconds"}, {"REC/S", "records_per_s"}, {"×BASE", "ratio_to_baseline"},
		{"RSS MB", "peak_rss_mb"}, {"CALLS", "api_calls"}, {"CALLS/REC", "api_calls_per_record"}, {"WRITES", "writes"},
		{"P50 MS", "p50_ms"}, {"P95 MS", "p95_ms"}, {"P99 MS", "p99_ms"}, {"LOST", "lost"},
		{"CEIL REC/S", "ceiling_records_per_s"}, {"SHARE", "share_of_ceiling"}, {"429S", "rate_limited"}, {"FAILED", "failed_requests"},
	}
	width := 0
	for _, r := range results {
		width = max(width, len(r.scenario))
	}
	fmt.Fprintf(tw, "%-*s\t", width, "SCENARIO")
	for _, c := range cols {
		fmt.Fprint(tw, c.head, "\t")
	}
	fmt.Fprintln(tw)
	var failed []string
	for _, r := range results {
		fmt.Fprintf(tw, "%-*s\t", width, r.scenario)
		for _, c := range cols {
			if !r.has(c.key) {
				fmt.Fprint(tw, "-\t")
				continue
			}
			v := r.get(c.key)
			switch {
			case c.key == "share_of_ceiling":
				fmt.Fprintf(tw, "%.1f%%\t", 100*v)
			case c.key == "ratio_to_baseline" || c.key == "api_calls_per_record":
				fmt.Fprintf(tw, "%.3f\t", v)
			case counts[c.key] && v == math.Trunc(v):
				fmt.Fprintf(tw, "%d\t", int64(v))
			case v >= 100:
				fmt.Fprintf(tw, "%.0f\t", v)
			default:
				fmt.Fprintf(tw, "%.2f\t", v)
			}
		}
		fmt.Fprintln(tw)
		if r.err != "" {
			failed = append(failed, fmt.Sprintf("FAILED %s: %s", r.scenario, r.err))
		}
	}
	tw.Flush()
	for _, f := range failed {
		fmt.Fprintln(w, f)
	}
	runs := ""
	if o.runs > 1 {
		runs = fmt.Sprintf(", medians of %d runs", o.runs)
	}
	fmt.Fprintf(w, "\nN = %d records%s. RECORDS is what each scenario counts:\n", o.records, runs)
	notes := map[string]string{
		"baseline":  "N records read (N/2 in each system, N/5 of them the same people by email; 0.3N written to each side)",
		"initial":   "as baseline: N records read, 0.3N written to each side",
		"noop":      "records read by a full backfill of both systems after the initial sync (2 x 0.8N), nothing written",
		"changed10": "records edited (N/10, half in each system) before one incremental sync",
		"webhook": fmt.Sprintf("deliveries sent at %d/s for %v; P50-P99 from the delivery to the write arriving in Salesforce",
			o.rate, o.duration),
		"ratelimited": fmt.Sprintf("%d records read at HubSpot's real limits (100 req/10 s, 5 searches/s) and Salesforce at %d req/s;\n"+
			"%-14s CEIL REC/S: the records over the least time the limits allow for the calls the work needs, at their\n"+
			"%-14s sustained rates (SHARE = CEIL's time over the time taken; the first windows' burst can beat it)", o.rateRecords, sfRate, "", ""),
	}
	for _, r := range results {
		fmt.Fprintf(w, "  %-12s %s\n", r.scenario, notes[r.scenario])
	}
	fmt.Fprintln(w, "×BASE = REC/S over baseline's REC/S. RSS MB is the measured process's own peak (tandem, or the baseline worker).")
}
