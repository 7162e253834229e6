package connectors

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"tandem"
)

// HTTPOptions tune the shared client. Zero values take the defaults.
type HTTPOptions struct {
	System   string        // system name, for logs and errors
	Timeout  time.Duration // default deadline of every kind of call (see ReadTimeout)
	RetryMax int           // retries after the first attempt (default 4; negative: none)
	WaitMin  time.Duration // first backoff (default 250ms)
	WaitMax  time.Duration // longest backoff; a longer Retry-After ends the call (default 30s)
	Logger   *slog.Logger  // default slog.Default()
	// Base is the client under the retries, e.g. an oauth2 client; default
	// a pooled client. It is not changed: the client copies it.
	Base *http.Client

	// Per kind of call, the deadline of one call (retries included):
	// defaults 60s, 60s and 5m; Timeout, when set, is the default of each.
	ReadTimeout, WriteTimeout, BulkTimeout time.Duration
	// Rate is the system's configured request rate (zero: none until the
	// API's headers tell); RateHeaders reads its API's rate-limit headers.
	Rate        RateLimit
	RateHeaders RateHeaders
	// DailyReserve is the share of the daily quota kept back: below it,
	// writes stop until the quota is back (default 0.05; negative: none).
	DailyReserve float64
	// BreakerFailures failed calls in a row open the circuit (default 5);
	// it half-opens after BreakerTimeout (default 30s).
	BreakerFailures int
	BreakerTimeout  time.Duration
	// Observe, when set, is told of every attempt (for metrics).
	Observe func(Attempt)
}

// Attempt is one HTTP attempt as Observe is told of it: the system, the
// method, the status (0 when no answer came) and how long it took.
type Attempt struct {
	System   string
	Method   string
	Status   int
	Duration time.Duration
}

// Kind is the kind of a call, for its deadline and the daily reserve.
type Kind int

const (
	Read  Kind = iota // reads, including searches and batch reads sent as POST
	Write             // creates, updates, deletes
	Bulk              // long calls over many records
)

func (k Kind) String() string {
	switch k {
	case Read:
		return "read"
	case Bulk:
		return "bulk"
	}
	return "write"
}

// HTTP is the resilient client one system's connector uses for every call.
// One HTTP serves every pass, backfill and writer of its system, so they
// share its connection pool, its rate budget and its circuit breaker.
type HTTP struct {
	system           string
	timeouts         [3]time.Duration // by Kind
	retryMax         int
	waitMin, waitMax time.Duration
	client           *http.Client // Base, with the rate budget in its transport
	log              *slog.Logger
	budget           *budget
	breaker          *breaker
	observe          func(Attempt)
}

// MaxBody bounds what one response may hold.
const MaxBody = 64 << 20

