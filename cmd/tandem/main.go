// Command tandem keeps the same records in agreement across HubSpot,
// Salesforce and other systems. This package only wires the others together.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"tandem"
	"tandem/connectors"
	_ "tandem/connectors/hubspot"
	_ "tandem/connectors/postgres"
	_ "tandem/connectors/rest"
	_ "tandem/connectors/salesforce"
)

// Exit codes (DESIGN.md): 0 done, 1 failed, 2 plan found changes, 3 stopped
// by a guard, 4 done but some writes failed for good (set aside as dead
// letters: the pass ran, a person must look).
const (
	exitOK          = 0
	exitFailed      = 1
	exitChanges     = 2
	exitGuard       = 3
	exitWriteFailed = 4
)

// Test hooks handed to the engine: stepHook is set by the crash tests only,
// engineNow by tests that move the clock of quarantines (nil: time.Now).
var (
	stepHook  func(point string)
	engineNow func() time.Time
)

func main() {
	tuneGC()
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}

type globals struct {
	config     string
	logLevel   string
	logFormat  string
	cpuProfile string // --cpuprofile: where the command's CPU profile goes
	// notes writes the command's own lines to stderr as JSON
	// (--log-format json); nil: as text.
	notes  *slog.Logger
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
	agg    *aggregator // nil for the daemon and the sandbox
	// observe, when set, is told of every HTTP attempt of the systems
	// opened (tandem run counts them for /metrics).
	observe func(connectors.Attempt)
}

func execute(args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	var profile *os.File // the CPU profile being written, if any
	root := &cobra.Command{
		Use:   "tandem",
		Short: "Two-way sync of CRM records between HubSpot, Salesforce and more",
		Long: `Tandem keeps the same records (contacts, companies ...) in agreement across
systems that each hold their own copy. It pulls what changed, merges it field
by field against what all sides last agreed on, writes the result to every
other system, and remembers everything in one SQLite file.

Try it without any account:  tandem sync --sandbox`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       tandem.BuildInfo().String(),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			opts := &slog.HandlerOptions{Level: level}
			var h slog.Handler = slog.NewJSONHandler(stderr, opts)
			switch g.logFormat {
			case "auto":
				if f, ok := stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
					h = slog.NewTextHandler(stderr, opts)
				}
			case "text":
				h = slog.NewTextHandler(stderr, opts)
			case "json":
				// The command's own lines too, whatever the level.
				g.notes = slog.New(slog.NewJSONHandler(stderr, nil))
			default:
				return fmt.Errorf("--log-format: want auto, json or text, got %q", g.logFormat)
			}
			if name := cmd.Name(); name != "run" && name != "sandbox" {
				g.agg = newAggregator(h) // see aggregator
				h = g.agg
			}
			g.log = slog.New(h)
			if g.cpuProfile != "" {
				f, err := os.Create(g.cpuProfile)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				profile = f
			}
			return nil
		},
	}
	def := os.Getenv("TANDEM_CONFIG")
	if def == "" {
		def = "tandem.yaml"
	}
	root.PersistentFlags().StringVar(&g.config, "config", def, "config file (or set $TANDEM_CONFIG)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "auto", "stderr format: json (every line, the final error too), text, or auto (the log as text on a terminal, else JSON)")
	root.PersistentFlags().StringVar(&g.cpuProfile, "cpuprofile", "", "write the command's CPU profile to this file, for go tool pprof")
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.AddCommand(runCmd(g), backfillCmd(g), syncCmd(g), statusCmd(g), deadlettersCmd(g), planCmd(g), resolveCmd(g), replayCmd(g), doctorCmd(g), sandboxCmd(g), conflictsCmd(g), auditCmd(g), rekeyCmd(g), versionCmd(g))
	err := root.Execute()
	if profile != nil {
		pprof.StopCPUProfile()
		if cerr := profile.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("--cpuprofile: %w", cerr)
		}
	}
	if g.agg != nil {
		final := ""
		if err != nil {
			final = err.Error()
		}
		g.agg.flush(final)
	}
	if err != nil {
		code := exitFailed
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if g.notes != nil {
			g.notes.Error(err.Error(), "exit_code", code)
		} else {
			fmt.Fprintln(stderr, "tandem:", err)
		}
		return code
	}
	return exitOK
}

// note writes one of the command's own lines to stderr (not a log
// record: it shows whatever the level): plain text, or, with
// --log-format json, a JSON record like the log's.
func (g *globals) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if g.notes != nil {
		g.notes.Info(msg)
		return
	}
	fmt.Fprintln(g.stderr, "tandem: "+msg)
}

// exitError carries an exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// checkFormat refuses a --format outside the known ones.
func checkFormat(format string, known ...string) error {
	if !slices.Contains(known, format) {
		sep := ", "
		if len(known) == 2 {
			sep = " or "
		}
		return fmt.Errorf("--format: want %s, got %q", strings.Join(known, sep), format)
	}
	return nil
}
