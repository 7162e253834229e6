package connectors

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const testSecret = "whsec_test"

// sign is the sender's side, written apart from the receiver: HMAC-SHA256
// of the secret over the message.
func sign(secret, message string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(message))
	return m.Sum(nil)
}

func newTestReceiver(t *testing.T, c HMACConfig) *HMACReceiver {
	t.Helper()
	if c.Secret == "" && c.SecretFile == "" {
		c.Secret = testSecret
	}
	r, err := NewHMACReceiver("relay", c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func rejected(err error) string {
	var wr *WebhookRejected
	if errors.As(err, &wr) {
		return wr.Reason
	}
	return ""
}

// TestHMACKnownVectors: signatures made outside Go (openssl dgst -sha256
// -hmac whsec_test) verify, so sender and receiver cannot agree on a
// mistake.
func TestHMACKnownVectors(t *testing.T) {
	body := []byte(`{"id":"e1","record_id":"r1"}`)
	now := time.Unix(1715000000, 0)
	r := newTestReceiver(t, HMACConfig{Encoding: "base64", Object: "Contact"})
	if _, err := r.Receive("POST", "/", http.Header{"X-Signature-256": {"oOcjD9RCmZWjtEY0Q4Dxs79F0HRqlZfQJAvo9WCxn00="}}, body, now); err != nil {
		t.Errorf("base64 vector: %v", err)
	}
	r = newTestReceiver(t, HMACConfig{TimestampHeader: "X-Timestamp", Object: "Contact"})
	h := http.Header{"X-Signature-256": {"bcf36377edb9fda52dcc778495c70f95c55013b519b77ef840bd9505fb9f3d92"}, "X-Timestamp": {"1715000000"}}
	if _, err := r.Receive("POST", "/", h, body, now); err != nil {
		t.Errorf("hex vector with a timestamp: %v", err)
	}
}

func TestHMACEncodings(t *testing.T) {
	body := `[{"id":"e1","object":"Contact","record_id":"r1"}]`
	mac := sign(testSecret, body)
	hx, b64 := hex.EncodeToString(mac), base64.StdEncoding.EncodeToString(mac)
	for _, tc := range []struct {
		encoding, header, value string
		want                    string // rejection reason, "" for accepted
	}{
		{"", "", hx, ""},
		{"hex", "", "sha256=" + hx, ""},
		{"hex", "", "SHA256=" + strings.ToUpper(hx), ""},
		{"hex", "", " " + hx + " ", ""},
		{"hex", "X-Sig", hx, ""},
		{"base64", "", b64, ""},
		{"base64", "", "sha256=" + b64, ""},
		{"base64", "", base64.RawURLEncoding.EncodeToString(mac), ""},
		{"hex", "", b64, "bad signature"},           // the other encoding
		{"base64", "", hx, "bad signature"},         // hex is valid base64, but not these bytes
		{"hex", "", hx[:62], "bad signature"},       // truncated
		{"hex", "", "sha1=" + hx, "bad signature"},  // another algorithm's prefix
		{"hex", "", "zz" + hx[2:], "bad signature"}, // not hex
		{"hex", "", hex.EncodeToString(sign("other", body)), "bad signature"},
		{"hex", "", "", "no signature"},
	} {
		r := newTestReceiver(t, HMACConfig{Encoding: tc.encoding, Header: tc.header})
		name := tc.header
		if name == "" {
			name = DefaultHMACHeader
		}
		h := http.Header{}
		if tc.value != "" {
			h.Set(name, tc.value)
		}
		evs, err := r.Receive("POST", "https://tandem.example/webhooks/relay", h, []byte(body), time.Now())
		if got := rejected(err); got != tc.want || (tc.want == "" && (err != nil || len(evs) != 1)) {
			t.Errorf("encoding %q, %s: %q: got %v, %v; want rejection %q", tc.encoding, name, tc.value, evs, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), testSecret) {
			t.Errorf("error shows the secret: %v", err)
		}
	}
	// A signature in the default header does not count when another is configured.
	r := newTestReceiver(t, HMACConfig{Header: "X-Sig"})
	if _, err := r.Receive("POST", "/", http.Header{DefaultHMACHeader: {hx}}, []byte(body), time.Now()); rejected(err) != "no signature" {
		t.Errorf("signature in the wrong header: %v", err)
	}
	// The body is signed: one byte changed fails.
	r = newTestReceiver(t, HMACConfig{})
	tampered := strings.Replace(body, "r1", "r2", 1)
	if _, err := r.Receive("POST", "/", http.Header{DefaultHMACHeader: {hx}}, []byte(tampered), time.Now()); rejected(err) != "bad signature" {
		t.Errorf("tampered body: %v", err)
	}
}

func TestHMACTimestamp(t *testing.T) {
	body := `{"id":"e1","object":"Contact","record_id":"r1"}`
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	r := newTestReceiver(t, HMACConfig{TimestampHeader: "X-Timestamp"})
	send := func(ts, signed string) error {
		h := http.Header{}
		h.Set(DefaultHMACHeader, hex.EncodeToString(sign(testSecret, signed)))
		if ts != "" {
			h.Set("X-Timestamp", ts)
		}
		_, err := r.Receive("POST", "/", h, []byte(body), now)
		return err
	}
	secs := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	ms := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).UnixMilli(), 10) }
	for _, tc := range []struct {
		name, ts, signed, want string
	}{
		{"now, seconds", secs(0), secs(0) + "." + body, ""},
		{"now, milliseconds", ms(0), ms(0) + "." + body, ""},
		{"at the window's edge, behind", secs(-HMACWindow), secs(-HMACWindow) + "." + body, ""},
		{"at the window's edge, ahead", ms(HMACWindow), ms(HMACWindow) + "." + body, ""},
		{"too old", secs(-HMACWindow - time.Second), secs(-HMACWindow-time.Second) + "." + body, "stale timestamp"},
		{"too far ahead", secs(HMACWindow + time.Second), secs(HMACWindow+time.Second) + "." + body, "stale timestamp"},
		{"too old, milliseconds", ms(-HMACWindow - time.Millisecond), ms(-HMACWindow-time.Millisecond) + "." + body, "stale timestamp"},
		{"too far ahead, milliseconds", ms(HMACWindow + time.Millisecond), ms(HMACWindow+time.Millisecond) + "." + body, "stale timestamp"},
		{"no timestamp", "", body, "no timestamp"},
		{"timestamp not signed", secs(0), body, "bad signature"},
		{"another timestamp signed", secs(0), secs(-time.Second) + "." + body, "bad signature"},
		{"not a number", "yesterday", "yesterday." + body, "bad timestamp"},
		{"a plus sign", "+" + ms(0), "+" + ms(0) + "." + body, "bad timestamp"},
		{"a minus sign", "-" + secs(0), "-" + secs(0) + "." + body, "bad timestamp"},
		{"spaces around", " " + secs(0) + " ", " " + secs(0) + " ." + body, "bad timestamp"},
	} {
		if got := rejected(send(tc.ts, tc.signed)); got != tc.want {
			t.Errorf("%s: rejected %q, want %q", tc.name, got, tc.want)
		}
	}
	// Without timestamp_header, a timestamp is neither needed nor read.
	r = newTestReceiver(t, HMACConfig{})
	if err := send("", body); err != nil {
		t.Errorf("no timestamp configured: %v", err)
	}
}

