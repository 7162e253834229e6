package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/salesforce/salesforcetest"
	"tandem/internal/loopback"
)

// The chaos suite's world: the two emulators on one clock, each served
// through a recorder (which notes, in one sequence shared with the
// workload's edits, every request Tandem makes: which records it read and
// which it wrote, with what) and reached only through a toxiproxy proxy;
// the config pointing at the proxies; and `tandem run` as a subprocess.

const (
	chaosHSToken   = "chaos-hs-token"
	chaosHSSecret  = "chaos-hs-app-secret"
	chaosSFID      = "chaos-cid"
	chaosSFSecret  = "chaos-sf-secret"
	chaosNoiseHdr  = "X-Chaos-Noise" // the noisy neighbour's requests: not Tandem's, not recorded
	chaosHSWindow  = 600             // HubSpot's enforced limit: requests per 10 s
	chaosSFPerSec  = 150             // Salesforce's (a test aid of the emulator): requests per second
	chaosCRMPerSec = 150             // the custom CRM's: requests per second
	chaosLogTailKB = 16
)

// chaosClock is the emulators' shared clock: the wall clock in whole
// milliseconds, but never the same stamp twice, so every write of either
// system has its own time and `newest` never meets a tie.
type chaosClock struct {
	mu   sync.Mutex
	last time.Time
}

func (c *chaosClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := time.Now().UTC().Truncate(time.Millisecond)
	if !t.After(c.last) {
		t = c.last.Add(time.Millisecond)
	}
	c.last = t
	return t
}

// Canonical fields of the suite's contact entity (each system names them
// in chaosSide.api). email is the identity and is never edited.
var (
	chaosFields   = []string{"email", "first_name", "last_name", "phone", "title"}
	chaosEditable = []string{"first_name", "last_name", "phone", "title"}
)

// chaosFieldOf is the canonical field of a system's API name, or "".
func chaosFieldOf(side chaosSide, api string) string {
	for f, a := range side.api() {
		if strings.EqualFold(a, api) {
			return f
		}
	}
	return ""
}

// chaosVals is a system's record (its API's names and values) in
// canonical fields and values.
func chaosVals(side chaosSide, raw map[string]string) map[string]string {
	v := map[string]string{}
	for f, api := range side.api() {
		v[f] = chaosCanon(f, raw[api])
	}
	return v
}

// chaosRaw is canonical values in a system's API names.
func chaosRaw(side chaosSide, vals map[string]string) map[string]any {
	raw := map[string]any{}
	for f, v := range vals {
		raw[side.api()[f]] = v
	}
	return raw
}

// chaosCanon is a value as the mapping reads it: emails lower-cased, the
// rest trimmed. The workload writes phones in E.164 already.
func chaosCanon(field, v string) string {
	v = strings.TrimSpace(v)
	if field == "email" {
		v = strings.ToLower(v)
	}
	return v
}

// recWrite is one record of one write request Tandem made, as the
// emulator applied it (or refused it).
type recWrite struct {
	seq0, seq1 int64             // the request's arrival and end, in the shared sequence
	op         string            // update, upsert, delete
	fields     map[string]string // canonical field -> canonical value it set
	applied    bool              // the emulator took it (2xx, and this record's result a success)
	body       string            // the record's part of the request, to tell a repeat
	corr       string            // X-Request-Id: the pass or delivery that sent it
	began, at  time.Time         // when its headers came, and its whole body
}

func (w recWrite) String() string {
	return fmt.Sprintf("write seq %d-%d %s %s applied=%v (pass %s; headers at %s, body at %s)", w.seq0, w.seq1, w.op, chaosFieldsText(w.fields),
		w.applied, w.corr, w.began.Format("15:04:05.000"), w.at.Format("15:04:05.000"))
}

// recRead is one read request whose answer held a record.
type recRead struct {
	seq0, seq1 int64
	path       string
	corr       string
	fields     map[string]string // canonical field -> the value the answer held
	at         time.Time         // when the request came
}

// recorder serves an emulator and notes Tandem's requests.
type recorder struct {
	side string
	sys  chaosSide
	next http.Handler
	seq  *atomic.Int64
	on   atomic.Bool

	mu      sync.Mutex
	writes  map[string][]recWrite // by record id
	reads   map[string][]recRead  // by record id
	created map[string]string     // email -> id of the records Tandem's upserts landed on
	paths   map[string]int        // method + route, counted
	status  map[int]int           // answers Tandem got, by status (0: none, the connection dropped)
	log     bytes.Buffer          // one line per request, written to requests-<side>.log at the end
	pages   []recSearch           // HubSpot's search pages, in order
	pulls   map[string]*recPull   // Salesforce's pulls, by pass
}

