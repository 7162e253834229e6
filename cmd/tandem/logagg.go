package main

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
)

// aggregator is the log handler of the commands that run and exit (sync,
// backfill, plan …): warnings and errors that carry an error are held
// until the command ends, and each distinct error is then logged once,
// as the first record that carried it (the example) with how many did
// ("count") and under which other messages ("also"). A pass whose 35
// writes fail for the same reason logs one line, not 35; a failed pull
// is not logged again by every layer it passes through; and an error the
// command prints as its own last line is not logged at all. Records
// without an error, and those below warn, go through at once. The daemon
// logs as things happen, with its own handler.
type aggregator struct {
	next slog.Handler
	st   *aggState
}

type aggState struct {
	mu     sync.Mutex
	groups []*aggGroup
	byErr  map[string]*aggGroup
}

type aggGroup struct {
	handler slog.Handler // the one that met the first record (its With attrs)
	rec     slog.Record
	err     string
	count   int
	also    []string
}

// maxGroups bounds what is held: past it, records go through at once.
const maxGroups = 1000

func newAggregator(next slog.Handler) *aggregator {
	return &aggregator{next: next, st: &aggState{byErr: map[string]*aggGroup{}}}
}

func (a *aggregator) Enabled(ctx context.Context, l slog.Level) bool { return a.next.Enabled(ctx, l) }

func (a *aggregator) WithAttrs(as []slog.Attr) slog.Handler {
	return &aggregator{next: a.next.WithAttrs(as), st: a.st}
}

func (a *aggregator) WithGroup(name string) slog.Handler {
	return &aggregator{next: a.next.WithGroup(name), st: a.st}
}

func (a *aggregator) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return a.next.Handle(ctx, r)
	}
	var text string
	r.Attrs(func(at slog.Attr) bool {
		if at.Key == "err" || at.Key == "error" {
			text = at.Value.String()
			return false
		}
		return true
	})
	if text == "" {
		return a.next.Handle(ctx, r)
	}
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	if g, ok := a.st.byErr[text]; ok {
		g.count++
		if r.Message != g.rec.Message && !slices.Contains(g.also, r.Message) {
			g.also = append(g.also, r.Message)
		}
		return nil
	}
	if len(a.st.groups) >= maxGroups {
		return a.next.Handle(ctx, r)
	}
	g := &aggGroup{handler: a.next, rec: r.Clone(), err: text, count: 1}
	a.st.groups = append(a.st.groups, g)
	a.st.byErr[text] = g
	return nil
}

// flush logs each error held, once; an error whose text the command
// prints as its own last line (final) is left to that line.
func (a *aggregator) flush(final string) {
	a.st.mu.Lock()
	groups := a.st.groups
	a.st.groups, a.st.byErr = nil, map[string]*aggGroup{}
	a.st.mu.Unlock()
	for _, g := range groups {
		if final != "" && strings.Contains(final, g.err) {
			continue
		}
		r := g.rec
		if g.count > 1 {
			r.AddAttrs(slog.Int("count", g.count))
		}
		if len(g.also) > 0 {
			r.AddAttrs(slog.String("also", strings.Join(g.also, "; ")))
		}
		g.handler.Handle(context.Background(), r)
	}
}
