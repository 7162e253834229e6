package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be the launcher and the baseline's worker
// too, as the bench binary is: the bench re-executes os.Executable.
func TestMain(m *testing.M) {
	if os.Getenv(launchEnv) != "" {
		os.Exit(launch(os.Args[1:], os.Stderr))
	}
	if os.Getenv(workerEnv) != "" {
		os.Exit(worker(os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// Every scenario at a tiny size: the JSON lines are there, with the
// figures each scenario must have, and sane; the table follows.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tandem and runs every scenario (some 20 s)")
	}
	const n = 200                   // 100 in each system, 40 shared: 160 people, 60 written to each side
	t.Setenv("TMPDIR", t.TempDir()) // the bench's scratch space goes even if it is cut short
	out := filepath.Join(t.TempDir(), "bench.jsonl")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := run(ctx, []string{"--records", "200", "--rate", "50", "--duration", "1s", "--ratelimited-records", "1200", "--out", out}, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stdout.String())
	}
	file, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout.String(), string(file)) {
		t.Errorf("--out holds other lines than stdout's JSON:\n%s", file)
	}

	got := map[string]map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(file))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %s: %v", sc.Text(), err)
		}
		got[m["scenario"].(string)] = m
	}
	num := func(s, k string) float64 {
		t.Helper()
		v, ok := got[s][k].(float64)
		if !ok {
			t.Errorf("%s: no number %q in %v", s, k, got[s])
		}
		return v
	}
	for _, s := range allScenarios {
		m, ok := got[s]
		if !ok {
			t.Fatalf("no line for %s:\n%s", s, file)
		}
		if e, ok := m["error"]; ok {
			t.Errorf("%s: error %v", s, e)
		}
		for _, k := range []string{"records", "seconds", "records_per_s", "peak_rss_mb", "api_calls", "api_calls_per_record"} {
			if v := num(s, k); v <= 0 {
				t.Errorf("%s: %s = %v, want > 0", s, k, v)
			}
		}
		if rss := num(s, "peak_rss_mb"); rss > 1000 {
			t.Errorf("%s: peak RSS %v MB: not the child's own", s, rss)
		}
		_, ratio := m["ratio_to_baseline"]
		if ratio != ratioScenarios[s] {
			t.Errorf("%s: ratio_to_baseline present %v, want %v", s, ratio, ratioScenarios[s])
		}
		if ratio && num(s, "ratio_to_baseline") <= 0 {
			t.Errorf("%s: ratio_to_baseline %v", s, m["ratio_to_baseline"])
		}
	}
	for _, s := range []string{"baseline", "initial"} {
		if r, w := num(s, "records"), num(s, "writes"); r != n || w != 120 {
			t.Errorf("%s: %v records read, %v written; want %d and 120", s, r, w, n)
		}
	}
	if r, w := num("noop", "records"), num("noop", "writes"); r != 320 || w != 0 {
		t.Errorf("noop: %v records read, %v written; want 320 and 0", r, w)
	}
	if r, w := num("changed10", "records"), num("changed10", "writes"); r != n/10 || w != r {
		t.Errorf("changed10: %v records edited, %v written; want %d of each", r, w, n/10)
	}
	if d, l := num("webhook", "deliveries"), num("webhook", "lost"); d != 50 || l != 0 {
		t.Errorf("webhook: %v deliveries, %v lost; want 50 and 0", d, l)
	}
	if p50, p95, p99 := num("webhook", "p50_ms"), num("webhook", "p95_ms"), num("webhook", "p99_ms"); !(0 < p50 && p50 <= p95 && p95 <= p99) {
		t.Errorf("webhook: percentiles %v, %v, %v out of order", p50, p95, p99)
	}
	if f := num("ratelimited", "failed_requests"); f != 0 {
		t.Errorf("ratelimited: %v failed requests", f)
	}
	num("ratelimited", "rate_limited")
	if c, share := num("ratelimited", "ceiling_records_per_s"), num("ratelimited", "share_of_ceiling"); c <= 0 || share <= 0 || share > 3 {
		t.Errorf("ratelimited: ceiling %v records/s, share %v: want a ceiling and a share of it", c, share)
	}
	table := stdout.String()[len(file):]
	for _, s := range append([]string{"SCENARIO", "REC/S", "×BASE"}, allScenarios...) {
		if !strings.Contains(table, s) {
			t.Errorf("the table has no %q:\n%s", s, table)
		}
	}
}

func TestFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--scenarios", "initial,bogus"}, `unknown scenario "bogus"`},
		{[]string{"--runs", "0"}, "--runs"},
		{[]string{"--records", "5"}, "--records"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		if _, err := parseFlags(c.args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error about %s", c.args, err, c.want)
		}
	}
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil || o.records != 20000 || len(o.scenarios) != len(allScenarios) || o.rateRecords != 5000 || o.rate != 200 || o.duration != 10*time.Second {
		t.Errorf("defaults: %+v, %v", o, err)
	}
}

func TestMedian(t *testing.T) {
	var runs []*result
	for i, v := range []float64{3, 1, 2} {
		r := newResult("x")
		r.set("records", 10)
		r.set("seconds", v)
		if i == 1 {
			r.fail("boom")
		}
		runs = append(runs, r)
	}
	m := median(runs)
	if m.get("seconds") != 2 || m.get("records") != 10 || m.get("runs") != 3 || !strings.Contains(m.err, "run 2: boom") {
		t.Errorf("median: %v %q", m.metrics, m.err)
	}
	if j := m.json(); !strings.HasPrefix(j, `{"scenario":"x","records":10,"seconds":2.000,`) || !strings.Contains(j, `"runs":3`) {
		t.Errorf("json: %s", j)
	}
}
