package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/connectors/salesforce/salesforcetest"
)

// tokenCalls lists the emulator's token requests as "grant:secret:status".
func tokenCalls(sf *salesforcetest.Server) []string {
	var out []string
	for _, r := range sf.Requests() {
		if r.Path == "/services/oauth2/token" {
			form, _ := url.ParseQuery(string(r.Body))
			out = append(out, fmt.Sprintf("%s:%s:%d", form.Get("grant_type"), form.Get("client_secret"), r.Status))
		}
	}
	return out
}

func TestRefreshTokenAgainstTheEmulator(t *testing.T) {
	clk := newClock()
	sf := salesforcetest.NewServer(salesforcetest.Options{Now: clk.Now, TokenTTL: time.Hour, RefreshToken: testRefresh})
	defer sf.Close()
	sf.Create("Contact", map[string]any{"LastName": "A"})
	c, err := NewClient("sf", Options{InstanceURL: sf.URL, ClientID: "test-client-id", ClientSecret: "test-client-secret", RefreshToken: testRefresh})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := c.Apply(ctx, "Contact", creates(1, fmt.Sprint("r", i))); err != nil {
			t.Fatal(err)
		}
		clk.Add(2 * time.Hour) // the session times out
	}
	if got := strings.Join(tokenCalls(sf), " "); got != "refresh_token:test-client-secret:200 refresh_token:test-client-secret:200" {
		t.Fatalf("token calls: %s", got)
	}
	for _, r := range sf.Requests() {
		if form, _ := url.ParseQuery(string(r.Body)); r.Path == "/services/oauth2/token" &&
			(form.Get("refresh_token") != testRefresh || form.Get("client_id") != "test-client-id") {
			t.Fatalf("token request %v", form)
		}
	}
	if n := len(sf.List("Contact")); n != 3 {
		t.Fatalf("%d contacts", n)
	}

	// A refresh token the org does not know (revoked, or another org's):
	// permanent, one token call, and it says what to do.
	var logs logBuffer
	bad, err := NewClient("sf", Options{InstanceURL: sf.URL, ClientID: "test-client-id", ClientSecret: "test-client-secret",
		RefreshToken: "5Aep861-revoked", Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	sf.ResetRequests()
	err = bad.Pull(ctx, tandem.Query{Object: "Contact"}, func(tandem.Page) error { return nil })
	var te *tandem.Error
	if !errors.As(err, &te) || te.Code != "invalid_grant" || te.Status != 400 || te.Retryable || !errors.Is(err, errAuth) ||
		!strings.Contains(err.Error(), "authorize the app again") {
		t.Fatalf("revoked refresh token: %#v", err)
	}
	if n := len(sf.Requests()); n != 1 {
		t.Fatalf("%d requests for a refused refresh token, want the one token call", n)
	}
	noSecrets(t, fmt.Sprintf("%v %#v", err, te)+logs.String(), "5Aep861-revoked", "test-client-secret")
}

func TestSecretRotatedWhileRunning(t *testing.T) {
	// The admin adds a new secret, the config gets client_secret_next,
	// then the old secret is revoked: the client moves to the new one
	// when its session ends, and stays with it.
	clk := newClock()
	sf := salesforcetest.NewServer(salesforcetest.Options{Now: clk.Now, TokenTTL: time.Hour, ClientSecret: "old-secret", ClientSecrets: []string{"new-secret"}})
	defer sf.Close()
	c, err := NewClient("sf", Options{InstanceURL: sf.URL, ClientID: "test-client-id", ClientSecret: "old-secret", ClientSecretNext: "new-secret"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	describe := func() {
		t.Helper()
		if _, err := c.Describe(ctx, "Contact"); err != nil {
			t.Fatal(err)
		}
	}
	describe()
	sf.SetClientSecrets("new-secret")
	describe() // the session is still good
	clk.Add(2 * time.Hour)
	describe()
	clk.Add(2 * time.Hour)
	describe()
	want := "client_credentials:old-secret:200 client_credentials:old-secret:400 client_credentials:new-secret:200 client_credentials:new-secret:200"
	if got := strings.Join(tokenCalls(sf), " "); got != want {
		t.Fatalf("token calls:\n%s\nwant\n%s", got, want)
	}
}

func TestFaultsLoseNothing(t *testing.T) {
	// One request in ten fails: 5xx, dropped connections, requests that
	// hang, and writes applied whose answer is lost. Writes tried again
	// until done, and a pull resumed from its last cursor, leave every
	// record in place once, and read each once.
	if testing.Short() {
		t.Skip("waits out retries")
	}
	sf := salesforcetest.NewServer(salesforcetest.Options{BatchSize: 50, Faults: salesforcetest.Faults{
		Rate: 0.1, Seed: 1, Hold: 50 * time.Millisecond,
		Kinds: []salesforcetest.Fault{salesforcetest.Fault500, salesforcetest.Fault502, salesforcetest.Fault503,
			salesforcetest.FaultReset, salesforcetest.FaultTimeout, salesforcetest.FaultResetAfterCommit},
	}})
	defer sf.Close()
	c, err := NewClient("sf", Options{InstanceURL: sf.URL, ClientID: "test-client-id", ClientSecret: "test-client-secret", Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 1000
	pending := creates(n, "fault")
	ids := map[string]string{} // key -> id
	for round := 0; len(pending) > 0; round++ {
		if round == 20 {
			t.Fatalf("%d writes still not done after 20 rounds", len(pending))
		}
		var again []tandem.Write
		// The writer's batches, smaller than a call's 200 so that more
		// calls meet faults.
		for start := 0; start < len(pending); start += 25 {
			batch := pending[start:min(start+25, len(pending))]
			res, err := c.Apply(ctx, "Contact", batch)
			if err != nil {
				if !tandem.IsRetryable(err) {
					t.Fatalf("apply: %v", err)
				}
				again = append(again, batch...)
				continue
			}
			again = append(again, done(t, batch, res, ids)...)
		}
		pending = again
	}
	if got := len(sf.List("Contact")); got != n || len(ids) != n {
		t.Fatalf("%d contacts in the org, %d ids, want %d", got, len(ids), n)
	}

	seen := map[string]int{}
	var cur tandem.Cursor
	for round := 0; ; round++ {
		if round == 20 {
			t.Fatal("pull did not finish in 20 tries")
		}
		err := c.Pull(ctx, tandem.Query{Object: "Contact", After: cur}, func(p tandem.Page) error {
			for _, r := range p.Records {
				seen[r.ID]++
			}
			if len(p.Rejected) > 0 {
				t.Errorf("rejected %v", p.Rejected)
			}
			cur = p.Cursor
			return nil
		})
		if err == nil {
			break
		}
		if !tandem.IsRetryable(err) {
			t.Fatalf("pull: %v", err)
		}
	}
	for key, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("%s (%s) read %d times", key, id, seen[id])
		}
	}
	if len(seen) != n {
		t.Fatalf("read %d records, want %d", len(seen), n)
	}
	faults := map[salesforcetest.Fault]int{}
	for _, r := range sf.Requests() {
		if r.Fault != "" {
			faults[r.Fault]++
		}
	}
	if faults[salesforcetest.FaultResetAfterCommit] == 0 || len(faults) < 4 {
		t.Fatalf("faults met %v: too few for the test to say much (change the seed)", faults)
	}
	t.Logf("faults met: %v", faults)
}

// done records the writes of a batch that are done, fails the test on a
// permanent failure, and returns those to try again.
func done(t *testing.T, batch []tandem.Write, res []tandem.Result, ids map[string]string) []tandem.Write {
	t.Helper()
	var again []tandem.Write
	for i, r := range res {
		switch {
		case r.Err == nil:
			if prev, ok := ids[batch[i].Key]; ok && prev != r.ID {
				t.Fatalf("%s written as %s and %s", batch[i].Key, prev, r.ID)
			}
			ids[batch[i].Key] = r.ID
		case tandem.IsRetryable(r.Err):
			again = append(again, batch[i])
		default:
			t.Fatalf("write %s failed for good: %v", batch[i].Key, r.Err)
		}
	}
	return again
}
