// Package salesforcetest is an in-process emulator of the Salesforce REST API
// (v62.0) for the Contact and Account objects, in the manner of
// net/http/httptest: the OAuth 2.0 token endpoint (client credentials and
// refresh token), sessions that expire, SOQL
// query and queryAll with nextRecordsUrl paging, sObject Collections
// (create, update, upsert by external id, delete, retrieve), describe, the
// daily API limit and its Sforce-Limit-Info header, and Salesforce's error
// bodies and codes. Contact.AccountId is a lookup that refuses what is not
// a live Account, and deleting an Account takes its Contacts to the recycle
// bin with it, as in Salesforce. Records live in memory. It can also misbehave as a real
// org does now and then (Faults): latency, 5xx, dropped connections,
// requests that hang.
//
// Tests drive it through the API like a real org, and act as a user in the
// Salesforce UI through Create, Update, Delete and Undelete, which stamp
// records but are not API requests.
package salesforcetest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"tandem/connectors/internal/faults"
	"time"
)

// APIVersion is the only version the emulator serves.
const APIVersion = "v62.0"

const dataPrefix = "/services/data/" + APIVersion + "/"

// Options configures an Emulator. Zero values take the defaults.
type Options struct {
	ClientID     string // default "test-client-id"
	ClientSecret string // default "test-client-secret"
	// ClientSecrets are more secrets accepted for ClientID besides
	// ClientSecret: the old and the new one while the connected app's
	// secret is rotated. SetClientSecrets changes them later.
	ClientSecrets []string
	// RefreshToken, when set, is a refresh token the org issued to the app
	// earlier (by the web server flow, which the emulator does not serve):
	// grant_type=refresh_token with it gets a new session, and with any
	// other token invalid_grant.
	RefreshToken string
	// Now is the server's clock (default time.Now): it stamps records and
	// the Date header, and sessions and the daily limit are measured on it.
	Now func() time.Time
	// LimitClock is the clock RateLimit is measured on: the wall clock by
	// default, whatever Now is, so a test clock that stands still cannot
	// fill the window for good. A test of the limit gives its own clock
	// here and moves it instead of sleeping.
	LimitClock func() time.Time
	TokenTTL   time.Duration // lifetime of a session (access token); default 2h
	// BatchSize caps the records of one query batch (default and maximum
	// 2000, as in Salesforce); tests lower it to exercise nextRecordsUrl.
	BatchSize int
	// DailyLimit is the org's API calls per rolling 24 hours. The usage is
	// always reported in Sforce-Limit-Info (against 15000 when unset); calls
	// are refused only when DailyLimit is set.
	DailyLimit int
	// RateLimit, when Requests > 0, refuses API calls past Requests per
	// rolling Per (default one second) with 403 REQUEST_LIMIT_EXCEEDED.
	// Salesforce documents no such limit: this is a test aid, for pacing
	// a client against a rate it was told.
	RateLimit RateLimit
	// Faults makes a share of requests fail; see Faults.
	Faults Faults
	// ExtraFields adds custom text fields (255 characters) per object:
	// {"Contact": {"Nickname__c"}}. New panics on an unknown object or a
	// field that exists already: that is a mistake in the test.
	ExtraFields map[string][]string
	// ExtraPicklists adds custom picklist fields per object, with active
	// and inactive values for describe; New panics on a name that exists
	// or does not end in __c.
	ExtraPicklists map[string][]Picklist
}

// RateLimit is a request rate: Requests per rolling Per. It has the fields
// of connectors.RateLimit, so a test can convert one into the other and
// give the client and the emulator the same limit.
type RateLimit struct {
	Requests int
	Per      time.Duration
}

// Request is one request the emulator received, with the status it got:
// 0 until it is answered, and 0 for good when no answer was sent (a
// dropped connection, a client that gave up).
type Request struct {
	Method, Path, RawQuery string
	Body                   []byte
	Status                 int
	Fault                  Fault // the fault it met, if any
}

// Emulator is one emulated org. It is an http.Handler; all methods are safe
// for concurrent use.
type Emulator struct {
	faults *faults.State // its own lock: delays and held requests hold no other
	// onChange is the OnChange hook, read after mu is released.
	onChange atomic.Pointer[func(object, id string, at time.Time)]

	mu          sync.Mutex
	opts        Options
	secrets     map[string]bool   // client secrets accepted
	tables      map[string]*table // lower-cased object name -> table
	tokens      map[string]time.Time
	locators    map[string]*locator
	locSeq      int
	requests    []Request
	reqGen      int // bumped by ResetRequests, so requests in flight do not write into the new log
	writes      int
	handled     int // requests the emulator answered itself (not failed by a fault)
	rateLimited int
	faulted     int
	calls       []time.Time // API calls of the rolling day, oldest first
	recent      []time.Time // API calls in the RateLimit window, oldest first
}

