package connectors

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"go.yaml.in/yaml/v3"
)

// A generic webhook, for systems without a signing scheme of their own (or
// a relay in front of one): the sender signs each POST with HMAC-SHA256 of
// a shared secret, and the body lists thin events.
//
//	POST /webhooks/<system>
//	X-Signature-256: sha256=<hex of HMAC-SHA256(secret, [timestamp + "."] + body)>
//	X-Timestamp: 1715000000            (when timestamp_header is set)
//
//	[{"id": "evt-1", "object": "Contact", "record_id": "003…", "deleted": false,
//	  "occurred_at": "2024-05-06T07:08:09Z"}]

// DefaultHMACHeader is the signature header when HMACConfig.Header is empty.
const DefaultHMACHeader = "X-Signature-256"

// HMACWindow is how far a signed timestamp may be from the receiver's
// clock, either way, before a delivery is refused as stale: a captured
// delivery can be replayed only within it.
const HMACWindow = 5 * time.Minute

// HMACConfig is the webhook: mapping of a system section that takes
// generic HMAC-signed webhooks.
type HMACConfig struct {
	// Secret is the shared secret (from the environment: ${SECRET}), or
	// SecretFile a file that holds it, read once and trimmed. One of the
	// two is required.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// Header carries the signature; default DefaultHMACHeader.
	Header string `yaml:"header"`
	// Encoding of the signature: "hex" (the default) or "base64"; either
	// may be prefixed with "sha256=".
	Encoding string `yaml:"encoding"`
	// TimestampHeader, when set, names a header with the time of sending
	// in unix seconds or milliseconds. The signed bytes are then the
	// header's value, ".", and the body, and a delivery whose time is more
	// than HMACWindow from the receiver's clock is refused.
	TimestampHeader string `yaml:"timestamp_header"`
	// Object is the object of an event that names none.
	Object string `yaml:"object"`
	// Algorithm of the HMAC: sha256 (the default), sha1 or sha512.
	Algorithm string `yaml:"algorithm"`
	// Signed, when set, is what the sender signs, as a template of
	// {method}, {url} (the full URI it called), {timestamp} (the value of
	// TimestampHeader) and {body}: "{timestamp}.{body}",
	// "{method}\n{url}\n{timestamp}\n{body}". Default: the body, after
	// the timestamp and "." when TimestampHeader is set.
	Signed string `yaml:"signed"`
	// Tolerance is how far a signed timestamp may be from the receiver's
	// clock (default HMACWindow), as a duration like 5m.
	Tolerance string `yaml:"tolerance"`
}

// HMACConfigError is a value of an HMACConfig that NewHMACReceiver
// refuses. Key is its key in the webhook mapping ("secret", "encoding"),
// so that a connector can report it at its line in the config file.
type HMACConfigError struct {
	Key string
	Msg string
}

func (e *HMACConfigError) Error() string { return e.Key + ": " + e.Msg }

// HMACReceiver verifies and parses generic HMAC-signed webhook deliveries
// for one system. A connector that takes them implements WebhookReceiver
// by handing deliveries to one.
type HMACReceiver struct {
	system    string
	secret    []byte
	header    string
	base64    bool
	tsHeader  string
	object    string
	hash      func() hash.Hash
	alg       string   // its name, a prefix the signature may carry ("sha256=")
	signed    []string // the template of what is signed, in pieces: text and {placeholders}
	tolerance time.Duration
}

var _ WebhookReceiver = (*HMACReceiver)(nil)

// maxSecretFile bounds a secret file: a secret is a few hundred bytes at
// most, so anything larger is the wrong file.
const maxSecretFile = 16 << 10

