package rest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"tandem/connectors"
)

const minimal = `type: rest
base_url: https://crm.example.com/api
objects:
  contacts:
    path: /contacts
    updated: updated_at
`

// with is the minimal config with old replaced by new.
func with(old, new string) string { return strings.Replace(minimal, old, new, 1) }

// Every mistake is reported at its file, line and key.
func TestConfigErrors(t *testing.T) {
	const upd = "    updated: updated_at"
	for _, tc := range []struct{ text, want string }{
		{with("https://crm.example.com/api", "ftp://x"), `tandem.yaml:2: systems.crm.base_url: "ftp://x" is not an http(s) URL`},
		{with("/contacts", "contacts"), "tandem.yaml:5: systems.crm.objects.contacts.path: required"},
		{with(upd, ""), "tandem.yaml:5: systems.crm.objects.contacts.updated: required"},
		{with(upd, upd+"\n    paging: scroll"), `tandem.yaml:7: systems.crm.objects.contacts.paging: unknown paging "scroll"`},
		{with(upd, upd+"\n    colour: blue"), "tandem.yaml:7: systems.crm.objects.contacts.colour: unknown key"},
		{with(upd, upd+"\n    query: {since: \"{snice}\"}"), "tandem.yaml:7: systems.crm.objects.contacts.query.since: unknown placeholder {snice}"},
		{with(upd, upd+"\n    updated_format: yesterday"), `tandem.yaml:7: systems.crm.objects.contacts.updated_format: "yesterday" is not rfc3339`},
		{with(upd, upd+"\n    paging: cursor"), "systems.crm.objects.contacts.next_cursor: required with paging: cursor"},
		{with(upd, upd+"\n    create: search"), "tandem.yaml:7: systems.crm.objects.contacts.create: search needs key"},
		{with(upd, upd+"\n    concurrency: version"), "systems.crm.objects.contacts.version: required"},
		{with("objects:", "auth:\n  type: kerberos\nobjects:"), `tandem.yaml:4: systems.crm.auth.type: unknown auth type "kerberos"`},
		{with("objects:", "auth: {type: bearer, token_env: CRM_TOKEN_UNSET}\nobjects:"), "tandem.yaml:3: systems.crm.auth.token_env: environment variable CRM_TOKEN_UNSET is not set"},
		{with("objects:", "auth: {type: bearer, token_env: \"abc def\"}\nobjects:"), `systems.crm.auth.token_env: "abc def" is not an environment variable name`},
		{with("objects:", "auth: {type: api_key, key_env: X}\nobjects:"), "systems.crm.auth: api_key: give header or query"},
		{with("objects:", "auth: {type: bearer, token: x}\nobjects:"), "tandem.yaml:3: systems.crm.auth.token: unknown key"},
		{with("objects:", "rate_limit: {requests: 0, per: 1s}\nobjects:"), "tandem.yaml:3: systems.crm.rate_limit.requests: must be a positive number of requests, got 0"},
		{with("objects:", "rate_limit: {requests: 5, pre: 1s}\nobjects:"), "tandem.yaml:3: systems.crm.rate_limit.pre: unknown key"},
		{with("objects:", "timeout: soon\nobjects:"), `tandem.yaml:3: systems.crm.timeout: "soon" is not a positive duration`},
		{with("objects:", "daily_reserve: 2\nobjects:"), "tandem.yaml:3: systems.crm.daily_reserve: must be a share"},
		{with("objects:", "breaker: {failures: -1}\nobjects:"), "systems.crm.breaker.failures: must be 1 or more"},
	} {
		_, err := New(config(t, tc.text))
		var ce *connectors.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config:\n%s\nerror %v\nwant one holding %q", tc.text, err, tc.want)
		}
	}
}

// A secret named by its variable is read, never shown.
func TestSecretNeverShown(t *testing.T) {
	t.Setenv("CRM_TOKEN", "very-secret-value")
	text := strings.Replace(minimal, "objects:", "auth: {type: bearer, token_env: CRM_TOKEN}\nobjects:\n  broken:\n    path: nope\n    updated: u", 1)
	_, err := New(config(t, text))
	if err == nil || strings.Contains(err.Error(), "very-secret-value") {
		t.Errorf("error %v", err)
	}
}

// The webhook: key takes the shared HMAC receiver's options; a signed
// delivery is read, a forged one refused.
func TestWebhook(t *testing.T) {
	t.Setenv("CRM_HOOK", "hook-secret")
	text := strings.Replace(minimal, "objects:", "webhook: {secret: hook-secret, timestamp_header: X-Timestamp, object: contacts}\nobjects:", 1)
	c, err := New(config(t, text))
	if err != nil {
		t.Fatal(err)
	}
	rx := c.(connectors.WebhookReceiver)
	body := []byte(`[{"id":"e1","record_id":"c1"}]`)
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, []byte("hook-secret"))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	h := http.Header{"X-Signature-256": {"sha256=" + hex.EncodeToString(mac.Sum(nil))}, "X-Timestamp": {ts}}
	evs, err := rx.Receive("POST", "http://x/webhooks/crm", h, body, now)
	if err != nil || len(evs) != 1 || evs[0].RecordID != "c1" || evs[0].Object != "contacts" {
		t.Fatalf("a signed delivery: %v %v", evs, err)
	}
	if c.(connectors.WebhookReplayGuard).ReplayKey(h) == "" {
		t.Errorf("a timestamped signature gives no replay key")
	}
	h.Set("X-Signature-256", "sha256=00")
	var rej *connectors.WebhookRejected
	if _, err := rx.Receive("POST", "http://x/webhooks/crm", h, body, now); !errors.As(err, &rej) {
		t.Errorf("a forged delivery: %v", err)
	}
	if _, err := New(config(t, strings.Replace(text, "secret: hook-secret", "secret: hook-secret, encoding: hex64", 1))); err == nil || !strings.Contains(err.Error(), "tandem.yaml:3: systems.crm.webhook.encoding") {
		t.Errorf("a bad encoding: %v", err)
	}
}

// The rate-limit headers of REST APIs, IETF and X- alike.
func TestRateHeaders(t *testing.T) {
	read := rateHeaders(0)
	for _, tc := range []struct {
		h    http.Header
		want connectors.RateInfo
	}{
		{http.Header{"Ratelimit-Limit": {"100"}, "Ratelimit-Remaining": {"7"}, "Ratelimit-Policy": {"100;w=10"}}, connectors.RateInfo{Limit: 100, Remaining: 7, Window: 10 * time.Second, DailyRemaining: -1}},
		{http.Header{"X-Ratelimit-Limit": {"60"}, "X-Ratelimit-Remaining": {"0"}}, connectors.RateInfo{Limit: 60, Remaining: 0, Window: time.Minute, DailyRemaining: -1}},
		{http.Header{}, connectors.RateInfo{Remaining: -1, DailyRemaining: -1}},
		{http.Header{"Ratelimit-Limit": {"many"}}, connectors.RateInfo{Remaining: -1, DailyRemaining: -1}},
	} {
		if got := read(tc.h); got != tc.want {
			t.Errorf("%v: %+v, want %+v", tc.h, got, tc.want)
		}
	}
}
