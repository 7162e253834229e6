// Package resttest holds what the rest connector is tested against: an
// in-process emulator of a custom CRM's REST API (like net/http/httptest)
// for the awkward cases the real servers do not produce, and the helpers
// that start the real ones (json-server, PocketBase; servers.go).
//
// The emulator serves one collection, /contacts, and the behaviours an
// in-house API shows and json-server or PocketBase do not: an ETag on
// every record and If-Match on writes (412), a version field (409), a
// request budget told in RateLimit-* headers and enforced with 429 and
// Retry-After, every paging style (page number with a Link header,
// offset, a next-cursor token), soft deletes kept as tombstones, records
// committed late (stamped before records already readable), stamps of a
// whole second, idempotency keys on creates, and OAuth2 client-credentials
// tokens that expire.
package resttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"tandem/connectors/internal/faults"
)

// Options shape an emulator. Zero values: no auth, millisecond stamps,
// no limit.
type Options struct {
	// Auth is "" (none), "bearer" (Token), "basic" (User, Password),
	// "api_key" (Token in X-API-Key or the api_key parameter) or "oauth2"
	// (client credentials ClientID, Password at /oauth/token; tokens last
	// TokenTTL, default an hour).
	Auth           string
	Token          string
	User, Password string
	ClientID       string
	TokenTTL       time.Duration
	// Precision of the updated_at stamps (default a millisecond).
	Precision time.Duration
	// Limit requests per Window (default a second); beyond, 429 with
	// Retry-After. Every answer tells the budget in RateLimit-* headers.
	Limit  int
	Window time.Duration
	Now    func() time.Time
	// UniqueEmail: a create with an email another live record holds is
	// refused (409).
	UniqueEmail bool
	// HardDelete: a delete removes the record, and lists it at
	// GET /contacts/deleted ({"data": [{"id", "deleted_at"}]}, filtered by
	// deleted_since) instead of keeping a tombstone.
	HardDelete bool
	// Faults makes a share of requests fail (5xx, a dropped or held
	// connection) before they do anything; SetFaults changes them.
	Faults Faults
}

// Faults, and the faults a request can meet, are those every emulator
// shares (connectors/internal/faults).
type (
	Faults = faults.Faults
	Fault  = faults.Fault
)

const (
	Fault500              = faults.Fault500
	Fault502              = faults.Fault502
	Fault503              = faults.Fault503
	FaultReset            = faults.FaultReset
	FaultTimeout          = faults.FaultTimeout
	FaultResetAfterCommit = faults.FaultResetAfterCommit
)

// Record is a contact as the emulator keeps it.
type Record struct {
	ID      string         `json:"id"`
	Fields  map[string]any `json:"-"`
	Updated time.Time      `json:"-"`
	Version int            `json:"-"`
	Deleted bool           `json:"-"`
}

// Server is an emulator: an http.Handler, and, from NewServer, a
// running test server.
type Server struct {
	*httptest.Server // nil for New's
	o                Options

	mu          sync.Mutex
	recs        map[string]*Record
	gone        []gone // HardDelete: the deleted records, oldest first
	next        int
	idem        map[string]string // idempotency key -> record id
	tokens      map[string]time.Time
	window      time.Time // start of the current rate window
	used        int
	refused     int // requests refused for rate
	served      int // requests answered by the API (not by a fault)
	faulted     int // requests that met an injected fault
	faults      *faults.State
	writes      int // requests that could change a record, whatever their outcome
	failNext    []int
	beforeWrite func() // called once, before the next PATCH or PUT is applied
	requests    []string
}

// NewServer starts an emulator on loopback; Close stops it.
func NewServer(o Options) *Server {
	s := New(o)
	s.Server = httptest.NewServer(s)
	return s
}

