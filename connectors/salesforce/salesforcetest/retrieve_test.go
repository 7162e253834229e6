package salesforcetest

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// TestRetrieve holds GET and POST composite/sobjects/{Object} to what
// Salesforce documents: records in the order of ids, null for an id that
// names no live record, 400 for an unknown field, 2,000 ids at most.
func TestRetrieve(t *testing.T) {
	c, _ := newClient(t, Options{ExtraFields: map[string][]string{"Contact": {"Nickname__c"}}})
	e := c.s.Emulator
	a := mustCreate(t, e, "Contact", map[string]any{"LastName": "Ada", "Nickname__c": "Al"})
	d := mustCreate(t, e, "Contact", map[string]any{"LastName": "Gone"})
	if err := e.Delete("Contact", d); err != nil {
		t.Fatal(err)
	}
	acct := mustCreate(t, e, "Account", map[string]any{"Name": "Acme"})
	missing := mintID("003", 999)
	badSum := a[:15] + "999" // 18 characters, but 9 is no checksum character

	ids := func(list ...string) string { return strings.Join(list, ",") }
	body := func(ids, fields []string) string {
		b, _ := json.Marshal(map[string][]string{"ids": ids, "fields": fields})
		return string(b)
	}
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = a
		}
		return out
	}
	const path = dataPrefix + "composite/sobjects/"

	tests := []struct {
		name, method, path, body string
		noToken                  bool
		status                   int
		code                     string   // errorCode of a failed request
		want                     []string // per id: the LastName of the record, or "null"
	}{
		{name: "GET, in the order of ids; deleted, missing, malformed, other object: null",
			method: "GET", path: path + "Contact?ids=" + ids(a, d, missing, badSum, "garbage", acct, a[:15], strings.ToLower(a)) + "&fields=id,lastname,Nickname__c",
			status: 200, want: []string{"Ada", "null", "null", "null", "null", "null", "Ada", "Ada"}},
		{name: "POST, ids in the body",
			method: "POST", path: path + "Contact", body: body([]string{missing, a}, []string{"Id", "LastName"}),
			status: 200, want: []string{"null", "Ada"}},
		{name: "object name in any case",
			method: "GET", path: path + "contact?ids=" + a + "&fields=LastName", status: 200, want: []string{"Ada"}},
		{name: "POST, 2000 ids",
			method: "POST", path: path + "Contact", body: body(many(2000), []string{"LastName"}), status: 200, want: slices.Repeat([]string{"Ada"}, 2000)},
		{name: "POST, 2001 ids",
			method: "POST", path: path + "Contact", body: body(many(2001), []string{"LastName"}), status: 400, code: "EXCEEDED_ID_LIMIT"},
		{name: "GET, 2001 ids in a URL that fits",
			method: "GET", path: path + "Contact?fields=Id&ids=" + strings.TrimSuffix(strings.Repeat("x,", 2001), ","), status: 400, code: "EXCEEDED_ID_LIMIT"},
		{name: "unknown field",
			method: "GET", path: path + "Contact?ids=" + a + "&fields=Id,Foo__c", status: 400, code: "INVALID_FIELD"},
		{name: "unknown field, POST",
			method: "POST", path: path + "Contact", body: body([]string{a}, []string{"Foo__c"}), status: 400, code: "INVALID_FIELD"},
		{name: "no fields",
			method: "GET", path: path + "Contact?ids=" + a, status: 400, code: "MISSING_ARGUMENT"},
		{name: "no ids",
			method: "POST", path: path + "Contact", body: `{"fields":["Id"]}`, status: 400, code: "MISSING_ARGUMENT"},
		{name: "body not JSON",
			method: "POST", path: path + "Contact", body: `{"ids":[`, status: 400, code: "JSON_PARSER_ERROR"},
		{name: "ids not strings",
			method: "POST", path: path + "Contact", body: `{"ids":[1],"fields":["Id"]}`, status: 400, code: "JSON_PARSER_ERROR"},
		{name: "unknown object",
			method: "GET", path: path + "Lead?ids=" + a + "&fields=Id", status: 404, code: "NOT_FOUND"},
		{name: "other API version",
			method: "GET", path: "/services/data/v61.0/composite/sobjects/Contact?ids=" + a + "&fields=Id", status: 404, code: "NOT_FOUND"},
		{name: "no session",
			method: "GET", path: path + "Contact?ids=" + a + "&fields=Id", noToken: true, status: 401, code: "INVALID_SESSION_ID"},
		{name: "PATCH is not a retrieve",
			method: "PATCH", path: path + "Contact", body: `{}`, status: 405, code: "METHOD_NOT_ALLOWED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := c.token
			if tt.noToken {
				c.token = ""
				defer func() { c.token = token }()
			}
			var b any
			if tt.body != "" {
				b = tt.body
			}
			st, res, hdr := c.do(tt.method, tt.path, b)
			if st != tt.status {
				t.Fatalf("status %d, want %d: %s", st, tt.status, clipped(res.Raw))
			}
			if tt.code != "" {
				if errorCode(res) != tt.code || res.Get("0.message").String() == "" {
					t.Fatalf("error %s, want %s with a message", clipped(res.Raw), tt.code)
				}
				return
			}
			if !strings.HasPrefix(hdr.Get("Sforce-Limit-Info"), "api-usage=") {
				t.Errorf("Sforce-Limit-Info %q", hdr.Get("Sforce-Limit-Info"))
			}
			got := res.Array()
			if len(got) != len(tt.want) {
				t.Fatalf("%d elements for %d ids: %s", len(got), len(tt.want), clipped(res.Raw))
			}
			for i, r := range got {
				name := "null"
				if r.Type != gjson.Null {
					name = r.Get("LastName").String()
				}
				if name != tt.want[i] {
					t.Fatalf("element %d is %s, want %s", i, r.Raw, tt.want[i])
				}
			}
		})
	}

	// The shape of one record: attributes first, then the fields asked
	// for, spelled as the API spells them, in the order asked.
	_, res, _ := c.do("GET", path+"Contact?ids="+a+"&fields=nickname__c,ID,Id", nil)
	want := `[{"attributes":{"type":"Contact","url":"` + dataPrefix + `sobjects/Contact/` + a + `"},"Nickname__c":"Al","Id":"` + a + `"}]`
	if res.Raw != want {
		t.Errorf("record:\n got %s\nwant %s", res.Raw, want)
	}
	e.ResetRequests()
	if st, _, _ := c.do("POST", path+"Contact", body([]string{a}, []string{"Id"})); st != 200 || e.Writes() != 0 {
		t.Errorf("a POST retrieve (%d) counted as %d writes", st, e.Writes())
	}
}

