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

// serveToken is POST /services/oauth2/token for the client-credentials and
// the refresh-token flows. The client authenticates with client_id and
// client_secret in the form or with HTTP Basic (RFC 6749 section 2.3.1);
// golang.org/x/oauth2 may use either. Salesforce's refresh-token flow takes
// the secret too (unless the app is set not to require it, which is not
// modelled).
func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r.Method, http.MethodPost)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, tokenError{"invalid_request", "malformed request body"})
		return
	}
	grant := r.PostForm.Get("grant_type")
	if grant != "client_credentials" && grant != "refresh_token" {
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
	e.mu.Lock()
	known := false
	for s := range e.secrets {
		// Every secret is compared, so the time taken says nothing.
		known = subtle.ConstantTimeCompare([]byte(secret), []byte(s)) == 1 || known
	}
	e.mu.Unlock()
	if !known {
		writeJSON(w, http.StatusBadRequest, tokenError{"invalid_client", "invalid client credentials"})
		return
	}
	if grant == "refresh_token" {
		rt := r.PostForm.Get("refresh_token")
		if e.opts.RefreshToken == "" || subtle.ConstantTimeCompare([]byte(rt), []byte(e.opts.RefreshToken)) != 1 {
			writeJSON(w, http.StatusBadRequest, tokenError{"invalid_grant", "expired access/refresh token"})
			return
		}
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
	// tampered with: HMAC-SHA256 of id + issued_at keyed by the secret,
	// the one this client presented. Neither flow's answer carries a
	// refresh token: Salesforce sends a new one only when the app rotates
	// refresh tokens, which is not modelled.
	mac := hmac.New(sha256.New, []byte(secret))
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
// against the daily limit and RateLimit. It answers the request itself when
// the call may not proceed; a refused call does not count.
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
	rate, limitNow := e.opts.RateLimit, e.opts.LimitClock()
	if rate.Requests > 0 {
		e.recent = within(e.recent, limitNow, rate.Per)
	}
	var refused string
	switch {
	case e.opts.DailyLimit > 0 && len(e.calls) >= e.opts.DailyLimit:
		refused = "TotalRequests Limit exceeded."
	case rate.Requests > 0 && len(e.recent) >= rate.Requests:
		// Salesforce has no such limit; the answer is the one it gives
		// when one of its limits trips, under a name of the emulator's.
		refused = "RequestRate Limit exceeded."
	default:
		e.calls = append(e.calls, now)
		if rate.Requests > 0 {
			e.recent = append(e.recent, limitNow)
		}
	}
	if refused != "" {
		e.rateLimited++
	}
	used := len(e.calls)
	e.mu.Unlock()

	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", used, limit))
	if refused != "" {
		writeError(w, http.StatusForbidden, apiErr("REQUEST_LIMIT_EXCEEDED", refused))
		return false
	}
	return true
}

// within drops the times that left the window ending at now.
func within(ts []time.Time, now time.Time, per time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= per {
		i++
	}
	return ts[i:]
}