// NewHTTP builds the client: retries only for network errors, 429 and 5xx,
// exponential backoff with full jitter, Retry-After honoured, a deadline on
// every call by kind, the final response kept when retries run out, every
// attempt paced by the system's rate budget, writes held back when the daily
// quota nears its end, and a circuit breaker over whole calls.
func NewHTTP(o HTTPOptions) *HTTP {
	def := func(d, fallback time.Duration) time.Duration {
		switch {
		case d > 0:
			return d
		case o.Timeout > 0:
			return o.Timeout
		}
		return fallback
	}
	h := &HTTP{
		system:   o.System,
		timeouts: [3]time.Duration{Read: def(o.ReadTimeout, 60*time.Second), Write: def(o.WriteTimeout, 60*time.Second), Bulk: def(o.BulkTimeout, 5*time.Minute)},
		retryMax: o.RetryMax,
		waitMin:  o.WaitMin,
		waitMax:  o.WaitMax,
		log:      o.Logger,
		observe:  o.Observe,
	}
	switch {
	case h.retryMax == 0:
		h.retryMax = 4
	case h.retryMax < 0:
		h.retryMax = 0
	}
	if h.waitMin <= 0 {
		h.waitMin = 250 * time.Millisecond
	}
	if h.waitMax <= 0 {
		h.waitMax = 30 * time.Second
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.log = h.log.With("system", o.System)
	h.budget = newBudget(o, h.log)
	h.breaker = newBreaker(o, h.log)

	base := o.Base
	if base == nil {
		base = retryablehttp.NewClient().HTTPClient // a pooled client (go-cleanhttp's)
	}
	hc := *base
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = &budgetTransport{next: next, b: h.budget}
	h.client = &hc
	return h
}

// Response is a finished call: status, headers and the whole body.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do is DoKind with the kind told by the method: GET and HEAD are reads,
// anything else a write.
func (h *HTTP) Do(ctx context.Context, op, method, url string, header http.Header, body []byte) (*Response, error) {
	kind := Write
	if method == http.MethodGet || method == http.MethodHead {
		kind = Read
	}
	return h.DoKind(ctx, kind, op, method, url, header, body)
}

// DoKind sends one request with retries, within the deadline of its kind.
// body may be nil. Any HTTP status comes back as a Response for the
// connector to judge, since only it knows its API's error codes; the
// errors are *tandem.Error:
//
//   - Code "DAILY_QUOTA": the daily quota is down to its reserve (writes)
//     or spent (reads); nothing was sent. Retryable.
//   - Code "CIRCUIT_OPEN": the system failed too many calls in a row and
//     is left alone for a while; nothing was sent. Retryable.
//   - Code "RETRY_LATER": the API asked for a wait (Retry-After), or the
//     rate budget had no slot, longer than the call may wait; the message
//     says until when. Retryable.
//   - a transport failure (refused, reset, timeout) that outlived its
//     retries. Retryable, unless ctx itself was cancelled.
//
// No error or log line holds a header value, a query string or a body.
func (h *HTTP) DoKind(ctx context.Context, kind Kind, op, method, url string, header http.Header, body []byte) (*Response, error) {
	if msg := h.budget.admit(kind, time.Now()); msg != "" {
		h.log.Debug("http call not sent", "op", op, "method", method, "path", urlPath(url), "reason", msg)
		return nil, &tandem.Error{Op: op, System: h.system, Code: "DAILY_QUOTA", Message: msg, Retryable: true}
	}
	done, msg := h.breaker.allow(time.Now())
	if done == nil {
		h.log.Debug("http call not sent", "op", op, "method", method, "path", urlPath(url), "reason", msg)
		return nil, &tandem.Error{Op: op, System: h.system, Code: "CIRCUIT_OPEN", Message: msg, Retryable: true}
	}
	resp, out, err := h.send(ctx, kind, op, method, url, header, body)
	done(out)
	return resp, err
}

// outcome is what a call tells the circuit breaker.
type outcome int

const (
	succeeded  outcome = iota // an answer, even a 4xx: the system is up
	failed                    // transport failure, 429 or 5xx after the retries
	notCounted                // never sent, or the caller gave up: says nothing of the system
)

// call is one DoKind in flight: what its retry hooks and the budget's
// transport need to know of it.
type call struct {
	h                *HTTP
	kind             Kind
	op, method, path string
	attempt          int           // attempts made so far
	sent             time.Time     // when the current attempt left, after its budget wait
	wait             time.Duration // the backoff check decided for the next attempt
	lastStatus       int           // of the last answer, 0 for none
	log              *slog.Logger  // the client's, with the call's correlation id
}

type callKey struct{}

type onceKey struct{}

// Once marks the calls made with ctx as not safe to send twice (a create
// the API cannot make idempotent): a transport failure or a 5xx is not
// retried by the client, since the first attempt may have been applied;
// a 429, which says it was not, still is. The caller finds out what
// happened (a search by key) before it sends again.
func Once(ctx context.Context) context.Context { return context.WithValue(ctx, onceKey{}, true) }

func (h *HTTP) send(parent context.Context, kind Kind, op, method, url string, header http.Header, body []byte) (*Response, outcome, error) {
	if kind < Read || kind > Bulk {
		kind = Write
	}
	ctx, cancel := context.WithTimeout(parent, h.timeouts[kind])
	defer cancel()
	c := &call{h: h, kind: kind, op: op, method: method, path: urlPath(url), log: h.log}
	corr := Correlation(parent)
	if corr != "" {
		c.log = h.log.With("corr", corr)
	}
	ctx = context.WithValue(ctx, callKey{}, c)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, notCounted, &tandem.Error{Op: op, System: h.system, Message: "cannot build the request", Err: redactErr(err)}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if corr != "" {
		req.Header.Set("X-Request-Id", corr)
	}
	rc := &retryablehttp.Client{
		HTTPClient:   h.client,
		RetryMax:     h.retryMax,
		RetryWaitMin: h.waitMin,
		RetryWaitMax: h.waitMax,
		CheckRetry:   c.check,
		// check has decided the wait already, knowing the call's deadline,
		// which Backoff is not told.
		Backoff:      func(time.Duration, time.Duration, int, *http.Response) time.Duration { return c.wait },
		ErrorHandler: retryablehttp.PassthroughErrorHandler, // keep the last response
		// Logger stays nil: retryablehttp would log URLs with their queries.
	}
	resp, err := rc.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		out, err := c.failure(parent, ctx, err)
		return nil, out, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		err = &tandem.Error{Op: op, System: h.system, Status: resp.StatusCode, Retryable: true, Err: fmt.Errorf("reading response: %w", redactErr(err))}
		c.log.Warn("http call failed", "op", op, "method", method, "path", c.path, "attempts", c.attempt, "error", err.Error())
		return nil, failed, err
	}
	if len(b) > MaxBody {
		return nil, succeeded, &tandem.Error{Op: op, System: h.system, Status: resp.StatusCode, Message: fmt.Sprintf("response larger than %d bytes", MaxBody)}
	}
	out := succeeded
	if retryableStatus(resp.StatusCode) {
		out = failed
		c.log.Warn("http call failed", "op", op, "method", method, "path", c.path, "status", resp.StatusCode, "attempts", c.attempt)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, out, nil
}

// failure turns an error of retryablehttp into the call's error and what it
// tells the breaker.
func (c *call) failure(parent, ctx context.Context, err error) (outcome, error) {
	h := c.h
	e := &tandem.Error{Op: c.op, System: h.system, Retryable: true}
	out := failed
	var we *waitError
	switch {
	case errors.As(err, &we):
		e.Code, e.Message = "RETRY_LATER", we.Error()
		e.Status = c.lastStatus
		if !we.failed && c.attempt <= 1 {
			out = notCounted // never sent: the budget, not the system, said wait
		}
	case parent.Err() != nil:
		// The caller gave up or ran out of its own time: that says
		// nothing of the system.
		e.Retryable = errors.Is(parent.Err(), context.DeadlineExceeded)
		e.Err = parent.Err()
		out = notCounted
	case ctx.Err() != nil:
		e.Message = fmt.Sprintf("no answer within the %v deadline of a %s", h.timeouts[c.kind], c.kind)
		e.Status = c.lastStatus
		if !errors.Is(err, context.DeadlineExceeded) {
			e.Err = redactErr(err)
		}
	default:
		e.Err = redactErr(err)
	}
	c.log.Warn("http call failed", "op", c.op, "method", c.method, "path", c.path, "attempts", c.attempt, "error", e.Error())
	return out, e
}

// check is retryablehttp's CheckRetry for one call, called once after every
// attempt: it logs the attempt and decides whether, and after how long, to
// try again. It gives up at once, with a *waitError, rather than sleep past
// the call's deadline or a Retry-After beyond WaitMax.
func (c *call) check(ctx context.Context, resp *http.Response, err error) (bool, error) {
	c.attempt++
	c.logAttempt(resp, err)
	if resp != nil {
		c.lastStatus = resp.StatusCode
	}
	retry, stop := retryable(ctx, resp, err)
	if retry && ctx.Value(onceKey{}) != nil && (resp == nil || resp.StatusCode != http.StatusTooManyRequests) {
		return false, nil // see Once: the caller decides what follows
	}
	if !retry || c.attempt > c.h.retryMax {
		// Out of attempts, retryablehttp stops on its own and keeps the
		// last response (or transport error).
		return retry, stop
	}
	now := time.Now()
	wait, asked := c.h.backoff(c.attempt, resp, now)
	var why string
	dl, ok := ctx.Deadline()
	switch {
	case asked && wait > c.h.waitMax:
		why = fmt.Sprintf("the API asks to wait %v, more than the %v a call waits", wait, c.h.waitMax)
	case ok && now.Add(wait).After(dl) && asked:
		why = fmt.Sprintf("the API asks to wait %v, past the %v deadline of a %s", wait, c.h.timeouts[c.kind], c.kind)
	case ok && now.Add(wait).After(dl):
		why = fmt.Sprintf("no time left for another attempt within the %v deadline of a %s", c.h.timeouts[c.kind], c.kind)
	}
	if why != "" {
		return false, &waitError{until: now.Add(wait), why: why, failed: true}
	}
	c.wait = wait
	attrs := []any{"op", c.op, "method", c.method, "path", c.path, "attempt", c.attempt, "wait", wait}
	if resp != nil {
		attrs = append(attrs, "status", resp.StatusCode)
	} else {
		attrs = append(attrs, "error", redactErr(err).Error())
	}
	c.log.Warn("http retry", attrs...)
	return true, nil
}

// logAttempt writes the one Debug line of an attempt: never a header
// value but the correlation id, never a query string, never a body.
func (c *call) logAttempt(resp *http.Response, err error) {
	if c.h.observe != nil {
		a := Attempt{System: c.h.system, Method: c.method}
		if resp != nil {
			a.Status = resp.StatusCode
		}
		if !c.sent.IsZero() {
			a.Duration = time.Since(c.sent)
		}
		c.h.observe(a)
	}
	if !c.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	attrs := []any{"op", c.op, "kind", c.kind.String(), "method", c.method, "path", c.path, "attempt", c.attempt}
	if !c.sent.IsZero() {
		attrs = append(attrs, "duration", time.Since(c.sent))
	}
	if resp != nil {
		attrs = append(attrs, "status", resp.StatusCode)
		if id := correlationID(resp.Header); id != "" {
			attrs = append(attrs, "correlation_id", id)
		}
	}
	if err != nil {
		attrs = append(attrs, "error", redactErr(err).Error())
	}
	c.log.Debug("http attempt", attrs...)
}

// retryable is the retry policy: network errors, 429 and 5xx but 501. The
// 4xx are the caller's problem and would fail the same way again.
func retryable(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		var we *waitError
		if errors.As(err, &we) {
			return false, err // the budget could not wait: another attempt could not either
		}
		var cert *x509.UnknownAuthorityError
		if errors.As(err, &cert) || invalidURL.MatchString(err.Error()) {
			return false, err
		}
		return true, nil // connection refused, reset, timeout: worth another try
	}
	return retryableStatus(resp.StatusCode), nil
}

func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500 && status != http.StatusNotImplemented
}

var invalidURL = regexp.MustCompile(`unsupported protocol scheme|invalid header|stopped after \d+ redirects`)

// backoff is the wait before the next attempt (attempt is the number of
// attempts made): exponential with full jitter, unless a 429 or 503
// carries a Retry-After (seconds or HTTP date), which is obeyed (asked).
func (h *HTTP) backoff(attempt int, resp *http.Response, now time.Time) (wait time.Duration, asked bool) {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := RetryAfter(resp.Header.Get("Retry-After"), now); ok {
			return d, true
		}
	}
	ceil := h.waitMin << min(attempt-1, 30)
	if ceil <= 0 || ceil > h.waitMax {
		ceil = h.waitMax
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1)), false
}

// RetryAfter parses a Retry-After value, in seconds or as an HTTP date.
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// waitError is a call, or an attempt, that would have had to wait past
// what it may: it says until when.
type waitError struct {
	until  time.Time
	why    string
	failed bool // attempts were sent and failed; false: the budget held the call back
}

func (e *waitError) Error() string {
	return e.why + "; retry after " + e.until.UTC().Format(time.RFC3339)
}
