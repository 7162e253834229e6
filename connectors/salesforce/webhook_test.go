package salesforce

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tandem/connectors"
	"tandem/connectors/salesforce/salesforcetest"
)

const webhookBase = "type: salesforce\ninstance_url: https://acme.my.salesforce.com\nclient_id: id\nclient_secret: s\n"

// signedHeader signs body as a relay would: hex HMAC-SHA256 of the
// timestamp, ".", and the body.
func signedHeader(secret string, at time.Time, body string) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + body))
	return http.Header{"X-Relay-Signature": {"sha256=" + hex.EncodeToString(m.Sum(nil))}, "X-Relay-Timestamp": {ts}}
}

func TestWebhook(t *testing.T) {
	conn, err := connectors.Open(config(t, webhookBase+"webhook:\n  secret: whsec\n  header: X-Relay-Signature\n  timestamp_header: X-Relay-Timestamp\n  object: Contact\n"))
	if err != nil {
		t.Fatal(err)
	}
	rx, ok := conn.(connectors.WebhookReceiver)
	if !ok {
		t.Fatal("the salesforce connector is not a WebhookReceiver")
	}
	// Ids as the emulator mints them, 18 characters, and their 15-character form.
	sf := salesforcetest.New(salesforcetest.Options{})
	defer sf.Close()
	contact, _ := sf.Create("Contact", map[string]any{"LastName": "Lovelace"})
	account, _ := sf.Create("Account", map[string]any{"Name": "Acme"})
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	body := `[{"id":"e1","record_id":"` + contact[:15] + `"},{"id":"e2","object":"Account","record_id":"` + account + `","deleted":true,"occurred_at":"2024-05-06T07:08:00Z"}]`
	evs, err := rx.Receive("POST", "https://tandem.example/webhooks/sf", signedHeader("whsec", now, body), []byte(body), now)
	if err != nil {
		t.Fatal(err)
	}
	want := []connectors.Event{
		{ID: "e1", Object: "Contact", RecordID: contact},
		{ID: "e2", Object: "Account", RecordID: account, Deleted: true, At: time.Date(2024, 5, 6, 7, 8, 0, 0, time.UTC)},
	}
	if len(evs) != 2 || evs[0] != want[0] || evs[1].ID != "e2" || evs[1].RecordID != account || !evs[1].Deleted || !evs[1].At.Equal(want[1].At) {
		t.Fatalf("events %+v, want %+v", evs, want)
	}

	// Refusals pass through, naming the system.
	_, err = rx.Receive("POST", "/", signedHeader("other", now, body), []byte(body), now)
	var wr *connectors.WebhookRejected
	if !errors.As(err, &wr) || wr.Reason != "bad signature" || wr.System != "sf" {
		t.Errorf("wrong secret: %v", err)
	}
	_, err = rx.Receive("POST", "/", signedHeader("whsec", now.Add(-time.Hour), body), []byte(body), now)
	if !errors.As(err, &wr) || wr.Reason != "stale timestamp" {
		t.Errorf("an hour old: %v", err)
	}
	// What Salesforce could not hold is a parse error naming the event and field.
	for _, tc := range []struct{ body, want string }{
		{`[{"id":"e1","record_id":"` + contact + `"},{"id":"e2","record_id":"not-an-id"}]`, `sf: webhook event 1: record_id: "not-an-id" is not a Salesforce id`},
		{`{"id":"e1","record_id":"` + contact[:17] + `"}`, "webhook event 0: record_id:"},
		{`{"id":"e1","object":"Contact; DROP","record_id":"` + contact + `"}`, `sf: webhook event 0: object: "Contact; DROP" is not a Salesforce object name`},
		{`{"id":"e1"}`, "webhook event 0: record_id: required"},
	} {
		_, err := rx.Receive("POST", "/", signedHeader("whsec", now, tc.body), []byte(tc.body), now)
		if err == nil || errors.As(err, &wr) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.body, err, tc.want)
		}
	}
}

