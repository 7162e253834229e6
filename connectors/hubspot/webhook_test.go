package hubspot

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem"
	"tandem/connectors"
	"tandem/connectors/hubspot/hubspottest"
)

const testSecret = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

// sign is the v3 signature computed here, independently of signV3.
func sign(secret, method, uri, body, ts string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(method + uri + body + ts))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func webhookClient(t *testing.T, extra string) *Client {
	t.Helper()
	c, err := testClient(t, "type: hubspot\ntoken: test-token\n"+extra)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rejection(err error) string {
	var r *connectors.WebhookRejected
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

// HubSpot's own Python client tests its v3 signature with this request
// (tests/spec/utils/test_signature.py in HubSpot/hubspot-api-python).
func TestSignV3KnownVector(t *testing.T) {
	got := signV3([]byte("yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"), "POST", "https://www.example.com/webhook_uri",
		[]byte("{'example_field':'example_value'}"), "15000000")
	if want := "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	// And through Receive: it verifies, then the body (not JSON) fails
	// to parse, which is not a rejection.
	c := webhookClient(t, "webhook_secret: yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy\n")
	h := http.Header{}
	h.Set("X-HubSpot-Signature-v3", "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=")
	h.Set("X-HubSpot-Request-Timestamp", "15000000")
	_, err := c.Receive("POST", "https://www.example.com/webhook_uri", h, []byte("{'example_field':'example_value'}"), time.UnixMilli(15_000_000+1000))
	if err == nil || rejection(err) != "" {
		t.Fatalf("err = %v; want a parse error after the signature verified", err)
	}
}

func TestReceiveVerifies(t *testing.T) {
	c := webhookClient(t, "webhook_secret: "+testSecret+"\n")
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	uri := "https://sync.example.com/webhooks/hubspot?tenant=a1"
	body := `[{"eventId":100,"subscriptionId":7,"portalId":62515,"appId":1,"occurredAt":1741064700000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":51,"changeFlag":"CREATED","changeSource":"CRM_UI"}]`
	ms := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).UnixMilli(), 10) }

	type delivery struct {
		secret, method, uri, body string
		signedMethod              string // what was signed, when not what is sent
		signedURI, signedBody     string
		ts                        string
		noSig, noTS               bool
		sig                       string // a signature given as is
	}
	ok := delivery{secret: testSecret, method: "POST", uri: uri, body: body, ts: ms(-2 * time.Second)}
	with := func(f func(d *delivery)) delivery { d := ok; f(&d); return d }
	tests := []struct {
		name   string
		d      delivery
		reason string // "" accepted
	}{
		{"signed", ok, ""},
		{"4 minutes old", with(func(d *delivery) { d.ts = ms(-4 * time.Minute) }), ""},
		{"4 minutes ahead", with(func(d *delivery) { d.ts = ms(4 * time.Minute) }), ""},
		{"wrong secret", with(func(d *delivery) { d.secret = "another-secret" }), "bad signature"},
		{"tampered body", with(func(d *delivery) { d.signedBody = d.body; d.body = strings.Replace(d.body, "51", "52", 1) }), "bad signature"},
		{"other method", with(func(d *delivery) { d.signedMethod = "PUT" }), "bad signature"},
		{"other uri", with(func(d *delivery) { d.signedURI = "https://sync.example.com/webhooks/hubspot?tenant=a2" }), "bad signature"},
		{"http for https", with(func(d *delivery) { d.signedURI = "http://sync.example.com/webhooks/hubspot?tenant=a1" }), "bad signature"},
		{"signature of another timestamp", with(func(d *delivery) { d.sig = sign(testSecret, "POST", uri, body, ms(-3*time.Second)) }), "bad signature"},
		{"hex signature", with(func(d *delivery) { d.sig = "9c1185a5c5e9fc54612808977ee8f548b2258d31" }), "bad signature"},
		{"no signature", with(func(d *delivery) { d.noSig = true }), "no signature"},
		{"no timestamp", with(func(d *delivery) { d.noTS = true }), "no timestamp"},
		{"timestamp in seconds", with(func(d *delivery) { d.ts = strconv.FormatInt(now.Unix(), 10) }), "stale timestamp"},
		{"timestamp not a number", with(func(d *delivery) { d.ts = "yesterday" }), "bad timestamp"},
		{"timestamp as a date", with(func(d *delivery) { d.ts = now.Format(time.RFC3339) }), "bad timestamp"},
		{"timestamp with a plus sign", with(func(d *delivery) { d.ts = "+" + ms(0) }), "bad timestamp"},
		{"timestamp with leading zeros and a sign", with(func(d *delivery) { d.ts = "+0" + ms(0) }), "bad timestamp"},
		{"6 minutes old", with(func(d *delivery) { d.ts = ms(-6 * time.Minute) }), "stale timestamp"},
		{"6 minutes ahead", with(func(d *delivery) { d.ts = ms(6 * time.Minute) }), "stale timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.d
			sm, su, sb := d.method, d.uri, d.body
			if d.signedMethod != "" {
				sm = d.signedMethod
			}
			if d.signedURI != "" {
				su = d.signedURI
			}
			if d.signedBody != "" {
				sb = d.signedBody
			}
			h := http.Header{}
			if !d.noSig {
				sig := d.sig
				if sig == "" {
					sig = sign(d.secret, sm, su, sb, d.ts)
				}
				h.Set("X-HubSpot-Signature-v3", sig)
			}
			if !d.noTS {
				h.Set("X-HubSpot-Request-Timestamp", d.ts)
			}
			evs, err := c.Receive(d.method, d.uri, h, []byte(d.body), now)
			if got := rejection(err); got != tt.reason {
				t.Fatalf("rejection %q (err %v), want %q", got, err, tt.reason)
			}
			if tt.reason != "" {
				if strings.Contains(err.Error(), testSecret) || (h.Get("X-HubSpot-Signature-v3") != "" && strings.Contains(err.Error(), sign(testSecret, d.method, d.uri, d.body, d.ts))) {
					t.Fatalf("the error shows the secret or the signature expected: %v", err)
				}
				return
			}
			if len(evs) != 1 || evs[0].RecordID != "51" {
				t.Fatalf("events %+v", evs)
			}
		})
	}
}

