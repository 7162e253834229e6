package main

import (
	"context"
	"net/http"
	"testing"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/salesforce/salesforcetest"
)

// TestUnconfirmedSalesforceWriteWithHistory is issue 11, case 4, in the
// direction TestChaosUnconfirmedWriteBeatsNewerEdit does not take: a write
// to Salesforce that lands, but whose answer is lost, with HubSpot's
// property history on. HubSpot's history times the later HubSpot edit
// exactly, yet it lost: Salesforce has no field history, so Tandem's own
// value read back from Salesforce was an edit there, timed by the record's
// modified time, which a user's later edit of another field had moved past
// the HubSpot edit. Before the fix both systems ended with Tandem's stale
// "Manager":
//
//	echo_test.go:142: title: HubSpot "Manager", Salesforce "Manager"; want the newest edit "Director" in both
func TestUnconfirmedSalesforceWriteWithHistory(t *testing.T) {
	clock := newTestClock()
	hs := hubspottest.NewServer(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-token", RateLimit: loopbackRate, Now: clock.Now})
	t.Cleanup(hs.Close)
	sfEmu := salesforcetest.New(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret", Now: clock.Now})
	t.Cleanup(sfEmu.Close)
	// Once armed, the first update is applied and its answer lost, and
	// Salesforce answers nothing after it (as if Tandem had crashed, no
	// later re-read of the pass sees the write).
	var lost lostAnswers
	sfSrv := lost.server(t, sfEmu, func(r *http.Request, applied bool) bool { return r.Method == http.MethodPatch || applied })
	dir := t.TempDir()
	config := reproConfig(t, dir, hs.URL, sfSrv.URL, []string{"property_history: true"}, []string{"email", "last_name", "title"},
		[]string{"conflict: { policy: newest, clock_tolerance: 0s }"})
	hsID, err := hs.Create("contacts", map[string]any{"email": "ann@example.com", "lastname": "Lee", "jobtitle": "Clerk"})
	if err != nil {
		t.Fatal(err)
	}
	a, ent := openRepro(t, config)
	ctx := context.Background()
	clock.tick()
	if _, err := a.engine.Sync(ctx, ent); err != nil {
		t.Fatal(err)
	}
	sfID := sfEmu.List("Contact")[0].ID

	// HubSpot: title "Manager". The pass writes it to Salesforce, which
	// applies it; the answer never comes back.
	clock.tick()
	if err := hs.Update("contacts", hsID, map[string]any{"jobtitle": "Manager"}); err != nil {
		t.Fatal(err)
	}
	clock.tick()
	lost.arm()
	a.engine.Sync(ctx, ent) // fails: the write's answer is lost
	lost.disarm()
	if s, _ := sfEmu.Get("Contact", sfID); str(s.Fields["Title"]) != "Manager" || !lost.dropped() {
		t.Fatalf("the write was not applied: Salesforce title %q", str(s.Fields["Title"]))
	}
	// Later, in this order: a user in HubSpot sets the title to
	// "Director"; a user in Salesforce changes the last name.
	clock.tick()
	if err := hs.Update("contacts", hsID, map[string]any{"jobtitle": "Director"}); err != nil {
		t.Fatal(err)
	}
	clock.tick()
	if err := sfEmu.Update("Contact", sfID, map[string]any{"LastName": "Lee-Smith"}); err != nil {
		t.Fatal(err)
	}
	clock.tick()
	for range 2 {
		if _, err := a.engine.Sync(ctx, ent); err != nil {
			t.Fatal(err)
		}
		clock.tick()
	}

	h, _ := hs.Get("contacts", hsID)
	s, _ := sfEmu.Get("Contact", sfID)
	if h.Properties["jobtitle"] != "Director" || str(s.Fields["Title"]) != "Director" {
		t.Errorf("title: HubSpot %q, Salesforce %q; want the newest edit %q in both", h.Properties["jobtitle"], str(s.Fields["Title"]), "Director")
	}
	if h.Properties["lastname"] != "Lee-Smith" || str(s.Fields["LastName"]) != "Lee-Smith" {
		t.Errorf("last name: HubSpot %q, Salesforce %q; want %q in both", h.Properties["lastname"], str(s.Fields["LastName"]), "Lee-Smith")
	}
	// Tandem's own write is no edit: no title conflict was recorded.
	all, err := a.store.Conflicts(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		if c.Field == "title" {
			t.Errorf("a title conflict was recorded (%s, decided %s): Tandem's own write was taken for an edit", c.Policy, c.Decided)
		}
	}
}
