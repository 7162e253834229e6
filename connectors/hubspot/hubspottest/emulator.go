// Package hubspottest is an in-process emulator of HubSpot's CRM v3 objects
// API for contacts and companies, in the manner of net/http/httptest: list,
// read, search, single and batch writes, the associations v4 API between
// contacts and companies (batch read, create, archive, with HubSpot's
// default types), the recycle bin (archived=true),
// property history (propertiesWithHistory), and the properties API's list
// of an object's properties, with HubSpot's paging, limits, property types
// and validation, error bodies, rate limits and their headers and 429s, and
// its habit of returning batch results out of input order. It can also
// misbehave as a real API does now and then (Faults): latency, 5xx,
// dropped connections, requests that hang. Like a HubSpot app with webhook
// subscriptions, it can POST signed (v3) webhook deliveries of every
// change to a URL (SetWebhooks), and drop or repeat some of them. Tests,
// benchmarks and `tandem sandbox` run connectors against it instead of a
// real portal.
package hubspottest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"tandem/connectors/internal/faults"
	"time"
)

// Options configure an Emulator. Zero values take the defaults.
type Options struct {
	// Token is a private app token every request may carry as
	// "Authorization: Bearer <Token>"; Tokens are more, accepted as well
	// (an app's old and new token while it is rotated). When both are
	// empty the one token is "test-token". Any other gets HubSpot's 401.
	Token  string
	Tokens []string
	// Now is the clock that stamps createdate, the modified dates,
	// archivedAt and property history, and that every response's Date
	// header shows (default time.Now); stamps are truncated to
	// milliseconds, so ties happen, as they do in HubSpot.
	Now func() time.Time
	// LimitClock is the clock the rate windows and the daily allowance
	// are measured on: the wall clock by default, whatever Now is, since
	// a test clock that stands still would report a window that never
	// empties (X-HubSpot-RateLimit-Remaining stuck at 0) and stall any
	// client that paces itself by the headers. A test of the limits gives
	// its own clock here and moves it instead of sleeping.
	LimitClock func() time.Time
	// RateLimit, when Requests > 0, is enforced: past Requests in the
	// rolling Per (default 10 s), a request gets HubSpot's 429
	// TEN_SECONDLY_ROLLING. HubSpot gives a private app 100 to 250 per
	// 10 s depending on the portal's plan. Unset, the headers report
	// 190 per 10 s and nothing is refused.
	RateLimit RateLimit
	// DailyLimit, when > 0, is the portal's allowance of requests per
	// day, which HubSpot resets at midnight in the portal's time zone
	// (TimeZone, default UTC); past it every request gets the 429 DAILY
	// until then. Unset, the headers report 1,000,000 a day.
	DailyLimit int
	TimeZone   *time.Location
	// SearchLimit, when Requests > 0, is the search endpoints' own limit,
	// per rolling Per (default one second): HubSpot documents five
	// searches a second. Past it, a search gets the 429 SECONDLY.
	SearchLimit RateLimit
	// RetryAfter adds a Retry-After header (whole seconds until the spent
	// limit has room again) to the 429s. HubSpot does not document one and
	// its own client does not read it, so it is off by default.
	RetryAfter bool
	// Faults makes a share of requests fail; see Faults.
	Faults Faults
	// ExtraProperties adds string properties per object type.
	ExtraProperties map[string][]string
	// Properties adds typed properties per object type ("contacts",
	// "companies"), validated on write as HubSpot validates its own: see
	// Property. New panics on a declaration HubSpot would refuse, or one
	// that names an existing property: that is a mistake in the test.
	Properties map[string][]Property
	// UniqueProperties marks properties (added if unknown) as unique-value
	// properties: enforced unique and usable as idProperty.
	UniqueProperties map[string][]string
	// SearchLag is how long after a write /search shows it (lag.go):
	// HubSpot's search index trails its writes by seconds, while GET,
	// batch/read and the recycle bin see them at once. Measured on Now.
	// Zero (the default) indexes at once.
	SearchLag time.Duration
}

// Emulator is the emulated HubSpot portal. It implements http.Handler and
// is safe for concurrent use: one lock serialises every request and test
// call, which is also what makes each batch atomic.
type Emulator struct {
	now      func() time.Time
	limitNow func() time.Time
	faults   *faults.State

	mu          sync.Mutex
	tokens      map[string]bool
	limits      *limits
	types       map[string]*objectType // by path name and by type id
	tables      map[string]*table      // by path name
	requests    []Request
	reqGen      int // bumped by ResetRequests, so requests in flight do not write into the new log
	writes      int
	served      int // requests the API handled, not refused for rate
	rateLimited int
	faulted     int
	hooks       hooks  // webhook deliveries (webhooks.go)
	assocs      assocs // associations v4 (assoc.go)
}

