package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"tandem"
)

// permanent is an error in what was asked (a column that does not exist,
// a value that does not fit): the same call fails again.
type permanent struct{ msg string }

func (e *permanent) Error() string { return e.msg }

// attempts is how many times a call is tried when it fails for a reason
// worth trying again: a connection dropped (the server restarted, failed
// over, or ended the session), a deadlock, a serialization failure.
const attempts = 5

// again runs f, and again after a failure worth retrying, pausing 50ms,
// 100ms, 200ms … in between, within ctx. Every call it wraps is safe to
// repeat: reads, the slot's advance, and a write transaction (creates
// are keyed, updates conditional, deletes idempotent).
func (c *Client) again(ctx context.Context, f func() error) error {
	var err error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(25<<i) * time.Millisecond):
			}
		}
		if err = f(); err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
		c.warn("retrying after a failure", "attempt", i+1, "error", err.Error())
	}
	return err
}

func bad(format string, args ...any) error { return &permanent{fmt.Sprintf(format, args...)} }

// retryable tells a failure worth trying again (the server unreachable,
// a deadlock, a serialization failure, a lock wait, a shutdown) from one
// in what was asked (bad data, a constraint, a missing table or column,
// a permission).
func retryable(err error) bool {
	var te *tandem.Error
	if errors.As(err, &te) {
		return te.Retryable
	}
	var p *permanent
	var x *tandem.ExistsError
	var u *tandem.UnwritableError
	if errors.As(err, &p) || errors.As(err, &x) || errors.As(err, &u) || errors.Is(err, errNoTable) || errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", "40", "53", "55", "57", "58", "XX":
			return true
		}
		return false
	}
	return true // no answer from the server: the network, a timeout
}