func TestHMACParse(t *testing.T) {
	r := newTestReceiver(t, HMACConfig{Object: "Contact"})
	receive := func(body string) ([]Event, error) {
		h := http.Header{DefaultHMACHeader: {hex.EncodeToString(sign(testSecret, body))}}
		return r.Receive("POST", "/", h, []byte(body), time.Now())
	}
	evs, err := receive(`{"id":"e1","record_id":"003A"}`)
	if want := []Event{{ID: "e1", Object: "Contact", RecordID: "003A"}}; err != nil || !reflect.DeepEqual(evs, want) {
		t.Errorf("one object: %+v, %v; want %+v", evs, err, want)
	}
	evs, err = receive(`[
		{"id":"e1","object":"Account","record_id":"001A","deleted":true,"occurred_at":"2024-05-06T07:08:09.123+02:00","extra":{"x":1}},
		{"id":42,"record_id":7,"deleted":false,"occurred_at":null,"object":null}
	]`)
	at := time.Date(2024, 5, 6, 5, 8, 9, 123_000_000, time.UTC)
	want := []Event{
		{ID: "e1", Object: "Account", RecordID: "001A", Deleted: true, At: at},
		{ID: "42", Object: "Contact", RecordID: "7"},
	}
	if err != nil || len(evs) != 2 || !evs[0].At.Equal(at) {
		t.Fatalf("array: %+v, %v", evs, err)
	}
	evs[0].At = at // the same instant, in UTC, for DeepEqual
	if !reflect.DeepEqual(evs, want) {
		t.Errorf("array: %+v, want %+v", evs, want)
	}
	if evs, err := receive(`[]`); err != nil || len(evs) != 0 {
		t.Errorf("empty array: %v, %v", evs, err)
	}

	for _, tc := range []struct{ body, want string }{
		{`not json`, "relay: webhook body is not JSON"},
		{`"e1"`, `relay: webhook body is "e1", not an event object or an array of them`},
		{`[{"id":"e1","record_id":"r"},"e2"]`, `relay: webhook event 1: is "e2", not an object`},
		{`{"record_id":"r"}`, "relay: webhook event 0: id: required"},
		{`{"id":"","record_id":"r"}`, "relay: webhook event 0: id: required"},
		{`[{"id":"e1","record_id":"r"},{"id":"e2"}]`, "relay: webhook event 1: record_id: required"},
		{`{"id":"e1","record_id":null}`, "event 0: record_id: required"},
		{`{"id":1.5,"record_id":"r"}`, "event 0: id: must be a string or an integer, got 1.5"},
		{`{"id":"e1","record_id":{"id":"r"}}`, `event 0: record_id: must be a string or an integer`},
		{`{"id":"e1","record_id":"r","object":5}`, "event 0: object: must be a non-empty string, got 5"},
		{`{"id":"e1","record_id":"r","deleted":"yes"}`, `event 0: deleted: must be true or false, got "yes"`},
		{`{"id":"e1","record_id":"r","occurred_at":"yesterday"}`, `event 0: occurred_at: must be an RFC 3339 time like 2024-05-06T07:08:09Z, got "yesterday"`},
		{`{"id":"e1","record_id":"r","occurred_at":1715000000}`, `event 0: occurred_at: must be an RFC 3339 time`},
	} {
		_, err := receive(tc.body)
		if err == nil || rejected(err) != "" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a plain error containing %q", tc.body, err, tc.want)
		}
	}
	// No object in the event and none configured.
	r = newTestReceiver(t, HMACConfig{})
	if _, err := receive(`{"id":"e1","record_id":"r"}`); err == nil || !strings.Contains(err.Error(), "event 0: object: missing, and the webhook config names no default object") {
		t.Errorf("no object: %v", err)
	}
	// Nothing of an unverified body is read: a bad signature wins over a bad body.
	if _, err := r.Receive("POST", "/", http.Header{DefaultHMACHeader: {"00"}}, []byte("not json"), time.Now()); rejected(err) != "bad signature" {
		t.Errorf("unverified bad body: %v", err)
	}
}

