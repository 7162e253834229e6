package salesforce

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"tandem/connectors"
)

func TestConfig(t *testing.T) {
	conn, err := connectors.Open(config(t, "type: salesforce\ninstance_url: https://acme.my.salesforce.com/\nclient_id: id\nclient_secret: s\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*Client)
	if c.data != "https://acme.my.salesforce.com/services/data/v62.0" || c.extID != "Tandem_Id__c" || c.tokens.tokenURL != "https://acme.my.salesforce.com/services/oauth2/token" {
		t.Fatalf("defaults: data %s, ext %s, token %s", c.data, c.extID, c.tokens.tokenURL)
	}
	if c.tokens.client.Timeout != 60*time.Second {
		t.Fatalf("default timeout %v", c.tokens.client.Timeout)
	}
	if c.overlap != DefaultOverlap {
		t.Fatalf("default overlap %v", c.overlap)
	}
	for text, want := range map[string]time.Duration{"overlap: 5m\n": 5 * time.Minute, "overlap: 0s\n": 0} {
		conn, err := New(config(t, "type: salesforce\ninstance_url: https://acme.my.salesforce.com\nclient_id: id\nclient_secret: s\n"+text))
		if err != nil || conn.(*Client).overlap != want {
			t.Fatalf("%q: %v, overlap %v", text, err, conn)
		}
	}

	full := "type: salesforce\ninstance_url: https://acme.my.salesforce.com\ntoken_url: https://login.example.com/token\nclient_id: id\nclient_secret: s\napi_version: v61.0\nexternal_id_field: Ext__c\ntimeout: 5s\n"
	conn, err = New(config(t, full))
	if err != nil {
		t.Fatal(err)
	}
	c = conn.(*Client)
	if c.data != "https://acme.my.salesforce.com/services/data/v61.0" || c.extID != "Ext__c" || c.tokens.tokenURL != "https://login.example.com/token" || c.tokens.client.Timeout != 5*time.Second {
		t.Fatalf("options not applied: %+v", c)
	}

	base := "type: salesforce\ninstance_url: https://acme.my.salesforce.com\nclient_id: id\nclient_secret: s\n"
	tests := []struct {
		text, want string
	}{
		{"type: salesforce\nclient_id: id\nclient_secret: s\n", "tandem.yaml:1: systems.sf.instance_url: required"},
		{"type: salesforce\ninstance_url: https://x\nclient_id: id\n", "systems.sf.client_secret: required"},
		{base + "password: x\n", "tandem.yaml:5: systems.sf.password: unknown key"},
		{base + "api_version: 62\n", "tandem.yaml:5: systems.sf.api_version: must look like v62.0"},
		{base + "external_id_field: Email\n", "tandem.yaml:5: systems.sf.external_id_field: must be the API name of a custom External ID field"},
		{base + "timeout: -1s\n", `systems.sf.timeout: "-1s" is not a positive duration`},
		{base + "timeout: soon\n", "systems.sf"},
		{base + "token_url: ftp://x\n", "systems.sf.token_url: must be an http(s) URL"},
		{base + "overlap: five minutes\n", `tandem.yaml:5: systems.sf.overlap: must be a duration like 10m, got "five minutes"`},
		{base + "overlap: -1m\n", "tandem.yaml:5: systems.sf.overlap: must be from 0s to 24h"},
		{base + "overlap: [1m]\n", "tandem.yaml:5: systems.sf.overlap: must be a duration"},
		{"type: salesforce\ninstance_url: acme.my.salesforce.com\nclient_id: id\nclient_secret: s\n", "tandem.yaml:2: systems.sf.instance_url: must be an http(s) URL"},
		{"type: salesforce\ninstance_url: https://acme.my.salesforce.com/services/data\nclient_id: id\nclient_secret: s\n", "without a path"},
	}
	for _, tt := range tests {
		_, err := New(config(t, tt.text))
		var ce *connectors.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want a ConfigError containing %q", tt.text, err, tt.want)
		}
	}

	if _, err := NewClient("sf", Options{InstanceURL: "https://x", ClientID: "id"}); err == nil || !strings.Contains(err.Error(), "client_secret: required") {
		t.Errorf("NewClient without secret: %v", err)
	}
}

func TestConfigRate(t *testing.T) {
	base := "type: salesforce\ninstance_url: https://acme.my.salesforce.com\nclient_id: id\nclient_secret: s\n"
	o, err := decodeOptions(config(t, base))
	if err != nil {
		t.Fatal(err)
	}
	ho := httpOptions("sf", o, http.DefaultTransport)
	if ho.Rate != (connectors.RateLimit{}) || ho.DailyReserve != 0.05 || ho.RateHeaders == nil || ho.System != "sf" || ho.Timeout != time.Minute {
		t.Fatalf("defaults: %+v", ho)
	}
	if ri := ho.RateHeaders(http.Header{"Sforce-Limit-Info": {"api-usage=10/100"}}); ri.DailyRemaining != 90 {
		t.Fatalf("the client is not given the Sforce-Limit-Info reader: %+v", ri)
	}

	o, err = decodeOptions(config(t, base+"rate_limit: {requests: 25, per: 1s}\ndaily_reserve: 0.2\n"))
	if err != nil {
		t.Fatal(err)
	}
	ho = httpOptions("sf", o, http.DefaultTransport)
	if ho.Rate != (connectors.RateLimit{Requests: 25, Per: time.Second}) || ho.DailyReserve != 0.2 {
		t.Fatalf("configured: %+v", ho)
	}

	o, err = decodeOptions(config(t, base+"daily_reserve: 0\n"))
	if err != nil || httpOptions("sf", o, nil).DailyReserve >= 0 {
		t.Fatalf("daily_reserve 0 must keep no reserve (a negative DailyReserve): %+v, %v", o, err)
	}

	tests := []struct{ text, want string }{
		{"rate_limit: {requests: 0, per: 1s}\n", "tandem.yaml:5: systems.sf.rate_limit.requests: must be a positive number"},
		{"rate_limit: {requests: 10}\n", "systems.sf.rate_limit.per: must be a positive duration"},
		{"rate_limit:\n  requests: 10\n  burst: 5\n", "tandem.yaml:7: systems.sf.rate_limit.burst: unknown key"},
		{"rate_limit: {requests: 10, per: soon}\n", "systems.sf"},
		{"rate_limit: 10\n", "systems.sf"},
		{"daily_reserve:\n", "tandem.yaml:5: systems.sf.daily_reserve: is empty"},
		{"daily_reserve: 1\n", "tandem.yaml:5: systems.sf.daily_reserve: must be a share"},
		{"daily_reserve: -0.1\n", "systems.sf.daily_reserve: must be a share"},
	}
	for _, tt := range tests {
		_, err := New(config(t, base+tt.text))
		var ce *connectors.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want a ConfigError containing %q", tt.text, err, tt.want)
		}
	}
}
