package postgres

import (
	"context"

	"tandem"
)

func (c *Client) pullStream(ctx context.Context, op string, t *table, cols []string, start cursor, q tandem.Query, page func(tandem.Page) error) error {
	return c.fail(op, bad("replication: not yet"))
}
