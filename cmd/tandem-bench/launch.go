package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
)

// A measured process is started through this binary in launch mode, not
// directly. Go starts children with vfork (CLONE_VM): the child runs in
// the parent's address space until it execs, and Linux folds the high-water
// RSS of the address space it leaves into the child's ru_maxrss. Started
// straight from the bench, which holds both emulated systems' records, the
// child's "peak RSS" would be the bench's (a /bin/true started from a
// process of 500 MB reports 500 MB). The launcher is small and fresh, so
// the process it starts reports its own peak, which the launcher passes
// back on a pipe (fd 3).

// launchEnv, set in a child's environment, makes this binary the launcher
// of the command in its arguments.
const launchEnv = "TANDEM_BENCH_LAUNCH"

// launched is what the launcher reports.
type launched struct {
	MaxRSSKB int64 `json:"maxrss_kb"`
}

// launch runs its arguments as a command with the launcher's stdio and
// environment (less launchEnv), passes SIGTERM and SIGINT on, reports the
// command's own peak RSS on fd 3, and exits as the command did.
func launch(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "tandem-bench launcher: no command")
		return 2
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, launchEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// Killed with the launcher (a bench interrupted or timed out).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "tandem-bench launcher:", err)
		return 127
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	cmd.Wait()
	report := os.NewFile(3, "report")
	json.NewEncoder(report).Encode(launched{MaxRSSKB: maxRSSKB(cmd.ProcessState)})
	report.Close()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

func maxRSSKB(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss // kilobytes on Linux
	}
	return 0
}

// measured is a process started through the launcher.
type measured struct {
	*exec.Cmd
	report *os.File // the read end of the launcher's fd 3
}

// measure prepares name args (with env added to this process's
// environment) to run through the launcher.
func (b *bench) measure(ctx context.Context, env []string, name string, args ...string) (*measured, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, b.self, append([]string{name}, args...)...)
	cmd.Env = append(append(os.Environ(), env...), launchEnv+"=1")
	cmd.ExtraFiles = []*os.File{w}
	return &measured{Cmd: cmd, report: r}, nil
}

// Start starts the launcher, and closes this process's copy of the write
// end of the report pipe.
func (m *measured) Start() error {
	err := m.Cmd.Start()
	m.ExtraFiles[0].Close()
	if err != nil {
		m.report.Close()
	}
	return err
}

// peakMB reads the launched process's peak RSS, in MB, once the launcher
// has exited (0 when it reported nothing).
func (m *measured) peakMB() float64 {
	defer m.report.Close()
	var l launched
	if err := json.NewDecoder(m.report).Decode(&l); err != nil {
		return 0
	}
	return float64(l.MaxRSSKB) / 1024
}