// TestRetrieveURLTooLong: a GET retrieve holds about 800 ids before its
// URL is refused with 414, in front of the API.
func TestRetrieveURLTooLong(t *testing.T) {
	c, _ := newClient(t, Options{})
	id := mustCreate(t, c.s.Emulator, "Contact", map[string]any{"LastName": "Ada"})
	get := func(n int) int {
		ids := strings.TrimSuffix(strings.Repeat(id+",", n), ",")
		req, _ := http.NewRequest("GET", c.s.URL+dataPrefix+"composite/sobjects/Contact?fields=Id&ids="+ids, nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if st := get(800); st != 200 {
		t.Fatalf("800 ids: %d", st)
	}
	if st := get(900); st != http.StatusRequestURITooLong {
		t.Fatalf("900 ids: %d, want 414", st)
	}
}

// TestRetrieveDailyLimit: a retrieve is an API call like any other.
func TestRetrieveDailyLimit(t *testing.T) {
	c, _ := newClient(t, Options{DailyLimit: 1})
	id := mustCreate(t, c.s.Emulator, "Contact", map[string]any{"LastName": "Ada"})
	p := dataPrefix + "composite/sobjects/Contact?fields=Id&ids=" + id
	if st, _, hdr := c.do("GET", p, nil); st != 200 || hdr.Get("Sforce-Limit-Info") != "api-usage=1/1" {
		t.Fatalf("first call: %d %q", st, hdr.Get("Sforce-Limit-Info"))
	}
	if st, res, _ := c.do("GET", p, nil); st != 403 || errorCode(res) != "REQUEST_LIMIT_EXCEEDED" {
		t.Fatalf("second call: %d %s", st, res.Raw)
	}
}

func clipped(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
