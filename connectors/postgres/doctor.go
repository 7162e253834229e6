package postgres

import (
	"context"

	"tandem/connectors"
)

func (c *Client) Diagnose(ctx context.Context, object string, fields map[string]string) []connectors.Finding {
	return nil
}