func TestWebhookNotConfigured(t *testing.T) {
	conn, err := New(config(t, webhookBase))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"id":"e1","object":"Contact","record_id":"003000000000001AAA"}`
	_, err = conn.(connectors.WebhookReceiver).Receive("POST", "/", signedHeader("", time.Now(), body), []byte(body), time.Now())
	var wr *connectors.WebhookRejected
	if !errors.As(err, &wr) || wr.Reason != "no webhook configured" || wr.System != "sf" {
		t.Errorf("no webhook: option: %v", err)
	}
}

func TestWebhookConfig(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("whsec\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(config(t, webhookBase+"webhook:\n  secret_file: "+secretFile+"\n  encoding: base64\n")); err != nil {
		t.Errorf("secret_file: %v", err)
	}
	for _, tc := range []struct{ text, want string }{
		{webhookBase + "webhook:\n  object: Contact\n", "tandem.yaml:6: systems.sf.webhook.secret: required (or secret_file)"},
		{webhookBase + "webhook:\n  secret: s\n  encoding: base32\n", `tandem.yaml:7: systems.sf.webhook.encoding: must be hex or base64, got "base32"`},
		{webhookBase + "webhook:\n  secret: s\n  header: X Sig\n", `tandem.yaml:7: systems.sf.webhook.header: "X Sig" is not a header name`},
		{webhookBase + "webhook:\n  secret: s\n  secret_file: " + secretFile + "\n", "tandem.yaml:7: systems.sf.webhook.secret_file: give secret or secret_file, not both"},
		{webhookBase + "webhook:\n  secret_file: " + filepath.Join(dir, "missing") + "\n", "tandem.yaml:6: systems.sf.webhook.secret_file: open "},
		{webhookBase + "webhook:\n  secret: \"\"\n", "tandem.yaml:6: systems.sf.webhook.secret: is empty (is its environment variable set?)"},
		{webhookBase + "webhook:\n  secret: s\n  signature: x\n", "tandem.yaml:7: systems.sf.webhook.signature: unknown key"},
		{webhookBase + "webhook: s\n", "tandem.yaml:5: systems.sf.webhook: must be a mapping"},
	} {
		_, err := New(config(t, tc.text))
		var ce *connectors.ConfigError
		if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want a ConfigError %q", tc.text, err, tc.want)
		}
	}

	// Options in code: the same checks, the key named.
	o := Options{InstanceURL: "https://x", ClientID: "id", ClientSecret: "s", Webhook: &connectors.HMACConfig{Encoding: "base32"}}
	if _, err := NewClient("sf", o); err == nil || !strings.Contains(err.Error(), "salesforce sf: webhook.secret: required") {
		t.Errorf("NewClient without a webhook secret: %v", err)
	}
	o.Webhook.Secret = "whsec"
	o.Webhook.Object = "Contact"
	if _, err := NewClient("sf", o); err == nil || !strings.Contains(err.Error(), "webhook.encoding: must be hex or base64") {
		t.Errorf("NewClient with a bad encoding: %v", err)
	}
	o.Webhook.Encoding = ""
	c, err := NewClient("sf", o)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"id":"e1","record_id":"003000000000001"}`
	m := hmac.New(sha256.New, []byte("whsec"))
	m.Write([]byte(body))
	evs, err := c.Receive("POST", "/", http.Header{connectors.DefaultHMACHeader: {hex.EncodeToString(m.Sum(nil))}}, []byte(body), time.Now())
	if err != nil || len(evs) != 1 || evs[0].RecordID != "003000000000001AAA" {
		t.Errorf("NewClient's webhook: %+v, %v", evs, err)
	}
}

// TestLongID: the 18-character form, checked against ids Salesforce
// documents and the emulator's own.
func TestLongID(t *testing.T) {
	for in, want := range map[string]string{
		"001000000000001":    "001000000000001AAA",
		"0015000000Gv7qJ":    "0015000000Gv7qJAAR",
		"003aAAAAAAAAAAA":    "003aAAAAAAAAAAAQ55",
		"001000000000001AAA": "001000000000001AAA",
	} {
		if got := longID(in); got != want {
			t.Errorf("longID(%s) = %s, want %s", in, got, want)
		}
	}
	sf := salesforcetest.New(salesforcetest.Options{})
	defer sf.Close()
	for i := 0; i < 40; i++ {
		id, _ := sf.Create("Contact", map[string]any{"LastName": "L"})
		if got := longID(id[:15]); got != id {
			t.Errorf("longID(%s) = %s, the emulator's id is %s", id[:15], got, id)
		}
	}
}
