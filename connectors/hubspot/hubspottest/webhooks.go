package hubspottest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Webhooks make the emulator POST every change to URL, as HubSpot does for
// an app subscribed to the creation, deletion and property changes of
// contacts and companies: JSON arrays of events, signed by HubSpot's v3
// scheme with ClientSecret, retried when the receiver fails.
type Webhooks struct {
	// URL is where deliveries go: the full URL, which is also what is
	// signed.
	URL string
	// ClientSecret is the app's client secret, the key of the signature.
	ClientSecret string
	// MaxBatch is how many events one delivery carries at most: 100 by
	// default, HubSpot's cap.
	MaxBatch int
	// Delay is how long events wait for more before a delivery is sent
	// (unless MaxBatch are waiting already); 0, the default, sends at
	// once whatever is waiting.
	Delay time.Duration
	// Drop and Duplicate are the shares of deliveries (0 to 1) never sent,
	// and sent twice (the same events, the same eventIds), for tests of a
	// receiver's resilience. Which ones is drawn from a generator seeded
	// with Seed, in delivery order.
	Drop, Duplicate float64
	Seed            int64
	// Client sends the deliveries; default a client with a 5 s timeout.
	Client *http.Client
	// Now is the clock of X-HubSpot-Request-Timestamp, the time a delivery
	// is sent: the wall clock by default, whatever Options.Now is, since
	// a receiver judges the timestamp by its own clock. (occurredAt is the
	// change's stamp, on Options.Now.)
	Now func() time.Time

	// backoff is the wait before the first retry (tests shorten it).
	backoff time.Duration
}

// PortalID is the emulated portal's id, the portalId of every webhook
// event; their appId is AppID, the app whose token writes through the API.
const PortalID = 7000001

// The retries, like HubSpot's: up to ten attempts in all, the waits
// doubling, though from 50 ms to at most 2 s instead of over a day. A
// receiver's 400, 401, 403, 404 or 405 is not retried, as HubSpot does
// not; a 429 is, after its Retry-After (capped the same way) when it has
// one.
const (
	webhookAttempts   = 10
	webhookBackoff    = 50 * time.Millisecond
	webhookMaxBackoff = 2 * time.Second
)

var webhookNoRetry = map[int]bool{400: true, 401: true, 403: true, 404: true, 405: true}

// hookEvent is one change as a table reports it.
type hookEvent struct {
	typ         *objectType
	id          string // the record's
	kind        string // creation, propertyChange, deletion
	prop, value string // propertyChange: the property and its new value ("" cleared)
	at          time.Time
	by          *source
}

// notify tells a change to whoever listens.
func (tb *table) notify(r *record, kind string, at time.Time, by *source) {
	if tb.events != nil {
		tb.events(hookEvent{typ: tb.typ, id: r.id, kind: kind, at: at, by: by})
	}
}

