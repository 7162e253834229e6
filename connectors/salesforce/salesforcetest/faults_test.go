package salesforcetest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// answers sends n token requests straight to the handler and returns the
// status each got.
func answers(e *Emulator, n int) []int {
	out := make([]int, n)
	for i := range out {
		req := httptest.NewRequest("POST", "/services/oauth2/token",
			strings.NewReader("grant_type=client_credentials&client_id=test-client-id&client_secret=test-client-secret"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		out[i] = w.Code
	}
	return out
}

func TestFaultsDeterministic(t *testing.T) {
	f := Faults{Rate: 0.1, Seed: 42, Kinds: []Fault{Fault500, Fault502, Fault503}}
	e := New(Options{Faults: f})
	first := answers(e, 500)
	if again := answers(New(Options{Faults: f}), 500); !slices.Equal(first, again) {
		t.Fatal("the same seed failed different requests")
	}
	f.Seed = 43
	if other := answers(New(Options{Faults: f}), 500); slices.Equal(first, other) {
		t.Fatal("another seed failed the same requests")
	}
	failed := map[int]int{}
	for _, s := range first {
		failed[s]++
	}
	n := 500 - failed[200]
	if n < 30 || n > 70 || failed[500] == 0 || failed[502] == 0 || failed[503] == 0 || len(failed) != 4 {
		t.Fatalf("answers %v of 500 at a rate of 0.1", failed)
	}
	if e.Faulted() != n || e.Served() != 500-n {
		t.Errorf("Faulted %d, Served %d; want %d, %d", e.Faulted(), e.Served(), n, 500-n)
	}
	for _, r := range e.Requests() {
		if (r.Fault != "") != (r.Status != 200) || (r.Fault != "" && r.Status != r.Fault.Status()) {
			t.Fatalf("logged as %+v", r)
		}
	}
	e.SetFaults(Faults{})
	if s := answers(e, 50); slices.ContainsFunc(s, func(s int) bool { return s != 200 }) {
		t.Errorf("faults turned off, yet %v", s)
	}
}

func TestFaultAnswers(t *testing.T) {
	tests := []struct {
		fault  Fault
		status int
		check  func(body string) bool
	}{
		{Fault500, 500, func(b string) bool {
			r := gjson.Parse(b)
			return r.Get("0.errorCode").String() == "UNKNOWN_EXCEPTION" && regexp.MustCompile(
				`^An unexpected error occurred\. Please include this ErrorId if you contact support: \d+-\d+ \(-\d+\)$`).MatchString(r.Get("0.message").String())
		}},
		{Fault502, 502, func(b string) bool { return strings.Contains(b, "<h1>502 Bad Gateway</h1>") }},
		{Fault503, 503, func(b string) bool {
			return b == `[{"message":"Server too busy","errorCode":"SERVER_UNAVAILABLE"}]`
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			e := New(Options{Faults: Faults{Rate: 1, Kinds: []Fault{tt.fault}}})
			w := httptest.NewRecorder()
			e.ServeHTTP(w, httptest.NewRequest("GET", dataPrefix+"query?q=SELECT+Id+FROM+Contact", nil))
			if w.Code != tt.status || !tt.check(w.Body.String()) {
				t.Errorf("%d %s", w.Code, w.Body)
			}
			if w.Header().Get("Sforce-Limit-Info") != "" {
				t.Errorf("a failed request counted against the limit")
			}
		})
	}
}

// createContact sends a collection create through a real connection.
func createContact(ctx context.Context, s *Server, token, last string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+dataPrefix+"composite/sobjects",
		strings.NewReader(body(false, contact(`"LastName":"`+last+`"`))))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return resp.StatusCode, err
}

func TestFaultsApplyNothing(t *testing.T) {
	tests := []struct {
		name   string
		faults Faults
		status int // 0: the client gets an error
	}{
		{"500", Faults{Rate: 1, Kinds: []Fault{Fault500}}, 500},
		{"502", Faults{Rate: 1, Kinds: []Fault{Fault502}}, 502},
		{"503", Faults{Rate: 1, Kinds: []Fault{Fault503}}, 503},
		{"reset", Faults{Rate: 1, Kinds: []Fault{FaultReset}}, 0},
		{"timeout, held for a while", Faults{Rate: 1, Kinds: []Fault{FaultTimeout}, Hold: time.Millisecond}, 0},
		{"timeout, until the client gives up", Faults{Rate: 1, Kinds: []Fault{FaultTimeout}}, 0},
		{"latency the client does not wait out", Faults{Latency: time.Hour}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newClient(t, Options{})
			c.s.ResetRequests()
			c.s.SetFaults(tt.faults)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			status, err := createContact(ctx, c.s, c.token, "Lovelace")
			if tt.status == 0 && err == nil {
				t.Fatalf("the client got an answer: %d", status)
			}
			if tt.status != 0 && (err != nil || status != tt.status) {
				t.Fatalf("got %d, %v; want %d", status, err, tt.status)
			}
			if n := len(c.s.List("Contact")); n != 0 {
				t.Errorf("the failed create was applied: %d contacts", n)
			}
			if c.s.Writes() != 0 {
				t.Errorf("Writes %d: the API saw the failed create", c.s.Writes())
			}
			if r := c.s.Requests()[0]; r.Status != tt.status || r.Method != "POST" {
				t.Errorf("logged as %+v", r)
			}
			c.s.SetFaults(Faults{})
			if _, _, hdr := c.do("GET", dataPrefix+"query?q=SELECT+Id+FROM+Contact", nil); hdr.Get("Sforce-Limit-Info") != "api-usage=1/15000" {
				t.Errorf("the failed call counted against the limit: %s", hdr.Get("Sforce-Limit-Info"))
			}
		})
	}
}

