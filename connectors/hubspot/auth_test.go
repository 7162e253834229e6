package hubspot

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/time/rate"

	"tandem"
	"tandem/connectors"
	"tandem/connectors/hubspot/hubspottest"
)

// rotatingPortal is an emulator that takes the tokens it is told to
// (hubspottest's SetTokens, as rotating a private app's token in HubSpot
// does), with a counter in front of it of the requests each token made.
type rotatingPortal struct {
	*hubspottest.Server
	URL string

	mu   sync.Mutex
	used map[string]int
}

func newRotatingPortal(t *testing.T, accept ...string) *rotatingPortal {
	p := &rotatingPortal{Server: hubspottest.NewServer(hubspottest.Options{Tokens: accept}), used: map[string]int{}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.used[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]++
		p.mu.Unlock()
		p.Server.ServeHTTP(w, r)
	}))
	p.URL = hs.URL
	t.Cleanup(func() { hs.Close(); p.Server.Close() })
	return p
}

// uses returns how many requests came with each token since the last call.
func (p *rotatingPortal) uses() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.used
	p.used = map[string]int{}
	return u
}

// TestTokenRotation: with the old token refused and the next one taken,
// the first call is sent again with the next token, which is used from then
// on; neither token shows in a log line or an error.
func TestTokenRotation(t *testing.T) {
	const old, next = "pat-na1-OLD-0000", "pat-na1-NEXT-1111"
	p := newRotatingPortal(t, old)
	id, _ := p.Create("contacts", map[string]any{"email": "a@x.com"})
	var logs bytes.Buffer
	ho := connectorsTestHTTP
	ho.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := newClient(config(t, "type: hubspot\nbase_url: "+p.URL+"\ntoken: "+old+"\ntoken_next: "+next+"\n"), ho)
	if err != nil {
		t.Fatal(err)
	}
	c.searchPace.SetLimit(rate.Inf)
	pull := func() error {
		return c.Pull(context.Background(), tandem.Query{Object: "contacts"}, func(tandem.Page) error { return nil })
	}
	if err := pull(); err != nil {
		t.Fatal(err)
	}
	if u := p.uses(); u[old] != 2 || u[next] != 0 {
		t.Errorf("while the old token works: %v, want it alone (a search and a listing)", u)
	}

	p.SetTokens(next) // rotated in HubSpot: the old token is refused now
	res := apply(t, c, "contacts", update(id, `{"properties":{"firstname":"A"}}`))
	if res[0].Err != nil {
		t.Fatalf("update after the rotation: %v", res[0].Err)
	}
	if u := p.uses(); u[old] != 1 || u[next] != 1 {
		t.Errorf("the call after the rotation: %v, want one refused with the old token and one with the next", u)
	}
	if err := pull(); err != nil {
		t.Fatal(err)
	}
	if u := p.uses(); u[old] != 0 || u[next] != 2 {
		t.Errorf("later calls: %v, want the next token only", u)
	}

	// Both refused: the error is the 401, permanent, and names neither.
	p.SetTokens("pat-na1-REVOKED-2222")
	err = pull()
	var te *tandem.Error
	if !errors.As(err, &te) || te.Status != 401 || tandem.IsRetryable(err) {
		t.Errorf("both tokens refused: %v, want a permanent 401", err)
	}
	if u := p.uses(); u[old] != 1 || u[next] != 1 {
		t.Errorf("both refused: %v, want one try with each", u)
	}
	for _, tok := range []string{old, next} {
		if strings.Contains(logs.String(), tok) || strings.Contains(err.Error(), tok) {
			t.Errorf("a token is in the logs or the error:\n%s\n%v", logs.String(), err)
		}
	}
	if !strings.Contains(logs.String(), "took the other one") {
		t.Errorf("the switch of tokens was not logged:\n%s", logs.String())
	}
}

// TestTokenFile: the token is read from a file at open, trimmed, and a
// second line is the next token of a rotation.
func TestTokenFile(t *testing.T) {
	const old, next = "pat-na1-OLD-0000", "pat-na1-NEXT-1111"
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	p := newRotatingPortal(t, next)
	c, err := testClient(t, "type: hubspot\nbase_url: "+p.URL+"\ntoken_file: "+write("two", "  "+old+"\r\n\r\n"+next+"\r\n")+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if cur, other := c.tokens.get(); cur != old || other != next {
		t.Errorf("tokens from the file: %q, %q", cur, other)
	}
	if _, err := c.Fetch(context.Background(), tandem.Query{Object: "contacts"}, []string{"1"}); err != nil {
		t.Errorf("fetch with the file's second token: %v", err)
	}
	if cur, _ := c.tokens.get(); cur != next {
		t.Errorf("token in use after the old one was refused: %q", cur)
	}
	c, err = testClient(t, "type: hubspot\nbase_url: "+p.URL+"\ntoken_file: "+write("one", next+"\n")+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if cur, other := c.tokens.get(); cur != next || other != "" {
		t.Errorf("tokens from a one-line file: %q, %q", cur, other)
	}

	for _, tc := range []struct{ section, want string }{
		{"token: " + old + "\ntoken_file: " + write("t", old), "systems.hs.token_file: set token or token_file, not both"},
		{"token_file: " + filepath.Join(dir, "missing"), "systems.hs.token_file: open " + filepath.Join(dir, "missing")},
		{"token_file: " + write("empty", "\n \n"), "is empty"},
		{"token_file: " + write("three", "a\nb\nc\n"), "has 3 lines"},
		{"token_file: " + write("space", "pat "+old+"\n"), "line 1 contains whitespace"},
		{"token_file: " + write("both", old+"\n"+next+"\n") + "\ntoken_next: " + next, "systems.hs.token_next: the next token is already the second line"},
		{"token: " + old + "\ntoken_next: \"x " + next + "\"", "systems.hs.token_next: contains whitespace"},
	} {
		_, err := newClient(config(t, "type: hubspot\n"+tc.section+"\n"), connectors.HTTPOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.section, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), old) || strings.Contains(err.Error(), next)) {
			t.Errorf("a config error shows a token: %v", err)
		}
	}
}

// TestTokensPromoteOnce: two calls refused at once both try the other
// token; the tokens swap once, not back.
func TestTokensPromoteOnce(t *testing.T) {
	tk := tokens{cur: "a", other: "b"}
	if !tk.promote("a", "b") || tk.promote("a", "b") {
		t.Errorf("promote twice")
	}
	if cur, other := tk.get(); cur != "b" || other != "a" {
		t.Errorf("after promote: %q %q", cur, other)
	}
}
