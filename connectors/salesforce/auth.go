package salesforce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
//
// A session comes from the client-credentials flow, or, when the app was
// given a refresh token, from the refresh-token flow. Either way the
// connected app proves itself with its consumer secret; during a rotation
// there are two, and the one the token endpoint accepts is kept first.
type tokenSource struct {
	clientID string
	tokenURL string
	client   *http.Client // for token calls, with the system's timeout
	log      *slog.Logger

	mu      sync.Mutex // held across a fetch, so concurrent calls share one
	tok     *oauth2.Token
	secrets []string // the consumer secrets, the one that last worked first
	refresh string   // the refresh token, when byRefresh
	// byRefresh: the refresh-token flow, rather than client credentials.
	byRefresh bool
}

// allRefused is the token endpoint's invalid_client for every one of
// several secrets.
type allRefused struct{ error }

func (e allRefused) Unwrap() error { return e.error }

// token returns the session, fetching one when there is none.
func (s *tokenSource) token(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok.Valid() {
		return s.tok, nil
	}
	var first error
	for i, secret := range s.secrets {
		tok, err := s.fetch(ctx, secret)
		if err == nil {
			if i > 0 {
				// The other secret was refused: the app's secret has been
				// rotated. Keep to this one; the log names neither.
				s.secrets = append([]string{secret}, append(s.secrets[:i:i], s.secrets[i+1:]...)...)
				s.log.Warn("salesforce: the token endpoint refused client_secret (invalid_client) and accepted the next one; make it client_secret in the config")
			}
			if tok.RefreshToken != "" && tok.RefreshToken != s.refresh {
				// The org rotates refresh tokens (a connected-app setting):
				// the old one is spent, use the new one from now on.
				s.refresh = tok.RefreshToken
			}
			s.tok = tok
			return tok, nil
		}
		if first == nil {
			first = err
		}
		if !invalidClient(err) {
			return nil, err
		}
	}
	if len(s.secrets) > 1 {
		return nil, allRefused{first}
	}
	return nil, first
}

// fetch asks the token endpoint for a session with one consumer secret.
func (s *tokenSource) fetch(ctx context.Context, secret string) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, s.client)
	// Salesforce documents the credentials in the form body; sending them
	// there spares the second attempt auto-detection would make.
	if !s.byRefresh {
		conf := clientcredentials.Config{ClientID: s.clientID, ClientSecret: secret, TokenURL: s.tokenURL, AuthStyle: oauth2.AuthStyleInParams}
		return conf.Token(ctx)
	}
	conf := oauth2.Config{ClientID: s.clientID, ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: s.tokenURL, AuthStyle: oauth2.AuthStyleInParams}}
	// A token with no access token is expired to oauth2, so this is one
	// grant_type=refresh_token call.
	return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: s.refresh}).Token()
}

func invalidClient(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_client"
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
		both := errors.As(err, new(allRefused))
		switch e.Code {
		case "invalid_client_id", "invalid_client":
			switch {
			case both:
				e.Message += " (check client_id, and client_secret and client_secret_next: both were refused)"
			case c.tokens.byRefresh:
				e.Message += " (check client_id and client_secret)"
			default:
				e.Message += " (check client_id and client_secret, and that the connected app allows the client credentials flow)"
			}
		case "invalid_grant":
			if c.tokens.byRefresh {
				e.Message += " (the refresh token is expired, revoked or spent: authorize the app again and update refresh_token)"
			}
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
