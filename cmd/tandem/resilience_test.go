package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/connectors"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/salesforce/salesforcetest"
	"tandem/state"
)

// resilienceConfig is a contact config for two emulators at HubSpot's
// real limits (100 requests per 10 s, 5 searches a second: the
// connector's defaults) and a Salesforce org limited to sfRate requests a
// second, with debug logs.
func resilienceConfig(t *testing.T, hsURL, sfURL string, sfRate int) (config, statePath string) {
	dir := t.TempDir()
	statePath = filepath.Join(dir, "tandem.db")
	config = filepath.Join(dir, "tandem.yaml")
	cfg := fmt.Sprintf(`state: %s
systems:
  hubspot:
    type: hubspot
    base_url: %s
    token: ${RES_HS_TOKEN}
    page_size: 100
  salesforce:
    type: salesforce
    instance_url: %s
    client_id: cid
    client_secret: ${RES_SF_SECRET}
    rate_limit: { requests: %d, per: 1s }
entities:
  contact:
    match: [email]
    fields: { email: email, first_name: string, last_name: string }
    systems:
      hubspot:
        object: contacts
        fields: { email: properties.email, first_name: properties.firstname, last_name: properties.lastname }
      salesforce:
        object: Contact
        fields: { email: Email, first_name: FirstName, last_name: LastName }
    deletes: { policy: propagate, max_share: 1 }
`, statePath, hsURL, sfURL, sfRate)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RES_HS_TOKEN", resHSToken)
	t.Setenv("RES_SF_SECRET", resSFSecret)
	return config, statePath
}

const (
	resHSToken  = "pat-na1-0f1e2d3c-secret-hubspot-token"
	resSFSecret = "sf-consumer-secret-9a8b7c6d"
)

