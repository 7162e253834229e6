package salesforcetest

import (
	"fmt"
	"math/rand/v2"
	"net/http"

	"tandem/connectors/internal/faults"
)

// The fault kinds and their configuration are the shared ones (see
// tandem/connectors/internal/faults).
type (
	Fault  = faults.Fault
	Faults = faults.Faults
)

// The fault kinds.
const (
	Fault500              = faults.Fault500
	Fault502              = faults.Fault502
	Fault503              = faults.Fault503
	FaultReset            = faults.FaultReset
	FaultTimeout          = faults.FaultTimeout
	FaultResetAfterCommit = faults.FaultResetAfterCommit
)

// abort drops the connection without an answer.
func abort(w http.ResponseWriter) { faults.Abort(w) }

// apiFault writes Salesforce's answer to a 5xx: 500 UNKNOWN_EXCEPTION with
// an ErrorId to quote to support, 503 SERVER_UNAVAILABLE "Server too busy";
// 502 is the HTML page of the proxy in front of the API.
func apiFault(fs *faults.State) func(w http.ResponseWriter, status int) bool {
	return func(w http.ResponseWriter, status int) bool {
		switch status {
		case http.StatusInternalServerError:
			var id string
			fs.Rand(func(r *rand.Rand) { id = fmt.Sprintf("%d-%d (%d)", r.Int32(), r.IntN(1_000_000), -r.Int32()) })
			writeError(w, status, apiErr("UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you contact support: "+id))
		case http.StatusServiceUnavailable:
			writeError(w, status, apiErr("SERVER_UNAVAILABLE", "Server too busy"))
		default:
			return false
		}
		return true
	}
}
