package hubspottest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

const hookSecret = "3c7f1d2e-aaaa-4bbb-8ccc-0123456789ab"

// hookReceiver records the deliveries it gets and answers each with the
// status answer gives for its number (from 0), 204 by default.
type hookReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	answer func(n int) int
	hold   chan struct{} // when set, requests wait for it to close

	mu  sync.Mutex
	got []hookDelivery
}

type hookDelivery struct {
	method, uri string
	header      http.Header
	body        string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.got)
		r.got = append(r.got, hookDelivery{method: req.Method, uri: "http://" + req.Host + req.URL.RequestURI(), header: req.Header.Clone(), body: string(body)})
		answer, hold := r.answer, r.hold
		r.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-req.Context().Done():
			}
		}
		status := http.StatusNoContent
		if answer != nil {
			status = answer(n)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) deliveries() []hookDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookDelivery(nil), r.got...)
}

// events are the events of every delivery, in order.
func (r *hookReceiver) events() []gjson.Result {
	var out []gjson.Result
	for _, d := range r.deliveries() {
		out = append(out, gjson.Parse(d.body).Array()...)
	}
	return out
}

// hookEmulator is an emulator sending webhooks to r, w's URL and secret
// filled in when empty; it is closed when the test ends.
func hookEmulator(t *testing.T, r *hookReceiver, w Webhooks) *Emulator {
	t.Helper()
	e := New(Options{Now: newClock(time.Millisecond).Now})
	t.Cleanup(e.Close)
	if w.URL == "" {
		w.URL = r.srv.URL + "/webhooks/hubspot"
	}
	if w.ClientSecret == "" {
		w.ClientSecret = hookSecret
	}
	e.SetWebhooks(&w)
	return e
}

func flush(t *testing.T, e *Emulator) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.FlushWebhooks(ctx); err != nil {
		t.Fatal("webhooks not flushed:", err)
	}
}

// checkSigned checks a delivery's v3 signature, computed here as
// HubSpot's page describes it, with signedURI the URI as the receiver
// must sign it.
func checkSigned(t *testing.T, d hookDelivery, signedURI string) {
	t.Helper()
	ts := d.header.Get("X-HubSpot-Request-Timestamp")
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write([]byte("POST" + signedURI + d.body + ts))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); d.header.Get("X-HubSpot-Signature-v3") != want {
		t.Errorf("signature %q, want %q", d.header.Get("X-HubSpot-Signature-v3"), want)
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.UnixMilli(ms)).Abs() > time.Minute {
		t.Errorf("timestamp %q is not the time of sending in ms", ts)
	}
	if d.method != "POST" || d.header.Get("Content-Type") != "application/json" {
		t.Errorf("%s with Content-Type %q", d.method, d.header.Get("Content-Type"))
	}
}