// ServeHTTP serves the emulated API. The request's body is read, and its
// answer made, before and after the emulator's lock is held, so a slow
// client holds up nobody else (nor the test's own edits).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		faults.Abort(w)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	fault, latency, hold := s.faults.Decide()
	if !s.faults.Wait(r.Context(), latency) {
		faults.Abort(w)
		return
	}
	if fault != "" {
		s.mu.Lock()
		s.faulted++
		s.mu.Unlock()
	}
	if fault != "" && fault != FaultResetAfterCommit {
		s.faults.Fail(w, r, fault, hold, func(w http.ResponseWriter, status int) bool {
			reply(w, status, map[string]string{"message": "injected failure"})
			return true
		})
		return
	}
	rec := httptest.NewRecorder()
	s.serve(rec, r)
	if fault == FaultResetAfterCommit {
		faults.Abort(w) // done, and the answer lost
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// SetFaults replaces the faults injected from now on (a zero Faults turns
// them off).
func (s *Server) SetFaults(f Faults) { s.faults.Set(f) }

// Close stops the test server NewServer started, and lets go of the
// requests a fault holds.
func (s *Server) Close() {
	s.faults.Close()
	if s.Server != nil {
		s.Server.Close()
	}
}

// New is an emulator to serve with a server of the caller's (tandem
// sandbox), not started.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Precision <= 0 {
		o.Precision = time.Millisecond
	}
	if o.Window <= 0 {
		o.Window = time.Second
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	return &Server{o: o, recs: map[string]*Record{}, idem: map[string]string{}, tokens: map[string]time.Time{}, faults: faults.New("resttest", o.Faults)}
}

func (s *Server) now() time.Time { return s.o.Now().UTC().Truncate(s.o.Precision) }

func (s *Server) stamp(t time.Time) string {
	if s.o.Precision >= time.Second {
		return t.UTC().Format("2006-01-02T15:04:05Z")
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// Create adds a record as a person would; at, when not zero, is its stamp
// (a record committed late carries a stamp before records already read).
func (s *Server) Create(fields map[string]any, at time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.create(fields, at)
}

func (s *Server) create(fields map[string]any, at time.Time) string {
	s.next++
	id := fmt.Sprintf("c%04d", s.next)
	if at.IsZero() {
		at = s.now()
	}
	f := map[string]any{}
	for k, v := range fields {
		f[k] = v
	}
	s.recs[id] = &Record{ID: id, Fields: f, Updated: at.UTC().Truncate(s.o.Precision), Version: 1}
	return id
}

// Update sets fields of a record as a person would.
func (s *Server) Update(id string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.recs[id]
	for k, v := range fields {
		r.Fields[k] = v
	}
	r.Updated, r.Version = s.now(), r.Version+1
}

// Delete deletes a record as a person would: softly (it stays listed, as
// a tombstone), or with HardDelete for good.
func (s *Server) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delete(s.recs[id])
}

type gone struct {
	ID string
	At time.Time
}

func (s *Server) delete(r *Record) {
	if s.o.HardDelete {
		delete(s.recs, r.ID)
		s.gone = append(s.gone, gone{r.ID, s.now()})
		return
	}
	r.Deleted, r.Updated, r.Version = true, s.now(), r.Version+1
}

// Get returns a copy of a record, and whether there is one.
func (s *Server) Get(id string) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	if !ok {
		return Record{}, false
	}
	c := *r
	c.Fields = map[string]any{}
	for k, v := range r.Fields {
		c.Fields[k] = v
	}
	return c, true
}

// List is every record, tombstones included, by id.
func (s *Server) List() []Record {
	s.mu.Lock()
	ids := make([]string, 0, len(s.recs))
	for id := range s.recs {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	sort.Strings(ids)
	var out []Record
	for _, id := range ids {
		r, _ := s.Get(id)
		out = append(out, r)
	}
	return out
}

// FailNext makes the next requests fail with these statuses, in order (a
// 429 carries Retry-After: 1).
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, statuses...)
}

// BeforeWrite runs fn once when the next PATCH or PUT arrives, before
// its If-Match or version is checked: an edit made in the gap between a
// client's read and its write.
func (s *Server) BeforeWrite(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforeWrite = fn
}

// RevokeTokens makes every OAuth2 token issued so far invalid.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]time.Time{}
}

// RateLimited is how many requests were refused for rate.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// ResetRequests forgets the requests served so far and zeroes the counts
// (Writes, Served, RateLimited, Faulted); the records, the rate window
// and the tokens stay.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.writes, s.served, s.refused, s.faulted = nil, 0, 0, 0, 0
}

