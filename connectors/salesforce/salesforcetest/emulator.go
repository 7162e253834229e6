// Package salesforcetest is an in-process emulator of the Salesforce REST API
// (v62.0) for the Contact and Account objects, in the manner of
// net/http/httptest: the OAuth 2.0 client-credentials token endpoint, SOQL
// query and queryAll with nextRecordsUrl paging, sObject Collections
// (create, update, upsert by external id, delete, retrieve), describe, the
// daily API limit and its Sforce-Limit-Info header, and Salesforce's error
// bodies and codes. Records live in memory.
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
	"time"
)

// APIVersion is the only version the emulator serves.
const APIVersion = "v62.0"

const dataPrefix = "/services/data/" + APIVersion + "/"

// Options configures an Emulator. Zero values take the defaults.
type Options struct {
	ClientID     string           // default "test-client-id"
	ClientSecret string           // default "test-client-secret"
	Now          func() time.Time // the server's clock; default time.Now
	TokenTTL     time.Duration    // lifetime of an access token; default 2h
	// BatchSize caps the records of one query batch (default and maximum
	// 2000, as in Salesforce); tests lower it to exercise nextRecordsUrl.
	BatchSize int
	// DailyLimit is the org's API calls per rolling 24 hours. The usage is
	// always reported in Sforce-Limit-Info (against 15000 when unset); calls
	// are refused only when DailyLimit is set.
	DailyLimit int
	// ExtraFields adds custom text fields (255 characters) per object:
	// {"Contact": {"Nickname__c"}}. New panics on an unknown object or a
	// field that exists already: that is a mistake in the test.
	ExtraFields map[string][]string
	// ExtraPicklists adds custom picklist fields per object, with active
	// and inactive values for describe; New panics on a name that exists
	// or does not end in __c.
	ExtraPicklists map[string][]Picklist
}

// Request is one request the emulator received, with the status it got.
type Request struct {
	Method, Path, RawQuery string
	Body                   []byte
	Status                 int
}

// Emulator is one emulated org. It is an http.Handler; all methods are safe
// for concurrent use.
type Emulator struct {
	mu       sync.Mutex
	opts     Options
	tables   map[string]*table // lower-cased object name -> table
	tokens   map[string]time.Time
	locators map[string]*locator
	locSeq   int
	requests []Request
	reqGen   int // bumped by ResetRequests, so requests in flight do not write into the new log
	writes   int
	calls    []time.Time // API calls of the rolling day, oldest first
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
	e := &Emulator{
		opts:     o,
		tables:   map[string]*table{},
		tokens:   map[string]time.Time{},
		locators: map[string]*locator{},
	}
	for key, obj := range newSchema(o.ExtraFields, o.ExtraPicklists) {
		e.tables[key] = newTable(obj)
	}
	return e
}

// now is the server clock at millisecond precision, the precision of
// Salesforce's datetimes. Two writes in the same millisecond get the same
// stamp, as they can in a real org.
func (e *Emulator) now() time.Time { return e.opts.Now().UTC().Truncate(time.Millisecond) }

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

// Close shuts the server down, waiting for requests in flight.
func (s *Server) Close() { s.srv.Close() }

// Requests returns every request received so far, in arrival order.
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Request, len(e.requests))
	copy(out, e.requests)
	return out
}

// ResetRequests forgets the requests received so far (and the write count).
func (e *Emulator) ResetRequests() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = nil
	e.reqGen++
	e.writes = 0
}

// Writes counts the requests received that can change data (collection
// create, update, upsert and delete), whatever their outcome.
func (e *Emulator) Writes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.writes
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
	e.mu.Lock()
	slot, gen := len(e.requests), e.reqGen
	e.requests = append(e.requests, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Body: body})
	if isWrite(r) {
		e.writes++
	}
	e.mu.Unlock()

	sw := &statusWriter{ResponseWriter: w}
	// Salesforce dates its responses; with a test clock this keeps the Date
	// header consistent with the record stamps.
	sw.Header().Set("Date", e.opts.Now().UTC().Format(http.TimeFormat))
	e.route(sw, r)

	e.mu.Lock()
	if gen == e.reqGen {
		e.requests[slot].Status = sw.status
	}
	e.mu.Unlock()
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
	case len(seg) >= 2 && seg[0] == "composite" && seg[1] == "sobjects":
		e.serveCollections(w, r, seg[2:])
	case len(seg) == 3 && seg[0] == "sobjects" && seg[2] == "describe":
		only(w, r, http.MethodGet, func() { e.serveDescribe(w, r, seg[1]) })
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