// recPull is one Salesforce pull (a query and its batches): the second its
// query ran in, by the emulator's Date, and the latest SystemModstamp of the
// records its batches returned.
type recPull struct {
	date   time.Time
	latest time.Time
}

// recSearch is one HubSpot search Tandem made: from which modified time,
// at which offset, and the modified times of the first and last results.
type recSearch struct {
	seq0, seq1  int64
	corr        string
	from        int64
	after, n    int
	first, last int64
}

func newRecorder(sys chaosSide, seq *atomic.Int64) *recorder {
	return &recorder{side: sys.name(), sys: sys, next: sys.handler(), seq: seq, writes: map[string][]recWrite{}, reads: map[string][]recRead{},
		created: map[string]string{}, paths: map[string]int{}, status: map[int]int{}, pulls: map[string]*recPull{}}
}

// captureWriter keeps the status and the body of an answer; it unwraps to
// the real writer, so an emulator's fault can still hijack the connection.
type captureWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body.Write(b)
	return c.ResponseWriter.Write(b)
}

func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get(chaosNoiseHdr) != "" || !r.on.Load() {
		r.next.ServeHTTP(w, req)
		return
	}
	began := time.Now()
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	cw := &captureWriter{ResponseWriter: w}
	at := time.Now()
	seq0 := r.seq.Add(1)
	func() {
		defer func() {
			// An emulator that aborts a request (a fault dropping the
			// connection) panics with http.ErrAbortHandler: note the
			// request, then let net/http see the panic.
			if p := recover(); p != nil {
				r.note(req, body, cw, seq0, r.seq.Add(1), began, at)
				panic(p)
			}
		}()
		r.next.ServeHTTP(cw, req)
	}()
	r.note(req, body, cw, seq0, r.seq.Add(1), began, at)
}

// note records what a request read or wrote.
func (r *recorder) note(req *http.Request, body []byte, cw *captureWriter, seq0, seq1 int64, began, at time.Time) {
	corr := req.Header.Get("X-Request-Id")
	route := chaosRoute(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paths[req.Method+" "+route]++
	r.status[cw.status]++
	defer func() {
		// The request log: what each request asked and what it got.
		var ids []string
		res := gjson.GetBytes(cw.body.Bytes(), "results.#.id")
		if !res.Exists() {
			res = gjson.GetBytes(cw.body.Bytes(), "records.#.Id")
		}
		if !res.Exists() {
			res = gjson.GetBytes(cw.body.Bytes(), "data.#.id")
		}
		for _, id := range res.Array() {
			ids = append(ids, id.String())
		}
		ask := gjson.GetBytes(body, "filterGroups.0.filters.0.value").String()
		if a := gjson.GetBytes(body, "after").String(); a != "" {
			ask += " after " + a
		}
		if n := len(gjson.GetBytes(body, "inputs").Array()) + len(gjson.GetBytes(body, "records").Array()); n > 0 {
			ask += fmt.Sprintf(" %d inputs", n)
		}
		fmt.Fprintf(&r.log, "%d-%d %s %s %s %s%s [%s] -> %d, %d ids %s\n", seq0, seq1, at.Format("15:04:05.000"), corr, req.Method, route,
			"?"+req.URL.RawQuery, ask, cw.status, len(ids), strings.Join(ids, ","))
	}()
	r.sys.note(r, &recReq{req: req, body: body, resp: cw.body.Bytes(), status: cw.status, header: cw.Header(), ok: cw.status/100 == 2,
		route: route, corr: corr, seq0: seq0, seq1: seq1, began: began, at: at})
}

// chaosRoute is a request's path with record ids and query locators cut,
// for counting requests by kind.
func chaosRoute(req *http.Request) string {
	p := req.URL.Path
	if i := strings.Index(p, "/queryAll/"); i >= 0 {
		p = p[:i] + "/queryAll/{locator}"
	}
	if req.URL.Query().Get("archived") == "true" {
		p += "?archived=true"
	}
	return p
}

// writeLog writes the request log to a file.
func (r *recorder) writeLog(path string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return os.WriteFile(path, r.log.Bytes(), 0o600)
}

// statuses is how many of Tandem's requests got each status.
func (r *recorder) statuses() map[int]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int]int{}
	for k, v := range r.status {
		out[k] = v
	}
	return out
}

