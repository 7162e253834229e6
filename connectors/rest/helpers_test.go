package rest

import (
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"go.yaml.in/yaml/v3"

	"tandem/connectors"
	"tandem/connectors/conformance"
)

// config is a config section as the config file would give it.
func config(t testing.TB, text string) connectors.Config {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	return connectors.Config{Name: "crm", Type: "rest", File: "tandem.yaml", Node: doc.Content[0]}
}

// openConfig opens a connector from a config text, failing the test on
// an error.
func openConfig(t testing.TB, text string) *Client {
	t.Helper()
	c, err := open(config(t, text), connectors.HTTPOptions{WaitMin: 10e6, WaitMax: 2e9})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// front puts the conformance proxy in front of a real server, so the
// suite can fail requests, lose an answer or spoil a record there too.
func front(t testing.TB, target string) (*conformance.Proxy, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := conformance.NewProxy(httputil.NewSingleHostReverseProxy(u))
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}
