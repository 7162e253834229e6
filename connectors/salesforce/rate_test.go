package salesforce

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"tandem"
	"tandem/connectors"
	"tandem/connectors/salesforce/salesforcetest"
)

func TestLimitInfo(t *testing.T) {
	none := connectors.RateInfo{Remaining: -1, DailyRemaining: -1}
	daily := func(limit, left int) connectors.RateInfo {
		return connectors.RateInfo{Remaining: -1, DailyLimit: limit, DailyRemaining: left}
	}
	tests := []struct {
		header []string
		want   connectors.RateInfo
	}{
		{nil, none},
		{[]string{"api-usage=18/5000"}, daily(5000, 4982)},
		// The REST API Developer Guide's examples.
		{[]string{"api-usage=10018/100000; api-bursts=1/750"}, daily(100000, 89982)},
		{[]string{"api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)"}, daily(250, 233)},
		{[]string{"per-app-api-usage=249/250(appName=x); api-usage=4000/5000"}, daily(250, 1)},
		// Over the allowance, as Salesforce lets an org be for a while.
		{[]string{"api-usage=15120/15000"}, daily(15000, 0)},
		{[]string{" api-usage = 5/10 "}, none}, // not Salesforce's spelling: not guessed at
		{[]string{"api-usage=5/0"}, none},
		{[]string{"api-usage=x/10"}, none},
		{[]string{"api-usage=-1/10"}, none},
		{[]string{"api-usage=5"}, none},
		{[]string{"something-else=1/2"}, none},
		{[]string{"api-usage=1/100", "api-usage=60/100"}, daily(100, 40)},
	}
	for _, tt := range tests {
		h := http.Header{}
		for _, v := range tt.header {
			h.Add("Sforce-Limit-Info", v)
		}
		if got := limitInfo(h); got != tt.want {
			t.Errorf("%q: got %+v, want %+v", tt.header, got, tt.want)
		}
	}
}

func TestLimitInfoFromTheEmulator(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{DailyLimit: 1000})
	var last connectors.RateInfo
	for i := 0; i < 3; i++ {
		resp, err := f.c.call(context.Background(), connectors.Read, "limits", http.MethodGet, f.c.data+"/sobjects/Contact/describe", nil)
		if err != nil {
			t.Fatal(err)
		}
		last = limitInfo(resp.Header)
	}
	if last.DailyLimit != 1000 || last.DailyRemaining != 997 || last.Limit != 0 || last.Remaining != -1 {
		t.Fatalf("after 3 calls: %+v", last)
	}
}

func TestDailyLimitExceeded(t *testing.T) {
	// The org's allowance was spent by another integration: Salesforce
	// refuses the first call with 403 REQUEST_LIMIT_EXCEEDED, whose
	// Sforce-Limit-Info tells the client, which then sends nothing until
	// the allowance is back. Every failure is retryable: nothing is set
	// aside for a quota, and nothing is half done.
	f := newFixture(t, salesforcetest.Options{DailyLimit: 1})
	f.create(t, "Contact", map[string]any{"LastName": "A"})
	ctx := context.Background()
	if _, err := f.c.Describe(ctx, "Contact"); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient("sf", Options{InstanceURL: f.sf.URL, ClientID: "test-client-id", ClientSecret: "test-client-secret"})
	if err != nil {
		t.Fatal(err)
	}
	f.sf.ResetRequests()
	check := func(name string, err error, status int, code string) {
		t.Helper()
		var te *tandem.Error
		if !errors.As(err, &te) || te.Status != status || te.Code != code || !te.Retryable {
			t.Errorf("%s: %#v, want status %d code %s, retryable", name, err, status, code)
		}
	}
	check("pull", c.Pull(ctx, tandem.Query{Object: "Contact"}, func(tandem.Page) error { t.Error("a page"); return nil }), http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED")
	_, err = c.Fetch(ctx, tandem.Query{Object: "Contact"}, []string{"003000000000001AAA"})
	check("fetch", err, 0, "DAILY_QUOTA")
	res, err := c.Apply(ctx, "Contact", creates(250, "q"))
	check("apply", err, 0, "DAILY_QUOTA")
	if res != nil || f.sf.Writes() != 0 || len(f.sf.List("Contact")) != 1 {
		t.Errorf("apply past the limit: %v, %d write calls, %d contacts", res, f.sf.Writes(), len(f.sf.List("Contact")))
	}
	if h := c.Health(); !h.ReadsPaused || h.Limits == nil || h.Limits.DailyLimit != 1 || h.Limits.DailyRemaining != 0 {
		t.Errorf("health: %+v", h)
	}
}

func TestDailyReserveStopsWritesNotReads(t *testing.T) {
	// At the reserve, writes wait and reads go on: queries, describes, and
	// retrieves, even those sent as POST, are reads.
	f := newFixture(t, salesforcetest.Options{DailyLimit: 10})
	var ids []string
	for i := 0; i < 500; i++ { // too many for a GET retrieve
		ids = append(ids, f.create(t, "Contact", map[string]any{"LastName": "L"}))
	}
	c, err := NewClient("sf", Options{InstanceURL: f.sf.URL, ClientID: "test-client-id", ClientSecret: "test-client-secret", DailyReserve: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 5; i++ { // 5 of 10 left: at the reserve
		if _, err := c.Describe(ctx, "Contact"); err != nil {
			t.Fatal(err)
		}
	}
	if h := c.Health(); !h.WritesPaused || h.ReadsPaused {
		t.Fatalf("health at the reserve: %+v", h)
	}
	f.sf.ResetRequests()
	res, err := c.Apply(ctx, "Contact", []tandem.Write{{Op: tandem.OpUpdate, ID: ids[0], Payload: payload(map[string]any{"Title": "T"})}})
	var te *tandem.Error
	if !errors.As(err, &te) || te.Code != "DAILY_QUOTA" || !te.Retryable || res != nil || f.sf.Writes() != 0 {
		t.Fatalf("update at the reserve: %v %#v, %d write calls", res, err, f.sf.Writes())
	}
	recs, err := c.Fetch(ctx, tandem.Query{Object: "Contact"}, ids)
	if err != nil || len(recs) != 500 {
		t.Fatalf("fetch at the reserve: %d records, %v", len(recs), err)
	}
	var posts int
	for _, r := range f.sf.Requests() {
		if r.Method == http.MethodPost && strings.Contains(r.Path, "/composite/sobjects/") {
			posts++
		}
	}
	if posts != 1 {
		t.Fatalf("%d retrieve POSTs, want the fetch to be one", posts)
	}
	if err := c.Pull(ctx, tandem.Query{Object: "Contact"}, func(tandem.Page) error { return nil }); err != nil {
		t.Fatalf("pull at the reserve: %v", err)
	}
}
