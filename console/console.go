// Package console is the daemon's conflict console: a few HTML pages on
// the admin listener where a person sees the conflicts held for them, the
// dead letters and the daemon's status, and decides with a click what
// tandem resolve and tandem deadletters decide on the command line —
// through the same code (conflict.Engine's Resolve, Retry and Discard),
// recorded in the same audit trail, with sensitive fields masked as
// tandem conflicts masks them.
//
// Access is by a token from the environment (one, or several named ones,
// one per person, so the audit trail says who): a login form trades it for
// a session cookie (HttpOnly, SameSite=Strict), or a script sends it as a
// bearer header. Every POST is checked for its origin (Sec-Fetch-Site,
// Origin: net/http's CrossOriginProtection) and, in a session, for the
// session's CSRF token in a hidden field. The pages load nothing from
// elsewhere and run no script: the templates and the style sheet are
// embedded, every value goes through html/template, and a strict Content
// Security Policy forbids the rest.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"tandem"
	"tandem/conflict"
	"tandem/mapping"
	"tandem/mapping/config"
	"tandem/schedules"
	"tandem/state"
)

// TokenEnv is the environment variable the console's token is read from
// (by cmd/tandem).
const TokenEnv = "TANDEM_CONSOLE_TOKEN"

// MinTokenLength is the shortest token accepted: it is all that stands
// between the network and every record's values.
const MinTokenLength = 16

// Store is what the console reads from the state file (a *state.Store).
type Store interface {
	Conflicts(ctx context.Context, openOnly bool) ([]tandem.Conflict, error)
	Conflict(ctx context.Context, id int64) (*tandem.Conflict, *state.Pending, error)
	Golden(ctx context.Context, entityID string) (tandem.Golden, error)
	DeadLetters(ctx context.Context) ([]state.DeadLetter, error)
	DeadLetter(ctx context.Context, id string) (*state.DeadLetter, error)
	AuditLog(ctx context.Context, limit int) ([]state.AuditEntry, error)
}

// Actions are the decisions the console carries out: the CLI's own code
// paths (a *conflict.Engine over the daemon's state file).
type Actions interface {
	Resolve(ctx context.Context, ent *mapping.Entity, id int64, d conflict.Decision) (*tandem.Conflict, error)
	Retry(ctx context.Context, cfg *config.Config, d state.DeadLetter, actor string) (string, error)
	Discard(ctx context.Context, actor string, ids ...string) error
}

var (
	_ Store   = (*state.Store)(nil)
	_ Actions = (*conflict.Engine)(nil)
)

// Console serves the console's pages. Make one with New.
type Console struct {
	cfg     *config.Config
	store   Store
	actions Actions
	health  func(*http.Request) schedules.Healthz
	log     *slog.Logger
	tokens  []Token // compared as hashes: in constant time, whatever the lengths
	now     func() time.Time
	tries   *rate.Limiter // wrong tokens: a guesser gets a few a second

	mu       sync.Mutex
	sessions map[string]*session
}

// session is one browser's login.
type session struct {
	who     string // the name of the token logged in with ("" for an unnamed one)
	csrf    string
	expires time.Time
	flash   string // the outcome of the last action, shown once
	failed  bool
}

// sessionTTL is how long a login lasts.
const sessionTTL = 12 * time.Hour

const cookieName = "tandem_console"

// Options are a console's parts. Config, Store, Actions and Token are
// required.
type Options struct {
	Config  *config.Config
	Store   Store
	Actions Actions
	// Health is the daemon's status (schedules.Daemon.Health); nil: the
	// status page says there is none.
	Health func(*http.Request) schedules.Healthz
	Log    *slog.Logger
	Token  string
	Now    func() time.Time // default time.Now
}

// ErrNoToken is New's error when the token is missing.
var ErrNoToken = errors.New("the console needs a token: set " + TokenEnv + " (e.g. to the output of 'openssl rand -hex 32'), or remove admin: from the config")

