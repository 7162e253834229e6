package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSandboxSaysState: each start of a sandbox says what state the first
// sync starts from: none yet, or an earlier one removed (--force); never
// one reused. Without a config written, it says so and why.
func TestSandboxSaysState(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "sandbox.yaml")
	var out bytes.Buffer
	if err := freshSandboxFiles(&out, config, "sandbox.db", false); err != nil {
		t.Fatal(err)
	}
	if want := "State file " + filepath.Join(dir, "sandbox.db") + ": none yet; the first sync starts from clean state"; !strings.Contains(out.String(), want) {
		t.Errorf("first start says %q, want %q", out.String(), want)
	}
	os.WriteFile(filepath.Join(dir, "sandbox.db"), []byte("x"), 0o600)
	out.Reset()
	if err := freshSandboxFiles(&out, config, "sandbox.db", true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "removed; the first sync starts from clean state") {
		t.Errorf("restart with --force says %q", out.String())
	}

	// The command itself, with no config written: cancelled once it
	// serves (lines reach the pipe as they are printed).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		cmd := sandboxCmd(&globals{stdout: w, stderr: io.Discard})
		cmd.SetArgs([]string{})
		cmd.SetContext(ctx)
		err := cmd.Execute()
		w.CloseWithError(err)
		done <- err
	}()
	var said strings.Builder
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		said.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "Serving until interrupted") {
			cancel()
			go io.Copy(io.Discard, r)
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("sandbox: %v\n%s", err, said.String())
	}
	if !strings.Contains(said.String(), "No config written, so no state file") {
		t.Errorf("sandbox without --write-config does not say what state it uses:\n%s", said.String())
	}
}