// NewHMACReceiver checks c and returns the receiver it describes. A
// secret file is read now. Errors are *HMACConfigError and never show the
// secret.
func NewHMACReceiver(system string, c HMACConfig) (*HMACReceiver, error) {
	bad := func(key, format string, args ...any) error {
		return &HMACConfigError{Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	secret := c.Secret
	if c.SecretFile != "" {
		if c.Secret != "" {
			return nil, bad("secret_file", "give secret or secret_file, not both")
		}
		s, err := readSecretFile(c.SecretFile)
		if err != nil {
			return nil, bad("secret_file", "%v", err)
		}
		secret = s
	}
	if secret == "" {
		return nil, bad("secret", "required (or secret_file)")
	}
	r := &HMACReceiver{system: system, secret: []byte(secret), header: DefaultHMACHeader, tsHeader: c.TimestampHeader, object: c.Object,
		hash: sha256.New, alg: "sha256", tolerance: HMACWindow}
	switch c.Algorithm {
	case "", "sha256":
	case "sha1":
		r.hash, r.alg = sha1.New, "sha1"
	case "sha512":
		r.hash, r.alg = sha512.New, "sha512"
	default:
		return nil, bad("algorithm", "must be sha256, sha1 or sha512, got %q", c.Algorithm)
	}
	if c.Tolerance != "" {
		d, err := time.ParseDuration(c.Tolerance)
		if err != nil || d <= 0 {
			return nil, bad("tolerance", "%q is not a positive duration like 5m", c.Tolerance)
		}
		r.tolerance = d
	}
	if c.Signed != "" {
		var err error
		if r.signed, err = signedTemplate(c.Signed, c.TimestampHeader != ""); err != nil {
			return nil, bad("signed", "%v", err)
		}
	}
	if c.Header != "" {
		r.header = c.Header
	}
	if !validHeaderName(r.header) {
		return nil, bad("header", "%q is not a header name", c.Header)
	}
	if r.tsHeader != "" {
		switch {
		case !validHeaderName(r.tsHeader):
			return nil, bad("timestamp_header", "%q is not a header name", r.tsHeader)
		case strings.EqualFold(r.tsHeader, r.header):
			return nil, bad("timestamp_header", "must not be the signature header, %s", r.header)
		}
	}
	switch c.Encoding {
	case "", "hex":
	case "base64":
		r.base64 = true
	default:
		return nil, bad("encoding", "must be hex or base64, got %q", c.Encoding)
	}
	return r, nil
}

// readSecretFile reads a secret from a file, trimmed of surrounding white
// space (a trailing newline is the norm). Errors name the file, never its
// content.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	switch {
	case err != nil:
		return "", err
	case len(b) > maxSecretFile:
		return "", fmt.Errorf("%s: larger than %d bytes, too large for a secret", path, maxSecretFile)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: empty", path)
	}
	return s, nil
}

// validHeaderName reports whether s is an HTTP field name (RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// signedTemplate splits a Signed template into its text and its
// placeholders, and checks them: {timestamp} needs a timestamp header,
// and a signature that does not cover the body proves nothing of it.
func signedTemplate(t string, haveTS bool) ([]string, error) {
	t = strings.NewReplacer(`\n`, "\n", `\t`, "\t").Replace(t)
	var parts []string
	body := false
	for t != "" {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			parts = append(parts, t)
			break
		}
		if i > 0 {
			parts = append(parts, t[:i])
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unclosed { in %q", t)
		}
		ph := t[i : i+j+1]
		switch ph {
		case "{method}", "{url}":
		case "{body}":
			body = true
		case "{timestamp}":
			if !haveTS {
				return nil, errors.New("{timestamp} needs timestamp_header")
			}
		default:
			return nil, fmt.Errorf("unknown placeholder %s (known: {method}, {url}, {timestamp}, {body})", ph)
		}
		parts = append(parts, ph)
		t = t[i+j+1:]
	}
	if !body {
		return nil, errors.New("must sign {body}")
	}
	return parts, nil
}