func TestWebhooksEvents(t *testing.T) {
	r := newHookReceiver(t)
	e := hookEmulator(t, r, Webhooks{URL: r.srv.URL + "/webhooks/hubspot?tenant=a%3Ab%2Cc&x=%20"})

	// Through the API: an app's writes.
	c := do(t, e, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"firstname": "Ann", "email": "ann@example.com"}})
	if c.status != 201 {
		t.Fatal(c.raw)
	}
	contact := c.body.Get("id").String()
	if c = do(t, e, "PATCH", "/crm/v3/objects/contacts/"+contact, map[string]any{"properties": map[string]any{"firstname": "Anna", "lastname": "Lee", "email": "ann@example.com"}}); c.status != 200 {
		t.Fatal(c.raw)
	}
	if c = do(t, e, "PATCH", "/crm/v3/objects/contacts/"+contact, map[string]any{"properties": map[string]any{"lastname": ""}}); c.status != 200 {
		t.Fatal(c.raw)
	}
	if c = do(t, e, "DELETE", "/crm/v3/objects/contacts/"+contact, nil); c.status != 204 {
		t.Fatal(c.raw)
	}
	// In the UI: a user's edits.
	company := mustCreate(t, e, "companies", map[string]any{"name": "Acme"})
	if err := e.Update("companies", company, map[string]any{"name": "Acme Inc"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Delete("companies", company); err != nil {
		t.Fatal(err)
	}
	flush(t, e)

	type ev struct{ typ, object, prop, value, source, sourceID, flag string }
	api, ui := "INTEGRATION", "CRM_UI"
	want := []ev{
		{"contact.creation", contact, "", "", api, AppID, "CREATED"},
		{"contact.propertyChange", contact, "email", "ann@example.com", api, AppID, ""},
		{"contact.propertyChange", contact, "firstname", "Ann", api, AppID, ""},
		{"contact.propertyChange", contact, "firstname", "Anna", api, AppID, ""}, // email was written unchanged: no event
		{"contact.propertyChange", contact, "lastname", "Lee", api, AppID, ""},
		{"contact.propertyChange", contact, "lastname", "", api, AppID, ""},
		{"contact.deletion", contact, "", "", api, AppID, "DELETED"},
		{"company.creation", company, "", "", ui, "userId:5000001", "CREATED"},
		{"company.propertyChange", company, "name", "Acme", ui, "userId:5000001", ""},
		{"company.propertyChange", company, "name", "Acme Inc", ui, "userId:5000001", ""},
		{"company.deletion", company, "", "", ui, "userId:5000001", "DELETED"},
	}
	got := r.events()
	var have []ev
	for _, g := range got {
		have = append(have, ev{g.Get("subscriptionType").String(), g.Get("objectId").Raw, g.Get("propertyName").String(),
			g.Get("propertyValue").String(), g.Get("changeSource").String(), g.Get("sourceId").String(), g.Get("changeFlag").String()})
	}
	if !reflect.DeepEqual(have, want) {
		t.Fatalf("events\n%v\nwant\n%v", have, want)
	}
	var last int64
	for i, g := range got {
		if id := g.Get("eventId").Int(); id <= last {
			t.Errorf("event %d: eventId %d after %d", i, id, last)
		} else {
			last = id
		}
		if g.Get("portalId").Int() != PortalID || g.Get("appId").String() != AppID || g.Get("subscriptionId").Int() == 0 || g.Get("attemptNumber").Raw != "0" {
			t.Errorf("event %d: %s", i, g.Raw)
		}
		if g.Get("subscriptionType").String() == "contact.propertyChange" && !g.Get("propertyValue").Exists() {
			t.Errorf("event %d: a propertyChange without propertyValue: %s", i, g.Raw)
		}
	}
	// occurredAt is the change's own stamp.
	obj, _ := e.Get("contacts", contact)
	if got[0].Get("occurredAt").Int() != obj.CreatedAt.UnixMilli() || got[6].Get("occurredAt").Int() != obj.ArchivedAt.UnixMilli() {
		t.Errorf("occurredAt %d and %d, want the creation %v and the archive %v", got[0].Get("occurredAt").Int(), got[6].Get("occurredAt").Int(), obj.CreatedAt, obj.ArchivedAt)
	}
	for _, d := range r.deliveries() {
		// The receiver sees %3A and %2C, HubSpot signs ':' and ','; %20 stays.
		checkSigned(t, d, r.srv.URL+"/webhooks/hubspot?tenant=a:b,c&x=%20")
	}
}

func TestWebhooksBatches(t *testing.T) {
	for _, tt := range []struct {
		name     string
		maxBatch int
		records  int
		want     []int // events per delivery
	}{
		{"MaxBatch 3", 3, 4, []int{3, 3, 2}},
		{"HubSpot's 100 by default", 0, 100, []int{100, 100}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newHookReceiver(t)
			// The window holds the first event until the whole batch
			// below is queued (one request, under one lock).
			e := hookEmulator(t, r, Webhooks{MaxBatch: tt.maxBatch, Delay: 300 * time.Millisecond})
			var inputs []map[string]any
			for i := range tt.records {
				inputs = append(inputs, map[string]any{"properties": map[string]any{"email": fmt.Sprintf("p%d@example.com", i)}})
			}
			if c := do(t, e, "POST", "/crm/v3/objects/contacts/batch/create", map[string]any{"inputs": inputs}); c.status != 201 {
				t.Fatal(c.raw)
			}
			flush(t, e)
			var sizes []int
			var last int64
			for _, d := range r.deliveries() {
				evs := gjson.Parse(d.body).Array()
				sizes = append(sizes, len(evs))
				for _, ev := range evs {
					if ev.Get("eventId").Int() <= last {
						t.Fatalf("events out of order: %d after %d", ev.Get("eventId").Int(), last)
					}
					last = ev.Get("eventId").Int()
				}
			}
			if !reflect.DeepEqual(sizes, tt.want) {
				t.Fatalf("deliveries of %v events, want %v", sizes, tt.want)
			}
			if sent, failed, dropped, dup := e.WebhookStats(); sent != len(tt.want) || failed+dropped+dup != 0 {
				t.Errorf("stats %d %d %d %d", sent, failed, dropped, dup)
			}
		})
	}
}