// 20,000 contacts from Salesforce to HubSpot at HubSpot's real rate limit:
// no request is refused for rate, the calls per record stay under 0.02,
// and the time is reported against the least the limits allow.
func TestThroughputUnderRateLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 contacts at 100 requests per 10 s take over 20 s")
	}
	const n = 20000
	hs := hubspottest.NewServer(hubspottest.Options{UniqueProperties: tandemKeys, Token: resHSToken,
		RateLimit: hubspottest.RateLimit{Requests: throughputLimit, Per: 10 * time.Second}, SearchLimit: hubspottest.RateLimit{Requests: 5, Per: time.Second}})
	sf := salesforcetest.NewServer(salesforcetest.Options{ClientID: "cid", ClientSecret: resSFSecret,
		RateLimit: salesforcetest.RateLimit{Requests: 10, Per: time.Second}})
	t.Cleanup(hs.Close)
	t.Cleanup(sf.Close)
	for i := range n {
		if _, err := sf.Create("Contact", map[string]any{"Email": fmt.Sprintf("p%05d@example.com", i), "FirstName": "P", "LastName": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	config, _ := resilienceConfig(t, hs.URL, sf.URL, 10)
	start := time.Now()
	code, out, errOut := run("sync", "--config", config)
	elapsed := time.Since(start)
	if code != 0 {
		t.Fatalf("sync: exit %d\n%s\n%.2000s", code, out, errOut)
	}
	if got := len(hs.List("contacts")); got != n {
		t.Fatalf("HubSpot holds %d contacts, want %d", got, n)
	}
	if r := hs.RateLimited() + sf.RateLimited(); r != 0 {
		t.Errorf("%d requests refused for rate (HubSpot %d, Salesforce %d), want 0", r, hs.RateLimited(), sf.RateLimited())
	}
	calls := hs.Served() + sf.Served()
	if per := float64(calls) / n; per > 0.02 {
		t.Errorf("%d API calls for %d records: %.4f a record, want at most 0.02", calls, n, per)
	}
	// The least the limits allow: HubSpot's calls at 100 per 10 s
	// sustained (the first window's 100 could go at once: that minimum is
	// reported too). The run also stages 20,000 records before pushing.
	sustained := time.Duration(hs.Served()) * 100 * time.Millisecond
	burst := time.Duration((hs.Served()-1)/100) * 10 * time.Second
	t.Logf("%d contacts in %v; %d HubSpot + %d Salesforce calls (%.4f a record), 0 refused for rate; "+
		"least time at 100/10s sustained %v (ratio %.2f), with the first window as a burst %v (ratio %.2f)",
		n, elapsed.Round(time.Millisecond), hs.Served(), sf.Served(), float64(calls)/n,
		sustained, elapsed.Seconds()/sustained.Seconds(), burst, elapsed.Seconds()/burst.Seconds())
}

// 10% of both emulators' answers fail (5xx, resets, timeouts), then
// HubSpot goes down for a pass, then comes back at 10%: passes of one
// long-lived engine (as the daemon runs them) go on until everything is
// synced, with no duplicate and nothing lost; HubSpot's breaker is seen
// opening and closing; and no secret of the config is in any log line.
func TestSyncThroughFaults(t *testing.T) {
	flaky := func(seed uint64) hubspottest.Faults {
		return hubspottest.Faults{Rate: 0.1, Seed: seed, Hold: 300 * time.Millisecond}
	}
	hs := hubspottest.NewServer(hubspottest.Options{UniqueProperties: tandemKeys, Token: resHSToken, RateLimit: loopbackRate, Faults: flaky(7)})
	sf := salesforcetest.NewServer(salesforcetest.Options{ClientID: "cid", ClientSecret: resSFSecret, BatchSize: 20,
		Faults: salesforcetest.Faults{Rate: 0.1, Seed: 8, Hold: 300 * time.Millisecond}})
	t.Cleanup(hs.Close)
	t.Cleanup(sf.Close)
	const each = 200
	for i := range each {
		if _, err := hs.Create("contacts", map[string]any{"email": fmt.Sprintf("h%03d@example.com", i), "firstname": "H", "lastname": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := sf.Create("Contact", map[string]any{"Email": fmt.Sprintf("s%03d@example.com", i), "FirstName": "S", "LastName": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	config, statePath := resilienceConfig(t, hs.URL, sf.URL, 100000)
	b, _ := os.ReadFile(config)
	cfg := strings.Replace(string(b), "    page_size: 100\n", "    page_size: 20\n    timeout: 3s\n    search_rate_limit: { requests: 10000, per: 1s }\n"+
		"    breaker: { failures: 3, cooldown: 2s }\n", 1)
	cfg = strings.Replace(cfg, "    rate_limit: { requests: 100000, per: 1s }\n", "    rate_limit: { requests: 100000, per: 1s }\n    timeout: 3s\n", 1)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	var logs syncBuffer
	g := &globals{config: config, log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	a, err := g.open()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.engine.BatchSize = 20
	ent := a.cfg.Entities[0]
	breaker := func() string { return a.engine.Systems["hubspot"].(connectors.Healther).Health().Breaker }
	passes := func(max int) {
		for range max {
			a.engine.Sync(context.Background(), ent)
			if synced(t, hs, sf, statePath, 2*each) {
				return
			}
		}
	}

	passes(30)
	if !synced(t, hs, sf, statePath, 2*each) {
		t.Fatalf("not synced through 10%% faults: HubSpot %d, Salesforce %d contacts", len(hs.List("contacts")), len(sf.List("Contact")))
	}
	// HubSpot goes down while Salesforce's people change.
	for i := range 30 {
		r := sf.List("Contact")[i]
		if err := sf.Update("Contact", r.ID, map[string]any{"LastName": fmt.Sprint("Changed", i)}); err != nil {
			t.Fatal(err)
		}
	}
	hs.SetFaults(hubspottest.Faults{Rate: 1, Kinds: []hubspottest.Fault{hubspottest.Fault503}})
	reached := len(hs.Requests())
	for range 5 { // each pass fails at HubSpot's first call; 3 in a row open the breaker
		a.engine.Sync(context.Background(), ent)
	}
	// Open, or half-open if a slow machine took longer than the cooldown
	// over these passes; the log says when it opened.
	if got := breaker(); got == "closed" || !strings.Contains(logs.String(), `"to":"open"`) {
		t.Errorf("HubSpot's breaker after passes against a HubSpot that is down: %s, want it opened", got)
	}
	hammered := len(hs.Requests()) - reached
	hs.SetFaults(flaky(9))
	time.Sleep(2100 * time.Millisecond) // the cooldown: the next call is a probe
	passes(30)
	if got := breaker(); got != "closed" {
		t.Errorf("HubSpot's breaker once HubSpot is back: %s, want closed", got)
	}
	if !synced(t, hs, sf, statePath, 2*each) {
		t.Fatalf("not synced after the outage: HubSpot %d, Salesforce %d contacts", len(hs.List("contacts")), len(sf.List("Contact")))
	}
	noDuplicates(t, hs, sf)
	changed := 0
	for _, o := range hs.List("contacts") {
		if strings.HasPrefix(o.Properties["lastname"], "Changed") {
			changed++
		}
	}
	if changed != 30 {
		t.Errorf("%d of the 30 edits made during the outage reached HubSpot", changed)
	}
	t.Logf("faults met: HubSpot %d, Salesforce %d; %d requests reached HubSpot in 5 passes while it was down", hs.Faulted(), sf.Faulted(), hammered)
	for _, want := range []string{`"to":"open"`, `"to":"closed"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no log line of the breaker turning %s", want)
		}
	}
	for _, secret := range []string{resHSToken, resSFSecret} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a secret of the config is in the logs: %.6s…", secret)
		}
	}
}

// syncBuffer is a buffer that log handlers on several goroutines share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// synced reports whether both systems hold want contacts each and the
// outbox is empty.
func synced(t *testing.T, hs *hubspottest.Server, sf *salesforcetest.Server, statePath string, want int) bool {
	if len(hs.List("contacts")) != want || len(sf.List("Contact")) != want {
		return false
	}
	st, err := state.OpenReadOnly(statePath)
	if err != nil {
		return false
	}
	defer st.Close()
	for _, so := range [][2]string{{"hubspot", "contacts"}, {"salesforce", "Contact"}} {
		if s, err := st.Status(context.Background(), so[0], so[1]); err != nil || s.Outbox != 0 || s.DeadLetters != 0 {
			return false
		}
	}
	return true
}

func noDuplicates(t *testing.T, hs *hubspottest.Server, sf *salesforcetest.Server) {
	seen := map[string]bool{}
	for _, o := range hs.List("contacts") {
		e := strings.ToLower(o.Properties["email"])
		if seen[e] {
			t.Errorf("HubSpot holds %s twice", e)
		}
		seen[e] = true
	}
	seen = map[string]bool{}
	for _, r := range sf.List("Contact") {
		e := strings.ToLower(str(r.Fields["Email"]))
		if seen[e] {
			t.Errorf("Salesforce holds %s twice", e)
		}
		seen[e] = true
	}
}

// throughputLimit is HubSpot's limit in TestThroughputUnderRateLimits
// (per 10 s).
var throughputLimit = 100