// Request is one API request the emulator received. Status is 0 until it
// is answered, and stays 0 when no answer was sent (a dropped connection,
// a client that gave up).
type Request struct {
	Method, Path, RawQuery string
	Body                   []byte
	Status                 int
	Fault                  Fault // the fault it met, if any
}

const maxBody = 16 << 20

// New returns an empty portal.
func New(o Options) *Emulator {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LimitClock == nil {
		o.LimitClock = time.Now
	}
	e := &Emulator{now: o.Now, limitNow: o.LimitClock, faults: faults.New("hubspottest", o.Faults), limits: newLimits(o),
		types: map[string]*objectType{}, tables: map[string]*table{}, assocs: assocs{}}
	e.SetTokens(append([]string{o.Token}, o.Tokens...)...)
	types, err := newTypes(o.ExtraProperties, o.Properties, o.UniqueProperties)
	if err != nil {
		panic("hubspottest: " + err.Error())
	}
	for name, t := range types {
		e.types[name] = t
		e.types[t.typeID] = t
		e.tables[name] = newTable(t)
		e.tables[name].lag = o.SearchLag
	}
	return e
}

// Server is an Emulator listening on 127.0.0.1.
type Server struct {
	*Emulator
	URL string // http://127.0.0.1:PORT, no trailing slash
	srv *httptest.Server
}

// NewServer starts an Emulator on a loopback port.
func NewServer(o Options) *Server {
	e := New(o)
	srv := httptest.NewServer(e)
	return &Server{Emulator: e, URL: srv.URL, srv: srv}
}

// Close shuts the server down. Requests held by a fault are let go first,
// so Close does not wait for their clients to give up.
func (s *Server) Close() {
	s.Emulator.Close()
	s.srv.Close()
}

// Close lets go of the requests that faults hold (latency, FaultTimeout):
// their connections are dropped. It also stops sending webhooks, dropping
// what was not sent yet, and waits for the sender to end. The emulator
// still answers afterwards, without delays or holds. Server.Close calls
// it.
func (e *Emulator) Close() {
	e.faults.Close()
	e.SetWebhooks(nil)
}

func (e *Emulator) stamp() time.Time { return e.now().UTC().Truncate(time.Millisecond) }

// ServeHTTP answers one API request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	// A fault is decided before the request does anything, so one that
	// fails it cannot leave a write half done. The request is logged on
	// arrival, so a test can see one that is delayed or held.
	fault, latency, hold := e.faults.Decide()
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
	if fault != "" && fault != FaultResetAfterCommit {
		e.setStatus(slot, gen, fault.Status())
		e.faults.Fail(w, r, fault, hold, apiFault)
		return
	}

	var rep *reply
	e.mu.Lock()
	switch {
	case err != nil:
		rep = validation("Could not read the request body: %v", err)
	case len(body) > maxBody:
		rep = fail(http.StatusRequestEntityTooLarge, "VALIDATION_ERROR", "Request body larger than %d bytes", maxBody)
	default:
		rep = e.serve(r, body)
	}
	if rep.status != http.StatusTooManyRequests {
		e.served++
	}
	if gen == e.reqGen {
		e.requests[slot].Status = rep.status
	}
	e.mu.Unlock()

	if fault == FaultResetAfterCommit {
		abort(w) // done, and the answer lost
		return
	}
	writeReply(w, rep)
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

func writeReply(w http.ResponseWriter, rep *reply) {
	for k, vs := range rep.header {
		w.Header()[k] = vs
	}
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rep.body); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(rep.status)
	w.Write(buf.Bytes())
}

// route is what a request path and method name.
type route struct {
	handler func(e *Emulator, r *http.Request, t *objectType, id string, body []byte) *reply
	typ     string // object type segment as given
	id      string
	write   bool // can modify data: counted by Writes
	search  bool // a search, with its own rate limit
}

const (
	prefix      = "/crm/v3/objects/"
	propsPrefix = "/crm/v3/properties/"
)

