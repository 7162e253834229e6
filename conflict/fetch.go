package conflict

import (
	"context"
	"errors"

	"tandem"
	"tandem/connectors"
	"tandem/mapping"
	"tandem/state"
)

// fetch reads records by id for a re-read, a webhook merge, a sweep or a
// refused create. A record the system sent but the connector could not
// parse (a *tandem.RejectedError) is set aside as a dead letter, as a pull
// sets aside a bad record of a page, and the others go on: one unreadable
// record must not hold up a whole system. Its id is returned in aside, so
// the caller neither takes it for deleted nor writes to it blind. A
// record read fine clears what was set aside of it before.
func (e *Engine) fetch(ctx context.Context, ent *mapping.Entity, f connectors.Fetcher, sm *mapping.System, q tandem.Query, ids []string) (recs []tandem.Record, aside map[string]bool, err error) {
	if recs, aside, err = e.fetchRaw(ctx, f, sm, q, ids); err != nil {
		return nil, nil, err
	}
	return recs, aside, e.refsIn(ctx, ent, sm, recs)
}

// fetchRaw is fetch with the records' references as the system holds them.
func (e *Engine) fetchRaw(ctx context.Context, f connectors.Fetcher, sm *mapping.System, q tandem.Query, ids []string) (recs []tandem.Record, aside map[string]bool, err error) {
	recs, err = f.Fetch(ctx, q, ids)
	var rej *tandem.RejectedError
	if err != nil && !errors.As(err, &rej) {
		return nil, nil, err
	}
	if rej == nil {
		if some, err := e.Store.AnyDeadLetter(ctx, sm.Name, sm.Object); err != nil || !some {
			return recs, nil, err
		}
	}
	aside = map[string]bool{}
	err = e.Store.Update(ctx, func(tx *state.Tx) error {
		if rej != nil {
			for _, r := range rej.Rejected {
				e.log().Warn("record set aside: cannot be parsed", "system", sm.Name, "object", sm.Object, "id", r.ID, "reason", r.Reason)
				aside[r.ID] = true
				if err := tx.AddDeadLetter(ctx, sm.Name, sm.Object, r.ID, r.Raw, r.Reason); err != nil {
					return err
				}
			}
		}
		// A record set aside before (a bad page, an earlier read) that
		// reads and maps fine now is no longer one a person must look at.
		var fine []string
		for _, r := range recs {
			if _, _, err := sm.InFields(r.Raw); err == nil {
				fine = append(fine, r.ID)
			}
		}
		return tx.ClearDeadLetters(ctx, sm.Name, sm.Object, fine)
	})
	if err != nil {
		return nil, nil, err
	}
	return recs, aside, nil
}

// without is ids less those in aside.
func without(ids []string, aside map[string]bool) []string {
	if len(aside) == 0 {
		return ids
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !aside[id] {
			out = append(out, id)
		}
	}
	return out
}