// notifyChanges tells, before a write is applied, one propertyChange for
// each property whose value it changes, by property name, as HubSpot sends
// one event per property changed. Properties the write leaves as they were
// tell nothing; the server-maintained ones (the modified date) are not
// written through here, and tell nothing either.
func (tb *table) notifyChanges(r *record, props map[string]string, at time.Time, by *source) {
	if tb.events == nil {
		return
	}
	var names []string
	for name, v := range props {
		if r.props[name] != v {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		tb.events(hookEvent{typ: tb.typ, id: r.id, kind: "propertyChange", prop: name, value: props[name], at: at, by: by})
	}
}

// wireEvent is one event of a delivery, with the fields HubSpot sends.
type wireEvent struct {
	EventID          int64   `json:"eventId"`
	SubscriptionID   int64   `json:"subscriptionId"`
	PortalID         int64   `json:"portalId"`
	AppID            int64   `json:"appId"`
	OccurredAt       int64   `json:"occurredAt"`
	SubscriptionType string  `json:"subscriptionType"`
	AttemptNumber    int     `json:"attemptNumber"`
	ObjectID         int64   `json:"objectId"`
	PropertyName     string  `json:"propertyName,omitempty"`
	PropertyValue    *string `json:"propertyValue,omitempty"`
	ChangeFlag       string  `json:"changeFlag,omitempty"`
	ChangeSource     string  `json:"changeSource"`
	SourceID         string  `json:"sourceId,omitempty"`
}

// hooks is the emulator's webhook state, under Emulator.mu.
type hooks struct {
	sender  *sender // the current sender, or the last one (for its stats)
	on      bool
	eventID int64 // the last eventId given
}

var appID, _ = strconv.ParseInt(AppID, 10, 64)

// subscriptionID is the id of the app's subscription to one kind of change
// of one object: one per subscription type here, where HubSpot has one per
// property for property changes.
func subscriptionID(t *objectType, kind string) int64 {
	n, _ := strconv.ParseInt(strings.TrimPrefix(t.typeID, "0-"), 10, 64)
	k := map[string]int64{"creation": 1, "deletion": 2, "propertyChange": 3}[kind]
	return 8000000 + 10*n + k
}

// SetWebhooks starts sending deliveries of every change made from now on
// (through the API or the test edits) to w.URL; nil stops. A previous
// sender is stopped first, and what it had not sent is dropped. It panics
// on settings HubSpot could not have: a URL that is not absolute http(s),
// shares outside 0..1, a negative MaxBatch or Delay.
func (e *Emulator) SetWebhooks(w *Webhooks) {
	var s *sender
	if w != nil {
		s = newSender(*w)
	}
	e.mu.Lock()
	old := e.hooks.sender
	if s != nil || old == nil {
		e.hooks.sender = s
	}
	e.hooks.on = s != nil
	for _, tb := range e.tables {
		tb.events = nil
		if s != nil {
			tb.events = e.queueEvent
		}
	}
	e.mu.Unlock()
	if old != nil {
		old.stop()
	}
	if s != nil {
		go s.run()
	}
}

// queueEvent turns a change into an event and queues it; under e.mu.
func (e *Emulator) queueEvent(h hookEvent) {
	if !e.hooks.on {
		return
	}
	e.hooks.eventID++
	id, _ := strconv.ParseInt(h.id, 10, 64)
	ev := wireEvent{EventID: e.hooks.eventID, SubscriptionID: subscriptionID(h.typ, h.kind), PortalID: PortalID, AppID: appID,
		OccurredAt: h.at.UnixMilli(), SubscriptionType: strings.ToLower(h.typ.label) + "." + h.kind, ObjectID: id,
		ChangeSource: h.by.typ, SourceID: h.by.id}
	switch h.kind {
	case "creation":
		ev.ChangeFlag = "CREATED"
	case "deletion":
		ev.ChangeFlag = "DELETED"
	case "propertyChange":
		v := h.value
		ev.PropertyName, ev.PropertyValue = h.prop, &v
	}
	e.hooks.sender.push(ev)
}

// WebhookStats counts the deliveries (requests, not events) of the current
// or last sender: sent and answered 2xx (each copy of a duplicate counts),
// given up after the retries or refused for good, dropped on purpose
// (Drop), and sent twice on purpose (Duplicate).
func (e *Emulator) WebhookStats() (sent, failed, dropped, duplicated int) {
	e.mu.Lock()
	s := e.hooks.sender
	e.mu.Unlock()
	if s == nil {
		return 0, 0, 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent, s.failed, s.dropped, s.duplicated
}

// FlushWebhooks waits until every event queued so far has been delivered,
// dropped or given up on, or ctx is done. With no sender it returns at
// once.
func (e *Emulator) FlushWebhooks(ctx context.Context) error {
	e.mu.Lock()
	s := e.hooks.sender
	e.mu.Unlock()
	if s == nil {
		return nil
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !s.idle() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return nil
		case <-t.C:
		}
	}
	return nil
}

// sender sends one emulator's deliveries, in order, from one goroutine,
// so that a change never waits for a delivery.
type sender struct {
	w      Webhooks
	rng    *rand.Rand // the sender's goroutine only
	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu                                sync.Mutex
	queue                             []wireEvent
	lastTS                            int64 // the last timestamp sent, ms
	busy                              bool  // a delivery is being sent
	sent, failed, dropped, duplicated int
}

func newSender(w Webhooks) *sender {
	u, err := url.Parse(w.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		panic(fmt.Sprintf("hubspottest: webhook URL %q is not an absolute http(s) URL", w.URL))
	case !(w.Drop >= 0 && w.Drop <= 1) || !(w.Duplicate >= 0 && w.Duplicate <= 1):
		panic(fmt.Sprintf("hubspottest: webhook Drop %v and Duplicate %v must be shares from 0 to 1", w.Drop, w.Duplicate))
	case w.MaxBatch < 0 || w.Delay < 0:
		panic(fmt.Sprintf("hubspottest: webhook MaxBatch %d and Delay %v must not be negative", w.MaxBatch, w.Delay))
	}
	if w.MaxBatch == 0 {
		w.MaxBatch = 100
	}
	if w.Client == nil {
		w.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.backoff <= 0 {
		w.backoff = webhookBackoff
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &sender{w: w, rng: rand.New(rand.NewPCG(uint64(w.Seed), 0x5eed)), wake: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// push queues an event; it never blocks.
func (s *sender) push(ev wireEvent) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // the sender is awake already
	}
}

// stop ends the sender and waits for it; a delivery on its way is
// abandoned (its request cancelled) and the queue dropped.
func (s *sender) stop() {
	s.cancel()
	<-s.done
}

func (s *sender) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) == 0 && !s.busy
}

func (s *sender) run() {
	defer close(s.done)
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		}
		for {
			batch, ok := s.next()
			if !ok {
				return
			}
			if batch == nil {
				break
			}
			s.deliver(batch)
			s.mu.Lock()
			s.busy = false
			s.mu.Unlock()
		}
	}
}

