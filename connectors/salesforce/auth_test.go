package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tandem"
	"tandem/connectors"
	"tandem/connectors/salesforce/salesforcetest"
)

func countToken(f *fixture) (tokens, unauthorized int) {
	for _, r := range f.sf.Requests() {
		switch {
		case r.Path == "/services/oauth2/token":
			tokens++
		case r.Status == http.StatusUnauthorized:
			unauthorized++
		}
	}
	return
}

func TestExpiredSessionIsRenewed(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{TokenTTL: time.Hour})
	f.create(t, "Contact", map[string]any{"LastName": "A"})
	if got := f.pull(t, "Contact", "").ids(); len(got) != 1 {
		t.Fatalf("first pull: %v", got)
	}
	f.clk.Add(2 * time.Hour)
	if got := f.pull(t, "Contact", "").ids(); len(got) != 1 {
		t.Fatalf("pull after expiry: %v", got)
	}
	if tokens, unauth := countToken(f); tokens != 2 || unauth != 1 {
		t.Fatalf("%d token calls and %d refused calls, want 2 and 1", tokens, unauth)
	}

	// Sessions revoked by an admin: the write is made once, after renewal.
	f.sf.RevokeTokens()
	f.sf.ResetRequests()
	res := mustApply(t, f, "Contact", creates(1, "after-revoke"))
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if tokens, unauth := countToken(f); tokens != 1 || unauth != 1 || len(f.sf.List("Contact")) != 2 {
		t.Fatalf("%d token calls, %d refused, %d contacts", tokens, unauth, len(f.sf.List("Contact")))
	}
}

func TestBadCredentials(t *testing.T) {
	sf := salesforcetest.NewServer(salesforcetest.Options{ClientSecret: "the-real-secret"})
	defer sf.Close()
	const wrong = "wrong-secret-do-not-print"
	c, err := NewClient("sf", Options{InstanceURL: sf.URL, ClientID: "test-client-id", ClientSecret: wrong})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pullErr := c.Pull(ctx, tandem.Query{Object: "Contact"}, func(tandem.Page) error { return nil })
	_, applyErr := c.Apply(ctx, "Contact", creates(1, "x"))
	for name, err := range map[string]error{"pull": pullErr, "apply": applyErr} {
		var te *tandem.Error
		if !errors.As(err, &te) || te.Retryable || te.Code != "invalid_client" || te.Status != 400 {
			t.Fatalf("%s: %#v", name, err)
		}
		msg := fmt.Sprintf("%v %+v %#v", err, err, te)
		if strings.Contains(msg, wrong) || strings.Contains(msg, "the-real-secret") {
			t.Fatalf("%s: the error shows the secret: %s", name, msg)
		}
		if !strings.Contains(err.Error(), "client_secret") {
			t.Fatalf("%s: the error does not say what to check: %v", name, err)
		}
	}
	// Each call tried once: a refused secret is not retried.
	if n := len(sf.Requests()); n != 2 {
		t.Fatalf("%d requests, want one token call per operation", n)
	}
}

// flaky fails the first n API calls with status, then passes to the
// emulator.
func flaky(e http.Handler, n int32, status int, body string) http.Handler {
	var seen atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/services/data/") && seen.Add(1) <= n {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
			return
		}
		e.ServeHTTP(w, r)
	})
}

func TestServerErrorsAreRetried(t *testing.T) {
	e := salesforcetest.New(salesforcetest.Options{})
	e.Create("Contact", map[string]any{"LastName": "A"})
	srv := httptest.NewServer(flaky(e, 2, http.StatusServiceUnavailable, "<html>maintenance</html>"))
	defer srv.Close()
	c, err := NewClient("sf", Options{InstanceURL: srv.URL, ClientID: "test-client-id", ClientSecret: "test-client-secret"})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	err = c.Pull(context.Background(), tandem.Query{Object: "Contact"}, func(p tandem.Page) error { n += len(p.Records); return nil })
	if err != nil || n != 1 {
		t.Fatalf("pull through two 503s: %v, %d records", err, n)
	}
}

func TestErrorClassification(t *testing.T) {
	c := &Client{system: "sf"}
	tests := []struct {
		status    int
		body      string
		code      string
		retryable bool
		msg       string
	}{
		{400, `[{"message":"unexpected token","errorCode":"MALFORMED_QUERY"}]`, "MALFORMED_QUERY", false, "unexpected token"},
		{400, `[{"message":"unable to obtain exclusive access to this record","errorCode":"UNABLE_TO_LOCK_ROW"}]`, "UNABLE_TO_LOCK_ROW", true, "exclusive access"},
		{403, `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`, "REQUEST_LIMIT_EXCEEDED", true, "Limit exceeded"},
		{503, `[{"message":"down","errorCode":"SERVER_UNAVAILABLE"}]`, "SERVER_UNAVAILABLE", true, "down"},
		{500, `[{"message":"An unexpected error occurred","errorCode":"UNKNOWN_EXCEPTION"}]`, "UNKNOWN_EXCEPTION", true, "unexpected error"},
		{429, `too many`, "", true, "Too Many Requests: too many"},
		{502, `<html>bad gateway</html>`, "", true, "Bad Gateway: <html>"},
		{404, `[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]`, "NOT_FOUND", false, "does not exist"},
		{400, `[{"message":"No such column","errorCode":"INVALID_FIELD","fields":["Foo"]}]`, "INVALID_FIELD", false, "(fields: Foo)"},
	}
	for _, tt := range tests {
		err := c.apiError("op", &connectors.Response{Status: tt.status, Body: []byte(tt.body)})
		var te *tandem.Error
		if !errors.As(err, &te) || te.Status != tt.status || te.Code != tt.code || te.Retryable != tt.retryable || !strings.Contains(te.Message, tt.msg) {
			t.Errorf("%d %s: got %#v", tt.status, tt.body, err)
		}
	}
}
