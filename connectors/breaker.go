package connectors

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// breaker is one system's circuit breaker over whole calls (after their
// retries): BreakerFailures failed calls in a row open it, and while open
// every call fails at once with a retryable error, so the engine keeps its
// intents in the outbox and the system is not hammered while it is down.
// After BreakerTimeout one probe call goes through; its success closes the
// circuit, its failure opens it again.
type breaker struct {
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	failures int
	timeout  time.Duration

	mu    sync.Mutex
	since time.Time // of the last change of state
}

var (
	errCallFailed = errors.New("call failed")
	errNotCounted = errors.New("not counted")
)

func newBreaker(o HTTPOptions, log *slog.Logger) *breaker {
	b := &breaker{failures: o.BreakerFailures, timeout: o.BreakerTimeout}
	if b.failures <= 0 {
		b.failures = 5
	}
	if b.timeout <= 0 {
		b.timeout = 30 * time.Second
	}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        o.System,
		MaxRequests: 1, // one probe when half-open
		Timeout:     b.timeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(b.failures) },
		IsExcluded:  func(err error) bool { return errors.Is(err, errNotCounted) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			// Called under gobreaker's lock: only note and log.
			b.mu.Lock()
			b.since = time.Now()
			b.mu.Unlock()
			log.Warn("circuit breaker", "from", from.String(), "to", to.String())
		},
	})
	return b
}

// allow asks the breaker for a call. When it lets the call through, done
// must be called with the call's outcome; when not, done is nil and msg
// says why.
func (b *breaker) allow(now time.Time) (done func(outcome), msg string) {
	report, err := b.cb.Allow()
	if err != nil {
		if errors.Is(err, gobreaker.ErrTooManyRequests) {
			return nil, "circuit half-open: a probe call is under way"
		}
		b.mu.Lock()
		next := b.since.Add(b.timeout)
		b.mu.Unlock()
		return nil, fmt.Sprintf("circuit open after %d failed calls in a row; a probe goes in %v",
			b.failures, max(next.Sub(now), 0).Round(time.Millisecond))
	}
	return func(o outcome) {
		switch o {
		case failed:
			report(errCallFailed)
		case notCounted:
			report(errNotCounted)
		default:
			report(nil)
		}
	}, ""
}

// state is the breaker's state ("closed", "open", "half-open"), when it
// last changed, and the failed calls in a row while closed.
func (b *breaker) state() (string, time.Time, int) {
	s := b.cb.State() // may move open to half-open, and so set since
	c := b.cb.Counts()
	b.mu.Lock()
	defer b.mu.Unlock()
	return s.String(), b.since, int(c.ConsecutiveFailures)
}

// BreakerConfig is a connector's `breaker:` config key: how many failed
// calls in a row open the circuit (default 5), and how long it stays open
// before a probe (default 30s).
type BreakerConfig struct {
	Failures int           `yaml:"failures"`
	Cooldown time.Duration `yaml:"cooldown"`
}

// Apply checks the key and sets it into o; the error names the key.
func (b BreakerConfig) Apply(cfg Config, o *HTTPOptions) error {
	if b.Failures < 0 {
		return cfg.Errorf("breaker.failures", "must be 1 or more, got %d", b.Failures)
	}
	if b.Cooldown < 0 {
		return cfg.Errorf("breaker.cooldown", "must be a positive duration like 30s, got %v", b.Cooldown)
	}
	if b.Failures > 0 {
		o.BreakerFailures = b.Failures
	}
	if b.Cooldown > 0 {
		o.BreakerTimeout = b.Cooldown
	}
	return nil
}