// Receive verifies a delivery and returns its events. The signature is
// checked before anything of the body is read, in constant time; then the
// timestamp, if one is configured. Refusals are *WebhookRejected with the
// reason "no signature", "bad signature", "no timestamp", "bad timestamp"
// (not unix seconds or milliseconds) or "stale timestamp". A verified body
// that is not an event, or an array of them, is a plain error naming the
// event (by index, from 0) and the field at fault.
//
// method and uri are read only when the Signed template names them.
func (r *HMACReceiver) Receive(method, uri string, header http.Header, body []byte, now time.Time) ([]Event, error) {
	sig := header.Get(r.header)
	if sig == "" {
		return nil, r.reject("no signature")
	}
	ts := ""
	if r.tsHeader != "" {
		if ts = header.Get(r.tsHeader); ts == "" {
			return nil, r.reject("no timestamp")
		}
	}
	mac := hmac.New(r.hash, r.secret)
	switch {
	case r.signed != nil:
		for _, part := range r.signed {
			switch part {
			case "{method}":
				mac.Write([]byte(method))
			case "{url}":
				mac.Write([]byte(uri))
			case "{timestamp}":
				mac.Write([]byte(ts))
			case "{body}":
				mac.Write(body)
			default:
				mac.Write([]byte(part))
			}
		}
	case r.tsHeader != "":
		mac.Write([]byte(ts + "."))
		mac.Write(body)
	default:
		mac.Write(body)
	}
	got, ok := r.decodeSignature(sig)
	if !ok || !hmac.Equal(got, mac.Sum(nil)) {
		return nil, r.reject("bad signature")
	}
	if r.tsHeader != "" {
		at, ok := parseUnixTime(ts)
		if !ok {
			return nil, r.reject("bad timestamp")
		}
		if d := now.Sub(at); d > r.tolerance || d < -r.tolerance {
			return nil, r.reject("stale timestamp")
		}
	}
	return r.parse(body)
}

func (r *HMACReceiver) reject(reason string) error {
	return &WebhookRejected{System: r.system, Reason: reason}
}