func TestResetAfterCommit(t *testing.T) {
	c, _ := newClient(t, Options{})
	c.s.SetFaults(Faults{Rate: 1, Kinds: []Fault{FaultResetAfterCommit}})
	if status, err := createContact(context.Background(), c.s, c.token, "Lovelace"); err == nil {
		t.Fatalf("the client got an answer: %d", status)
	}
	if recs := c.s.List("Contact"); len(recs) != 1 || recs[0].Fields["LastName"] != "Lovelace" {
		t.Fatalf("the create was not applied: %+v", recs)
	}
	c.s.SetFaults(Faults{})
	// Sent again, as a client that cannot tell would: a second record.
	if status, err := createContact(context.Background(), c.s, c.token, "Lovelace"); err != nil || status != 200 {
		t.Fatalf("retry: %d %v", status, err)
	}
	if n := len(c.s.List("Contact")); n != 2 {
		t.Errorf("%d contacts after a blind retry, want 2", n)
	}
	reqs := c.s.Requests()
	if r := reqs[1]; r.Fault != FaultResetAfterCommit || r.Status != 200 || c.s.Writes() != 2 || c.s.Faulted() != 1 {
		t.Errorf("logged as %+v; Writes %d, Faulted %d", r, c.s.Writes(), c.s.Faulted())
	}
}

func TestCloseLetsHeldRequestsGo(t *testing.T) {
	for _, f := range []Faults{
		{Rate: 1, Kinds: []Fault{FaultTimeout}},
		{Latency: time.Hour},
	} {
		s := NewServer(Options{Faults: f})
		done := make(chan error, 1)
		go func() {
			_, err := createContact(context.Background(), s, "any", "Lovelace") // a client that never gives up
			done <- err
		}()
		// Requests are logged on arrival, before they are delayed or held.
		for deadline := time.Now().Add(10 * time.Second); len(s.Requests()) == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the request never arrived")
			}
		}
		s.Close() // returns only once the held request has ended
		if err := <-done; err == nil {
			t.Errorf("%+v: the held request got an answer", f)
		}
	}
}

func TestFaultOptionsChecked(t *testing.T) {
	for _, f := range []Faults{{Rate: 2}, {Rate: -1}, {Rate: 0.5, Kinds: []Fault{"418"}}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%+v accepted", f)
				}
			}()
			New(Options{Faults: f})
		}()
	}
}
