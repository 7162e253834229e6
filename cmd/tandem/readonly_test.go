package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"tandem/state"
)

// TestReadOnlyCommands: status, conflicts and deadletters list work on a
// state file that cannot be written, in a directory that cannot be
// written, with the systems' credentials unset (${VAR} with no VAR), and
// leave the file as it was. As root, permissions bind nothing, so the
// commands run as the user nobody (the test binary is tandem itself with
// TANDEM_TEST_MAIN=1, see TestMain).
func TestReadOnlyCommands(t *testing.T) {
	dir := t.TempDir()
	config, statePath := filepath.Join(dir, "tandem.yaml"), filepath.Join(dir, "tandem.db")
	cfg := contactConfig(statePath, "http://127.0.0.1:1", "${RO_TEST_UNSET_HS}", "http://127.0.0.1:1", "cid", "${RO_TEST_UNSET_SF}")
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(statePath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cs := fourConflicts()
	err = store.Update(ctx, func(tx *state.Tx) error {
		for i := range cs {
			if err := tx.AddConflict(ctx, &cs[i], nil); err != nil {
				return err
			}
		}
		return tx.AddDeadLetter(ctx, "hubspot", "contacts", "77", []byte("{"), "not JSON")
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	os.Unsetenv("RO_TEST_UNSET_HS")
	os.Unsetenv("RO_TEST_UNSET_SF")
	tandemBin := readOnlyWorld(t, dir, statePath)
	sum := fileSum(t, statePath)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"status"}, "entity contact: 0 records, 2 open conflicts"},
		{[]string{"conflicts"}, "Lovelace-King"},
		{[]string{"deadletters", "list"}, "r1"},
		{[]string{"deadletters", "show", "r1", "--format", "json"}, `"raw_text": "{"`},
	} {
		code, out, errs := tandemBin(append(c.args, "--config", config)...)
		if code != 0 || !strings.Contains(out, c.want) {
			t.Errorf("tandem %v on a read-only state: exit %d, want 0 and %q\n%s%s", c.args, code, c.want, out, errs)
		}
	}
	// sync needs the credentials, and says which.
	if code, _, errs := tandemBin("sync", "--config", config); code != 1 || !strings.Contains(errs, "RO_TEST_UNSET_HS is not set") {
		t.Errorf("sync without credentials: exit %d\n%s", code, errs)
	}
	if fileSum(t, statePath) != sum {
		t.Error("a read-only command changed the state file")
	}
	if _, err := os.Stat(statePath + "-wal"); err == nil {
		t.Error("a read-only command left a -wal file")
	}
}

// readOnlyWorld makes dir and the state file in it unwritable and returns
// a way to run tandem that the permissions bind: in this process, or, for
// root, as nobody in a copy of the test binary.
func readOnlyWorld(t *testing.T, dir, statePath string) func(args ...string) (int, string, string) {
	t.Helper()
	for p, mode := range map[string]os.FileMode{statePath: 0o444, dir: 0o555} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if os.Geteuid() != 0 {
		return run
	}
	// nobody must reach the files and the binary: open the path to them.
	for p := filepath.Dir(dir); p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	binDir := t.TempDir()
	os.Chmod(binDir, 0o755)
	os.Chmod(filepath.Dir(binDir), 0o755)
	bin := filepath.Join(binDir, "tandem.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "TANDEM_TEST_MAIN=1", "HOME=/")
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}
}