// Token is one token the console takes, and whose it is.
type Token struct {
	Name string // "" for an unnamed token
	sum  [sha256.Size]byte
}

// ParseTokens reads the token variable: one token, or several entries
// separated by spaces, each TOKEN or NAME:TOKEN (a name of letters,
// digits, '.', '_' and '-'), each of MinTokenLength characters at least.
// A named token's actions are audited under its name.
func ParseTokens(s string) ([]Token, error) {
	var out []Token
	seen := map[string]bool{}
	for _, e := range strings.Fields(s) {
		name, tok, named := strings.Cut(e, ":")
		if !named {
			name, tok = "", e
		}
		switch {
		case named && (name == "" || strings.IndexFunc(name, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r))
		}) >= 0):
			return nil, fmt.Errorf("%s: %q is not a token's name (letters, digits, '.', '_', '-')", TokenEnv, name)
		case len(tok) < MinTokenLength:
			return nil, fmt.Errorf("%s: a token is too short (%d characters): the console wants %d at least (e.g. 'openssl rand -hex 32')", TokenEnv, len(tok), MinTokenLength)
		case seen[name]:
			return nil, fmt.Errorf("%s: two tokens named %q", TokenEnv, name)
		}
		seen[name] = true
		out = append(out, Token{Name: name, sum: sha256.Sum256([]byte(tok))})
	}
	if len(out) == 0 {
		return nil, ErrNoToken
	}
	return out, nil
}

// New makes a console. It refuses an empty or short token.
func New(o Options) (*Console, error) {
	tokens, err := ParseTokens(o.Token)
	switch {
	case err != nil:
		return nil, err
	case o.Config == nil || o.Store == nil || o.Actions == nil:
		return nil, errors.New("console: Config, Store and Actions are required")
	}
	c := &Console{cfg: o.Config, store: o.Store, actions: o.Actions, health: o.Health, log: o.Log,
		tokens: tokens, now: o.Now, tries: rate.NewLimiter(2, 5), sessions: map[string]*session{}}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Handler serves the console: every response with the security headers,
// every POST checked for a cross-origin request first.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /console.css", http.FileServerFS(static))
	mux.HandleFunc("GET /login", c.loginPage)
	mux.HandleFunc("POST /login", c.login)
	mux.Handle("POST /logout", c.authed(c.logout))
	mux.Handle("GET /{$}", http.RedirectHandler("/conflicts", http.StatusSeeOther))
	mux.Handle("GET /conflicts", c.authed(c.conflictsPage))
	mux.Handle("POST /conflicts/{id}/resolve", c.authed(c.resolve))
	mux.Handle("GET /deadletters", c.authed(c.deadLettersPage))
	mux.Handle("POST /deadletters/{id}/retry", c.authed(c.retry))
	mux.Handle("POST /deadletters/{id}/discard", c.authed(c.discard))
	mux.Handle("GET /status", c.authed(c.statusPage))
	mux.Handle("GET /audit", c.authed(c.auditPage))
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return headers(cop.Handler(mux))
}

// csp lets a page use the console's own style sheet and nothing else: no
// script at all, no frame, no form posting elsewhere. If a value ever
// slipped past html/template's escaping, the browser would still run and
// fetch nothing for it.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxForm is the largest request body read.
const maxForm = 64 << 10

func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm) // the forms are a few fields
		}
		h.ServeHTTP(w, r)
	})
}

// request is an authenticated request: its session (nil for a bearer),
// and the name of its token.
type request struct {
	*http.Request
	s   *session
	who string
}

// actor is who a console action is recorded as: the console, the name of
// the token (when it has one) and where the request came from.
func (r request) actor() string {
	if r.who != "" {
		return "console " + r.who + " (" + r.RemoteAddr + ")"
	}
	return "console (" + r.RemoteAddr + ")"
}

