package main

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/salesforce/salesforcetest"
)

// The pull side of issue 11: edits that Salesforce stamps in a way that
// hid them from the cursor (a second edit in the second of the last read,
// a transaction committed after a query with an earlier stamp) arrive, and
// reading the overlap window again rewrites nothing.

// salesforceWorld is HubSpot and a Salesforce whose clock the test moves,
// synced by a config, with a pass that fails the test on a non-zero exit.
type salesforceWorld struct {
	hs   *hubspottest.Server
	sf   *salesforcetest.Server
	mu   sync.Mutex
	now  time.Time
	pass func()
}

func newSalesforceWorld(t *testing.T, start time.Time) *salesforceWorld {
	w := &salesforceWorld{now: start}
	w.hs = hubspottest.NewServer(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-token", RateLimit: loopbackRate})
	t.Cleanup(w.hs.Close)
	w.sf = salesforcetest.NewServer(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret", Now: w.clock})
	t.Cleanup(w.sf.Close)
	config := reproConfig(t, t.TempDir(), w.hs.URL, w.sf.URL, nil, []string{"email", "last_name"}, nil)
	w.pass = func() {
		t.Helper()
		var out, errb bytes.Buffer
		if code := execute([]string{"sync", "--config", config}, &out, &errb); code != 0 {
			t.Fatalf("tandem sync: exit %d\n%s", code, errb.String())
		}
	}
	return w
}

func (w *salesforceWorld) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *salesforceWorld) at(t time.Time) {
	w.mu.Lock()
	w.now = t
	w.mu.Unlock()
}

func (w *salesforceWorld) lastNames() map[string]string {
	got := map[string]string{}
	for _, o := range w.hs.List("contacts") {
		got[o.Properties["email"]] = o.Properties["lastname"]
	}
	return got
}

// Case 1: SystemModstamp has whole seconds; an edit made in the second a
// pass read the record at keeps the record's stamp, and still arrives.
func TestSalesforceEditInTheReadSecondArrives(t *testing.T) {
	sec := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	w := newSalesforceWorld(t, sec.Add(100*time.Millisecond))
	id, err := w.sf.Create("Contact", map[string]any{"Email": "ann@example.com", "LastName": "Lee"})
	if err != nil {
		t.Fatal(err)
	}
	w.pass()
	w.at(sec.Add(600 * time.Millisecond))
	if err := w.sf.Update("Contact", id, map[string]any{"LastName": "Lee-Smith"}); err != nil {
		t.Fatal(err)
	}
	w.at(sec.Add(5 * time.Second))
	w.pass()
	if got := w.lastNames()["ann@example.com"]; got != "Lee-Smith" {
		t.Fatalf("HubSpot holds %q after an edit in the second of the last read, want Lee-Smith", got)
	}
}

// Case 2: a transaction that began before a pass's query and committed
// after it stamps its record before records the query returned; the next
// pass reads the overlap window again and carries the edit over. And the
// pass after that, which reads the same window again, writes nothing.
func TestSalesforceLateCommitArrives(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	w := newSalesforceWorld(t, t0)
	a, err := w.sf.Create("Contact", map[string]any{"Email": "a@example.com", "LastName": "A"})
	if err != nil {
		t.Fatal(err)
	}
	w.at(t0.Add(5 * time.Second))
	if _, err := w.sf.Create("Contact", map[string]any{"Email": "b@example.com", "LastName": "B"}); err != nil {
		t.Fatal(err)
	}
	w.pass()
	w.at(t0.Add(6 * time.Second))
	if _, err := w.sf.CommitLate("Contact", a, map[string]any{"LastName": "A-late"}, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	w.at(t0.Add(time.Minute))
	w.pass()
	if got := w.lastNames(); got["a@example.com"] != "A-late" || got["b@example.com"] != "B" {
		t.Fatalf("HubSpot after a late commit: %v; want a@example.com A-late", got)
	}
	hsWrites, sfWrites := w.hs.Writes(), w.sf.Writes()
	w.at(t0.Add(2 * time.Minute))
	w.pass()
	if hsWrites != w.hs.Writes() || sfWrites != w.sf.Writes() {
		t.Fatalf("a pass that only read the overlap window again wrote %d times to HubSpot and %d to Salesforce", w.hs.Writes()-hsWrites, w.sf.Writes()-sfWrites)
	}
}
