package console

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/conflict"
	"tandem/mapping"
	"tandem/mapping/config"
	"tandem/state"
)

const token = "correct-horse-battery-staple"

// aliceToken is a named token beside the unnamed one.
const aliceToken = "alice-horse-battery-staple"

const testConfig = `
state: %s
systems:
  crm: { type: fake }
  other: { type: fake }
entities:
  person:
    match: [email]
    fields: { email: email, name: string, tax_id: { type: string, sensitive: true } }
    systems:
      crm: { object: people, fields: { email: email, name: name, tax_id: tax } }
      other: { object: folks, fields: { email: mail, name: n, tax_id: t } }
`

// hostile is a value a CRM record may hold: markup that must stay text.
const hostile = `<script>document.title='pwned'</script><img src=x onerror="alert(1)">`

// world is a console over a real state file, deciding through a real
// engine (no systems: nothing is sent from here, as from tandem resolve).
type world struct {
	srv   *httptest.Server
	store *state.Store
	cfg   *config.Config
	// field, hostileField, taxField and dead are what the state file
	// holds: open field conflicts on name (one with hostile values), one
	// on the sensitive tax_id, and a record set aside.
	field, hostileField, taxField int64
	entity                        string
	dead                          string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.db")
	cfg, err := config.Parse("t.yaml", []byte(strings.Replace(testConfig, "%s", path, 1)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	w := &world{store: store, cfg: cfg}
	ctx := context.Background()
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	err = store.Update(ctx, func(tx *state.Tx) error {
		g := tandem.Golden{"email": {Value: "ada@example.com"}, "name": {Value: "Ada", Held: true}, "tax_id": {Value: "111-11-1111", Held: true}}
		if w.entity, err = tx.NewEntity(ctx, "person", g, map[string]string{"email": "ada@example.com"}); err != nil {
			return err
		}
		add := func(field string, crm, other any) (int64, error) {
			c := &tandem.Conflict{Entity: "person", EntityID: w.entity, Kind: tandem.ConflictField, Field: field, Base: "Ada",
				Values: map[string]tandem.SideValue{"crm": {Value: crm, ModifiedAt: at, RecordID: "c1"}, "other": {Value: other, ModifiedAt: at, RecordID: "o1"}},
				Policy: "manual", Status: tandem.ConflictOpen, Decided: "held: manual policy", Created: at}
			err := tx.AddConflict(ctx, c, nil)
			return c.ID, err
		}
		if w.field, err = add("name", "Ada King", "Ada Byron"); err != nil {
			return err
		}
		if w.hostileField, err = add("name", hostile, "Ada \u202eevil"); err != nil {
			return err
		}
		if w.taxField, err = add("tax_id", "222-22-2222", "333-33-3333"); err != nil {
			return err
		}
		return tx.AddDeadLetter(ctx, "crm", "people", "c9", []byte(`{"email": 42, "tax": "444-44-4444"}`), "email: not text")
	})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := store.DeadLetters(ctx)
	if err != nil || len(ds) != 1 {
		t.Fatalf("dead letters %v, %v", ds, err)
	}
	w.dead = ds[0].ID
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := New(Options{Config: cfg, Store: store, Actions: &conflict.Engine{Store: store, Log: log}, Log: log, Token: token + " alice:" + aliceToken})
	if err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewServer(c.Handler())
	t.Cleanup(w.srv.Close)
	return w
}

// client is a browser-like client: cookies kept, redirects not followed
// (so the test sees them).
func (w *world) client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// do sends a request and returns the status, the body and the response.
func do(t *testing.T, c *http.Client, method, u string, form url.Values, header map[string]string) (int, string, *http.Response) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

// login logs a client in and returns the CSRF token of its session.
func (w *world) login(t *testing.T, c *http.Client) string {
	t.Helper()
	code, _, resp := do(t, c, "POST", w.srv.URL+"/login", url.Values{"token": {token}}, nil)
	if code != http.StatusSeeOther || resp.Header.Get("Location") != "/conflicts" {
		t.Fatalf("login: %d to %q", code, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == cookieName {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v: want HttpOnly and SameSite=Strict", ck)
	}
	_, page, _ := do(t, c, "GET", w.srv.URL+"/conflicts", nil, nil)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	return m[1]
}

func TestNeedsAToken(t *testing.T) {
	for _, tok := range []string{"", "short"} {
		if _, err := New(Options{Config: &config.Config{}, Store: (*state.Store)(nil), Actions: &conflict.Engine{}, Token: tok}); err == nil || !strings.Contains(err.Error(), TokenEnv) {
			t.Errorf("token %q: %v, want an error naming %s", tok, err, TokenEnv)
		}
	}
}

// TestAccess: without a session or a token nothing but the login page is
// served; a wrong token is refused; a bearer token opens the pages; a
// session is a cookie, and logging out ends it.
func TestAccess(t *testing.T) {
	w := newWorld(t)
	anon := w.client(t)
	for _, p := range []string{"/", "/conflicts", "/deadletters", "/status", "/audit"} {
		code, body, resp := do(t, anon, "GET", w.srv.URL+p, nil, nil)
		loc := resp.Header.Get("Location")
		if code != http.StatusSeeOther || (loc != "/login" && !(p == "/" && loc == "/conflicts")) {
			t.Errorf("GET %s without a session: %d to %q, want the login page", p, code, loc)
		}
		if strings.Contains(body, "Ada") {
			t.Errorf("GET %s without a session shows a record", p)
		}
	}
	for _, p := range []string{"/conflicts/1/resolve", "/deadletters/r1/retry", "/deadletters/r1/discard", "/logout"} {
		if code, _, _ := do(t, anon, "POST", w.srv.URL+p, url.Values{"action": {"take"}, "take": {"crm"}}, nil); code != http.StatusUnauthorized {
			t.Errorf("POST %s without a session: %d, want 401", p, code)
		}
	}
	if code, body, _ := do(t, anon, "POST", w.srv.URL+"/login", url.Values{"token": {"correct-horse-battery-stapler"}}, nil); code != http.StatusUnauthorized || !strings.Contains(body, "not the console") {
		t.Errorf("login with a wrong token: %d\n%s", code, body)
	}
	if code, _, _ := do(t, anon, "GET", w.srv.URL+"/conflicts", nil, map[string]string{"Authorization": "Bearer nope-nope-nope-nope"}); code != http.StatusUnauthorized {
		t.Errorf("a wrong bearer token: %d, want 401", code)
	}
	if code, body, _ := do(t, anon, "GET", w.srv.URL+"/conflicts", nil, map[string]string{"Authorization": "Bearer " + token}); code != http.StatusOK || !strings.Contains(body, "Ada King") {
		t.Errorf("the bearer token: %d", code)
	}
	if code, _, _ := do(t, anon, "GET", w.srv.URL+"/conflicts", nil, map[string]string{"Cookie": cookieName + "=forged"}); code != http.StatusSeeOther {
		t.Errorf("a made-up session cookie: %d, want the login page", code)
	}
	c := w.client(t)
	csrf := w.login(t, c)
	if code, body, _ := do(t, c, "GET", w.srv.URL+"/conflicts", nil, nil); code != http.StatusOK || !strings.Contains(body, "Ada King") {
		t.Fatalf("logged in: %d", code)
	}
	if code, _, _ := do(t, c, "POST", w.srv.URL+"/logout", url.Values{"csrf": {csrf}}, nil); code != http.StatusSeeOther {
		t.Errorf("logout: %d", code)
	}
	if code, _, _ := do(t, c, "GET", w.srv.URL+"/conflicts", nil, nil); code != http.StatusSeeOther {
		t.Errorf("after logout: %d, want the login page", code)
	}
}

// TestCSRF: a POST of a session needs the session's token, and any POST
// from another site is refused before it is read; nothing is decided.
func TestCSRF(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	csrf := w.login(t, c)
	resolve := w.srv.URL + "/conflicts/1/resolve"
	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
	}{
		{"no token", url.Values{"action": {"take"}, "take": {"crm"}}, nil},
		{"a wrong token", url.Values{"action": {"take"}, "take": {"crm"}, "csrf": {csrf + "x"}}, nil},
		{"another session's token", url.Values{"action": {"take"}, "take": {"crm"}, "csrf": {w.login(t, w.client(t))}}, nil},
		{"from another site", url.Values{"action": {"take"}, "take": {"crm"}, "csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"another origin", url.Values{"action": {"take"}, "take": {"crm"}, "csrf": {csrf}}, map[string]string{"Origin": "https://evil.example"}},
		{"a bearer from another site", url.Values{"action": {"take"}, "take": {"crm"}}, map[string]string{"Sec-Fetch-Site": "cross-site", "Authorization": "Bearer " + token}},
	} {
		if code, body, _ := do(t, c, "POST", resolve, tc.form, tc.header); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403\n%s", tc.name, code, body)
		}
		if code, _, _ := do(t, c, "POST", w.srv.URL+"/deadletters/"+w.dead+"/discard", tc.form, tc.header); code != http.StatusForbidden {
			t.Errorf("%s: discard: %d, want 403", tc.name, code)
		}
	}
	cs, err := w.store.Conflicts(context.Background(), true)
	if err != nil || len(cs) != 3 {
		t.Fatalf("open conflicts after refused POSTs: %d, %v; want all 3", len(cs), err)
	}
	if ds, _ := w.store.DeadLetters(context.Background()); len(ds) != 1 {
		t.Fatalf("dead letters after refused POSTs: %d, want 1", len(ds))
	}
	// The same form, same-origin, goes through.
	code, _, _ := do(t, c, "POST", resolve, url.Values{"action": {"take"}, "take": {"crm"}, "csrf": {csrf}}, map[string]string{"Origin": w.srv.URL, "Sec-Fetch-Site": "same-origin"})
	if code != http.StatusSeeOther {
		t.Fatalf("same-origin POST with the token: %d", code)
	}
}

// TestHeaders: every answer, the login page's and the 401's included,
// carries the strict CSP and the other security headers.
func TestHeaders(t *testing.T) {
	w := newWorld(t)
	for _, p := range []string{"/login", "/conflicts", "/console.css", "/nonesuch"} {
		_, _, resp := do(t, w.client(t), "GET", w.srv.URL+p, nil, nil)
		got := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "style-src 'self'", "form-action 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(got, want) {
				t.Errorf("%s: CSP %q lacks %s", p, got, want)
			}
		}
		if strings.Contains(got, "unsafe") || strings.Contains(got, "script-src") && !strings.Contains(got, "script-src 'self'") {
			t.Errorf("%s: CSP %q allows more than the console's own", p, got)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", p, resp.Header)
		}
	}
	code, css, resp := do(t, w.client(t), "GET", w.srv.URL+"/console.css", nil, nil)
	if code != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || !strings.Contains(css, ".card") {
		t.Errorf("console.css: %d %s", code, resp.Header.Get("Content-Type"))
	}
}

// TestEscapesAndMasks: hostile values are text on the page, bidi controls
// are shown as escapes, and a sensitive field's values are masked on the
// conflicts and dead-letter pages; the page links no outside asset.
func TestEscapesAndMasks(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	w.login(t, c)
	_, page, _ := do(t, c, "GET", w.srv.URL+"/conflicts", nil, nil)
	_, dead, _ := do(t, c, "GET", w.srv.URL+"/deadletters", nil, nil)
	for _, bad := range []string{"<script>document", "<img src=x", "\u202e", "222-22-2222", "333-33-3333", "111-11-1111"} {
		if strings.Contains(page, bad) {
			t.Errorf("the conflicts page holds %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;", `\u202e`, mapping.Masked} {
		if !strings.Contains(page, want) {
			t.Errorf("the conflicts page lacks %q", want)
		}
	}
	if strings.Contains(dead, "444-44-4444") || !strings.Contains(dead, mapping.Masked) || !strings.Contains(dead, "email: not text") {
		t.Errorf("dead letters page: the sensitive value not masked, or the reason missing:\n%s", dead)
	}
	// Escaped text holds no raw <, so every <…> is a real tag.
	bad := regexp.MustCompile(`(?i)^<(script|iframe|object|embed)|\s(src|href)="?(https?:)?//|\son[a-z]+=`)
	for _, p := range []string{page, dead} {
		for _, tag := range regexp.MustCompile(`<[a-zA-Z][^>]*>`).FindAllString(p, -1) {
			if bad.MatchString(tag) {
				t.Errorf("a page has a script, an outside asset or a handler: %s", tag)
			}
		}
	}
}

// TestResolveThroughTheConsole: taking a side, entering a value, and a
// refused decision, each as tandem resolve would decide it, recorded in
// the audit trail as the console's.
func TestResolveThroughTheConsole(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	csrf := w.login(t, c)
	post := func(id int64, form url.Values) string {
		form.Set("csrf", csrf)
		code, _, resp := do(t, c, "POST", w.srv.URL+"/conflicts/"+itoa(id)+"/resolve", form, nil)
		if code != http.StatusSeeOther || resp.Header.Get("Location") != "/conflicts" {
			t.Fatalf("resolve %d: %d", id, code)
		}
		_, page, _ := do(t, c, "GET", w.srv.URL+"/conflicts", nil, nil)
		m := regexp.MustCompile(`<p class="flash[^"]*" role="status">([^<]*)</p>`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no outcome shown after resolve %d:\n%s", id, page)
		}
		return m[1]
	}
	if msg := post(w.field, url.Values{"action": {"take"}, "take": {"nonesuch"}}); !strings.Contains(msg, "the sides are [crm other]") {
		t.Errorf("taking a side that is not there: %q", msg)
	}
	if msg := post(w.field, url.Values{"action": {"take"}, "take": {"other"}}); !strings.Contains(msg, "resolved (other)") {
		t.Errorf("take other: %q", msg)
	}
	if msg := post(w.taxField, url.Values{"action": {"value"}, "value": {"555-55-5555"}}); !strings.Contains(msg, "resolved (value)") {
		t.Errorf("a value: %q", msg)
	}
	if msg := post(w.field, url.Values{"action": {"take"}, "take": {"crm"}}); !strings.Contains(msg, "only open conflicts") {
		t.Errorf("deciding a decided conflict again: %q", msg)
	}
	ctx := context.Background()
	g, err := w.store.Golden(ctx, w.entity)
	if err != nil || g["name"].Value != "Ada Byron" || g["tax_id"].Value != "555-55-5555" {
		t.Fatalf("golden after the decisions: %+v, %v", g, err)
	}
	audit, err := w.store.AuditLog(ctx, 0)
	if err != nil || len(audit) != 2 {
		t.Fatalf("audit: %+v, %v; want the two decisions", audit, err)
	}
	for _, e := range audit {
		if !strings.HasPrefix(e.Actor, "console (127.0.0.1:") || e.Action != "resolve" {
			t.Errorf("audit entry %+v: want a resolve by the console", e)
		}
		if strings.Contains(e.Detail, "555-55-5555") {
			t.Errorf("audit entry %+v shows the sensitive value", e)
		}
	}
	_, page, _ := do(t, c, "GET", w.srv.URL+"/audit", nil, nil)
	if !strings.Contains(page, "console (127.0.0.1:") || !strings.Contains(page, "--take other") {
		t.Errorf("the audit page lacks the decisions:\n%s", page)
	}
}

// TestDeadLettersThroughTheConsole: retry asks for the record to be read
// again (an inbox event, as tandem deadletters retry does) and discard
// forgets another; both are in the audit trail as the console's.
func TestDeadLettersThroughTheConsole(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.store.Update(ctx, func(tx *state.Tx) error {
		return tx.AddDeadLetter(ctx, "other", "folks", "o7", []byte(`not json`), "not JSON")
	}); err != nil {
		t.Fatal(err)
	}
	c := w.client(t)
	csrf := w.login(t, c)
	_, page, _ := do(t, c, "GET", w.srv.URL+"/deadletters", nil, nil)
	ds, _ := w.store.DeadLetters(ctx)
	if len(ds) != 2 {
		t.Fatalf("dead letters: %+v", ds)
	}
	other := ds[0].ID
	if other == w.dead {
		other = ds[1].ID
	}
	for _, id := range []string{w.dead, other} {
		if !strings.Contains(page, `action="/deadletters/`+id+`/retry"`) || !strings.Contains(page, `action="/deadletters/`+id+`/discard"`) {
			t.Errorf("no retry or discard button for %s", id)
		}
	}
	for _, a := range []struct{ id, action, want string }{
		{w.dead, "retry", "crm people record c9 to be read again"},
		{other, "discard", other + ": discarded."},
		{other, "discard", "no dead letter " + other},
		{"x1", "retry", "want w&lt;number&gt;"},
	} {
		code, _, _ := do(t, c, "POST", w.srv.URL+"/deadletters/"+a.id+"/"+a.action, url.Values{"csrf": {csrf}}, nil)
		_, page, _ := do(t, c, "GET", w.srv.URL+"/deadletters", nil, nil)
		if code != http.StatusSeeOther || !strings.Contains(page, a.want) {
			t.Errorf("%s %s: %d, page lacks %q", a.action, a.id, code, a.want)
		}
	}
	if ds, _ := w.store.DeadLetters(ctx); len(ds) != 0 {
		t.Errorf("dead letters left: %+v", ds)
	}
	if n, _ := w.store.InboxDepth(ctx, "crm", "people"); n != 1 {
		t.Errorf("inbox holds %d events for crm, want the record to read again", n)
	}
	audit, _ := w.store.AuditLog(ctx, 0)
	var got []string
	for _, e := range audit {
		if strings.HasPrefix(e.Actor, "console (") {
			got = append(got, e.Action)
		}
	}
	if strings.Join(got, ",") != "discard,retry" {
		t.Errorf("audit actions by the console %v, want discard and retry", got)
	}
	// A bearer's action answers in plain text, not a redirect.
	if err := w.store.Update(ctx, func(tx *state.Tx) error {
		return tx.AddDeadLetter(ctx, "crm", "people", "c10", []byte(`{}`), "bad")
	}); err != nil {
		t.Fatal(err)
	}
	ds, _ = w.store.DeadLetters(ctx)
	code, body, _ := do(t, w.client(t), "POST", w.srv.URL+"/deadletters/"+ds[0].ID+"/discard", url.Values{}, map[string]string{"Authorization": "Bearer " + token})
	if code != http.StatusOK || !strings.Contains(body, "discarded") {
		t.Errorf("discard with a bearer: %d %s", code, body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestParseTokens(t *testing.T) {
	for _, c := range []struct {
		in    string
		names []string
		err   string
	}{
		{"correct-horse-battery-staple", []string{""}, ""},
		{" alice:0123456789abcdef  bob:fedcba9876543210\n", []string{"alice", "bob"}, ""},
		{"", nil, TokenEnv},
		{"alice:short", nil, "too short"},
		{"al ice:0123456789abcdef", nil, "too short"},
		{"a/b:0123456789abcdef", nil, "not a token's name"},
		{":0123456789abcdef", nil, "not a token's name"},
		{"a:0123456789abcdef a:fedcba9876543210", nil, "two tokens named"},
	} {
		ts, err := ParseTokens(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseTokens(%q) = %v, want an error with %q", c.in, err, c.err)
			}
			continue
		}
		var names []string
		for _, tk := range ts {
			names = append(names, tk.Name)
		}
		if err != nil || !slices.Equal(names, c.names) {
			t.Errorf("ParseTokens(%q) = %v, %v; want %v", c.in, names, err, c.names)
		}
	}
}

// A named token's actions are audited under its name, by a session or a
// bearer.
func TestNamedTokenInTheAudit(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	code, _, _ := do(t, c, "POST", w.srv.URL+"/login", url.Values{"token": {aliceToken}}, nil)
	if code != http.StatusSeeOther {
		t.Fatalf("login with alice's token: %d", code)
	}
	_, page, _ := do(t, c, "GET", w.srv.URL+"/conflicts", nil, nil)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on the page")
	}
	do(t, c, "POST", fmt.Sprintf("%s/conflicts/%d/resolve", w.srv.URL, w.field), url.Values{"action": {"take"}, "take": {"other"}, "csrf": {m[1]}}, nil)
	audit, err := w.store.AuditLog(context.Background(), 0)
	if err != nil || len(audit) != 1 || !strings.HasPrefix(audit[0].Actor, "console alice (127.0.0.1:") {
		t.Fatalf("audit %+v, %v: want one resolve by console alice", audit, err)
	}
}