func TestWebhooksDropAndDuplicate(t *testing.T) {
	t.Run("Drop 1 sends nothing", func(t *testing.T) {
		r := newHookReceiver(t)
		e := hookEmulator(t, r, Webhooks{Drop: 1})
		for i := range 3 {
			mustCreate(t, e, "contacts", map[string]any{"email": fmt.Sprintf("d%d@example.com", i)})
		}
		flush(t, e)
		if n := len(r.deliveries()); n != 0 {
			t.Fatalf("%d deliveries", n)
		}
		if sent, failed, dropped, _ := e.WebhookStats(); sent != 0 || failed != 0 || dropped == 0 {
			t.Fatalf("sent %d, failed %d, dropped %d", sent, failed, dropped)
		}
	})
	t.Run("Duplicate 1 sends each twice", func(t *testing.T) {
		r := newHookReceiver(t)
		e := hookEmulator(t, r, Webhooks{Duplicate: 1, Delay: 300 * time.Millisecond})
		mustCreate(t, e, "contacts", map[string]any{"email": "x@example.com", "firstname": "X"})
		flush(t, e)
		ds := r.deliveries()
		if len(ds) != 2 {
			t.Fatalf("%d deliveries, want 2", len(ds))
		}
		a, b := gjson.Parse(ds[0].body).Get("#.eventId").Raw, gjson.Parse(ds[1].body).Get("#.eventId").Raw
		if a != b || len(gjson.Parse(a).Array()) != 3 {
			t.Fatalf("eventIds %s and %s", a, b)
		}
		for _, d := range ds {
			checkSigned(t, d, r.srv.URL+"/webhooks/hubspot")
		}
		// Each copy is signed anew: a receiver that refuses a signature it
		// has seen before (a replay) still takes the second.
		if ds[0].header.Get("X-HubSpot-Signature-v3") == ds[1].header.Get("X-HubSpot-Signature-v3") {
			t.Error("the two copies carry the same signature")
		}
		if sent, failed, dropped, dup := e.WebhookStats(); sent != 2 || failed != 0 || dropped != 0 || dup != 1 {
			t.Fatalf("stats %d %d %d %d", sent, failed, dropped, dup)
		}
	})
	t.Run("the same seed drops the same deliveries", func(t *testing.T) {
		pattern := func() []int {
			r := newHookReceiver(t)
			e := hookEmulator(t, r, Webhooks{Drop: 0.5, Seed: 42})
			var ids []string
			for range 12 {
				// No properties: one event, so one delivery, per record.
				ids = append(ids, mustCreate(t, e, "companies", map[string]any{}))
				flush(t, e)
			}
			var delivered []int
			for _, ev := range r.events() {
				delivered = append(delivered, slices.Index(ids, ev.Get("objectId").Raw))
			}
			return delivered
		}
		a, b := pattern(), pattern()
		if !reflect.DeepEqual(a, b) || len(a) == 0 || len(a) == 12 {
			t.Fatalf("delivered %v, then %v", a, b)
		}
	})
}

