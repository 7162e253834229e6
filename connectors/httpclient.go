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
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"tandem"
)

// HTTPOptions tune the shared client. Zero values take the defaults.
type HTTPOptions struct {
	System   string        // system name, for logs and errors
	Timeout  time.Duration // deadline of one call, all retries included (default 60s)
	RetryMax int           // retries after the first attempt (default 4)
	WaitMin  time.Duration // first backoff (default 250ms)
	WaitMax  time.Duration // longest backoff, Retry-After included (default 30s)
	Logger   *slog.Logger  // default slog.Default()
	// Base is the client under the retries, e.g. an oauth2 client; default
	// a pooled client.
	Base *http.Client

	// Per kind of call, the deadline of one call (retries included);
	// Timeout, when set, is the default of each.
	ReadTimeout, WriteTimeout, BulkTimeout time.Duration
	// Rate is the system's configured request rate (zero: none until the
	// API's headers tell); RateHeaders reads its API's rate-limit headers.
	Rate        RateLimit
	RateHeaders RateHeaders
	// DailyReserve is the share of the daily quota kept back: below it,
	// writes stop until the quota is back (default 0.05).
	DailyReserve float64
	// BreakerFailures failed calls in a row open the circuit (default 5);
	// it half-opens after BreakerTimeout (default 30s).
	BreakerFailures int
	BreakerTimeout  time.Duration
}

// Kind is the kind of a call, for its deadline and the daily reserve.
type Kind int

const (
	Read  Kind = iota // reads, including searches and batch reads sent as POST
	Write             // creates, updates, deletes
	Bulk              // long calls over many records
)

// HTTP is the resilient client one system's connector uses for every call.
type HTTP struct {
	system  string
	timeout time.Duration
	rc      *retryablehttp.Client
}

// MaxBody bounds what one response may hold.
const MaxBody = 64 << 20

// NewHTTP builds the client: retries only for network errors, 429 and 5xx,
// exponential backoff with full jitter, Retry-After honoured, a deadline on
// every call, and the final response kept when retries run out.
func NewHTTP(o HTTPOptions) *HTTP {
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	if o.RetryMax == 0 {
		o.RetryMax = 4
	}
	if o.WaitMin == 0 {
		o.WaitMin = 250 * time.Millisecond
	}
	if o.WaitMax == 0 {
		o.WaitMax = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	rc := retryablehttp.NewClient()
	if o.Base != nil {
		rc.HTTPClient = o.Base
	}
	rc.RetryMax = o.RetryMax
	rc.RetryWaitMin = o.WaitMin
	rc.RetryWaitMax = o.WaitMax
	rc.Logger = nil // retryablehttp logs full URLs at debug; we log ourselves below
	rc.CheckRetry = checkRetry
	rc.Backoff = backoff
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	log := o.Logger.With("system", o.System)
	rc.ResponseLogHook = func(_ retryablehttp.Logger, r *http.Response) {
		log.Debug("http", "method", r.Request.Method, "path", r.Request.URL.Path, "status", r.StatusCode)
	}
	return &HTTP{system: o.System, timeout: o.Timeout, rc: rc}
}

func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			var cert *x509.UnknownAuthorityError
			if errors.As(uerr.Err, &cert) || invalidURL.MatchString(uerr.Error()) {
				return false, err
			}
		}
		return true, nil // connection refused, reset, timeout: worth another try
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return true, nil
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		return true, nil
	}
	return false, nil
}

var invalidURL = regexp.MustCompile(`unsupported protocol scheme|invalid header|stopped after \d+ redirects`)

// backoff is exponential with full jitter, except that a Retry-After header
// (seconds or HTTP date) on a 429 or 503 is obeyed, capped at max.
func backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := RetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return min2(d, max)
		}
	}
	ceil := min << min2(attempt, 30)
	if ceil <= 0 || ceil > max {
		ceil = max
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

func min2[T int | time.Duration](a, b T) T {
	if a < b {
		return a
	}
	return b
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

// Response is a finished call: status, headers and the whole body.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends one request with retries, within the client's deadline. body may
// be nil. A transport failure that outlived its retries is a retryable
// *tandem.Error; any HTTP status comes back as a Response for the connector
// to judge, since only it knows its API's error codes.
func (h *HTTP) Do(ctx context.Context, op, method, url string, header http.Header, body []byte) (*Response, error) {
	kind := Write
	if method == http.MethodGet || method == http.MethodHead {
		kind = Read
	}
	return h.DoKind(ctx, kind, op, method, url, header, body)
}

// DoKind is Do for a call whose kind the method does not tell (a search
// sent as POST is a Read).
func (h *HTTP) DoKind(ctx context.Context, kind Kind, op, method, url string, header http.Header, body []byte) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, &tandem.Error{Op: op, System: h.system, Err: err}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.rc.Do(req)
	if err != nil {
		return nil, &tandem.Error{Op: op, System: h.system, Retryable: ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded), Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, &tandem.Error{Op: op, System: h.system, Retryable: true, Err: fmt.Errorf("reading response: %w", err)}
	}
	if len(b) > MaxBody {
		return nil, &tandem.Error{Op: op, System: h.system, Status: resp.StatusCode, Message: fmt.Sprintf("response larger than %d bytes", MaxBody)}
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}
