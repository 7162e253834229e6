// Package spectest checks HTTP exchanges with HubSpot's CRM objects API
// against HubSpot's published OpenAPI documents (../shared/specs/hubspot
// next to the repository root). Only tests import it, so kin-openapi stays
// out of the binaries.
package spectest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Checker validates requests and responses of one server.
type Checker struct {
	routers map[string]routers.Router // by object type
	opts    *openapi3filter.Options
	skipped int
}

// dir finds ../shared/specs/hubspot beside the folder holding go.mod.
func dir() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "..", "shared", "specs", "hubspot"), nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		d = parent
	}
}

// New loads the contacts and companies documents for a server at
// serverURL, and skips the test when they are not there.
func New(t testing.TB, serverURL string) *Checker {
	t.Helper()
	d, err := dir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, "contacts-v3.json")); err != nil {
		t.Skipf("HubSpot specs not found at %s: spec conformance not checked", d)
	}
	c := &Checker{routers: map[string]routers.Router{}, opts: &openapi3filter.Options{
		IncludeResponseStatus: true, // a status the spec does not list is a mismatch
		MultiError:            true,
		// The documents declare oauth2; the server under test checks the
		// bearer token itself.
		AuthenticationFunc: func(context.Context, *openapi3filter.AuthenticationInput) error { return nil },
	}}
	for _, object := range []string{"contacts", "companies"} {
		r, err := load(filepath.Join(d, object+"-v3.json"), serverURL)
		if err != nil {
			t.Fatal(err)
		}
		c.routers[object] = r
	}
	return c
}

// load reads one document, corrected where it is looser or stricter than
// the API it describes:
//   - servers point at the server under test instead of api.hubapi.com;
//   - property values may be null: HubSpot returns a requested property
//     that has no value as null, which the generated schema does not allow;
//   - sorts take {propertyName, direction} objects, as HubSpot documents
//     and accepts, besides the plain strings the generated schema lists.
func load(path, serverURL string) (routers.Router, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	doc.Servers = openapi3.Servers{{URL: serverURL}}
	schemas := doc.Components.Schemas
	for _, name := range []string{"SimplePublicObject", "SimplePublicObjectWithAssociations", "SimplePublicUpsertObject"} {
		schemas[name].Value.Properties["properties"].Value.AdditionalProperties.Schema.Value.Nullable = true
	}
	sortObject := openapi3.NewObjectSchema().
		WithProperty("propertyName", openapi3.NewStringSchema()).
		WithProperty("direction", openapi3.NewStringSchema().WithEnum("ASCENDING", "DESCENDING")).
		WithRequired([]string{"propertyName"})
	schemas["PublicObjectSearchRequest"].Value.Properties["sorts"].Value.Items = openapi3.NewOneOfSchema(openapi3.NewStringSchema(), sortObject).NewRef()
	if err := doc.Validate(loader.Context, openapi3.DisableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("%s does not validate: %w", path, err)
	}
	return gorillamux.NewRouter(doc)
}

// Exchange is one request and its response.
type Exchange struct {
	Method, URL  string // URL: the server's URL plus path and query
	Header       http.Header
	Body         []byte
	Status       int
	RespHeader   http.Header
	RespBody     []byte
	InvalidInput bool // the request is meant to break the spec: check only the response
}

// Check validates the request (unless InvalidInput) and the response.
//
// The documents cover the objects API (/crm/v3/objects/...) and nothing
// else, so an exchange with any other path, such as the properties API
// (/crm/v3/properties/...) that Describe reads, is skipped: Check returns
// nil and counts it in Skipped. Failing it would only say the documents
// are missing, and checking it against a document that does not describe
// it would say nothing true.
func (c *Checker) Check(x Exchange) error {
	i := strings.Index(x.URL, "/crm/v3/objects/")
	if i < 0 {
		c.skipped++
		return nil
	}
	u := strings.TrimPrefix(x.URL[i:], "/crm/v3/objects/")
	object, _, _ := strings.Cut(u, "/")
	object, _, _ = strings.Cut(object, "?")
	router := c.routers[object]
	if router == nil {
		return fmt.Errorf("%s %s: no spec for object type %q", x.Method, x.URL, object)
	}
	req, err := http.NewRequest(x.Method, x.URL, bytes.NewReader(x.Body))
	if err != nil {
		return err
	}
	req.Header = x.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if len(x.Body) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: not in the spec: %w", x.Method, x.URL, err)
	}
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: c.opts}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && !x.InvalidInput {
		return fmt.Errorf("%s %s: request does not conform: %w\n%s", x.Method, x.URL, err, x.Body)
	}
	if x.Status == 0 {
		return nil // request only
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.Status, Header: x.RespHeader, Options: c.opts}
	out.SetBodyBytes(x.RespBody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("%s %s: %d response does not conform: %w\n%s", x.Method, x.URL, x.Status, err, x.RespBody)
	}
	return nil
}

// Skipped is the number of exchanges Check skipped for want of a spec.
func (c *Checker) Skipped() int { return c.skipped }

// Do sends a request with client and checks the exchange.
func (c *Checker) Do(client *http.Client, req *http.Request, invalidInput bool) (int, []byte, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, respBody, c.Check(Exchange{
		Method: req.Method, URL: req.URL.String(), Header: req.Header, Body: body,
		Status: resp.StatusCode, RespHeader: resp.Header, RespBody: respBody, InvalidInput: invalidInput,
	})
}
