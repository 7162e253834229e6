package main

import (
	"context"
	"testing"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/salesforce/salesforcetest"
	"tandem/state"
)

// TestRereadDeleteTakesSystemTime is issue 11, case 8, on the emulators,
// in both directions. A person deletes Ann in one system; a moment later
// another edits her title in the other. A webhook brings the edit in, and
// the re-read before writing it to the first system finds Ann gone. The
// delete was timed by Tandem's clock (when it noticed), so it beat the
// edit that came after it: under propagate, Ann was deleted in the other
// system too and the newer edit was lost. Timed by the system (HubSpot's
// archivedAt, the SystemModstamp of Salesforce's deleted row), the delete
// came first, so the edit wins and Ann is created again where she was
// deleted. Before the fix:
//
//	delete_time_test.go:106: hubspot deleted, salesforce edited: Ann in hubspot 0 time(s), in salesforce 0 time(s) (titles map[]); want her alive in both with the title Manager
func TestRereadDeleteTakesSystemTime(t *testing.T) {
	for _, deleter := range []string{"hubspot", "salesforce"} {
		t.Run(deleter+" deletes", func(t *testing.T) {
			clock := newTestClock()
			hs := hubspottest.NewServer(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-token", RateLimit: loopbackRate, Now: clock.Now})
			t.Cleanup(hs.Close)
			sf := salesforcetest.NewServer(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret", Now: clock.Now})
			t.Cleanup(sf.Close)
			config := reproConfig(t, t.TempDir(), hs.URL, sf.URL, nil, []string{"email", "last_name", "title"},
				[]string{"conflict: { policy: newest, clock_tolerance: 0s }", "deletes: { policy: propagate, max_share: 1 }"})
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
			sfID := sf.List("Contact")[0].ID

			// In this order: the delete, then the edit in the other system,
			// which a webhook names.
			clock.tick()
			editor, edited := "salesforce", sfID
			if deleter == "hubspot" {
				err = hs.Delete("contacts", hsID)
			} else {
				editor, edited = "hubspot", hsID
				err = sf.Delete("Contact", sfID)
			}
			if err != nil {
				t.Fatal(err)
			}
			clock.tick()
			if editor == "salesforce" {
				err = sf.Update("Contact", sfID, map[string]any{"Title": "Manager"})
			} else {
				err = hs.Update("contacts", hsID, map[string]any{"jobtitle": "Manager"})
			}
			if err != nil {
				t.Fatal(err)
			}
			clock.tick()
			object := map[string]string{"hubspot": "contacts", "salesforce": "Contact"}[editor]
			if _, err := a.store.Receive(ctx, editor, "", []state.InboxEvent{{System: editor, Object: object, EventID: "1",
				RecordID: edited, At: clock.Now(), Delivery: "delivery-1"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := a.engine.Inbox(ctx, ent); err != nil {
				t.Fatal(err)
			}
			a.engine.Drain(ctx, ent, state.RunWebhook) // the re-read finds Ann gone
			clock.tick()
			if _, err := a.engine.Sync(ctx, ent); err != nil {
				t.Fatal(err)
			}

			var inHS, inSF int
			titles := map[string]string{}
			for _, o := range hs.List("contacts") {
				if o.Properties["email"] == "ann@example.com" {
					inHS++
					titles["hubspot"] = o.Properties["jobtitle"]
				}
			}
			for _, r := range sf.List("Contact") {
				if str(r.Fields["Email"]) == "ann@example.com" {
					inSF++
					titles["salesforce"] = str(r.Fields["Title"])
				}
			}
			if inHS != 1 || inSF != 1 || titles["hubspot"] != "Manager" || titles["salesforce"] != "Manager" {
				t.Errorf("%s deleted, %s edited: Ann in hubspot %d time(s), in salesforce %d time(s) (titles %v); want her alive in both with the title Manager",
					deleter, editor, inHS, inSF, titles)
			}
		})
	}
}
