package conflict

import (
	"context"
	"database/sql"
	"errors"

	"tandem"
	"tandem/conflict/report"
	"tandem/mapping/config"
)

// Goldens reads entities' golden records (a *state.Store).
type Goldens interface {
	Golden(ctx context.Context, entityID string) (tandem.Golden, error)
}

// WhoIs names the records of the conflicts, by entity id, for the
// report's cards and the console: the display fields of each entity's
// golden record (name and email), sensitive ones masked.
func WhoIs(ctx context.Context, store Goldens, cfg *config.Config, cs []tandem.Conflict) (map[string]string, error) {
	who := map[string]string{}
	for _, c := range cs {
		if c.EntityID == "" || who[c.EntityID] != "" {
			continue
		}
		g, err := store.Golden(ctx, c.EntityID)
		if errors.Is(err, sql.ErrNoRows) {
			continue // an entity since merged away: its card shows its id
		}
		if err != nil {
			return nil, err
		}
		vals := g.Values()
		if ent, ok := cfg.Entity(c.Entity); ok {
			vals = ent.MaskValues(vals)
		}
		who[c.EntityID] = report.Display(vals)
	}
	return who, nil
}