func TestNewHMACReceiver(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := file("secret", "  "+testSecret+"\r\n")
	r, err := NewHMACReceiver("relay", HMACConfig{SecretFile: good})
	if err != nil || string(r.secret) != testSecret || r.header != DefaultHMACHeader || r.base64 {
		t.Fatalf("secret file: %+v, %v", r, err)
	}
	for _, tc := range []struct {
		c        HMACConfig
		key, msg string
	}{
		{HMACConfig{}, "secret", "required (or secret_file)"},
		{HMACConfig{Object: "Contact"}, "secret", "required"},
		{HMACConfig{Secret: "s", SecretFile: good}, "secret_file", "give secret or secret_file, not both"},
		{HMACConfig{SecretFile: filepath.Join(dir, "missing")}, "secret_file", "no such file"},
		{HMACConfig{SecretFile: file("empty", "\n \n")}, "secret_file", "empty"},
		{HMACConfig{SecretFile: file("big", strings.Repeat("x", maxSecretFile+1))}, "secret_file", "too large"},
		{HMACConfig{Secret: "s", Encoding: "base32"}, "encoding", `must be hex or base64, got "base32"`},
		{HMACConfig{Secret: "s", Encoding: "HEX"}, "encoding", "must be hex or base64"},
		{HMACConfig{Secret: "s", Header: "X-Signature: sha256"}, "header", "is not a header name"},
		{HMACConfig{Secret: "s", TimestampHeader: "X Time"}, "timestamp_header", "is not a header name"},
		{HMACConfig{Secret: "s", TimestampHeader: "x-signature-256"}, "timestamp_header", "must not be the signature header"},
	} {
		_, err := NewHMACReceiver("relay", tc.c)
		var ce *HMACConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(ce.Msg, tc.msg) {
			t.Errorf("%+v: got %v, want %s: %s", tc.c, err, tc.key, tc.msg)
		}
		if err != nil && strings.Contains(err.Error(), testSecret) {
			t.Errorf("error shows the secret: %v", err)
		}
	}
}

