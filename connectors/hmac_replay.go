package connectors

import "net/http"

// ReplayKey is the delivery's signature when the scheme signs a timestamp
// (timestamp_header set): a sender's retry is then signed anew, and the
// same signature twice is a replay. Without a timestamp a retry and a
// replay look the same, so there is no key: duplicates are still stored
// once, by event id.
func (r *HMACReceiver) ReplayKey(h http.Header) string {
	if r.tsHeader == "" {
		return ""
	}
	return h.Get(r.header)
}
