package conflict

import (
	"context"
	"fmt"

	"tandem/mapping"
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
