package salesforce

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
	"tandem/connectors/salesforce/salesforcetest"
)

func TestDescribe(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{ExtraPicklists: map[string][]salesforcetest.Picklist{
		"Contact": {{Name: "Rating__c", Values: []string{"Hot", "Warm"}, Inactive: []string{"Cold"}}},
	}})
	var conn connectors.Connector = f.c
	d, ok := conn.(connectors.Describer)
	if !ok {
		t.Fatal("the Salesforce connector is not a Describer")
	}
	fields, err := d.Describe(context.Background(), "Contact")
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]connectors.FieldInfo{}
	for _, fi := range fields {
		byPath[fi.Path] = fi
	}
	for _, want := range []connectors.FieldInfo{
		{Path: "Id", Label: "Contact ID", Type: "id", ReadOnly: true},
		{Path: "FirstName", Label: "First Name", Type: "string"},
		{Path: "LastName", Label: "Last Name", Type: "string"},
		{Path: "Name", Label: "Full Name", Type: "string", ReadOnly: true},
		{Path: "Email", Label: "Email", Type: "email"},
		{Path: "Phone", Label: "Business Phone", Type: "phone"},
		{Path: "AccountId", Label: "Account ID", Type: "reference"},
		{Path: "Tandem_Id__c", Label: "Tandem Id", Type: "string"},
		{Path: "SystemModstamp", Label: "System Modstamp", Type: "datetime", ReadOnly: true},
		{Path: "IsDeleted", Label: "Deleted", Type: "boolean", ReadOnly: true},
		{Path: "Rating__c", Label: "Rating", Type: "picklist", Options: []string{"Hot", "Warm"}}, // Cold is inactive
	} {
		got, ok := byPath[want.Path]
		if !ok {
			t.Errorf("no %s among %d fields", want.Path, len(fields))
			continue
		}
		if got.Label != want.Label || got.Type != want.Type || got.ReadOnly != want.ReadOnly || !slices.Equal(got.Options, want.Options) {
			t.Errorf("%s: %+v, want %+v", want.Path, got, want)
		}
	}

	// Every described path can be pulled, and reads the record.
	f.create(t, "Contact", map[string]any{"FirstName": "Ada", "LastName": "Lovelace", "Rating__c": "Hot"})
	var paths []string
	for _, fi := range fields {
		paths = append(paths, fi.Path)
	}
	p := f.pull(t, "Contact", "", paths...)
	if len(p.pages) != 1 || len(p.pages[0].Records) != 1 {
		t.Fatalf("pull: %+v", p)
	}
	raw := p.pages[0].Records[0].Raw
	for _, path := range paths {
		if !gjson.GetBytes(raw, path).Exists() {
			t.Errorf("described path %s is not in the pulled record %s", path, raw)
		}
	}
	if gjson.GetBytes(raw, "Name").String() != "Ada Lovelace" {
		t.Errorf("Name: %s", raw)
	}

	fields, err = f.c.Describe(context.Background(), "Account")
	if err != nil {
		t.Fatal(err)
	}
	for _, fi := range fields {
		if fi.Path == "Industry" && (len(fi.Options) < 10 || !slices.Contains(fi.Options, "Banking")) {
			t.Errorf("Industry: %+v", fi)
		}
	}
	if r := f.sf.Requests(); r[1].Method != "GET" || r[1].Path != "/services/data/v62.0/sobjects/Contact/describe" || r[1].Status != 200 {
		t.Errorf("request %+v", r[1])
	}
}

// TestDescribeRenewsSession: a session revoked or timed out is renewed
// once, as for any call.
func TestDescribeRenewsSession(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	if _, err := f.c.Describe(context.Background(), "Contact"); err != nil {
		t.Fatal(err)
	}
	f.sf.RevokeTokens()
	f.sf.ResetRequests()
	if _, err := f.c.Describe(context.Background(), "Contact"); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	if tokens, unauth := countToken(f); tokens != 1 || unauth != 1 {
		t.Errorf("%d token calls, %d refused calls; want 1 and 1", tokens, unauth)
	}
}

func TestDescribeErrors(t *testing.T) {
	ctx := context.Background()
	check := func(what string, err error, status int, code string, retryable bool, is error) {
		t.Helper()
		var te *tandem.Error
		if !errors.As(err, &te) || te.Status != status || te.Code != code || te.Retryable != retryable || te.System != "sf" ||
			(is != nil && !errors.Is(err, is)) || !strings.HasPrefix(err.Error(), "sf: ") {
			t.Errorf("%s: %#v", what, err)
		}
	}

	f := newFixture(t, salesforcetest.Options{})
	_, err := f.c.Describe(ctx, "Lead")
	check("unknown object", err, 404, "NOT_FOUND", false, tandem.ErrNotFound)
	n := len(f.sf.Requests())
	_, err = f.c.Describe(ctx, "Contact/describe")
	if err == nil || len(f.sf.Requests()) != n {
		t.Errorf("a bad object name: %v, and sent anyway", err)
	}

	// A session refused even when new: permanent, and said so.
	f = newFixture(t, salesforcetest.Options{TokenTTL: -time.Second})
	_, err = f.c.Describe(ctx, "Contact")
	check("refused session", err, 401, "INVALID_SESSION_ID", false, errAuth)
	if tokens, unauth := countToken(f); tokens != 2 || unauth != 2 {
		t.Errorf("%d token calls, %d refused: one renewal, no more", tokens, unauth)
	}

	// Wrong credentials: the token call fails and names what to check.
	sf := salesforcetest.NewServer(salesforcetest.Options{})
	defer sf.Close()
	c, err := NewClient("sf", Options{InstanceURL: sf.URL, ClientID: "test-client-id", ClientSecret: "wrong-secret"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Describe(ctx, "Contact")
	check("bad secret", err, 400, "invalid_client", false, errAuth)
	if err == nil || strings.Contains(err.Error(), "wrong-secret") || !strings.Contains(err.Error(), "client_secret") {
		t.Errorf("bad secret error reads %v", err)
	}

	// The daily allowance spent by another integration: Salesforce
	// refuses the call; worth trying later.
	f = newFixture(t, salesforcetest.Options{DailyLimit: 1})
	if _, err := f.c.Describe(ctx, "Contact"); err != nil {
		t.Fatal(err)
	}
	other, err := NewClient("sf", Options{InstanceURL: f.sf.URL, ClientID: "test-client-id", ClientSecret: "test-client-secret"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Describe(ctx, "Contact")
	check("daily limit", err, 403, "REQUEST_LIMIT_EXCEEDED", true, nil)
	// Spent by this one: the shared client read Sforce-Limit-Info and
	// does not send the call at all.
	_, err = f.c.Describe(ctx, "Contact")
	check("daily limit seen", err, 0, "DAILY_QUOTA", true, nil)
}
