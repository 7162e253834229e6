// Package hubspottest is an in-process emulator of HubSpot's CRM v3 objects
// API for contacts and companies, in the manner of net/http/httptest: list,
// read, search, single and batch writes, the recycle bin (archived=true),
// property history (propertiesWithHistory), and the properties API's list
// of an object's properties, with HubSpot's paging, limits, property types
// and validation, error bodies, rate-limit headers and its habit of
// returning batch results out of input order. Tests, benchmarks and `tandem sandbox`
// run connectors against it instead of a real portal.
package hubspottest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Options configure an Emulator. Zero values take the defaults.
type Options struct {
	// Token is the private app token every request must carry as
	// "Authorization: Bearer <Token>" (default "test-token").
	Token string
	// Now is the clock that stamps createdate, the modified dates,
	// archivedAt and property history, and that every response's Date
	// header shows (default time.Now); stamps are truncated to
	// milliseconds, so ties happen, as they do in HubSpot.
	Now func() time.Time
	// RateLimit, when > 0, is the number of requests allowed per rolling
	// ten seconds of wall-clock time; more get 429. Headers are always sent.
	RateLimit int
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
}

// Emulator is the emulated HubSpot portal. It implements http.Handler and
// is safe for concurrent use: one lock serialises every request and test
// call, which is also what makes each batch atomic.
type Emulator struct {
	token     string
	now       func() time.Time
	rateLimit int

	mu       sync.Mutex
	types    map[string]*objectType // by path name and by type id
	tables   map[string]*table      // by path name
	requests []Request
	writes   int
	window   []time.Time // wall-clock times of the requests in the rate window
	daily    int
}

// Request is one API request the emulator received.
type Request struct {
	Method, Path, RawQuery string
	Body                   []byte
	Status                 int
}

const (
	rateWindow     = 10 * time.Second
	defaultRateMax = 190 // what a private app on a paid portal gets
	dailyMax       = 1_000_000
	maxBody        = 16 << 20
)

// New returns an empty portal.
func New(o Options) *Emulator {
	if o.Token == "" {
		o.Token = "test-token"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Emulator{token: o.Token, now: o.Now, rateLimit: o.RateLimit, types: map[string]*objectType{}, tables: map[string]*table{}}
	types, err := newTypes(o.ExtraProperties, o.Properties, o.UniqueProperties)
	if err != nil {
		panic("hubspottest: " + err.Error())
	}
	for name, t := range types {
		e.types[name] = t
		e.types[t.typeID] = t
		e.tables[name] = newTable(t)
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

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

func (e *Emulator) stamp() time.Time { return e.now().UTC().Truncate(time.Millisecond) }

// ServeHTTP answers one API request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
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
	e.requests = append(e.requests, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Body: body, Status: rep.status})
	e.mu.Unlock()

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
}

const (
	prefix      = "/crm/v3/objects/"
	propsPrefix = "/crm/v3/properties/"
)

func match(method, path string) (route, bool) {
	if rest, ok := strings.CutPrefix(path, propsPrefix); ok {
		// Only reading all of an object's properties is served; reading
		// one, and creating, changing or archiving them, are not.
		typ := strings.TrimSuffix(rest, "/")
		if typ == "" || strings.Contains(typ, "/") || method != http.MethodGet {
			return route{}, false
		}
		return route{typ: typ, handler: (*Emulator).listProperties}, true
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
		rt.handler = (*Emulator).search
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
	if ok && rt.write {
		e.writes++
	}
	if r.Header.Get("Authorization") != "Bearer "+e.token {
		return fail(http.StatusUnauthorized, "INVALID_AUTHENTICATION",
			"Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
	}
	rep, headers := e.limit()
	if rep == nil {
		switch t := e.types[rt.typ]; {
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

// limit counts the request against the rolling ten-second window (wall
// clock, so a test's frozen Now cannot lock a client out forever) and the
// daily allowance, and returns the rate-limit headers HubSpot sends, with a
// 429 reply when the window is full and RateLimit is enforced.
func (e *Emulator) limit() (*reply, http.Header) {
	now := time.Now()
	keep := e.window[:0]
	for _, t := range e.window {
		if now.Sub(t) < rateWindow {
			keep = append(keep, t)
		}
	}
	e.window = keep
	ceiling := defaultRateMax
	if e.rateLimit > 0 {
		ceiling = e.rateLimit
	}
	h := http.Header{}
	h.Set("X-HubSpot-RateLimit-Max", fmt.Sprint(ceiling))
	h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", fmt.Sprint(rateWindow.Milliseconds()))
	h.Set("X-HubSpot-RateLimit-Daily", fmt.Sprint(dailyMax))
	if e.rateLimit > 0 && len(e.window) >= ceiling {
		wait := rateWindow - now.Sub(e.window[0])
		h.Set("X-HubSpot-RateLimit-Remaining", "0")
		h.Set("X-HubSpot-RateLimit-Daily-Remaining", fmt.Sprint(dailyMax-e.daily))
		h.Set("Retry-After", fmt.Sprint(int((wait+time.Second-1)/time.Second)))
		rep := fail(http.StatusTooManyRequests, "RATE_LIMITS", "You have reached your ten_secondly_rolling limit.")
		body := rep.body.(*apiError)
		body.ErrorType, body.PolicyName = "RATE_LIMIT", "TEN_SECONDLY_ROLLING"
		return rep, h
	}
	e.window = append(e.window, now)
	e.daily++
	h.Set("X-HubSpot-RateLimit-Remaining", fmt.Sprint(max(0, ceiling-len(e.window))))
	h.Set("X-HubSpot-RateLimit-Daily-Remaining", fmt.Sprint(max(0, dailyMax-e.daily)))
	return nil, h
}

// Requests returns every API request received so far, in arrival order.
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Request(nil), e.requests...)
}

// ResetRequests forgets the recorded requests and the write count.
func (e *Emulator) ResetRequests() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests, e.writes = nil, 0
}

// Writes is the number of received requests that could modify data
// (creates, updates, upserts, archives), whatever their outcome.
func (e *Emulator) Writes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.writes
}
