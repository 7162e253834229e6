package conflict

import (
	"context"
	"testing"

	"tandem/state"
)

// Issue 11, case 8: a delete that only a read by id finds (the re-read
// before a write, a webhook's fetch) is timed by the system's own clock
// when it tells (DeleteFetcher), else by the last time the record was
// seen alive: never by when Tandem noticed it, which made it beat edits
// made elsewhere before Tandem noticed the delete.

// newDeleteWorld is Ann in a and b under the propagate policy (no
// quarantine, no mass-delete guard for one record); hide takes a's
// FetchDeleted away, as for a system that cannot tell when.
func newDeleteWorld(t *testing.T, hide bool) *echoWorld {
	w := newEchoWorld(t, "{policy: newest, clock_tolerance: 0s}\n    deletes: {policy: propagate, max_share: 1}")
	if hide {
		w.e.Systems["a"] = hidden{w.a}
	}
	return w
}

// duringPull runs fn once, right after the next pass has pulled a (its
// first page committed), before b is pulled.
func (w *echoWorld) duringPull(fn func()) {
	step := w.e.Step
	armed := true
	w.e.Step = func(point string) {
		if point == "pull:after-commit" && armed {
			armed = false
			fn()
		}
		step(point)
	}
}

// duringPush runs fn once, right before the next write is applied (after
// the re-read that planned it).
func (w *echoWorld) duringPush(fn func()) {
	step := w.e.Step
	armed := true
	w.e.Step = func(point string) {
		if point == "push:before-apply" && armed {
			armed = false
			fn()
		}
		step(point)
	}
}

// annAlive reports whether Ann lives in a and b, and her phone in each.
func (w *echoWorld) annAlive() (inA, inB bool, phoneA, phoneB any) {
	for _, id := range w.a.live() {
		inA, phoneA = true, w.a.get(id)["phone"]
	}
	for _, id := range w.b.live() {
		inB, phoneB = true, w.b.get(id)["phone"]
	}
	return
}

// Ann is deleted in a just after the pass has pulled a, then her phone is
// edited in b: the edit came after the delete, so it wins and Ann is
// created again in a. Found by the re-read before the write of the phone
// to a, the delete was timed by Tandem's clock and won: Ann was deleted in
// b too, the newer edit lost.
func TestRefreshFindsDeleteTimedBySystem(t *testing.T) {
	for _, hide := range []bool{false, true} {
		name := map[bool]string{false: "archive time", true: "no time: last seen alive"}[hide]
		t.Run(name, func(t *testing.T) {
			w := newDeleteWorld(t, hide)
			bID := w.b.live()[0]
			w.duringPull(func() {
				w.tick()
				w.a.remove("1", hide)
				w.tick()
				w.b.put(bID, map[string]any{"phone": "2"})
				w.tick()
			})
			w.sync()
			w.sync()
			if inA, inB, pa, pb := w.annAlive(); !inA || !inB || pa != "2" || pb != "2" {
				t.Errorf("Ann in a: %v (phone %v), in b: %v (phone %v); want her alive in both with b's newer phone 2", inA, pa, inB, pb)
			}
		})
	}
}

// The other order: the edit came before the delete, so the delete
// stands, and Ann is deleted everywhere.
func TestRefreshFindsDeleteAfterEdit(t *testing.T) {
	w := newDeleteWorld(t, false)
	bID := w.b.live()[0]
	w.duringPull(func() {
		w.tick()
		w.b.put(bID, map[string]any{"phone": "2"})
		w.tick()
		w.a.remove("1", false)
		w.tick()
	})
	w.sync()
	w.sync()
	if inA, inB, _, _ := w.annAlive(); inA || inB {
		t.Errorf("Ann in a: %v, in b: %v; want her deleted in both (every edit came before the delete)", inA, inB)
	}
}

// A webhook's fetch that no longer finds the record, with no deletion
// event: the same rule, where it used to take Tandem's clock.
func TestWebhookFindsDeleteTimedBySystem(t *testing.T) {
	for _, hide := range []bool{false, true} {
		name := map[bool]string{false: "archive time", true: "no time: last seen alive"}[hide]
		t.Run(name, func(t *testing.T) {
			w := newDeleteWorld(t, hide)
			ctx := context.Background()
			bID := w.b.live()[0]
			w.tick()
			w.a.remove("1", hide)
			w.tick()
			w.b.put(bID, map[string]any{"phone": "2"})
			// A pass that cannot read a merges b's edit.
			w.a.down = true
			w.tick()
			if _, err := w.e.Sync(ctx, w.ent); err == nil {
				t.Fatal("a pass with a down: no error")
			}
			w.a.down = false
			// Then a webhook names Ann's record in a (an edit's event, not
			// the deletion's).
			w.tick()
			if _, err := w.e.Store.Receive(ctx, "a", "", []state.InboxEvent{{System: "a", Object: "A", EventID: "1", RecordID: "1", At: w.now, Delivery: "d1"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.e.Inbox(ctx, w.ent); err != nil {
				t.Fatal(err)
			}
			w.sync()
			if inA, inB, pa, pb := w.annAlive(); !inA || !inB || pa != "2" || pb != "2" {
				t.Errorf("Ann in a: %v (phone %v), in b: %v (phone %v); want her alive in both with b's newer phone 2", inA, pa, inB, pb)
			}
		})
	}
}
