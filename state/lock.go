package state

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// Lock is the hold one process has on a state file: one daemon, or one
// sync or backfill, drives a state file at a time. It is an advisory lock
// on path + ".lock", which the system drops when the process ends, however
// it ends.
type Lock struct {
	fl *flock.Flock
}

// LockError is a state file another process holds.
type LockError struct {
	Path   string
	Holder string // what the holder wrote: its command and pid
}

func (e *LockError) Error() string {
	h := e.Holder
	if h == "" {
		h = "another tandem process"
	}
	return fmt.Sprintf("state %s is in use by %s; one tandem process drives a state file at a time (tandem status, plan, conflicts and resolve work beside it)", e.Path, h)
}

// Held reports whether the holder is a daemon (tandem run).
func (e *LockError) Held() bool { return strings.HasPrefix(e.Holder, "tandem run") }

// TryLock takes the state file at path for this process, or returns a
// *LockError naming who has it. what names the command ("tandem run").
func TryLock(path, what string) (*Lock, error) {
	fl := flock.New(path+".lock", flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("state %s: lock: %w", path, err)
	}
	if !ok {
		b, _ := os.ReadFile(path + ".lock")
		return nil, &LockError{Path: path, Holder: strings.TrimSpace(string(b))}
	}
	holder := fmt.Sprintf("%s (pid %d, since %s)", what, os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	if f, err := os.OpenFile(path+".lock", os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
		f.WriteString(holder + "\n")
		f.Close()
	}
	return &Lock{fl: fl}, nil
}

// Holder returns what the holder of the state file at path wrote, or ""
// when nobody holds it.
func Holder(path string) string {
	fl := flock.New(path+".lock", flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return ""
	}
	if ok {
		fl.Unlock()
		return ""
	}
	b, _ := os.ReadFile(path + ".lock")
	return strings.TrimSpace(string(b))
}

// Unlock lets the state file go.
func (l *Lock) Unlock() error { return l.fl.Unlock() }
