package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/salesforce/salesforcetest"
	"tandem/state"
)

// TestNewestWithinSalesforceSecond: Salesforce stamps whole seconds, so a
// Salesforce edit made at 10:00:05.157 is stamped 10:00:05, before a
// HubSpot edit of the same field made at 05.131. Compared as they are, the
// truncated stamp lost to the earlier edit (the chaos suite met this about
// one run in four). Newest now lets the middle of the Salesforce second
// stand for its edit when the other stamp falls inside that second; the
// conflict is recorded either way. The second case is the other side of
// the rule: a HubSpot edit late in the second wins.
func TestNewestWithinSalesforceSecond(t *testing.T) {
	sec := time.Date(2026, 1, 5, 10, 0, 5, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		first       string // the system edited first
		hsAt, sfAt  time.Duration
		want, wonBy string
	}{
		{"hubspot early in the second, salesforce after it", "hubspot", 131 * time.Millisecond, 157 * time.Millisecond, "SF", "salesforce"},
		{"salesforce early in the second, hubspot late", "salesforce", 900 * time.Millisecond, 100 * time.Millisecond, "HS", "hubspot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newTestClock()
			at := clock.set
			sf := salesforcetest.NewServer(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret", Now: clock.Now})
			t.Cleanup(sf.Close)
			hs := hubspottest.NewServer(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-token", RateLimit: loopbackRate, Now: clock.Now})
			t.Cleanup(hs.Close)
			sfID, err := sf.Create("Contact", map[string]any{"Email": "a@example.com", "LastName": "A", "Title": "T0"})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			config := reproConfig(t, dir, hs.URL, sf.URL, nil, []string{"email", "last_name", "title"}, nil)
			pass := func() {
				t.Helper()
				var out, errb bytes.Buffer
				if code := execute([]string{"sync", "--config", config}, &out, &errb); code != 0 {
					t.Fatalf("tandem sync: exit %d\n%s", code, errb.String())
				}
			}
			at(sec.Add(-time.Hour))
			pass()
			objs := hs.List("contacts")
			if len(objs) != 1 {
				t.Fatalf("HubSpot holds %d contacts after the first pass, want 1", len(objs))
			}
			hsID := objs[0].ID

			edits := map[string]func(){
				"hubspot": func() {
					at(sec.Add(tc.hsAt))
					if err := hs.Update("contacts", hsID, map[string]any{"jobtitle": "HS"}); err != nil {
						t.Fatal(err)
					}
				},
				"salesforce": func() {
					at(sec.Add(tc.sfAt))
					if err := sf.Update("Contact", sfID, map[string]any{"Title": "SF"}); err != nil {
						t.Fatal(err)
					}
				},
			}
			edits[tc.first]()
			edits[map[string]string{"hubspot": "salesforce", "salesforce": "hubspot"}[tc.first]]()
			at(sec.Add(3 * time.Second))
			pass()
			pass()

			h, _ := hs.Get("contacts", hsID)
			s, _ := sf.Get("Contact", sfID)
			if got := fmt.Sprint(h.Properties["jobtitle"], "/", s.Fields["Title"]); got != tc.want+"/"+tc.want {
				t.Errorf("HubSpot/Salesforce title %s, want %s in both", got, tc.want)
			}
			st, err := state.OpenReadOnly(dir + "/tandem.db")
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			cs, err := st.Conflicts(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			if len(cs) != 1 || cs[0].Field != "title" || cs[0].Decided != tc.wonBy {
				t.Fatalf("conflicts %+v, want one on title decided for %s", cs, tc.wonBy)
			}
		})
	}
}
