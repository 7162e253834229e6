package salesforcetest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"testing"
	"time"
)

func TestRateLimitKnob(t *testing.T) {
	clk := newClock()
	// Now stands still: the window follows LimitClock alone.
	c, _ := newClient(t, Options{RateLimit: RateLimit{Requests: 2}, LimitClock: clk.Now})
	query := func() (int, string, string) {
		st, res, hdr := c.do("GET", dataPrefix+"query?q=SELECT+Id+FROM+Contact", nil)
		return st, errorCode(res) + " " + res.Get("0.message").String(), hdr.Get("Sforce-Limit-Info")
	}
	steps := []struct {
		after  time.Duration
		status int
		err    string
		usage  string
	}{
		{0, 200, " ", "api-usage=1/15000"},
		{0, 200, " ", "api-usage=2/15000"},
		{999 * time.Millisecond, 403, "REQUEST_LIMIT_EXCEEDED RequestRate Limit exceeded.", "api-usage=2/15000"},
		{time.Millisecond, 200, " ", "api-usage=3/15000"}, // a second after the first two
		{0, 200, " ", "api-usage=4/15000"},
		{0, 403, "REQUEST_LIMIT_EXCEEDED RequestRate Limit exceeded.", "api-usage=4/15000"},
	}
	for i, s := range steps {
		clk.Add(s.after)
		st, err, usage := query()
		if st != s.status || err != s.err || usage != s.usage {
			t.Fatalf("call %d: %d %q %q; want %d %q %q", i, st, err, usage, s.status, s.err, s.usage)
		}
	}
	// The token request and the four answered calls were served.
	if c.s.RateLimited() != 2 || c.s.Served() != 5 {
		t.Errorf("RateLimited %d, Served %d; want 2, 5", c.s.RateLimited(), c.s.Served())
	}
	// The token endpoint is not an API call: no limit applies to it.
	if c.login() == "" {
		t.Errorf("no token while the rate was spent")
	}
}

func TestDailyLimitCounted(t *testing.T) {
	c, _ := newClient(t, Options{DailyLimit: 1})
	c.query("SELECT Id FROM Contact")
	if st, res := c.query("SELECT Id FROM Contact"); st != 403 || res.Get("0.message").String() != "TotalRequests Limit exceeded." {
		t.Fatalf("%d %s", st, res.Raw)
	}
	if c.s.RateLimited() != 1 {
		t.Errorf("RateLimited %d, want 1", c.s.RateLimited())
	}
	c.s.ResetRequests()
	if c.s.RateLimited() != 0 || c.s.Served() != 0 {
		t.Errorf("ResetRequests left RateLimited %d, Served %d", c.s.RateLimited(), c.s.Served())
	}
}

func TestRefreshTokenGrant(t *testing.T) {
	s := NewServer(Options{ClientID: "cid", ClientSecret: "csecret", RefreshToken: "5Aep861-refresh"})
	defer s.Close()
	grant := func(token string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "client_id": {"cid"}, "client_secret": {"csecret"}}
	}
	tests := []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		err        string
	}{
		{"the refresh token", grant("5Aep861-refresh"), "", "", 200, ""},
		{"the refresh token, basic", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"5Aep861-refresh"}}, "cid", "csecret", 200, ""},
		{"another refresh token", grant("5Aep861-other"), "", "", 400, "invalid_grant"},
		{"no refresh token", grant(""), "", "", 400, "invalid_grant"},
		{"the wrong secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"5Aep861-refresh"}, "client_id": {"cid"}, "client_secret": {"x"}}, "", "", 400, "invalid_client"},
		{"another client", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"5Aep861-refresh"}, "client_id": {"x"}, "client_secret": {"csecret"}}, "", "", 400, "invalid_client_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, res := postToken(t, s, tt.form, tt.user, tt.pass)
			if st != tt.status || res.Get("error").String() != tt.err {
				t.Fatalf("%d %s", st, res.Raw)
			}
			if tt.err == "invalid_grant" && res.Get("error_description").String() != "expired access/refresh token" {
				t.Errorf("invalid_grant described as %s", res.Raw)
			}
			if st == 200 && (res.Get("access_token").String() == "" || res.Get("refresh_token").Exists() || res.Get("instance_url").String() != s.URL) {
				t.Errorf("token response %s", res.Raw)
			}
		})
	}

	unset := NewServer(Options{})
	defer unset.Close()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"anything"}, "client_id": {"test-client-id"}, "client_secret": {"test-client-secret"}}
	if st, res := postToken(t, unset, form, "", ""); st != 400 || res.Get("error").String() != "invalid_grant" {
		t.Errorf("an org with no refresh token: %d %s", st, res.Raw)
	}
}

func TestSessionExpiryAndRefresh(t *testing.T) {
	clk := newClock()
	s := NewServer(Options{RefreshToken: "rt", TokenTTL: time.Hour, Now: clk.Now})
	defer s.Close()
	c := &client{t: t, s: s}
	refresh := func() string {
		t.Helper()
		st, res := postToken(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt"},
			"client_id": {"test-client-id"}, "client_secret": {"test-client-secret"}}, "", "")
		if st != 200 {
			t.Fatalf("refresh: %d %s", st, res.Raw)
		}
		return res.Get("access_token").String()
	}
	c.token = refresh()
	if st, _ := c.query("SELECT Id FROM Contact"); st != 200 {
		t.Fatalf("new session: %d", st)
	}
	clk.Add(time.Hour - time.Millisecond)
	if st, _ := c.query("SELECT Id FROM Contact"); st != 200 {
		t.Fatalf("session before its end: %d", st)
	}
	clk.Add(time.Millisecond)
	st, res := c.query("SELECT Id FROM Contact")
	if st != 401 || errorCode(res) != "INVALID_SESSION_ID" || res.Get("0.message").String() != "Session expired or invalid" {
		t.Fatalf("expired session: %d %s", st, res.Raw)
	}
	c.token = refresh()
	if st, _ := c.query("SELECT Id FROM Contact"); st != 200 {
		t.Fatalf("refreshed session: %d", st)
	}
}

func TestClientSecretRotation(t *testing.T) {
	s := NewServer(Options{ClientID: "cid", ClientSecret: "old", ClientSecrets: []string{"new"}})
	defer s.Close()
	login := func(secret string) (int, string, string) {
		t.Helper()
		st, res := postToken(t, s, url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {secret}}, "", "")
		if st == 200 {
			// The signature is keyed by the secret the client holds, so
			// it can check it.
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte(res.Get("id").String() + res.Get("issued_at").String()))
			if res.Get("signature").String() != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
				t.Errorf("signature not keyed by %q", secret)
			}
		}
		return st, res.Get("error").String(), res.Get("access_token").String()
	}
	st, _, oldSession := login("old")
	if st != 200 {
		t.Fatalf("old secret during rotation: %d", st)
	}
	if st, _, _ := login("new"); st != 200 {
		t.Fatalf("new secret during rotation: %d", st)
	}
	s.SetClientSecrets("new") // rotation done: the old secret is gone
	if st, err, _ := login("old"); st != 400 || err != "invalid_client" {
		t.Fatalf("old secret after rotation: %d %s", st, err)
	}
	if st, _, _ := login("new"); st != 200 {
		t.Fatalf("new secret after rotation: %d", st)
	}
	c := &client{t: t, s: s, token: oldSession}
	if st, _ := c.query("SELECT Id FROM Contact"); st != 200 {
		t.Errorf("a session issued under the old secret: %d", st)
	}
}
