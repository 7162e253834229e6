package conflict

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"tandem"
	"tandem/connectors"
	"tandem/mapping"
	"tandem/state"
)

// inboxBatch is how many inbox events one merge takes: one Fetch call's
// worth at most of HubSpot's batch read.
const inboxBatch = 100

// Inbox merges the webhook events waiting in the inbox for an entity's
// systems. Deliveries are thin: the records they name are fetched in
// batches (several events of one record, one fetch), then staged like
// polled changes, with the events marked done in the same transaction. A
// record the system no longer has is a delete. The writes that follow are
// pushed by Drain. It returns one Run per system that had events.
func (e *Engine) Inbox(ctx context.Context, ent *mapping.Entity) ([]state.Run, error) {
	var runs []state.Run
	for _, sm := range ent.Systems {
		for {
			r, more, err := e.inboxBatch(ctx, ent, sm)
			if r.Pulled > 0 || err != nil {
				runs = append(runs, r)
			}
			if err != nil {
				return runs, err
			}
			if !more {
				break
			}
		}
	}
	return runs, nil
}

func (e *Engine) inboxBatch(ctx context.Context, ent *mapping.Entity, sm *mapping.System) (state.Run, bool, error) {
	pass := uuid.NewString()
	r := state.Run{Pass: pass, Kind: state.RunWebhook, Entity: ent.Name, System: sm.Name, Object: sm.Object, Started: time.Now()}
	evs, err := e.Store.Inbox(ctx, sm.Name, sm.Object, inboxBatch)
	if err != nil || len(evs) == 0 {
		return r, false, err
	}
	var ids, deliveries []string
	seen := map[string]bool{}
	deletedAt := map[string]time.Time{} // the time of a record's deletion event
	var done []int64
	for _, ev := range evs {
		if !seen[ev.RecordID] {
			seen[ev.RecordID] = true
			ids = append(ids, ev.RecordID)
		}
		if ev.Deleted && ev.At.After(deletedAt[ev.RecordID]) {
			deletedAt[ev.RecordID] = ev.At
		}
		if !slices.Contains(deliveries, ev.Delivery) {
			deliveries = append(deliveries, ev.Delivery)
		}
		done = append(done, ev.ID)
	}
	log := e.baseLog().With("pass", pass, "entity", ent.Name, "system", sm.Name, "deliveries", deliveries)
	fail := func(err error) (state.Run, bool, error) {
		r.Error, r.Finished = err.Error(), time.Now()
		log.Warn("webhook events not merged; they stay in the inbox", "events", len(evs), "err", err)
		return r, false, err
	}
	conn, err := e.conn(sm.Name)
	if err != nil {
		return fail(err)
	}
	f, ok := conn.(connectors.Fetcher)
	if !ok {
		return fail(fmt.Errorf("%s cannot read records by id, so its webhook events cannot be merged; its passes pick the changes up", sm.Name))
	}
	// The records are read within the turn: read before a pass that
	// writes them, they would be staged older than what the pass wrote.
	e.mu.Lock()
	e.pass = pass
	defer func() { e.pass = ""; e.mu.Unlock() }()
	recs, aside, err := e.fetch(connectors.WithCorrelation(ctx, pass), ent, f, sm, tandem.Query{Object: sm.Object, Fields: e.paths(sm)}, ids)
	if err != nil {
		return fail(fmt.Errorf("%s %s: fetch %d records named by webhooks: %w", sm.Name, sm.Object, len(ids), err))
	}
	ids = without(ids, aside) // set aside: the events are done, the next pull reads them again
	// Gone: a delete, timed by the system's record of it when it has one,
	// else by its own event when one came, else by when the record was
	// last seen alive (gone.go; an earlier event's time is not the
	// delete's, nor is now).
	gone, err := e.gone(ctx, conn, sm, missingIDs(ids, recs))
	if err != nil {
		return fail(err)
	}
	for _, rec := range gone {
		if when := deletedAt[rec.ID]; rec.Modified.IsZero() && !when.IsZero() {
			rec.Modified = when
		}
		recs = append(recs, rec)
	}
	found := len(recs) - len(gone)
	err = e.Store.Update(ctx, func(tx *state.Tx) error {
		if err := e.stageAll(ctx, tx, ent, sm, recs); err != nil {
			return err
		}
		return tx.InboxDone(ctx, done)
	})
	if err != nil {
		return fail(err)
	}
	r.Pulled, r.Finished = len(recs), time.Now()
	log.Info("webhook events merged", "events", len(evs), "records", len(recs), "gone", len(recs)-found)
	return r, len(evs) == inboxBatch, nil
}