// Served is the number of requests the API answered, refused for rate or
// not; those that met a fault are not counted.
func (s *Server) Served() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served
}

// Faulted is the number of requests that met an injected fault.
func (s *Server) Faulted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faulted
}

// Writes is the number of requests that could change a record (POST,
// PATCH, PUT, DELETE) the API saw, whatever their outcome; those failed
// by FailNext or refused for rate are not counted.
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Requests are the requests served so far, as "METHOD path?query".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// json is a record as the API shows it.
func (s *Server) json(r *Record) map[string]any {
	m := map[string]any{}
	for k, v := range r.Fields {
		m[k] = v
	}
	m["id"], m["updated_at"], m["version"], m["deleted"] = r.ID, s.stamp(r.Updated), r.Version, r.Deleted
	return m
}

func etag(r *Record) string { return fmt.Sprintf(`"v%d"`, r.Version) }

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	s.served++
	if r.URL.Path == "/oauth/token" {
		s.token(w, r)
		return
	}
	if len(s.failNext) > 0 {
		st := s.failNext[0]
		s.failNext = s.failNext[1:]
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		reply(w, st, map[string]string{"message": "injected failure"})
		return
	}
	if !s.allowed(w) {
		return
	}
	if !s.authorized(r) {
		reply(w, http.StatusUnauthorized, map[string]string{"message": "not authenticated"})
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/contacts")
	if ok && r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.writes++
	}
	switch {
	case !ok:
		reply(w, http.StatusNotFound, map[string]string{"message": "no such path"})
	case rest == "" && r.Method == http.MethodGet:
		s.list(w, r)
	case rest == "" && r.Method == http.MethodPost:
		s.post(w, r)
	case rest == "/deleted" && r.Method == http.MethodGet:
		s.deleted(w, r)
	case strings.HasPrefix(rest, "/"):
		s.one(w, r, rest[1:])
	default:
		reply(w, http.StatusMethodNotAllowed, map[string]string{"message": "method not allowed"})
	}
}

// allowed spends one request of the budget, or refuses with 429.
func (s *Server) allowed(w http.ResponseWriter) bool {
	if s.o.Limit <= 0 {
		return true
	}
	now := time.Now()
	if now.Sub(s.window) >= s.o.Window {
		s.window, s.used = now, 0
	}
	reset := s.o.Window - now.Sub(s.window)
	w.Header().Set("RateLimit-Limit", strconv.Itoa(s.o.Limit))
	w.Header().Set("RateLimit-Policy", fmt.Sprintf("%d;w=%d", s.o.Limit, int(s.o.Window.Seconds())))
	w.Header().Set("RateLimit-Reset", strconv.Itoa(int(reset.Seconds()+0.999)))
	if s.used >= s.o.Limit {
		s.refused++
		w.Header().Set("RateLimit-Remaining", "0")
		w.Header().Set("Retry-After", strconv.Itoa(int(reset.Seconds()+0.999)))
		reply(w, http.StatusTooManyRequests, map[string]string{"message": "rate limit"})
		return false
	}
	s.used++
	w.Header().Set("RateLimit-Remaining", strconv.Itoa(s.o.Limit-s.used))
	return true
}

func (s *Server) authorized(r *http.Request) bool {
	switch s.o.Auth {
	case "bearer":
		return r.Header.Get("Authorization") == "Bearer "+s.o.Token
	case "basic":
		u, p, ok := r.BasicAuth()
		return ok && u == s.o.User && p == s.o.Password
	case "api_key":
		return r.Header.Get("X-API-Key") == s.o.Token || r.URL.Query().Get("api_key") == s.o.Token
	case "oauth2":
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		exp, known := s.tokens[tok]
		return ok && known && time.Now().Before(exp)
	}
	return true
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		r.ParseForm()
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.o.ClientID || secret != s.o.Password {
		reply(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	s.next++
	tok := fmt.Sprintf("tok-%d", s.next)
	s.tokens[tok] = time.Now().Add(s.o.TokenTTL)
	reply(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(s.o.TokenTTL.Seconds())})
}
