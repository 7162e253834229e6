package salesforcetest

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

func postToken(t *testing.T, s *Server, form url.Values, basicUser, basicPass string) (int, gjson.Result) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/services/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, gjson.ParseBytes(b)
}

func TestTokenEndpoint(t *testing.T) {
	s := NewServer(Options{ClientID: "cid", ClientSecret: "s3cr=t&"})
	defer s.Close()
	cc := url.Values{"grant_type": {"client_credentials"}}

	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"s3cr=t&"}}
	st, res := postToken(t, s, form, "", "")
	if st != 200 {
		t.Fatalf("form credentials: %d %s", st, res.Raw)
	}
	for _, k := range []string{"access_token", "instance_url", "id", "issued_at", "signature"} {
		if res.Get(k).String() == "" {
			t.Errorf("token response lacks %s: %s", k, res.Raw)
		}
	}
	if res.Get("token_type").String() != "Bearer" || res.Get("instance_url").String() != s.URL {
		t.Errorf("token_type/instance_url: %s", res.Raw)
	}

	if st, res := postToken(t, s, cc, "cid", "s3cr=t&"); st != 200 || res.Get("access_token").String() == "" {
		t.Fatalf("basic credentials: %d %s", st, res.Raw)
	}

	bad := []struct {
		name       string
		form       url.Values
		user, pass string
		err        string
	}{
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"nope"}}, "", "", "invalid_client"},
		{"wrong secret, basic", cc, "cid", "nope", "invalid_client"},
		{"unknown client", url.Values{"grant_type": {"client_credentials"}, "client_id": {"x"}, "client_secret": {"s3cr=t&"}}, "", "", "invalid_client_id"},
		{"password grant", url.Values{"grant_type": {"password"}, "client_id": {"cid"}, "client_secret": {"s3cr=t&"}}, "", "", "unsupported_grant_type"},
	}
	for _, tt := range bad {
		st, res := postToken(t, s, tt.form, tt.user, tt.pass)
		if st != 400 || res.Get("error").String() != tt.err || res.Get("error_description").String() == "" {
			t.Errorf("%s: got %d %s, want 400 %s", tt.name, st, res.Raw, tt.err)
		}
	}
}

func TestSessionRequired(t *testing.T) {
	c, clk := newClient(t, Options{TokenTTL: time.Hour})
	good := c.token

	for name, tok := range map[string]string{"no token": "", "unknown token": "00D!nope"} {
		c.token = tok
		st, res, hdr := c.do("GET", dataPrefix+"query?q=SELECT+Id+FROM+Contact", nil)
		if st != 401 || errorCode(res) != "INVALID_SESSION_ID" || res.Get("0.message").String() != "Session expired or invalid" {
			t.Errorf("%s: got %d %s", name, st, res.Raw)
		}
		if hdr.Get("Sforce-Limit-Info") != "" {
			t.Errorf("%s: an unauthenticated call counted against the limit", name)
		}
	}

	c.token = good
	if st, _ := c.query("SELECT Id FROM Contact"); st != 200 {
		t.Fatalf("valid token: %d", st)
	}
	clk.Add(time.Hour)
	if st, res := c.query("SELECT Id FROM Contact"); st != 401 || errorCode(res) != "INVALID_SESSION_ID" {
		t.Fatalf("expired token: %d %s", st, res.Raw)
	}
	c.token = c.login()
	if st, _ := c.query("SELECT Id FROM Contact"); st != 200 {
		t.Fatalf("new token: %d", st)
	}
	c.s.RevokeTokens()
	if st, _ := c.query("SELECT Id FROM Contact"); st != 401 {
		t.Fatalf("revoked token: %d", st)
	}
}

func TestVersionsAndRoutes(t *testing.T) {
	c, _ := newClient(t, Options{})
	tests := []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/services/data/v58.0/query?q=SELECT+Id+FROM+Contact", 404, "NOT_FOUND"},
		{"GET", dataPrefix + "nothing/here", 404, "NOT_FOUND"},
		{"GET", "/elsewhere", 404, "NOT_FOUND"},
		{"PUT", dataPrefix + "composite/sobjects", 405, "METHOD_NOT_ALLOWED"},
		{"POST", dataPrefix + "query", 405, "METHOD_NOT_ALLOWED"},
		{"GET", dataPrefix + "sobjects/Lead/describe", 404, "NOT_FOUND"},
	}
	for _, tt := range tests {
		st, res, _ := c.do(tt.method, tt.path, nil)
		if st != tt.status || errorCode(res) != tt.code {
			t.Errorf("%s %s: got %d %s, want %d %s", tt.method, tt.path, st, res.Raw, tt.status, tt.code)
		}
	}
	c.token = ""
	if st, res, _ := c.do("GET", "/services/data/", nil); st != 200 || res.Get("0.version").String() != "62.0" {
		t.Errorf("versions: %d %s", st, res.Raw)
	}
}

