package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"tandem"
)

// permanent is an error in what was asked (a column that does not exist,
// a value that does not fit): the same call fails again.
type permanent struct{ msg string }

func (e *permanent) Error() string { return e.msg }

func bad(format string, args ...any) error { return &permanent{fmt.Sprintf(format, args...)} }

// retryable tells a failure worth trying again (the server unreachable,
// a deadlock, a serialization failure, a lock wait, a shutdown) from one
// in what was asked (bad data, a constraint, a missing table or column,
// a permission).
func retryable(err error) bool {
	var p *permanent
	var x *tandem.ExistsError
	if errors.As(err, &p) || errors.As(err, &x) || errors.Is(err, errNoTable) || errors.Is(err, context.Canceled) {
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