// New returns an emulator with an empty org.
func New(o Options) *Emulator {
	if o.ClientID == "" {
		o.ClientID = "test-client-id"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "test-client-secret"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = 2 * time.Hour
	}
	if o.BatchSize <= 0 || o.BatchSize > maxBatch {
		o.BatchSize = maxBatch
	}
	if o.LimitClock == nil {
		o.LimitClock = time.Now
	}
	if o.RateLimit.Requests > 0 && o.RateLimit.Per <= 0 {
		o.RateLimit.Per = time.Second
	}
	e := &Emulator{
		faults:   faults.New("salesforcetest", o.Faults),
		opts:     o,
		tables:   map[string]*table{},
		tokens:   map[string]time.Time{},
		locators: map[string]*locator{},
	}
	for key, obj := range newSchema(o.ExtraFields, o.ExtraPicklists) {
		e.tables[key] = newTable(obj)
	}
	e.SetClientSecrets(append([]string{o.ClientSecret}, o.ClientSecrets...)...)
	return e
}

// now is the server clock at the precision of Salesforce's datetimes: the
// whole second. The API writes milliseconds, but they are always .000
// (CreatedDate, LastModifiedDate and SystemModstamp alike), so two writes
// in the same second get the same stamp, as they do in a real org, and a
// record edited again within a second keeps its stamp.
func (e *Emulator) now() time.Time { return e.opts.Now().UTC().Truncate(time.Second) }

func (e *Emulator) table(object string) *table { return e.tables[strings.ToLower(object)] }

// Server is an Emulator listening on 127.0.0.1.
type Server struct {
	*Emulator
	URL string // http://127.0.0.1:PORT, no trailing slash
	srv *httptest.Server
}

// NewServer starts an emulator on a loopback port.
func NewServer(o Options) *Server {
	e := New(o)
	s := httptest.NewServer(e)
	return &Server{Emulator: e, URL: s.URL, srv: s}
}

// Close shuts the server down, waiting for requests in flight; those held
// by a fault are let go first, so it does not wait for their clients to
// give up.
func (s *Server) Close() {
	s.Emulator.Close()
	s.srv.Close()
}

// Close lets go of the requests that faults hold (latency, FaultTimeout):
// their connections are dropped. The emulator still answers afterwards,
// without delays or holds. Server.Close calls it.
func (e *Emulator) Close() { e.faults.Close() }

// SetFaults replaces the faults injected from now on; the generator starts
// again from the new Seed. A zero Faults turns them off.
func (e *Emulator) SetFaults(f Faults) { e.faults.Set(f) }

// SetClientSecrets replaces the client secrets accepted for the client id,
// as rotating the connected app's secret does: the token endpoint refuses
// any other with invalid_client. Sessions already issued stay valid.
func (e *Emulator) SetClientSecrets(secrets ...string) {
	set := map[string]bool{}
	for _, s := range secrets {
		if s != "" {
			set[s] = true
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = set
}

// Requests returns every request received so far, in arrival order.
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Request, len(e.requests))
	copy(out, e.requests)
	return out
}

// ResetRequests forgets the requests received so far and zeroes the counts
// (Writes, Served, RateLimited, Faulted). The daily usage and the RateLimit
// window are the org's and stay.
func (e *Emulator) ResetRequests() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = nil
	e.reqGen++
	e.writes, e.handled, e.rateLimited, e.faulted = 0, 0, 0, 0
}

// Writes counts the requests received that can change data (collection
// create, update, upsert and delete, sObject Rows updates, Composite
// calls), whatever their outcome. A request
// failed by a fault before the API saw it is not counted.
func (e *Emulator) Writes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.writes
}

// Served is the number of requests the emulator handled, whatever their
// status (token requests, 401s and 400s included), other than API calls
// refused for a limit. Requests failed by a fault before the API saw them
// are not counted; those reset after commit are.
func (e *Emulator) Served() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.handled - e.rateLimited
}

// RateLimited is the number of API calls refused with 403
// REQUEST_LIMIT_EXCEEDED: past DailyLimit or RateLimit.
func (e *Emulator) RateLimited() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rateLimited
}

// Faulted is the number of requests that met an injected fault.
func (e *Emulator) Faulted() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.faulted
}

// RevokeTokens invalidates every access token issued, as an admin revoking
// sessions would; the next API call gets 401 INVALID_SESSION_ID.
func (e *Emulator) RevokeTokens() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.tokens)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// maxRequestBody bounds what one request may send; Salesforce refuses
// bodies over about 50 MB.
const maxRequestBody = 50 << 20

