// Command tandem-bench measures Tandem on loopback emulators of HubSpot and
// Salesforce: named scenarios, each on fresh emulators and a fresh state
// file, every measured pipeline in a child process (so its peak RSS is its
// own), one JSON object per scenario on stdout and then a table.
//
//	go run ./cmd/tandem-bench [--records N] [--scenarios a,b,c] [--runs R]
//	    [--rate 200] [--duration 10s] [--ratelimited-records M]
//	    [--tandem PATH] [--out FILE]
//
// Scenarios: baseline (the minimal pipeline, none of Tandem's logic: the
// yardstick, baseline.go), initial, noop, changed10, ratelimited
// (scenarios.go) and webhook (webhook.go); each function's comment says
// exactly what it does and what it counts as a record. Progress goes to
// stderr. The measured processes are started through a small launcher
// (launch.go) so that their peak RSS is their own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// workerEnv, set in a child's environment, makes this binary run a
// measured pipeline that is not Tandem (the baseline) instead of the bench.
const workerEnv = "TANDEM_BENCH_WORKER"

func main() {
	if os.Getenv(launchEnv) != "" {
		os.Exit(launch(os.Args[1:], os.Stderr))
	}
	if os.Getenv(workerEnv) != "" {
		os.Exit(worker(os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command line.
type options struct {
	records     int
	scenarios   []string
	runs        int
	rate        int
	duration    time.Duration
	tandem      string
	out         string
	rateRecords int    // ratelimited's data set; 0: records/4, at most 20,000
	profile     string // a directory for the tandem commands' CPU profiles, "" for none
}

// bench is one invocation: its options, the binaries it runs, and where
// it says what it is doing.
type bench struct {
	options
	tandem string // the tandem binary
	self   string // this binary, for the baseline worker
	dir    string // scratch space, removed at the end
	log    io.Writer
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "tandem-bench:", err)
		return 2
	}
	b := &bench{options: o, log: stderr}
	if b.dir, err = os.MkdirTemp("", "tandem-bench-"); err != nil {
		fmt.Fprintln(stderr, "tandem-bench:", err)
		return 1
	}
	defer os.RemoveAll(b.dir)
	if o.profile != "" {
		if b.profile, err = filepath.Abs(o.profile); err == nil {
			err = os.MkdirAll(b.profile, 0o755)
		}
		if err != nil {
			fmt.Fprintln(stderr, "tandem-bench: --profile:", err)
			return 1
		}
	}
	if err := b.binaries(ctx); err != nil {
		fmt.Fprintln(stderr, "tandem-bench:", err)
		return 1
	}
	var out io.Writer = stdout
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			fmt.Fprintln(stderr, "tandem-bench:", err)
			return 1
		}
		defer f.Close()
		out = io.MultiWriter(stdout, f)
	}

	var results []*result
	var base *result
	failed := false
	for _, name := range o.scenarios {
		var runs []*result
		for i := range o.runs {
			if ctx.Err() != nil {
				fmt.Fprintln(stderr, "tandem-bench: interrupted")
				return 1
			}
			if o.runs > 1 {
				b.progress("%s: run %d of %d", name, i+1, o.runs)
			}
			runs = append(runs, b.scenario(ctx, name))
		}
		r := median(runs)
		if name == "baseline" {
			base = r
		}
		if base != nil && ratioScenarios[name] && base.err == "" && r.err == "" {
			r.set("ratio_to_baseline", r.get("records_per_s")/base.get("records_per_s"))
		}
		if r.err != "" {
			failed = true
		}
		fmt.Fprintln(out, r.json())
		results = append(results, r)
	}
	fmt.Fprintln(stdout)
	table(stdout, results, o)
	if failed {
		return 1
	}
	return 0
}

// ratioScenarios are those compared with the baseline: the same kind of
// work (records read, merged, written) on the same emulators.
var ratioScenarios = map[string]bool{"initial": true, "noop": true, "changed10": true}

var allScenarios = []string{"baseline", "initial", "noop", "changed10", "webhook", "ratelimited"}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("tandem-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var scenarios string
	fs.IntVar(&o.records, "records", 20000, "records N of every scenario (N/2 in each system, N/5 of them shared by email)")
	fs.StringVar(&scenarios, "scenarios", strings.Join(allScenarios, ","), "scenarios to run, comma-separated, in this order")
	fs.IntVar(&o.runs, "runs", 1, "runs of each scenario, on fresh emulators and state; the figures are the medians")
	fs.IntVar(&o.rate, "rate", 200, "webhook: deliveries a second")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "webhook: how long deliveries are sent")
	fs.StringVar(&o.tandem, "tandem", "", "the tandem binary (default: built from this module into a temporary directory)")
	fs.StringVar(&o.out, "out", "", "also write the JSON lines to this file")
	fs.StringVar(&o.profile, "profile", "", "write a CPU profile of each tandem command run (the webhook scenario's daemon excepted) into this directory, as <scenario>-<id>-<n>-<command>.pprof")
	fs.IntVar(&o.rateRecords, "ratelimited-records", 0, "ratelimited: its data set (default N/4, at least 2000 and at most 20000)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: tandem-bench [flags]\n\nScenarios: %s\n\n", strings.Join(allScenarios, ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	for _, s := range strings.Split(scenarios, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			return o, fmt.Errorf("--scenarios: unknown scenario %q (known: %s)", s, strings.Join(allScenarios, ", "))
		}
		o.scenarios = append(o.scenarios, s)
	}
	switch {
	case len(o.scenarios) == 0:
		return o, fmt.Errorf("--scenarios: none given")
	case o.records < 10:
		return o, fmt.Errorf("--records: at least 10, got %d", o.records)
	case o.runs < 1:
		return o, fmt.Errorf("--runs: at least 1, got %d", o.runs)
	case o.rate < 1:
		return o, fmt.Errorf("--rate: at least 1 a second, got %d", o.rate)
	case o.duration <= 0:
		return o, fmt.Errorf("--duration: must be positive, got %v", o.duration)
	case o.rateRecords < 0 || o.rateRecords > 0 && o.rateRecords < 10:
		return o, fmt.Errorf("--ratelimited-records: at least 10, got %d", o.rateRecords)
	}
	if o.rateRecords == 0 {
		// Below some 1,000 records the work fits in the limits' first
		// windows, and there is no ceiling to compare with.
		o.rateRecords = min(max(o.records/4, 2000), 20000)
	}
	return o, nil
}

// binaries finds this binary (the baseline runs as it) and the tandem
// binary, building it from the module when --tandem is not given.
func (b *bench) binaries(ctx context.Context) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this binary: %w", err)
	}
	b.self = self
	if b.options.tandem != "" {
		if b.tandem, err = filepath.Abs(b.options.tandem); err != nil {
			return err
		}
		if _, err := os.Stat(b.tandem); err != nil {
			return fmt.Errorf("--tandem: %w", err)
		}
		return nil
	}
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w (give --tandem PATH instead)", err)
	}
	mod := strings.TrimSpace(string(gomod))
	if mod == "" || mod == os.DevNull {
		return fmt.Errorf("not inside the tandem module (go env GOMOD is empty): run from the repository or give --tandem PATH")
	}
	b.tandem = filepath.Join(b.dir, "tandem")
	b.progress("building tandem (go build -o %s tandem/cmd/tandem)", b.tandem)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", b.tandem, "tandem/cmd/tandem")
	cmd.Dir = filepath.Dir(mod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build tandem/cmd/tandem: %w\n%s", err, out)
	}
	return nil
}
