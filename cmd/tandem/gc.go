package main

import (
	"os"
	"runtime/debug"
)

// The garbage collector's settings unless GOGC or GOMEMLIMIT say
// otherwise. A pass allocates much and keeps little (a page of records, a
// chunk's decisions: 10 to 40 MB live in a million-record sync), and with
// Go's default (collect each time the heap doubles what is live) a fifth
// to a quarter of a sync's CPU went to allocating and collecting. Instead
// the heap may grow to five times what is live, under a soft limit that
// keeps the process small: near it the collector runs as often as it must
// (with more live than the limit, at most about half the CPU, and the
// heap grows past it). BENCHMARKS.md has what each setting measured.
const (
	gcPercent   = 400
	memoryLimit = 100 << 20 // bytes: the Go heap and runtime, not SQLite's own memory
)

func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(memoryLimit)
	}
}