func TestCheckHMAC(t *testing.T) {
	cfg := func(text string) Config {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
			t.Fatal(err)
		}
		return Config{Name: "sf", Type: "x", File: "tandem.yaml", Node: doc.Content[0]}
	}
	for _, tc := range []struct{ text, want string }{
		{"type: x\n", ""},
		{"type: x\nwebhook:\n  secret: s\n  secret_file: f\n  header: X-S\n  encoding: hex\n  timestamp_header: X-T\n  object: Contact\n", ""},
		{"type: x\nwebhook:\n  secret: s\n  secrte: t\n", "tandem.yaml:4: systems.sf.webhook.secrte: unknown key (known: secret, secret_file, header, encoding, timestamp_header, object, algorithm, signed, tolerance)"},
		{"type: x\nwebhook:\n  secret: \"\"\n", "tandem.yaml:3: systems.sf.webhook.secret: is empty (is its environment variable set?)"},
		{"type: x\nwebhook:\n  secret:\n", "tandem.yaml:3: systems.sf.webhook.secret: is empty"},
		{"type: x\nwebhook:\n  secret: [a, b]\n", "tandem.yaml:3: systems.sf.webhook.secret: must be a string"},
		{"type: x\nwebhook: s3cret\n", "tandem.yaml:2: systems.sf.webhook: must be a mapping"},
		{"type: x\nwebhook:\n", "tandem.yaml:2: systems.sf.webhook: must be a mapping"},
	} {
		err := cfg(tc.text).CheckHMAC("webhook")
		var ce *ConfigError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.text, err)
		case tc.want != "" && (!errors.As(err, &ce) || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%q: got %v, want a ConfigError %q", tc.text, err, tc.want)
		}
	}
}