func TestDailyLimit(t *testing.T) {
	c, clk := newClient(t, Options{DailyLimit: 3, TokenTTL: 48 * time.Hour})
	for i := 1; i <= 3; i++ {
		st, _, hdr := c.do("GET", dataPrefix+"query?q=SELECT+Id+FROM+Contact", nil)
		if want := "api-usage=" + string(rune('0'+i)) + "/3"; st != 200 || hdr.Get("Sforce-Limit-Info") != want {
			t.Fatalf("call %d: %d, Sforce-Limit-Info %q, want %q", i, st, hdr.Get("Sforce-Limit-Info"), want)
		}
	}
	st, res, hdr := c.do("GET", dataPrefix+"query?q=SELECT+Id+FROM+Contact", nil)
	if st != 403 || errorCode(res) != "REQUEST_LIMIT_EXCEEDED" || res.Get("0.message").String() != "TotalRequests Limit exceeded." {
		t.Fatalf("over the limit: %d %s", st, res.Raw)
	}
	if hdr.Get("Sforce-Limit-Info") != "api-usage=3/3" {
		t.Fatalf("refused call header %q", hdr.Get("Sforce-Limit-Info"))
	}
	// The day rolls: calls older than 24 hours no longer count.
	clk.Add(24 * time.Hour)
	if st, _, hdr := c.do("GET", dataPrefix+"query?q=SELECT+Id+FROM+Contact", nil); st != 200 || hdr.Get("Sforce-Limit-Info") != "api-usage=1/3" {
		t.Fatalf("next day: %d %q", st, hdr.Get("Sforce-Limit-Info"))
	}

	unlimited, _ := newClient(t, Options{})
	if _, _, hdr := unlimited.do("GET", dataPrefix+"query?q=SELECT+Id+FROM+Contact", nil); hdr.Get("Sforce-Limit-Info") != "api-usage=1/15000" {
		t.Fatalf("default limit header %q", hdr.Get("Sforce-Limit-Info"))
	}
}

func TestRequestLog(t *testing.T) {
	c, _ := newClient(t, Options{})
	mustCreate(t, c.s.Emulator, "Contact", map[string]any{"LastName": "UI"}) // not an API request
	c.s.ResetRequests()
	c.query("SELECT Id FROM Contact")
	c.do("POST", dataPrefix+"composite/sobjects", `{"records":[{"attributes":{"type":"Contact"}}]}`)
	c.do("DELETE", dataPrefix+"composite/sobjects?ids=nope", nil)
	c.token = ""
	c.do("PATCH", dataPrefix+"composite/sobjects", `{"records":[]}`)

	reqs := c.s.Requests()
	if len(reqs) != 4 {
		t.Fatalf("got %d requests, want 4: %+v", len(reqs), reqs)
	}
	if reqs[0].Method != "GET" || reqs[0].Path != dataPrefix+"query" || !strings.Contains(reqs[0].RawQuery, "q=") || reqs[0].Status != 200 {
		t.Errorf("query logged as %+v", reqs[0])
	}
	if reqs[1].Status != 200 || !strings.Contains(string(reqs[1].Body), `"Contact"`) {
		t.Errorf("create logged as %+v", reqs[1])
	}
	if reqs[3].Status != 401 {
		t.Errorf("unauthenticated write logged with status %d", reqs[3].Status)
	}
	// Every request that could write counts, whatever its outcome.
	if got := c.s.Writes(); got != 3 {
		t.Errorf("Writes = %d, want 3", got)
	}
	c.s.ResetRequests()
	if len(c.s.Requests()) != 0 || c.s.Writes() != 0 {
		t.Errorf("ResetRequests left %d requests, %d writes", len(c.s.Requests()), c.s.Writes())
	}
}