func TestWebhooksRetries(t *testing.T) {
	for _, tt := range []struct {
		name     string
		statuses []int // answers in turn; the last one from then on
		attempts int
		sent     int
		failed   int
	}{
		{"500 twice, then 200", []int{500, 500, 200}, 3, 1, 0},
		{"429, then 204", []int{429, 204}, 2, 1, 0},
		{"503 for good: ten attempts", []int{503}, 10, 0, 1},
		{"404 is not retried", []int{404}, 1, 0, 1},
		{"410 is", []int{410, 200}, 2, 1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newHookReceiver(t)
			r.answer = func(n int) int { return tt.statuses[min(n, len(tt.statuses)-1)] }
			e := hookEmulator(t, r, Webhooks{Delay: 100 * time.Millisecond, backoff: time.Millisecond})
			mustCreate(t, e, "contacts", map[string]any{"email": "r@example.com"})
			flush(t, e)
			ds := r.deliveries()
			if len(ds) != tt.attempts {
				t.Fatalf("%d attempts, want %d", len(ds), tt.attempts)
			}
			for i, d := range ds {
				checkSigned(t, d, r.srv.URL+"/webhooks/hubspot")
				evs := gjson.Parse(d.body)
				if evs.Get("#.eventId").Raw != gjson.Parse(ds[0].body).Get("#.eventId").Raw {
					t.Errorf("attempt %d carries other events: %s", i, d.body)
				}
				for _, n := range evs.Get("#.attemptNumber").Array() {
					if n.Int() != int64(i) {
						t.Errorf("attempt %d: attemptNumber %d", i, n.Int())
					}
				}
			}
			if sent, failed, _, _ := e.WebhookStats(); sent != tt.sent || failed != tt.failed {
				t.Fatalf("sent %d, failed %d; want %d, %d", sent, failed, tt.sent, tt.failed)
			}
		})
	}
	t.Run("no connection", func(t *testing.T) {
		r := newHookReceiver(t)
		url := r.srv.URL
		r.srv.Close()
		e := hookEmulator(t, r, Webhooks{URL: url, Delay: 100 * time.Millisecond, backoff: time.Millisecond})
		mustCreate(t, e, "contacts", map[string]any{"email": "n@example.com"})
		flush(t, e)
		if sent, failed, _, _ := e.WebhookStats(); sent != 0 || failed != 1 {
			t.Fatalf("sent %d, failed %d", sent, failed)
		}
	})
}

// A receiver that hangs holds neither the API nor Close.
func TestWebhooksNeverBlock(t *testing.T) {
	r := newHookReceiver(t)
	r.hold = make(chan struct{})
	defer close(r.hold)
	e := New(Options{})
	e.SetWebhooks(&Webhooks{URL: r.srv.URL, ClientSecret: hookSecret})
	start := time.Now()
	for i := range 20 {
		if c := do(t, e, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": fmt.Sprintf("b%d@example.com", i)}}); c.status != 201 {
			t.Fatal(c.raw)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("20 creates took %v while the receiver hangs", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(r.deliveries()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(r.deliveries()) == 0 {
		t.Fatal("no delivery reached the receiver")
	}
	s := e.hooks.sender
	start = time.Now()
	e.Close() // with a delivery in flight
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("the sender is still running after Close")
	}
	// The emulator still answers, and sends nothing more.
	n := len(r.deliveries())
	if c := do(t, e, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": "after@example.com"}}); c.status != 201 {
		t.Fatal(c.raw)
	}
	time.Sleep(50 * time.Millisecond)
	if len(r.deliveries()) != n {
		t.Fatal("a delivery after Close")
	}
	e.Close() // twice is fine
}

func TestSetWebhooks(t *testing.T) {
	r := newHookReceiver(t)
	e := hookEmulator(t, r, Webhooks{})
	mustCreate(t, e, "contacts", map[string]any{"email": "one@example.com"})
	flush(t, e)
	e.SetWebhooks(nil)
	mustCreate(t, e, "contacts", map[string]any{"email": "two@example.com"})
	time.Sleep(50 * time.Millisecond)
	for _, ev := range r.events() {
		if ev.Get("propertyValue").String() == "two@example.com" {
			t.Fatal("an event after SetWebhooks(nil)")
		}
	}
	if sent, _, _, _ := e.WebhookStats(); sent == 0 {
		t.Error("the stats went with the sender")
	}
	for _, bad := range []Webhooks{
		{URL: "/webhooks"}, {URL: "ftp://h/x"}, {URL: r.srv.URL, Drop: 2}, {URL: r.srv.URL, Duplicate: -0.1}, {URL: r.srv.URL, MaxBatch: -1},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%+v: no panic", bad)
				}
			}()
			e.SetWebhooks(&bad)
		}()
	}
	if !strings.HasPrefix(decodeURI("a%3A%3a%2"), "a::%2") {
		t.Error(decodeURI("a%3A%3a%2"))
	}
}