func match(method, path string) (route, bool) {
	if rest, ok := strings.CutPrefix(path, propsPrefix); ok {
		// Reading all of an object's properties and creating one are
		// served; reading one, changing or archiving them are not.
		typ := strings.TrimSuffix(rest, "/")
		switch {
		case typ == "" || strings.Contains(typ, "/"):
			return route{}, false
		case method == http.MethodGet:
			return route{typ: typ, handler: (*Emulator).listProperties}, true
		case method == http.MethodPost:
			return route{typ: typ, handler: (*Emulator).createProperty, write: true}, true
		}
		return route{}, false
	}
	rest, ok := strings.CutPrefix(path, prefix)
	if !ok {
		return route{}, false
	}
	seg := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	if seg[0] == "" {
		return route{}, false
	}
	rt := route{typ: seg[0]}
	switch {
	case len(seg) == 1 && method == http.MethodGet:
		rt.handler = (*Emulator).list
	case len(seg) == 1 && method == http.MethodPost:
		rt.handler, rt.write = (*Emulator).createOne, true
	case len(seg) == 2 && seg[1] == "search" && method == http.MethodPost:
		rt.handler, rt.search = (*Emulator).search, true
	case len(seg) == 2 && method == http.MethodGet:
		rt.handler, rt.id = (*Emulator).getOne, seg[1]
	case len(seg) == 2 && method == http.MethodPatch:
		rt.handler, rt.id, rt.write = (*Emulator).updateOne, seg[1], true
	case len(seg) == 2 && method == http.MethodDelete:
		rt.handler, rt.id, rt.write = (*Emulator).archiveOne, seg[1], true
	case len(seg) == 3 && seg[1] == "batch" && method == http.MethodPost:
		switch seg[2] {
		case "read":
			rt.handler = (*Emulator).batchRead
		case "create":
			rt.handler, rt.write = (*Emulator).batchCreate, true
		case "update":
			rt.handler, rt.write = (*Emulator).batchUpdate, true
		case "upsert":
			rt.handler, rt.write = (*Emulator).batchUpsert, true
		case "archive":
			rt.handler, rt.write = (*Emulator).batchArchive, true
		default:
			return route{}, false
		}
	default:
		return route{}, false
	}
	return rt, true
}

// serve runs one request under the lock: auth, rate limit, routing.
func (e *Emulator) serve(r *http.Request, body []byte) *reply {
	rt, ok := match(r.Method, r.URL.Path)
	assocRest, isAssoc := strings.CutPrefix(r.URL.Path, assocPrefix)
	defaultRest, isDefault := strings.CutPrefix(r.URL.Path, assocV4Object)
	if isAssoc && r.Method == http.MethodPost && (strings.HasSuffix(assocRest, "/batch/create") || strings.HasSuffix(assocRest, "/batch/archive")) ||
		isDefault && r.Method == http.MethodPut {
		e.writes++
	}
	if ok && rt.write {
		e.writes++
	}
	token, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !bearer || !e.tokens[token] {
		return fail(http.StatusUnauthorized, "INVALID_AUTHENTICATION",
			"Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
	}
	rep, headers := e.limits.admit(e.limitNow(), ok && rt.search)
	if rep != nil {
		e.rateLimited++
	} else {
		switch t := e.types[rt.typ]; {
		case isAssoc:
			rep = e.serveAssoc(r, assocRest, body)
		case isDefault:
			rep = e.serveDefault(r, defaultRest)
		case !ok:
			rep = fail(http.StatusNotFound, "RESOURCE_NOT_FOUND", "No route for %s %s", r.Method, r.URL.Path)
		case t == nil:
			rep = validation("Unable to infer object type from: %s", rt.typ)
		default:
			rep = rt.handler(e, r, t, rt.id, body)
		}
	}
	if rep.header == nil {
		rep.header = http.Header{}
	}
	for k, v := range headers {
		rep.header[k] = v
	}
	// HubSpot's Date is HubSpot's clock, the one that stamps records; a
	// client can read the portal's "now" from it. So is the emulator's.
	rep.header.Set("Date", e.now().UTC().Format(http.TimeFormat))
	return rep
}

// SetTokens replaces the tokens the portal accepts, as rotating or
// revoking a private app's token does: requests with any other get 401.
// Given none, the portal accepts "test-token" alone.
func (e *Emulator) SetTokens(tokens ...string) {
	set := map[string]bool{}
	for _, t := range tokens {
		if t != "" {
			set[t] = true
		}
	}
	if len(set) == 0 {
		set["test-token"] = true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens = set
}

// SetFaults replaces the faults injected from now on; the generator starts
// again from the new Seed. A zero Faults turns them off.
func (e *Emulator) SetFaults(f Faults) { e.faults.Set(f) }

// Requests returns every API request received so far, in arrival order.
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Request(nil), e.requests...)
}

// ResetRequests forgets the recorded requests and zeroes the counts
// (Writes, Served, RateLimited, Faulted). The rate windows and the daily
// count are the portal's and stay.
func (e *Emulator) ResetRequests() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests, e.writes, e.served, e.rateLimited, e.faulted = nil, 0, 0, 0, 0
	e.reqGen++
}

// Writes is the number of received requests that could modify data
// (creates, updates, upserts, archives, and the associations' creates and
// archives), whatever their outcome. A request
// failed by a fault before the API saw it is not counted.
func (e *Emulator) Writes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.writes
}

// Served is the number of requests the API handled, whatever their status
// (401s and 400s included), other than those refused for rate. Requests
// failed by a fault before the API saw them are not counted; those reset
// after commit are.
func (e *Emulator) Served() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.served
}

// RateLimited is the number of requests refused with a 429: the rolling
// window, the daily allowance or the search limit.
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
