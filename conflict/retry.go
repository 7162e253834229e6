package conflict

import (
	"context"
	"fmt"

	"tandem/mapping"
	"tandem/mapping/config"
	"tandem/state"
)

// Requeue takes a dead write out of the dead letters and plans it again
// from the entity's current golden record, as a merge would
// (enqueueAs): what was sent before, or failed to map, is not reused. It
// reports whether a write is queued; false means the record needs none
// any more (it agrees already, or the entity is deleted there), and the
// dead letter is gone either way. The write itself goes with the next
// push (a pass, the daemon, or Drain). actor, when not "", is who asked:
// the retry goes into the audit trail in the same transaction.
func (e *Engine) Requeue(ctx context.Context, ent *mapping.Entity, id, actor string) (queued bool, err error) {
	err = e.Store.Update(ctx, func(tx *state.Tx) error {
		queued = false
		d, err := tx.RequeueDeadWrite(ctx, id)
		if err != nil {
			return err
		}
		if d == nil {
			return fmt.Errorf("dead letter %s: no such dead write", id)
		}
		sm := ent.System(d.System)
		if sm == nil || sm.Object != d.Object {
			return fmt.Errorf("dead letter %s: entity %s has no system %s %s in the config", id, ent.Name, d.System, d.Object)
		}
		golden, err := tx.Golden(ctx, d.EntityID)
		if err != nil {
			return err
		}
		del, err := tx.DeleteOf(ctx, d.EntityID)
		if err != nil {
			return err
		}
		l, err := tx.LinkOf(ctx, d.EntityID, sm.Name, sm.Object)
		if err != nil {
			return err
		}
		queued = needsWrite(ent, sm, golden, l, del)
		if actor != "" {
			detail := "planned again from the current record"
			if !queued {
				detail = "needs no write any more"
			}
			err := tx.Audit(ctx, state.AuditEntry{Actor: actor, Action: "retry", Subject: fmt.Sprintf("dead letter %s: %s %s of entity %s", id, d.System, d.Object, d.EntityID), Detail: detail})
			if err != nil {
				return err
			}
		}
		if !queued {
			return nil
		}
		return tx.Enqueue(ctx, ent.Name, d.EntityID, sm.Name, sm.Object)
	})
	return queued, err
}

// Retry tries one dead letter again, as tandem deadletters retry and the
// console do: a write is planned afresh from the current record
// (Requeue), a record set aside is asked to be read again (an inbox
// event, fetched as for a thin webhook). Nothing is sent here: the next
// push or inbox run does it. actor is who asked, for the audit trail
// (written in the same transaction); the answer says what was done, for a
// person.
func (e *Engine) Retry(ctx context.Context, cfg *config.Config, d state.DeadLetter, actor string) (string, error) {
	ent := EntityOf(cfg, d)
	if ent == nil {
		return "", fmt.Errorf("dead letter %s: no entity of %s has %s %s (discard it, or put the system back in the config)", d.ID, cfg.File, d.System, d.Object)
	}
	if d.Kind == state.DeadRecord {
		err := e.Store.Update(ctx, func(tx *state.Tx) error {
			ok, err := tx.RereadDeadRecord(ctx, d.ID)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("dead letter %s: no such record set aside (retried or discarded already?)", d.ID)
			}
			if actor == "" {
				return nil
			}
			return tx.Audit(ctx, state.AuditEntry{Actor: actor, Action: "retry",
				Subject: fmt.Sprintf("dead letter %s: %s %s record %s", d.ID, d.System, d.Object, d.RecordID), Detail: "read again"})
		})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s %s record %s to be read again", d.System, d.Object, d.RecordID), nil
	}
	queued, err := e.Requeue(ctx, ent, d.ID, actor)
	switch {
	case err != nil:
		return "", err
	case queued:
		return fmt.Sprintf("write to %s %s planned again from the current record", d.System, d.Object), nil
	}
	return fmt.Sprintf("%s %s needs no write any more; set aside no longer", d.System, d.Object), nil
}

// Discard forgets dead letters, all or none, each recorded in the audit
// trail as actor's (tandem deadletters discard, the console): a write is
// not made, a record is not read.
func (e *Engine) Discard(ctx context.Context, actor string, ids ...string) error {
	return e.Store.Update(ctx, func(tx *state.Tx) error {
		for _, id := range ids {
			ok, err := tx.DiscardDeadLetter(ctx, id)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("no dead letter %s (nothing discarded; tandem deadletters list shows them)", id)
			}
			if err := tx.Audit(ctx, state.AuditEntry{Actor: actor, Action: "discard", Subject: "dead letter " + id}); err != nil {
				return err
			}
		}
		return nil
	})
}

// EntityOf is the entity whose config has the dead letter's system and
// object; nil when none has.
func EntityOf(cfg *config.Config, d state.DeadLetter) *mapping.Entity {
	for _, e := range cfg.Entities {
		if d.Entity != "" && e.Name != d.Entity {
			continue
		}
		if sm := e.System(d.System); sm != nil && sm.Object == d.Object {
			return e
		}
	}
	return nil
}

// MaskDeadLetter masks, in a dead letter, the values of the fields marked
// sensitive: those a write sent, and their paths in a record's payload.
func MaskDeadLetter(cfg *config.Config, d *state.DeadLetter) {
	e := EntityOf(cfg, *d)
	if e == nil {
		return
	}
	for f, vs := range d.Sent {
		if !e.Sensitive(f) {
			continue
		}
		masked := make([]any, len(vs))
		for i, v := range vs {
			if v != nil {
				masked[i] = mapping.Masked
			}
		}
		d.Sent[f] = masked
	}
	if sm := e.System(d.System); sm != nil && len(d.Raw) > 0 {
		d.Raw = sm.MaskRaw(e, d.Raw)
	}
}
