package connectors

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// What the client writes to logs and errors never holds a secret. Secrets
// travel in headers (Authorization, cookies, signatures), in query strings
// (api keys, signed URLs, OAuth codes) and in user info; so a URL is cut
// down to scheme, host and path, and no header value is ever written but
// the response's correlation id.

// urlPath is the path of a URL, for logs: no host, no query.
func urlPath(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	if u.Path == "" {
		return "/"
	}
	return u.Path
}

// redactURL is a URL without its user info, query and fragment.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// redactErr strips the URL inside err (net/http wraps every transport
// failure in a *url.Error that prints the whole URL) down to redactURL.
func redactErr(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if ue == err {
		return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: ue.Err}
	}
	// Wrapped deeper: its text is already built around the URL.
	return errors.New(strings.ReplaceAll(err.Error(), ue.URL, redactURL(ue.URL)))
}

// correlationHeaders name the response headers that identify a request to
// the vendor's support, in order of preference. HubSpot sends
// X-HubSpot-Correlation-Id. Salesforce documents no such response header
// (Sforce-Call-Options is a request header naming the client), so its
// lines carry X-Request-Id when a proxy adds one, else nothing.
var correlationHeaders = []string{"X-HubSpot-Correlation-Id", "X-Request-Id"}

// correlationID is the response's correlation id, clipped: it is the one
// header value that is logged.
func correlationID(h http.Header) string {
	for _, k := range correlationHeaders {
		if v := h.Get(k); v != "" {
			if len(v) > 128 {
				v = v[:128]
			}
			return v
		}
	}
	return ""
}