// history returns the writes Tandem made to a record, and its reads of it.
func (r *recorder) history(id string) ([]recWrite, []recRead) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recWrite(nil), r.writes[id]...), append([]recRead(nil), r.reads[id]...)
}

// createdID is the id of the record a Tandem create for email landed on.
func (r *recorder) createdID(email string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.created[strings.ToLower(email)]
}

// chaosProxy is a toxiproxy proxy in front of one emulator, in process.
type chaosProxy struct {
	name  string
	proxy *toxiproxy.Proxy
	URL   string
}

func newChaosProxy(server *toxiproxy.ApiServer, name, upstream string) (*chaosProxy, error) {
	p := toxiproxy.NewProxy(server, name, "127.0.0.1:0", strings.TrimPrefix(upstream, "http://"))
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("toxiproxy %s: %w", name, err)
	}
	return &chaosProxy{name: name, proxy: p, URL: "http://" + p.Listen}, nil
}

// newToxiproxyServer is toxiproxy's server, without its HTTP API (the
// suite drives the proxies in process) and silent: its toxics log through
// zerolog's global logger, at trace level, so that logger is turned off
// while the suite runs (restore puts it back).
func newToxiproxyServer() (server *toxiproxy.ApiServer, restore func()) {
	level := zerolog.GlobalLevel()
	zerolog.SetGlobalLevel(zerolog.Disabled)
	return toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop()),
		func() { zerolog.SetGlobalLevel(level) }
}

func (p *chaosProxy) add(name, typ, stream string, toxicity float64, attrs string) error {
	js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":%g,"attributes":%s}`, name, typ, stream, toxicity, attrs)
	_, err := p.proxy.Toxics.AddToxicJson(strings.NewReader(js))
	return err
}

func (p *chaosProxy) remove(name string) error {
	return p.proxy.Toxics.RemoveToxic(context.Background(), name)
}

func (p *chaosProxy) reset() { p.proxy.Toxics.ResetToxics(context.Background()) }

// chaosEnv is everything the suite runs against.
type chaosEnv struct {
	dir, config, state string
	listen             string // the daemon's address
	clock              *chaosClock
	seq                atomic.Int64
	sides              []chaosSide
	hs                 *hubspottest.Emulator    // when HubSpot is one of them: its webhooks, its search pages
	sf                 *salesforcetest.Emulator // when Salesforce is: its pulls
	direct             map[string]string        // the emulators themselves (the noisy neighbour's way in)
	rec                map[string]*recorder
	proxies            map[string]*chaosProxy
	toxi               *toxiproxy.ApiServer
	closers            []func()
}

// newChaosEnv starts the systems named (chaosSystems), in that order.
func newChaosEnv(dir string, systems []string) (*chaosEnv, error) {
	e := &chaosEnv{dir: dir, clock: &chaosClock{}, rec: map[string]*recorder{}, proxies: map[string]*chaosProxy{}, direct: map[string]string{}}
	e.config, e.state = filepath.Join(dir, "tandem.yaml"), filepath.Join(dir, "tandem.db")
	for _, name := range systems {
		mk, ok := chaosSystems[name]
		if !ok || e.side(name) != nil {
			return nil, fmt.Errorf("chaos: system %q unknown or named twice (known: hubspot, salesforce, crm)", name)
		}
		side := mk(e.clock)
		e.sides = append(e.sides, side)
		e.closers = append(e.closers, side.close)
		switch s := side.(type) {
		case *hubspotSide:
			e.hs = s.e
		case *salesforceSide:
			e.sf = s.e
		}
	}
	if len(e.sides) < 2 {
		return nil, fmt.Errorf("chaos: %d systems, want two or more", len(e.sides))
	}
	var restore func()
	e.toxi, restore = newToxiproxyServer()
	e.closers = append(e.closers, restore)
	for _, side := range e.sides {
		r := newRecorder(side, &e.seq)
		e.rec[side.name()] = r
		srv := httptest.NewServer(r)
		e.closers = append(e.closers, srv.Close)
		e.direct[side.name()] = srv.URL
		p, err := newChaosProxy(e.toxi, side.name(), srv.URL)
		if err != nil {
			e.close()
			return nil, err
		}
		e.proxies[side.name()] = p
		e.closers = append(e.closers, p.proxy.Stop)
	}
	port, err := loopback.Free()
	if err != nil {
		e.close()
		return nil, err
	}
	e.listen = fmt.Sprintf("127.0.0.1:%d", port)
	return e, nil
}