// decodeSignature reads a signature header: hex or base64 (standard or
// URL alphabet, padded or not), after an optional "sha256=" prefix.
func (r *HMACReceiver) decodeSignature(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if p := r.alg + "="; len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
		s = s[len(p):]
	}
	if !r.base64 {
		b, err := hex.DecodeString(s)
		return b, err == nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// parseUnixTime reads unix seconds or milliseconds, written as digits
// only (no sign, no spaces: strconv alone would take "+1715000000"): a
// number beyond 1e11 is milliseconds (1e11 seconds is past the year 5000;
// 1e11 milliseconds is 1973).
func parseUnixTime(s string) (time.Time, bool) {
	if !isDigits(s) {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		return time.Time{}, false
	case n > 1e11:
		return time.UnixMilli(n), true
	}
	return time.Unix(n, 0), true
}

// parse reads the events of a verified body: one event object, or an
// array of them.
func (r *HMACReceiver) parse(body []byte) ([]Event, error) {
	if !gjson.ValidBytes(body) {
		return nil, fmt.Errorf("%s: webhook body is not JSON", r.system)
	}
	root := gjson.ParseBytes(body)
	var items []gjson.Result
	switch {
	case root.IsObject():
		items = []gjson.Result{root}
	case root.IsArray():
		items = root.Array()
	default:
		return nil, fmt.Errorf("%s: webhook body is %s, not an event object or an array of them", r.system, clipRaw(root.Raw))
	}
	events := make([]Event, 0, len(items))
	for i, it := range items {
		ev, err := r.event(it)
		if err != nil {
			return nil, fmt.Errorf("%s: webhook event %d: %w", r.system, i, err)
		}
		events = append(events, ev)
	}
	return events, nil
}

// event reads one event object.
func (r *HMACReceiver) event(it gjson.Result) (Event, error) {
	if !it.IsObject() {
		return Event{}, fmt.Errorf("is %s, not an object", clipRaw(it.Raw))
	}
	var ev Event
	var err error
	if ev.ID, err = idValue(it, "id"); err != nil {
		return Event{}, err
	}
	if ev.RecordID, err = idValue(it, "record_id"); err != nil {
		return Event{}, err
	}
	switch v := it.Get("object"); {
	case absent(v):
		if ev.Object = r.object; ev.Object == "" {
			return Event{}, errors.New("object: missing, and the webhook config names no default object")
		}
	case v.Type != gjson.String || v.Str == "":
		return Event{}, fmt.Errorf("object: must be a non-empty string, got %s", clipRaw(v.Raw))
	default:
		ev.Object = v.Str
	}
	switch v := it.Get("deleted"); {
	case absent(v):
	case v.Type == gjson.True || v.Type == gjson.False:
		ev.Deleted = v.Bool()
	default:
		return Event{}, fmt.Errorf("deleted: must be true or false, got %s", clipRaw(v.Raw))
	}
	if v := it.Get("occurred_at"); !absent(v) {
		at, err := time.Parse(time.RFC3339Nano, v.Str)
		if v.Type != gjson.String || err != nil {
			return Event{}, fmt.Errorf("occurred_at: must be an RFC 3339 time like 2024-05-06T07:08:09Z, got %s", clipRaw(v.Raw))
		}
		ev.At = at
	}
	return ev, nil
}

// idValue reads a required id: a non-empty string, or a whole number
// (many systems number their events), as its digits.
func idValue(it gjson.Result, key string) (string, error) {
	v := it.Get(key)
	switch {
	case absent(v) || v.Type == gjson.String && v.Str == "":
		return "", fmt.Errorf("%s: required", key)
	case v.Type == gjson.String:
		return v.Str, nil
	case v.Type == gjson.Number && isDigits(v.Raw):
		return v.Raw, nil
	}
	return "", fmt.Errorf("%s: must be a string or an integer, got %s", key, clipRaw(v.Raw))
}

func absent(v gjson.Result) bool { return !v.Exists() || v.Type == gjson.Null }

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// clipRaw is a JSON value for an error message, cut short.
func clipRaw(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// CheckHMAC checks the webhook mapping at key of the section, when there
// is one, for what Decode does not look into: that it is a mapping, that
// its keys are HMACConfig's, and that none is given empty (an environment
// variable that is not set, which would otherwise mean "no secret" or a
// default). Errors are ConfigErrors at the line of the key at fault. A
// connector calls it before Decode; NewHMACReceiver checks the values.
func (c Config) CheckHMAC(key string) error {
	n := Child(c.Node, key)
	if n == nil {
		return nil
	}
	prefix := "systems." + c.Name + "." + key
	if n.Kind != yaml.MappingNode {
		return &ConfigError{File: c.File, Line: n.Line, Key: prefix, Msg: "must be a mapping with secret (or secret_file) and, optionally, header, encoding, timestamp_header, object, algorithm, signed, tolerance"}
	}
	var names []string
	t := reflect.TypeFor[HMACConfig]()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		names = append(names, name)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case !slices.Contains(names, k.Value):
			return &ConfigError{File: c.File, Line: k.Line, Key: prefix + "." + k.Value, Msg: "unknown key (known: " + strings.Join(names, ", ") + ")"}
		case v.Kind == yaml.ScalarNode && v.Value == "":
			return &ConfigError{File: c.File, Line: k.Line, Key: prefix + "." + k.Value, Msg: "is empty (is its environment variable set?)"}
		case v.Kind != yaml.ScalarNode:
			return &ConfigError{File: c.File, Line: k.Line, Key: prefix + "." + k.Value, Msg: "must be a string"}
		}
	}
	return nil
}

// ReplayKey is the delivery's signature when the scheme signs a timestamp
// (timestamp_header set): a sender's retry is then signed anew, and the
// same signature twice is a replay. Without a timestamp a retry and a
// replay look the same, so there is no key: duplicates are still stored
// once, by event id.
//
// The key is the signature's bytes, not the header's text: the header is
// read leniently (hex of either case, an optional sha256= prefix, every
// base64 alphabet), so the text of one signature has many spellings, and
// a replay re-spelled must still be one.
func (r *HMACReceiver) ReplayKey(h http.Header) string {
	if r.tsHeader == "" {
		return ""
	}
	b, ok := r.decodeSignature(h.Get(r.header))
	if !ok {
		return "" // not verified either: Receive refuses it
	}
	return hex.EncodeToString(b)
}
