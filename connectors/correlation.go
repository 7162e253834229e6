package connectors

import "context"

type corrKey struct{}

// WithCorrelation carries a correlation id (a pass's, or a webhook
// delivery's) in ctx: every call made with it sends the id as X-Request-Id
// and logs it as "corr", so one pass can be followed through the logs of
// both sides.
func WithCorrelation(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, corrKey{}, id)
}

// Correlation returns the correlation id carried in ctx, or "".
func Correlation(ctx context.Context) string {
	id, _ := ctx.Value(corrKey{}).(string)
	return id
}
