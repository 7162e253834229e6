package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"tandem"
	"tandem/connectors"
	"tandem/connectors/salesforce/salesforcetest"
)

// refreshServer answers the refresh-token grant in front of an emulator
// that knows only client credentials: it checks the request as Salesforce
// does (client_id, the consumer secret, the refresh token) and trades it
// for a session of the emulator, so the data calls that follow are real.
// With rotate, every grant spends the refresh token and issues another, as
// a connected app with refresh token rotation does.
type refreshServer struct {
	e       *salesforcetest.Emulator
	secrets []string // the consumer secrets the app accepts
	rotate  bool

	mu      sync.Mutex
	refresh string       // the valid refresh token
	grants  []url.Values // token requests, in order
	issued  []string     // access tokens handed out
	seq     int
}

func (s *refreshServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/services/oauth2/token" {
		s.e.ServeHTTP(w, r)
		return
	}
	r.ParseForm()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grants = append(s.grants, r.PostForm)
	refuse := func(code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	switch {
	case r.PostForm.Get("grant_type") != "refresh_token":
		refuse("unsupported_grant_type", "grant type not supported")
		return
	case r.PostForm.Get("client_id") != "test-client-id":
		refuse("invalid_client_id", "client identifier invalid")
		return
	case !slices.Contains(s.secrets, r.PostForm.Get("client_secret")):
		refuse("invalid_client", "invalid client credentials")
		return
	case r.PostForm.Get("refresh_token") != s.refresh:
		refuse("invalid_grant", "expired access/refresh token")
		return
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"test-client-id"}, "client_secret": {"test-client-secret"}}
	req := httptest.NewRequest(http.MethodPost, "/services/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, req)
	var tok map[string]string
	json.Unmarshal(rec.Body.Bytes(), &tok)
	s.issued = append(s.issued, tok["access_token"])
	if s.rotate {
		s.seq++
		s.refresh = fmt.Sprintf("5Aep861-rotated-refresh-%d", s.seq)
		tok["refresh_token"] = s.refresh
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(tok)
}

func (s *refreshServer) tokenRequests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.grants)
}

const testRefresh = "5Aep861-the-refresh-token-do-not-print"

func TestRefreshTokenRotatedByTheOrg(t *testing.T) {
	e := salesforcetest.New(salesforcetest.Options{})
	rs := &refreshServer{e: e, secrets: []string{"test-client-secret"}, refresh: testRefresh, rotate: true}
	c := serve(t, rs, Options{RefreshToken: testRefresh})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := c.Describe(ctx, "Contact"); err != nil {
			t.Fatalf("describe %d: %v", i, err)
		}
		e.RevokeTokens()
	}
	g := rs.tokenRequests()
	want := []string{testRefresh, "5Aep861-rotated-refresh-1", "5Aep861-rotated-refresh-2"}
	if len(g) != 3 {
		t.Fatalf("%d token requests, want 3", len(g))
	}
	for i, w := range want {
		if got := g[i].Get("refresh_token"); got != w {
			t.Fatalf("grant %d sent refresh token %q, want %q (the one the last grant issued)", i, got, w)
		}
	}
}