// authed lets a request through with a valid bearer header, or a live
// session whose CSRF token a POST carries; otherwise a page is sent to
// the login form and anything else answered 401 (403 for a POST without
// the session's CSRF token).
func (c *Console) authed(h func(http.ResponseWriter, request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if auth := r.Header.Get("Authorization"); auth != "" {
			tok, ok := bearer(auth)
			who, valid := c.valid(r.Context(), tok)
			if !ok || !valid {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tandem console"`)
				http.Error(w, "wrong token", http.StatusUnauthorized)
				return
			}
			// A browser never adds this header by itself, so a forged
			// cross-site request cannot carry it: no CSRF token needed.
			h(w, request{r, nil, who})
			return
		}
		s := c.session(r)
		if s == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			c.mu.Lock()
			want := s.csrf
			c.mu.Unlock()
			got := r.PostFormValue("csrf")
			if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
				http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		c.mu.Lock()
		who := s.who
		c.mu.Unlock()
		h(w, request{r, s, who})
	})
}

func bearer(auth string) (string, bool) {
	const prefix = "Bearer "
	if len(auth) <= len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return "", false
	}
	return auth[len(prefix):], true
}

// valid reports whether tok is one of the console's tokens, and whose,
// comparing hashes in constant time (every token, whichever matches); a
// wrong one waits its turn of the limiter first, so guesses come a few a
// second at most.
func (c *Console) valid(ctx context.Context, tok string) (string, bool) {
	sum := sha256.Sum256([]byte(tok))
	who, ok := "", false
	for _, t := range c.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			who, ok = t.Name, true
		}
	}
	if !ok {
		c.tries.Wait(ctx)
	}
	return who, ok
}

// session is the request's live session, nil when it has none.
func (c *Console) session(r *http.Request) *session {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[ck.Value]
	if s == nil {
		return nil
	}
	if c.now().After(s.expires) {
		delete(c.sessions, ck.Value)
		return nil
	}
	return s
}

// newSession starts a session and sets its cookie.
func (c *Console) newSession(w http.ResponseWriter, r *http.Request, who string) {
	id, csrf := random(), random()
	now := c.now()
	c.mu.Lock()
	for k, s := range c.sessions { // forget the expired ones
		if now.After(s.expires) {
			delete(c.sessions, k)
		}
	}
	c.sessions[id] = &session{who: who, csrf: csrf, expires: now.Add(sessionTTL)}
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: int(sessionTTL / time.Second)})
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.session(r) != nil {
		http.Redirect(w, r, "/conflicts", http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "login", page{Title: "Log in"})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	who, ok := c.valid(r.Context(), r.PostFormValue("token"))
	if !ok {
		c.log.Warn("console: login refused: wrong token", "remote", r.RemoteAddr)
		c.render(w, r, http.StatusUnauthorized, "login", page{Title: "Log in", Error: "That is not the console's token."})
		return
	}
	c.newSession(w, r, who)
	c.log.Info("console: logged in", "remote", r.RemoteAddr, "token", who)
	http.Redirect(w, r, "/conflicts", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r request) {
	if ck, err := r.Cookie(cookieName); err == nil {
		c.mu.Lock()
		delete(c.sessions, ck.Value)
		c.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r.Request, "/login", http.StatusSeeOther)
}

// done ends an action: its outcome is kept for the next page of the
// session (or written out, for a bearer), and the browser sent back to
// the page it came from, so a reload sends nothing again.
func (c *Console) done(w http.ResponseWriter, r request, back, msg string, err error) {
	if err != nil {
		msg = err.Error()
		c.log.Warn("console: action failed", "path", r.URL.Path, "actor", r.actor(), "err", err)
	} else {
		c.log.Info("console: "+msg, "actor", r.actor())
	}
	if r.s == nil {
		code := http.StatusOK
		if err != nil {
			code = http.StatusUnprocessableEntity
		}
		http.Error(w, msg, code)
		return
	}
	c.mu.Lock()
	r.s.flash, r.s.failed = msg, err != nil
	c.mu.Unlock()
	http.Redirect(w, r.Request, back, http.StatusSeeOther)
}
