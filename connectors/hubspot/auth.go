package hubspot

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"unicode"

	"tandem/connectors"
)

// Credentials. A private app has one access token at a time, but rotating
// it in HubSpot ("Rotate token") leaves the old one working for a while
// (or not at all, for "rotate and expire now"), and the new one must reach
// every place that calls the API. So the connector accepts two: the one it
// uses and, during a rotation, the other. A 401 with the one in use is
// tried once more with the other; if HubSpot takes it, the connector keeps
// it from then on. Neither ever goes into a log line, an error or a
// config message.

// tokens holds the token in use and the other one of a rotation ("" when
// there is none). A Client is shared by every pass and writer of its
// system, so the swap is locked.
type tokens struct {
	mu    sync.Mutex
	cur   string
	other string
}

// get returns the token in use and the other one.
func (t *tokens) get() (cur, other string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cur, t.other
}

// promote makes good the token in use, after HubSpot refused bad and took
// good. It reports whether it changed anything: another call may have
// swapped them already.
func (t *tokens) promote(bad, good string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur != bad || t.other != good {
		return false
	}
	t.cur, t.other = good, bad
	return true
}

// load sets the tokens from the config: token or token_file (one of them),
// and the other token of a rotation from token_next or the file's second
// line (one of them). Errors name the key, never the value.
func (t *tokens) load(cfg connectors.Config, o options) error {
	switch {
	case o.Token != "" && o.TokenFile != "":
		return cfg.Errorf("token_file", "set token or token_file, not both")
	case o.TokenFile != "":
		cur, next, err := readTokenFile(o.TokenFile)
		if err != nil {
			return cfg.Errorf("token_file", "%v", err)
		}
		if next != "" && o.TokenNext != "" {
			return cfg.Errorf("token_next", "the next token is already the second line of token_file; set one or the other")
		}
		t.cur, t.other = cur, next
	case o.Token != "":
		if err := checkToken(o.Token); err != nil {
			return cfg.Errorf("token", "%v", err)
		}
		t.cur = o.Token
	default:
		return cfg.Errorf("token", "required: the private app token, as token: ${HUBSPOT_TOKEN}, or a file that holds it as token_file")
	}
	if o.TokenNext != "" {
		if err := checkToken(o.TokenNext); err != nil {
			return cfg.Errorf("token_next", "%v", err)
		}
		t.other = o.TokenNext
	}
	if t.other == t.cur {
		t.other = ""
	}
	return nil
}

// checkToken refuses what cannot be a token: a value with whitespace or
// control characters inside would at best be refused by HubSpot, at worst
// split a header. The value is never shown.
func checkToken(v string) error {
	if strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("contains whitespace or control characters (value not shown)")
	}
	return nil
}

// readTokenFile reads a token file: the token on its first line and,
// during a rotation, the next one on a second line. Lines are trimmed and
// empty lines skipped, so a trailing newline or a secret mounted with
// CRLF endings reads the same.
func readTokenFile(path string) (cur, next string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		// The path is the user's own; the error of os.ReadFile names it
		// and the reason, never the content.
		return "", "", err
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	switch len(lines) {
	case 0:
		return "", "", fmt.Errorf("%s is empty: it must hold the private app token on its first line", path)
	case 1:
		cur = lines[0]
	case 2:
		cur, next = lines[0], lines[1]
	default:
		return "", "", fmt.Errorf("%s has %d lines: it holds the token and, during a rotation, the next one on a second line; nothing else", path, len(lines))
	}
	for i, v := range []string{cur, next} {
		if err := checkToken(v); err != nil {
			return "", "", fmt.Errorf("%s line %d %v", path, i+1, err)
		}
	}
	return cur, next, nil
}