// ServeHTTP records the request, then routes it.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil || len(body) > maxRequestBody {
		http.Error(w, "request body unreadable or too large", http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	// A fault is decided before the request does anything, so one that
	// fails it cannot leave a write half done.
	fault, latency, hold := e.faults.Decide()
	reaches := fault == "" || fault == FaultResetAfterCommit
	e.mu.Lock()
	slot, gen := len(e.requests), e.reqGen
	e.requests = append(e.requests, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Body: body, Fault: fault})
	if fault != "" {
		e.faulted++
	}
	e.mu.Unlock()

	if !e.faults.Wait(r.Context(), latency) {
		abort(w) // the client gave up, or the server is closing
		return
	}
	if !reaches {
		e.setStatus(slot, gen, fault.Status())
		e.faults.Fail(w, r, fault, hold, apiFault(e.faults))
		return
	}
	if isWrite(r) {
		e.mu.Lock()
		e.writes++
		e.mu.Unlock()
	}
	out := w
	if fault == FaultResetAfterCommit {
		out = httptest.NewRecorder() // the answer is made, then lost
	}
	sw := &statusWriter{ResponseWriter: out}
	// Salesforce dates its responses; with a test clock this keeps the Date
	// header consistent with the record stamps.
	sw.Header().Set("Date", e.opts.Now().UTC().Format(http.TimeFormat))
	e.route(sw, r)

	e.mu.Lock()
	e.handled++
	e.mu.Unlock()
	e.setStatus(slot, gen, sw.status)
	if fault == FaultResetAfterCommit {
		abort(w)
	}
}

// setStatus records the status a logged request was answered with, unless
// the log was reset since it arrived.
func (e *Emulator) setStatus(slot, gen, status int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if gen == e.reqGen {
		e.requests[slot].Status = status
	}
}

func isWrite(r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/services/data/") {
		return false
	}
	switch r.Method {
	case http.MethodPost:
		// POST composite/sobjects/{Object} is the retrieve that carries its
		// ids in a body: a read.
		rest, _ := strings.CutPrefix(r.URL.Path, dataPrefix)
		seg := strings.Split(strings.Trim(rest, "/"), "/")
		return !(len(seg) == 3 && seg[0] == "composite" && seg[1] == "sobjects")
	case http.MethodPatch, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// maxURI is the longest request target the emulator accepts. Salesforce
// documents that a GET retrieve takes about 800 ids before its URL is too
// long (414); 800 ids of 18 characters and their commas come to some
// 15,200 bytes, so the limit sits near 16 KiB.
const maxURI = 16 << 10

func (e *Emulator) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if len(r.RequestURI) > maxURI {
		// Refused in front of the API, before any session check, and not
		// in the API's JSON.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusRequestURITooLong)
		_, _ = io.WriteString(w, "<html><body><h1>414 URI Too Long</h1></body></html>\n")
		return
	}
	switch {
	case p == "/services/oauth2/token":
		e.serveToken(w, r)
	case p == "/services/data" || p == "/services/data/":
		// The list of versions needs no session, as in Salesforce.
		writeJSON(w, http.StatusOK, []map[string]string{{"label": "Winter '25", "url": "/services/data/" + APIVersion, "version": strings.TrimPrefix(APIVersion, "v")}})
	case strings.HasPrefix(p, "/services/data/"):
		if !e.authorize(w, r) {
			return
		}
		rest, ok := strings.CutPrefix(p+"/", dataPrefix)
		if !ok {
			notFound(w) // another API version, as Salesforce answers it
			return
		}
		e.serveData(w, r, strings.TrimSuffix(rest, "/"))
	default:
		notFound(w)
	}
}

// serveData routes a call under /services/data/v62.0/.
func (e *Emulator) serveData(w http.ResponseWriter, r *http.Request, rest string) {
	seg := strings.Split(strings.Trim(rest, "/"), "/")
	switch {
	case rest == "":
		only(w, r, http.MethodGet, func() {
			writeJSON(w, http.StatusOK, map[string]string{
				"query": dataPrefix + "query", "queryAll": dataPrefix + "queryAll",
				"sobjects": dataPrefix + "sobjects", "composite": dataPrefix + "composite",
			})
		})
	case (seg[0] == "query" || seg[0] == "queryAll") && len(seg) <= 2:
		only(w, r, http.MethodGet, func() {
			if len(seg) == 1 {
				e.serveQuery(w, r, seg[0] == "queryAll")
			} else {
				e.serveMore(w, r, seg[0], seg[1])
			}
		})
	case len(seg) == 1 && seg[0] == "composite":
		only(w, r, http.MethodPost, func() { e.serveComposite(w, r) }) // rows.go
	case len(seg) >= 2 && seg[0] == "composite" && seg[1] == "sobjects":
		e.serveCollections(w, r, seg[2:])
	case len(seg) == 3 && seg[0] == "sobjects" && seg[2] == "describe":
		only(w, r, http.MethodGet, func() { e.serveDescribe(w, r, seg[1]) })
	case len(seg) == 3 && seg[0] == "sobjects" && r.Method == http.MethodPatch:
		e.serveRowUpdate(w, r, seg[1], seg[2]) // rows.go
	case len(seg) == 3 && seg[0] == "sobjects":
		only(w, r, http.MethodGet, func() { e.serveRecord(w, r, seg[1], seg[2]) })
	default:
		notFound(w)
	}
}

// only runs h when r uses method, and answers 405 otherwise.
func only(w http.ResponseWriter, r *http.Request, method string, h func()) {
	if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
		allowed := method
		if method == http.MethodGet {
			allowed = "GET,HEAD"
		}
		methodNotAllowed(w, r.Method, allowed)
		return
	}
	h()
}
