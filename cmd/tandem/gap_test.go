package main

import (
	"context"
	"testing"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/salesforce/salesforcetest"
)

// TestHubSpotWriteGapDetected is issue 11, case 13, toward HubSpot, which
// has no conditional write: an edit made in HubSpot between Tandem's
// re-read of the record and its write is overwritten whatever Tandem does.
// With property_history on it is seen after the fact (the history holds the
// person's value, stamped between the re-read and Tandem's write), merged
// as the edit it was (a recorded conflict), and the value the policy
// decides is written back. Here the person's edit is the newest, so it ends
// in both systems. Before the fix:
//
//	gap_test.go:85: first name: HubSpot "Annie", Salesforce "Annie"; want the newest edit "Anna" in both
//	gap_test.go:98: no conflict names the overwritten edit "Anna" (0 conflicts recorded)
func TestHubSpotWriteGapDetected(t *testing.T) {
	clock := newTestClock()
	hs := hubspottest.NewServer(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-token", RateLimit: loopbackRate, Now: clock.Now})
	t.Cleanup(hs.Close)
	sf := salesforcetest.NewServer(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret", Now: clock.Now})
	t.Cleanup(sf.Close)
	config := reproConfig(t, t.TempDir(), hs.URL, sf.URL, []string{"property_history: true"}, []string{"email", "first_name", "last_name"},
		[]string{"conflict: { policy: newest, clock_tolerance: 0s }"})
	clock.tick()
	hsID, err := hs.Create("contacts", map[string]any{"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee"})
	if err != nil {
		t.Fatal(err)
	}
	a, ent := openRepro(t, config)
	ctx := context.Background()
	a.engine.Overlap = false // pulls, then pushes: the step below is HubSpot's write
	clock.tick()
	if _, err := a.engine.Sync(ctx, ent); err != nil {
		t.Fatal(err)
	}
	sfID := sf.List("Contact")[0].ID

	// Salesforce: "Annie". The next pass writes it to HubSpot; between its
	// re-read of the HubSpot record and its write, a person there renames
	// her "Anna", the later edit.
	clock.tick()
	if err := sf.Update("Contact", sfID, map[string]any{"FirstName": "Annie"}); err != nil {
		t.Fatal(err)
	}
	fired := false
	a.engine.Step = func(point string) {
		if point == "push:before-apply" && !fired {
			fired = true
			clock.tick()
			if err := hs.Update("contacts", hsID, map[string]any{"firstname": "Anna"}); err != nil {
				t.Error(err)
			}
			clock.tick()
		}
	}
	clock.tick()
	if _, err := a.engine.Sync(ctx, ent); err != nil {
		t.Fatal(err)
	}
	if !fired {
		t.Fatal("the pass wrote nothing: the scene is not set")
	}
	clock.tick()
	if _, err := a.engine.Sync(ctx, ent); err != nil {
		t.Fatal(err)
	}

	h, _ := hs.Get("contacts", hsID)
	s, _ := sf.Get("Contact", sfID)
	if h.Properties["firstname"] != "Anna" || str(s.Fields["FirstName"]) != "Anna" {
		t.Errorf("first name: HubSpot %q, Salesforce %q; want the newest edit %q in both", h.Properties["firstname"], str(s.Fields["FirstName"]), "Anna")
	}
	all, err := a.store.Conflicts(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	named := false
	for _, c := range all {
		if c.Field == "first_name" && c.Values["hubspot"].Value == "Anna" && c.Values["salesforce"].Value == "Annie" {
			named = true
		}
	}
	if !named {
		t.Errorf("no conflict names the overwritten edit %q (%d conflicts recorded)", "Anna", len(all))
	}
}