// TestHMACReplayKeyIgnoresEncoding: the replay guard keys on the signature's
// bytes, so the same signature re-encoded (upper-case hex, a sha256= prefix,
// mixed case) is the same delivery, not a new one.
func TestHMACReplayKeyIgnoresEncoding(t *testing.T) {
	r := newTestReceiver(t, HMACConfig{TimestampHeader: "X-Timestamp"})
	sig := hex.EncodeToString(sign(testSecret, "1715000000.{}"))
	key := func(v string) string {
		h := http.Header{}
		h.Set(DefaultHMACHeader, v)
		return r.ReplayKey(h)
	}
	want := key(sig)
	if want == "" {
		t.Fatal("no replay key with a timestamp configured")
	}
	for _, v := range []string{strings.ToUpper(sig), "sha256=" + sig, "SHA256=" + strings.ToUpper(sig[:10]) + sig[10:], " " + sig + " "} {
		if got := key(v); got != want {
			t.Errorf("signature written %q: replay key %q, want %q (the same bytes)", v, got, want)
		}
	}
	if key("not a signature") != "" && key("not a signature") == want {
		t.Error("an unreadable signature shares the key of a real one")
	}
	b64 := newTestReceiver(t, HMACConfig{TimestampHeader: "X-Timestamp", Encoding: "base64"})
	raw := sign(testSecret, "x")
	h1, h2 := http.Header{}, http.Header{}
	h1.Set(DefaultHMACHeader, base64.StdEncoding.EncodeToString(raw))
	h2.Set(DefaultHMACHeader, base64.RawURLEncoding.EncodeToString(raw))
	if k1, k2 := b64.ReplayKey(h1), b64.ReplayKey(h2); k1 != k2 {
		t.Errorf("base64 standard and raw URL of the same bytes: keys %q and %q differ", k1, k2)
	}
}

// The options a generic sender needs: another algorithm, a signature over
// the method, the URL and the timestamp as well as the body, and a
// tolerance of its own. The vector is openssl's: printf
// 'POST\nhttps://tandem.example.com/webhooks/crm\n1715000000\n<body>' |
// openssl dgst -sha512 -hmac whsec_test.
func TestHMACAlgorithmTemplateTolerance(t *testing.T) {
	body := []byte(`[{"id":"e1","record_id":"r1"}]`)
	const uri = "https://tandem.example.com/webhooks/crm"
	const sig = "d3b0f557dc0ef0bc1f60f59652023112e3fb62390d362edcbe4d62bddec03219fe7e870c8541e04bf31f34b9086f2f197d035e06100cda564138e9b8ccbe6879"
	r := newTestReceiver(t, HMACConfig{Algorithm: "sha512", Header: "X-Sig", TimestampHeader: "X-Ts", Signed: `{method}\n{url}\n{timestamp}\n{body}`, Tolerance: "30s", Object: "contacts"})
	h := http.Header{"X-Sig": {"sha512=" + sig}, "X-Ts": {"1715000000"}}
	if evs, err := r.Receive("POST", uri, h, body, time.Unix(1715000010, 0)); err != nil || len(evs) != 1 {
		t.Fatalf("a delivery signed as configured: %v %v", evs, err)
	}
	if _, err := r.Receive("PUT", uri, h, body, time.Unix(1715000010, 0)); rejected(err) != "bad signature" {
		t.Errorf("another method: %v", err)
	}
	if _, err := r.Receive("POST", uri+"?x=1", h, body, time.Unix(1715000010, 0)); rejected(err) != "bad signature" {
		t.Errorf("another URL: %v", err)
	}
	if _, err := r.Receive("POST", uri, h, body, time.Unix(1715000031, 0)); rejected(err) != "stale timestamp" {
		t.Errorf("31s late with a tolerance of 30s: %v", err)
	}
	for _, c := range []HMACConfig{
		{Algorithm: "md5"}, {Tolerance: "soon"}, {Signed: "{method}"}, {Signed: "{timestamp}.{body}"}, {Signed: "{body}{colour}"},
	} {
		c.Secret = testSecret
		var ce *HMACConfigError
		if _, err := NewHMACReceiver("relay", c); !errors.As(err, &ce) {
			t.Errorf("%+v: %v, want a config error", c, err)
		}
	}
}