// side is the system of that name, or nil.
func (e *chaosEnv) side(name string) chaosSide {
	for _, s := range e.sides {
		if s.name() == name {
			return s
		}
	}
	return nil
}

// names are the systems' names, in order.
func (e *chaosEnv) names() []string {
	var out []string
	for _, s := range e.sides {
		out = append(out, s.name())
	}
	return out
}

// close stops the proxies, then the servers, then the emulators.
func (e *chaosEnv) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// writeConfig writes the suite's config: every system through its proxy,
// short call deadlines and breaker cooldowns (so a burst of faults costs
// seconds, not minutes), newest wins with no tolerance (the emulators'
// clock never ties), deletes propagated, a pass every second.
func (e *chaosEnv) writeConfig() error {
	var systems, mappings strings.Builder
	for _, s := range e.sides {
		systems.WriteString(s.section(e.proxies[s.name()].URL))
		mappings.WriteString(s.mapping())
	}
	cfg := fmt.Sprintf(`state: %s
listen: %s
systems:
%sentities:
  contact:
    match: [email]
    phone_region: US
    fields:
      email: email
      first_name: string
      last_name: string
      phone: phone
      title: string
    systems:
%s    conflict: { policy: newest, clock_tolerance: 0s }
    deletes: { policy: propagate, max_share: 1 }
    schedule: "@every 1s"
`, e.state, e.listen, systems.String(), mappings.String())
	return os.WriteFile(e.config, []byte(cfg), 0o600)
}

// writes is the number of write requests the emulators served.
func (e *chaosEnv) writes() int {
	n := 0
	for _, s := range e.sides {
		n += s.writes()
	}
	return n
}

// chaosProc is one `tandem` subprocess, its output in a file.
type chaosProc struct {
	cmd  *exec.Cmd
	done chan error
	log  string
	err  error // set once done
}

func (e *chaosEnv) start(name string, args ...string) (*chaosProc, error) {
	logPath := filepath.Join(e.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &chaosProc{cmd: exec.Command(os.Args[0], args...), done: make(chan error, 1), log: logPath}
	p.cmd.Env = append(os.Environ(), "TANDEM_TEST_MAIN=1")
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	go func() {
		err := p.cmd.Wait()
		f.Close()
		p.done <- err
	}()
	return p, nil
}

// wait waits for the process to end, at most limit.
func (p *chaosProc) wait(limit time.Duration) error {
	select {
	case err := <-p.done:
		p.err = err
		return err
	case <-time.After(limit):
		p.cmd.Process.Kill()
		p.err = <-p.done
		return fmt.Errorf("still running after %v: killed", limit)
	}
}

// tail is the end of the process's output.
func (p *chaosProc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > chaosLogTailKB<<10 {
		b = b[len(b)-chaosLogTailKB<<10:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// startDaemon starts `tandem run` and waits until its server answers
// (200 or 503: a daemon whose last pass met a fault is up all the same).
func (e *chaosEnv) startDaemon(n int) (*chaosProc, error) {
	p, err := e.start(fmt.Sprintf("daemon-%02d", n), "run", "--config", e.config, "--log-level", "info", "--grace", "10s")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-p.done:
			p.err = err
			return nil, fmt.Errorf("tandem run exited at start: %v\n%s", err, p.tail())
		default:
		}
		if resp, err := client.Get("http://" + e.listen + "/healthz"); err == nil {
			resp.Body.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.cmd.Process.Kill()
			<-p.done
			return nil, fmt.Errorf("tandem run did not answer /healthz within 30 s\n%s", p.tail())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// kill SIGKILLs a daemon and waits for it to be gone.
func (p *chaosProc) kill() error {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	err := p.wait(30 * time.Second)
	if ee, ok := err.(*exec.ExitError); ok && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL {
		return nil
	}
	return fmt.Errorf("after SIGKILL: %v", err)
}

// stop sends SIGTERM: the daemon must exit 0.
func (p *chaosProc) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	return p.wait(60 * time.Second)
}

// sync runs one `tandem sync` pass as a subprocess.
func (e *chaosEnv) sync(name string, limit time.Duration) (string, error) {
	p, err := e.start(name, "sync", "--config", e.config, "--log-level", "warn")
	if err != nil {
		return "", err
	}
	err = p.wait(limit)
	return p.tail(), err
}

// countInFile counts the lines of a file (a daemon's log) that hold s.
func countInFile(path, s string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(s)) {
			n++
		}
	}
	return n
}