// next takes the next delivery off the queue, after the batching window:
// nil when the queue is empty, false when the sender is stopped.
func (s *sender) next() ([]wireEvent, bool) {
	s.mu.Lock()
	n := len(s.queue)
	s.mu.Unlock()
	if n == 0 {
		return nil, true
	}
	if s.w.Delay > 0 && n < s.w.MaxBatch && !s.sleep(s.w.Delay) {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := min(len(s.queue), s.w.MaxBatch)
	batch := slices.Clone(s.queue[:k])
	s.queue = s.queue[k:]
	s.busy = true
	return batch, true
}

// sleep waits d, or less if the sender stops: then it reports false.
func (s *sender) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// deliver sends one delivery, or drops it, or sends it twice.
func (s *sender) deliver(batch []wireEvent) {
	if s.rng.Float64() < s.w.Drop {
		s.count(&s.dropped)
		return
	}
	copies := 1
	if s.rng.Float64() < s.w.Duplicate {
		copies = 2
		s.count(&s.duplicated)
	}
	for range copies {
		switch ok, stopped := s.post(batch); {
		case stopped:
			return
		case ok:
			s.count(&s.sent)
		default:
			s.count(&s.failed)
		}
	}
}

func (s *sender) count(n *int) {
	s.mu.Lock()
	*n++
	s.mu.Unlock()
}

// post sends a delivery until the receiver takes it (ok), refuses it for
// good, or the attempts run out; stopped when the sender was stopped on
// the way. Each attempt is signed anew, with its own timestamp and the
// events' attemptNumber, as HubSpot's retries are.
func (s *sender) post(batch []wireEvent) (ok, stopped bool) {
	wait := time.Duration(0)
	for attempt := range webhookAttempts {
		if attempt > 0 {
			if wait == 0 {
				wait = min(s.w.backoff<<(attempt-1), webhookMaxBackoff)
			}
			if !s.sleep(wait) {
				return false, true
			}
			wait = 0
		}
		for i := range batch {
			batch[i].AttemptNumber = attempt
		}
		body, err := json.Marshal(batch)
		if err != nil {
			panic("hubspottest: " + err.Error())
		}
		ts := strconv.FormatInt(s.timestamp(), 10)
		req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.w.URL, bytes.NewReader(body))
		if err != nil {
			return false, false // the URL was checked: cannot happen
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nio-http-client) - WebhooksExecutorDaemon-executor")
		req.Header.Set("X-HubSpot-Request-Timestamp", ts)
		req.Header.Set("X-HubSpot-Signature-v3", signV3(s.w.ClientSecret, http.MethodPost, s.w.URL, body, ts))
		resp, err := s.w.Client.Do(req)
		if err != nil {
			if s.ctx.Err() != nil {
				return false, true
			}
			continue // no connection, no answer in time: retried
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return true, false
		case webhookNoRetry[resp.StatusCode]:
			return false, false
		case resp.StatusCode == http.StatusTooManyRequests:
			if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
				wait = min(time.Duration(secs)*time.Second, webhookMaxBackoff)
				if wait == 0 {
					wait = time.Millisecond
				}
			}
		}
	}
	return false, false
}

// timestamp is the X-HubSpot-Request-Timestamp of a request: now, but
// never the same as the sender's previous request's, so that no two
// requests (a retry, the copies of a duplicate) are signed alike and a
// receiver that refuses a signature it has seen (a replay) takes them.
func (s *sender) timestamp() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastTS = max(s.w.Now().UnixMilli(), s.lastTS+1)
	return s.lastTS
}

// signV3 is HubSpot's v3 signature: base64(HMAC-SHA256(secret, method +
// URI + body + timestamp)), the URI with the twelve escapes HubSpot's
// "Validating requests" page lists decoded. The connector has its own
// copy (connectors/hubspot/webhook.go); each package's tests check theirs
// against an independent computation.
func signV3(secret, method, uri string, body []byte, timestamp string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(method))
	mac.Write([]byte(decodeURI(uri)))
	mac.Write(body)
	mac.Write([]byte(timestamp))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

var uriDecoded = map[string]byte{
	"3A": ':', "2F": '/', "3F": '?', "40": '@', "21": '!', "24": '$',
	"27": '\'', "28": '(', "29": ')', "2A": '*', "2C": ',', "3B": ';',
}

func decodeURI(uri string) string {
	var b strings.Builder
	for i := 0; i < len(uri); i++ {
		if uri[i] == '%' && i+2 < len(uri) {
			if c, ok := uriDecoded[strings.ToUpper(uri[i+1:i+3])]; ok {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(uri[i])
	}
	return b.String()
}