func TestSecretRotation(t *testing.T) {
	// The app's secret was rotated in Salesforce: the old one is refused,
	// the next one works, and is kept from then on.
	sf := salesforcetest.NewServer(salesforcetest.Options{ClientSecret: "secret-two"})
	defer sf.Close()
	var logs logBuffer
	c, err := NewClient("sf", Options{InstanceURL: sf.URL, ClientID: "test-client-id",
		ClientSecret: "secret-one", ClientSecretNext: "secret-two", Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := c.Describe(ctx, "Contact"); err != nil {
			t.Fatalf("describe %d: %v", i, err)
		}
		sf.RevokeTokens()
	}
	var tokens []string
	for _, r := range sf.Requests() {
		if r.Path == "/services/oauth2/token" {
			form, _ := url.ParseQuery(string(r.Body))
			tokens = append(tokens, fmt.Sprintf("%s:%d", form.Get("client_secret"), r.Status))
		}
	}
	// secret-one tried once; after that only secret-two.
	if strings.Join(tokens, " ") != "secret-one:400 secret-two:200 secret-two:200" {
		t.Fatalf("token calls %v", tokens)
	}
	if !strings.Contains(logs.String(), "accepted the next one") {
		t.Fatalf("the switch to the next secret is not logged: %s", logs.String())
	}
	noSecrets(t, logs.String(), "secret-one", "secret-two")
}

func TestSecretRotationBothRefused(t *testing.T) {
	sf := salesforcetest.NewServer(salesforcetest.Options{ClientSecret: "the-real-one"})
	defer sf.Close()
	var logs logBuffer
	c, err := NewClient("sf", Options{InstanceURL: sf.URL, ClientID: "test-client-id",
		ClientSecret: "secret-one", ClientSecretNext: "secret-two", Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Apply(context.Background(), "Contact", creates(1, "x"))
	var te *tandem.Error
	if !errors.As(err, &te) || te.Code != "invalid_client" || te.Retryable || !strings.Contains(err.Error(), "both were refused") {
		t.Fatalf("apply: %#v", err)
	}
	noSecrets(t, fmt.Sprintf("%v %+v %#v", err, err, te)+logs.String(), "secret-one", "secret-two", "the-real-one")
	if sf.Writes() != 0 || len(sf.Requests()) != 2 {
		t.Fatalf("%d requests, %d writes: want the two token calls only", len(sf.Requests()), sf.Writes())
	}
}

func TestUnauthorizedRefreshedOncePerCall(t *testing.T) {
	// A session refused every time (say, the user lost API access): one
	// new session, one more try, then the error. No loop.
	e := salesforcetest.New(salesforcetest.Options{})
	var data int
	var mu sync.Mutex
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/services/data/") {
			mu.Lock()
			data++
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`)
			return
		}
		e.ServeHTTP(w, r)
	})
	c := serve(t, h, Options{})
	ctx := context.Background()
	calls := map[string]func() error{
		"pull": func() error {
			return c.Pull(ctx, tandem.Query{Object: "Contact"}, func(tandem.Page) error { return nil })
		},
		"describe": func() error { _, err := c.Describe(ctx, "Contact"); return err },
		"fetch": func() error {
			_, err := c.Fetch(ctx, tandem.Query{Object: "Contact"}, []string{"003000000000001AAA"})
			return err
		},
		"apply": func() error { _, err := c.Apply(ctx, "Contact", creates(3, "u")); return err },
	}
	for name, call := range calls {
		mu.Lock()
		data = 0
		mu.Unlock()
		err := call()
		var te *tandem.Error
		if !errors.As(err, &te) || te.Status != 401 || te.Code != "INVALID_SESSION_ID" || te.Retryable || !errors.Is(err, errAuth) {
			t.Errorf("%s: %#v", name, err)
		}
		mu.Lock()
		if data != 2 {
			t.Errorf("%s: %d API calls, want 2 (the call, and once more with a new session)", name, data)
		}
		mu.Unlock()
	}
}

func TestCredentialFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	one := write("secret", "file-secret-1\n")
	two := write("secrets", "  file-secret-1\r\nfile-secret-2\r\n")
	three := write("three", "a\nb\nc\n")
	empty := write("empty", " \n\n")
	refresh := write("refresh", testRefresh+"\n")

	base := "type: salesforce\ninstance_url: https://acme.my.salesforce.com\nclient_id: id\n"
	open := func(text string) (*Client, error) {
		conn, err := New(config(t, base+text))
		if err != nil {
			return nil, err
		}
		return conn.(*Client), nil
	}
	good := []struct {
		text    string
		secrets []string
		refresh string
	}{
		{"client_secret_file: " + one + "\n", []string{"file-secret-1"}, ""},
		{"client_secret_file: " + two + "\n", []string{"file-secret-1", "file-secret-2"}, ""},
		{"client_secret_file: " + one + "\nclient_secret_next: env-next\n", []string{"file-secret-1", "env-next"}, ""},
		{"client_secret: s\nclient_secret_next: s\n", []string{"s"}, ""},
		{"client_secret: s\nrefresh_token_file: " + refresh + "\n", []string{"s"}, testRefresh},
		{"client_secret: s\nrefresh_token: r\n", []string{"s"}, "r"},
		{"client_secret: s\nclient_secret_next: \"\"\n", []string{"s"}, ""}, // the next secret's variable unset: no rotation under way
	}
	for _, tt := range good {
		c, err := open(tt.text)
		if err != nil {
			t.Errorf("%q: %v", tt.text, err)
			continue
		}
		if !slices.Equal(c.tokens.secrets, tt.secrets) || c.tokens.refresh != tt.refresh || c.tokens.byRefresh != (tt.refresh != "") {
			t.Errorf("%q: secrets %q, refresh %q", tt.text, c.tokens.secrets, c.tokens.refresh)
		}
	}

	bad := []struct{ text, want string }{
		{"", "systems.sf.client_secret: required"},
		{"client_secret: s\nclient_secret_file: " + one + "\n", "tandem.yaml:5: systems.sf.client_secret_file: give client_secret or client_secret_file, not both"},
		{"client_secret_file: " + two + "\nclient_secret_next: x\n", "systems.sf.client_secret_next: client_secret_file has a second line"},
		{"client_secret_file: " + three + "\n", "3 lines, at most 2"},
		{"client_secret_file: " + empty + "\n", "empty"},
		{"client_secret_file: " + filepath.Join(dir, "nope") + "\n", "systems.sf.client_secret_file: open " + filepath.Join(dir, "nope")},
		{"client_secret: s\nrefresh_token_file: " + two + "\n", "systems.sf.refresh_token_file: " + two + ": 2 lines, at most 1"},
		{"client_secret: s\nrefresh_token: r\nrefresh_token_file: " + refresh + "\n", "not both"},
		{"client_secret: s\nrefresh_token: \"\"\n", "tandem.yaml:5: systems.sf.refresh_token: is empty (is its environment variable set?)"},
		{"client_secret: s\nclient_secret_file: \"\"\n", "systems.sf.client_secret_file: is empty"},
	}
	for _, tt := range bad {
		_, err := open(tt.text)
		var ce *connectors.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want a ConfigError containing %q", tt.text, err, tt.want)
			continue
		}
		noSecrets(t, err.Error(), "file-secret-1", "file-secret-2", testRefresh)
	}
}

// noSecrets fails the test if text shows any of the secrets.
func noSecrets(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Fatalf("a secret (%.4s…) shows in: %s", s, text)
		}
	}
}

func TestNoSecretInLogsOrErrors(t *testing.T) {
	// Every credential of a busy life: a rotated secret, a rotated refresh
	// token, sessions that end, and at last a refresh token revoked. None
	// of them, nor a session, is in a log line or an error.
	e := salesforcetest.New(salesforcetest.Options{})
	e.Create("Contact", map[string]any{"LastName": "A"})
	rs := &refreshServer{e: e, secrets: []string{"secret-two-do-not-print"}, refresh: testRefresh, rotate: true}
	var logs logBuffer
	c := serve(t, rs, Options{ClientSecret: "secret-one-do-not-print", ClientSecretNext: "secret-two-do-not-print",
		RefreshToken: testRefresh, Logger: logs.logger()})
	ctx := context.Background()
	var errs []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, fmt.Sprintf("%v %+v %#v", err, err, err))
		}
	}
	for i := 0; i < 3; i++ {
		note(c.Pull(ctx, tandem.Query{Object: "Contact"}, func(tandem.Page) error { return nil }))
		_, err := c.Apply(ctx, "Contact", creates(2, fmt.Sprint("n", i)))
		note(err)
		e.RevokeTokens()
	}
	if len(errs) != 0 {
		t.Fatalf("errors before the revocation: %v", errs)
	}
	rs.mu.Lock()
	rs.refresh = "revoked"
	rs.mu.Unlock()
	note(c.Pull(ctx, tandem.Query{Object: "Contact"}, func(tandem.Page) error { return nil }))
	_, err := c.Apply(ctx, "Contact", creates(1, "z"))
	note(err)
	if len(errs) != 2 {
		t.Fatalf("want two errors after the refresh token was revoked, got %v", errs)
	}
	rs.mu.Lock()
	secrets := append([]string{"secret-one-do-not-print", "secret-two-do-not-print", testRefresh, "rotated-refresh"}, rs.issued...)
	rs.mu.Unlock()
	noSecrets(t, strings.Join(errs, "\n")+logs.String(), secrets...)
	if !strings.Contains(logs.String(), "accepted the next one") {
		t.Fatalf("logs say nothing of the rotation: %s", logs.String())
	}
}