func TestReceiveHeaderCase(t *testing.T) {
	c := webhookClient(t, "webhook_secret: "+testSecret+"\n")
	now := time.Now()
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	body := `[]`
	// A header map built by hand, keys as HubSpot spells them, not as
	// net/http canonicalises them.
	h := http.Header{"X-HubSpot-Signature-v3": {sign(testSecret, "POST", "https://h.example/w", body, ts)}, "X-HubSpot-Request-Timestamp": {ts}}
	evs, err := c.Receive("POST", "https://h.example/w", h, []byte(body), now)
	if err != nil || len(evs) != 0 {
		t.Fatalf("events %v, err %v", evs, err)
	}
}

// HubSpot signs the URI with twelve escapes decoded, and only those.
func TestReceiveDecodesTheURI(t *testing.T) {
	c := webhookClient(t, "webhook_secret: "+testSecret+"\n")
	now := time.Now()
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	tests := []struct{ sent, signed string }{
		{"https://h.example/w?a=b%3Ac", "https://h.example/w?a=b:c"},
		{"https://h.example/w?x=%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B", "https://h.example/w?x=:/?@!$'()*,;"},
		{"https://h.example/w?x=%3a%2f", "https://h.example/w?x=:/"}, // lower-case hex is the same escape
		{"https://h.example/w?x=a%20b%25c%26d%3D", "https://h.example/w?x=a%20b%25c%26d%3D"},
		{"https://h.example/w?x=%253A", "https://h.example/w?x=%253A"}, // an escaped '%' stays: no double decoding
		{"https://h.example/w/%40team?x=1%", "https://h.example/w/@team?x=1%"},
	}
	for _, tt := range tests {
		body := `[]`
		h := http.Header{}
		h.Set("X-HubSpot-Request-Timestamp", ts)
		h.Set("X-HubSpot-Signature-v3", sign(testSecret, "POST", tt.signed, body, ts))
		if _, err := c.Receive("POST", tt.sent, h, []byte(body), now); err != nil {
			t.Errorf("%s signed as %s: %v", tt.sent, tt.signed, err)
		}
		if tt.sent != tt.signed {
			// Signed as sent, without the decoding, it must not pass.
			h.Set("X-HubSpot-Signature-v3", sign(testSecret, "POST", tt.sent, body, ts))
			if _, err := c.Receive("POST", tt.sent, h, []byte(body), now); rejection(err) != "bad signature" {
				t.Errorf("%s signed undecoded: err %v, want bad signature", tt.sent, err)
			}
		}
	}
}

func TestReceiveSecretConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("  "+testSecret+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	h := http.Header{}
	h.Set("X-HubSpot-Request-Timestamp", ts)
	h.Set("X-HubSpot-Signature-v3", sign(testSecret, "POST", "https://h.example/w", "[]", ts))

	// Without a secret the connector opens, and refuses every delivery.
	c := webhookClient(t, "")
	if _, err := c.Receive("POST", "https://h.example/w", h, []byte("[]"), now); rejection(err) != "no webhook_secret configured" {
		t.Fatalf("no secret: %v", err)
	}
	c = webhookClient(t, "webhook_secret_file: "+file+"\n")
	if _, err := c.Receive("POST", "https://h.example/w", h, []byte("[]"), now); err != nil {
		t.Fatalf("secret from a file (trimmed): %v", err)
	}
	for _, tt := range []struct{ extra, want string }{
		{"webhook_secret: x\nwebhook_secret_file: " + file + "\n", "systems.hs.webhook_secret_file: set webhook_secret or webhook_secret_file, not both"},
		{"webhook_secret_file: " + empty + "\n", "is empty"},
		{"webhook_secret_file: " + filepath.Join(dir, "missing") + "\n", "no such file"},
	} {
		_, err := testClient(t, "type: hubspot\ntoken: test-token\n"+tt.extra)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err %v, want %q", tt.extra, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), testSecret) {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
}

func TestReceiveParses(t *testing.T) {
	c := webhookClient(t, "webhook_secret: "+testSecret+"\n")
	now := time.Now()
	at := time.UnixMilli(1_700_000_000_123).UTC()
	ev := func(id int, typ string, object any, extra string) string {
		s := `{"eventId":` + strconv.Itoa(id) + `,"subscriptionId":9,"portalId":62515,"appId":3,"occurredAt":1700000000123,"subscriptionType":"` + typ + `","attemptNumber":0`
		if object != nil {
			s += `,"objectId":` + toJSON(object)
		}
		return s + extra + `}`
	}
	e := func(id, object, record string, deleted bool) connectors.Event {
		return connectors.Event{ID: "62515-9-" + id, Object: object, RecordID: record, Deleted: deleted, At: at}
	}
	tests := []struct {
		name string
		body string
		want []connectors.Event
	}{
		{"empty", `[]`, nil},
		{"contact events", "[" + strings.Join([]string{
			ev(1, "contact.creation", 51, `,"changeFlag":"CREATED","changeSource":"CRM_UI","sourceId":"userId:1"`),
			ev(2, "contact.propertyChange", 51, `,"propertyName":"email","propertyValue":"a@example.com","changeSource":"INTEGRATION"`),
			ev(3, "contact.deletion", 52, `,"changeFlag":"DELETED"`),
			ev(4, "contact.restore", 52, ``),
			ev(5, "contact.privacyDeletion", 53, ``),
		}, ",") + "]", []connectors.Event{
			e("1", "contacts", "51", false), e("2", "contacts", "51", false), e("3", "contacts", "52", true),
			e("4", "contacts", "52", false), e("5", "contacts", "53", true),
		}},
		{"companies, deals, tickets", "[" + strings.Join([]string{
			ev(6, "company.propertyChange", 9001, `,"propertyName":"name","propertyValue":"Acme"`),
			ev(7, "deal.creation", 77, ``),
			ev(8, "ticket.deletion", 88, ``),
		}, ",") + "]", []connectors.Event{
			e("6", "companies", "9001", false), e("7", "deals", "77", false), e("8", "tickets", "88", true),
		}},
		{"generic subscriptions", "[" + strings.Join([]string{
			ev(9, "object.propertyChange", 51, `,"objectTypeId":"0-1","propertyName":"email"`),
			ev(10, "object.deletion", 9001, `,"objectTypeId":"0-2"`),
			ev(11, "object.creation", 5, `,"objectTypeId":"2-12345"`),
		}, ",") + "]", []connectors.Event{
			e("9", "contacts", "51", false), e("10", "companies", "9001", true),
		}},
		{"skipped: unmapped objects and association changes", "[" + strings.Join([]string{
			ev(12, "conversation.creation", 4, ``),
			ev(13, "line_item.creation", 5, ``),
			ev(14, "contact.associationChange", nil, `,"fromObjectId":51,"toObjectId":9001,"associationType":"CONTACT_TO_COMPANY"`),
			ev(15, "contact.creation", 54, ``),
		}, ",") + "]", []connectors.Event{e("15", "contacts", "54", false)}},
		{"merge", "[" + ev(16, "contact.merge", 60, `,"primaryObjectId":60,"mergedObjectIds":[61,62],"newObjectId":60,"numberOfPropertiesMoved":4`) + "]", []connectors.Event{
			e("16-61", "contacts", "61", true), e("16-62", "contacts", "62", true), e("16-60", "contacts", "60", false),
		}},
		{"merge into a new record", "[" + ev(17, "company.merge", 9100, `,"primaryObjectId":9001,"mergedObjectIds":[9002],"newObjectId":9100`) + "]", []connectors.Event{
			e("17-9002", "companies", "9002", true), e("17-9100", "companies", "9100", false), e("17-9001", "companies", "9001", false),
		}},
		{"ids as strings, and past 2^53", "[" + ev(18, "contact.creation", "9007199254740993", ``) + "]", []connectors.Event{
			e("18", "contacts", "9007199254740993", false),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Receive("POST", "https://h.example/w", signed(tt.body, now), []byte(tt.body), now)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("events\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestReceiveMalformed(t *testing.T) {
	c := webhookClient(t, "webhook_secret: "+testSecret+"\n")
	now := time.Now()
	tests := []struct{ body, want string }{
		{``, "the body is not JSON"},
		{`[{"eventId":1,`, "the body is not JSON"},
		{`{"eventId":1,"subscriptionType":"contact.creation","objectId":5}`, "not a JSON array of events"},
		{`[1,2]`, "event 0 is not a JSON object"},
		{`[{"eventId":1,"subscriptionType":"contact.creation","objectId":5},"x"]`, "event 1 is not a JSON object"},
		{`[{"subscriptionType":"contact.creation","objectId":5}]`, "event 0: eventId (missing) is not an id"},
		{`[{"eventId":-4,"subscriptionType":"contact.creation","objectId":5}]`, "event 0: eventId -4 is not an id"},
		{`[{"eventId":1.5,"subscriptionType":"contact.creation","objectId":5}]`, "event 0: eventId 1.5 is not an id"},
		{`[{"eventId":1,"subscriptionType":"contact.creation"}]`, "event 0 (eventId 1): objectId (missing) is not an id"},
		{`[{"eventId":1,"subscriptionType":"contact.creation","objectId":null}]`, "objectId null is not an id"},
		{`[{"eventId":1,"objectId":5}]`, "event 0 (eventId 1): subscriptionType (missing) is not a string"},
		{`[{"eventId":1,"subscriptionType":"contact.creation","objectId":5,"occurredAt":"today"}]`, `occurredAt "today" is not a time in milliseconds`},
		{`[{"eventId":1,"subscriptionType":"contact.merge","objectId":5,"mergedObjectIds":7}]`, "mergedObjectIds 7 is not an array of ids"},
		{`[{"eventId":1,"subscriptionType":"contact.merge","objectId":5,"mergedObjectIds":["x"]}]`, `mergedObjectIds holds "x", not an id`},
	}
	for _, tt := range tests {
		_, err := c.Receive("POST", "https://h.example/w", signed(tt.body, now), []byte(tt.body), now)
		var te *tandem.Error
		if !errors.As(err, &te) || rejection(err) != "" || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want a parse error with %q", tt.body, err, tt.want)
		}
	}
}

// signed is the headers of a delivery of body to https://h.example/w.
func signed(body string, now time.Time) http.Header {
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	h := http.Header{}
	h.Set("X-HubSpot-Request-Timestamp", ts)
	h.Set("X-HubSpot-Signature-v3", sign(testSecret, "POST", "https://h.example/w", body, ts))
	return h
}

func toJSON(v any) string {
	switch v := v.(type) {
	case int:
		return strconv.Itoa(v)
	case string:
		return strconv.Quote(v)
	}
	panic("toJSON")
}

// The emulator's deliveries verify and parse here, as a daemon would take
// them: each event once by its ID, though every delivery comes twice.
func TestReceiveFromTheEmulator(t *testing.T) {
	c := webhookClient(t, "webhook_secret: "+testSecret+"\n")
	var mu sync.Mutex
	var got []connectors.Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		evs, err := c.Receive(r.Method, "http://"+r.Host+r.URL.RequestURI(), r.Header, body, time.Now())
		switch {
		case rejection(err) != "":
			w.WriteHeader(http.StatusUnauthorized)
		case err != nil:
			t.Errorf("delivery: %v", err)
			w.WriteHeader(http.StatusBadRequest)
		default:
			mu.Lock()
			got = append(got, evs...)
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	flush := func(e *hubspottest.Emulator) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := e.FlushWebhooks(ctx); err != nil {
			t.Fatal(err)
		}
	}

	e := hubspottest.New(hubspottest.Options{})
	defer e.Close()
	e.SetWebhooks(&hubspottest.Webhooks{URL: srv.URL + "/webhooks/hubspot?tenant=a%3Ab", ClientSecret: testSecret, Duplicate: 1})
	id, err := e.Create("contacts", map[string]any{"email": "e2e@example.com", "firstname": "E"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Update("contacts", id, map[string]any{"firstname": "F"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Delete("contacts", id); err != nil {
		t.Fatal(err)
	}
	flush(e)
	mu.Lock()
	all := append([]connectors.Event(nil), got...)
	mu.Unlock()
	seen := map[string]bool{}
	var once []connectors.Event
	for _, ev := range all {
		if !seen[ev.ID] {
			seen[ev.ID] = true
			once = append(once, ev)
		}
	}
	if len(all) != 2*len(once) || len(once) != 5 {
		t.Fatalf("%d events, %d of them distinct; want 5, each twice: %+v", len(all), len(once), all)
	}
	obj, _ := e.Get("contacts", id)
	for i, ev := range once {
		if ev.Object != "contacts" || ev.RecordID != id || ev.Deleted != (i == 4) || ev.At.IsZero() {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
	if !once[0].At.Equal(obj.CreatedAt) || !once[4].At.Equal(obj.ArchivedAt) {
		t.Errorf("At %v and %v, want %v and %v", once[0].At, once[4].At, obj.CreatedAt, obj.ArchivedAt)
	}

	// Signed with another secret: refused, and HubSpot does not retry a 401.
	other := hubspottest.New(hubspottest.Options{})
	defer other.Close()
	other.SetWebhooks(&hubspottest.Webhooks{URL: srv.URL + "/webhooks/hubspot", ClientSecret: "not-the-secret"})
	if _, err := other.Create("contacts", map[string]any{"email": "x@example.com"}); err != nil {
		t.Fatal(err)
	}
	flush(other)
	if sent, failed, _, _ := other.WebhookStats(); sent != 0 || failed == 0 {
		t.Fatalf("sent %d, failed %d", sent, failed)
	}
}
