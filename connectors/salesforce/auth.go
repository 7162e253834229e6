package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"tandem"
)

// errAuth marks a failure to obtain a session: every further call would
// fail the same way, so Apply stops at it.
var errAuth = errors.New("authentication failed")

// tokenSource holds the org's session. Salesforce's token response carries
// no expires_in, so a token looks valid forever to oauth2; the only sign of
// its end is a 401 INVALID_SESSION_ID, after which invalidate drops it and
// the next call fetches another. (oauth2.ReuseTokenSource cannot be told to
// forget a token, hence this type.)
type tokenSource struct {
	conf   *clientcredentials.Config
	client *http.Client // for token calls, with the system's timeout

	mu  sync.Mutex // held across a fetch, so concurrent calls share one
	tok *oauth2.Token
}

// Token serves oauth2.Transport. Calls first go through token with their
// own context, so this normally returns the cached token.
func (s *tokenSource) Token() (*oauth2.Token, error) { return s.token(context.Background()) }

func (s *tokenSource) token(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok.Valid() {
		return s.tok, nil
	}
	tok, err := s.conf.Token(context.WithValue(ctx, oauth2.HTTPClient, s.client))
	if err != nil {
		return nil, err
	}
	s.tok = tok
	return tok, nil
}

// invalidate forgets the session if it is still the one a call was refused
// with; a newer one fetched meanwhile by another call is kept.
func (s *tokenSource) invalidate(access string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.AccessToken == access {
		s.tok = nil
	}
}

// tokenError turns a failed token call into a *tandem.Error. It copies
// what the token endpoint said and does not wrap oauth2's error: that one
// holds the HTTP exchange, whose request carried the client secret.
func (c *Client) tokenError(ctx context.Context, err error) error {
	e := &tandem.Error{Op: "get access token", System: c.system, Err: errAuth}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response != nil {
			e.Status = re.Response.StatusCode
		}
		e.Code, e.Message = re.ErrorCode, re.ErrorDescription
		switch e.Code {
		case "invalid_client_id", "invalid_client":
			e.Message += " (check client_id and client_secret, and that the connected app allows the client credentials flow)"
		case "":
			e.Message = http.StatusText(e.Status)
		}
		e.Retryable = e.Status == http.StatusTooManyRequests || e.Status >= 500
		return e
	}
	// The error names the token URL, never the credentials.
	e.Err = fmt.Errorf("%w: %w", errAuth, err)
	var ue *url.Error
	if errors.As(err, &ue) {
		// No answer at all (network, timeout): the org may be back later.
		e.Retryable = ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded)
	}
	// Otherwise an answer that is no token (say, an HTML page at a wrong
	// token_url): trying again will not help.
	return e
}
