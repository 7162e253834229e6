package hubspottest

import (
	"net/http"

	"github.com/google/uuid"

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

// apiFault writes HubSpot's answer to a 5xx: its recorded 500 body (no
// category, unlike its other errors); its edge's HTML page for 502 and 503.
func apiFault(w http.ResponseWriter, status int) bool {
	if status != http.StatusInternalServerError {
		return false
	}
	writeReply(w, &reply{status: status, body: map[string]string{
		"status": "error", "message": "internal error", "correlationId": uuid.NewString(),
	}})
	return true
}
