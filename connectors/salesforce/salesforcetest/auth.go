package salesforcetest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The org and the integration user the client-credentials flow runs as.
var (
	orgID  = ID18("00D5g0000000001")
	userID = ID18("0055g0000000001")
)

// defaultDailyLimit is what Sforce-Limit-Info reports when no limit is set.
const defaultDailyLimit = 15000

type tokenError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// serveToken is POST /services/oauth2/token for the client-credentials flow.
// The client authenticates with client_id and client_secret in the form or
// with HTTP Basic (RFC 6749 section 2.3.1); golang.org/x/oauth2 may use
// either.
func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r.Method, http.MethodPost)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, tokenError{"invalid_request", "malformed request body"})
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, tokenError{"unsupported_grant_type", "grant type not supported"})
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		// RFC 6749 has the client form-encode both before Basic encoding.
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	}
	if id != e.opts.ClientID {
		writeJSON(w, http.StatusBadRequest, tokenError{"invalid_client_id", "client identifier invalid"})
		return
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(e.opts.ClientSecret)) != 1 {
		writeJSON(w, http.StatusBadRequest, tokenError{"invalid_client", "invalid client credentials"})
		return
	}

	var raw [48]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic("salesforcetest: no randomness: " + err.Error())
	}
	// Salesforce session ids start with the org id and a "!".
	token := orgID[:15] + "!" + base64.RawURLEncoding.EncodeToString(raw[:])
	now := e.opts.Now()
	e.mu.Lock()
	e.tokens[token] = now.Add(e.opts.TokenTTL)
	e.mu.Unlock()

	base := "http://" + r.Host
	identity := base + "/id/" + orgID + "/" + userID
	issued := strconv.FormatInt(now.UnixMilli(), 10)
	// The signature lets a client check instance and identity were not
	// tampered with: HMAC-SHA256 of id + issued_at keyed by the secret.
	mac := hmac.New(sha256.New, []byte(e.opts.ClientSecret))
	mac.Write([]byte(identity + issued))
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": token,
		"instance_url": base,
		"id":           identity,
		"token_type":   "Bearer",
		"issued_at":    issued,
		"signature":    base64.StdEncoding.EncodeToString(mac.Sum(nil)),
		"scope":        "api",
	})
}

// authorize checks the session of a data API call and counts the call
// against the daily limit. It answers the request itself when the call may
// not proceed.
func (e *Emulator) authorize(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		token, ok = strings.CutPrefix(h, "OAuth ") // the older scheme, still accepted
	}
	now := e.opts.Now()
	e.mu.Lock()
	exp, known := e.tokens[token]
	if known && !now.Before(exp) {
		delete(e.tokens, token)
		known = false
	}
	if !ok || !known {
		e.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Token`)
		writeError(w, http.StatusUnauthorized, apiErr("INVALID_SESSION_ID", "Session expired or invalid"))
		return false
	}
	dayAgo := now.Add(-24 * time.Hour)
	i := 0
	for i < len(e.calls) && !e.calls[i].After(dayAgo) {
		i++
	}
	e.calls = e.calls[i:]
	limit := e.opts.DailyLimit
	if limit <= 0 {
		limit = defaultDailyLimit
	}
	refused := e.opts.DailyLimit > 0 && len(e.calls) >= e.opts.DailyLimit
	if !refused {
		e.calls = append(e.calls, now)
	}
	used := len(e.calls)
	e.mu.Unlock()

	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", used, limit))
	if refused {
		writeError(w, http.StatusForbidden, apiErr("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))
		return false
	}
	return true
}
