package hubspottest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// statuses sends n list requests straight to the handler and returns what
// each got (502 and 503 are not JSON, so not for do).
func statuses(t *testing.T, e *Emulator, n int) []int {
	t.Helper()
	out := make([]int, n)
	for i := range out {
		req := httptest.NewRequest("GET", "/crm/v3/objects/contacts", nil)
		req.Header.Set("Authorization", "Bearer test-token")
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		out[i] = w.Code
	}
	return out
}

func TestFaultsDeterministic(t *testing.T) {
	answers := []Fault{Fault500, Fault502, Fault503} // the ones a recorder can take
	f := Faults{Rate: 0.3, Seed: 7, Kinds: answers}
	e := New(Options{Faults: f})
	first := statuses(t, e, 300)
	again := statuses(t, New(Options{Faults: f}), 300)
	if !slices.Equal(first, again) {
		t.Fatalf("the same seed failed different requests")
	}
	f.Seed = 8
	if other := statuses(t, New(Options{Faults: f}), 300); slices.Equal(first, other) {
		t.Fatalf("another seed failed the same requests")
	}

	failed := map[int]int{}
	for _, s := range first {
		if s != 200 {
			failed[s]++
		}
	}
	n := failed[500] + failed[502] + failed[503]
	if n < 60 || n > 120 || failed[500] == 0 || failed[502] == 0 || failed[503] == 0 || len(failed) != 3 {
		t.Fatalf("failures %v of 300 at a rate of 0.3", failed)
	}
	if e.Faulted() != n || e.Served() != 300-n {
		t.Errorf("Faulted %d, Served %d; want %d, %d", e.Faulted(), e.Served(), n, 300-n)
	}
	// A failed request never reached the API, so it used no allowance.
	e.SetFaults(Faults{})
	c := do(t, e, "GET", "/crm/v3/objects/contacts", nil)
	if got, want := c.header.Get("X-HubSpot-RateLimit-Daily-Remaining"), fmt.Sprint(defaultDailyMax-(300-n)-1); got != want {
		t.Errorf("Daily-Remaining %s, want %s: failed requests were counted", got, want)
	}
	logged := 0
	for _, r := range e.Requests() {
		if r.Fault != "" {
			logged++
			if r.Status != r.Fault.Status() {
				t.Errorf("request logged as %+v", r)
			}
		}
	}
	if logged != e.Faulted() {
		t.Errorf("%d requests logged with a fault, want %d", logged, e.Faulted())
	}
	if s := statuses(t, e, 50); slices.ContainsFunc(s, func(s int) bool { return s != 200 }) {
		t.Errorf("faults turned off, yet %v", s)
	}
}

func TestFaultAnswers(t *testing.T) {
	tests := []struct {
		fault       Fault
		status      int
		contentType string
		body        string
	}{
		{Fault500, 500, "application/json;charset=utf-8", `"message":"internal error"`},
		{Fault502, 502, "text/html", "<h1>502 Bad Gateway</h1>"},
		{Fault503, 503, "text/html", "<h1>503 Service Unavailable</h1>"},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			e := New(Options{Faults: Faults{Rate: 1, Kinds: []Fault{tt.fault}}})
			req := httptest.NewRequest("GET", "/crm/v3/objects/contacts", nil)
			w := httptest.NewRecorder()
			e.ServeHTTP(w, req)
			if w.Code != tt.status || w.Header().Get("Content-Type") != tt.contentType || !strings.Contains(w.Body.String(), tt.body) {
				t.Errorf("%d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
			}
			if tt.fault == Fault500 && (strings.Contains(w.Body.String(), "category") || !strings.Contains(w.Body.String(), `"correlationId"`)) {
				t.Errorf("not a recorded HubSpot 500: %s", w.Body)
			}
		})
	}
}

// create posts one contact through a real connection and returns the
// client's error, if any.
func create(ctx context.Context, s *Server, email string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/crm/v3/objects/contacts",
		strings.NewReader(`{"properties":{"email":"`+email+`"}}`))
	req.Header.Set("Authorization", "Bearer test-token")
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
			s := NewServer(Options{Faults: tt.faults})
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			status, err := create(ctx, s, "ann@example.com")
			if tt.status == 0 && err == nil {
				t.Fatalf("the client got an answer: %d", status)
			}
			if tt.status != 0 && (err != nil || status != tt.status) {
				t.Fatalf("got %d, %v; want %d", status, err, tt.status)
			}
			s.SetFaults(Faults{})
			if list := do(t, s.Emulator, "GET", "/crm/v3/objects/contacts", nil); len(list.body.Get("results").Array()) != 0 {
				t.Errorf("the failed create was applied: %s", list.raw)
			}
			if s.Writes() != 0 {
				t.Errorf("Writes %d: the API saw the failed create", s.Writes())
			}
			if r := s.Requests()[0]; r.Status != tt.status || r.Method != "POST" {
				t.Errorf("logged as %+v", r)
			}
		})
	}
}

func TestResetAfterCommit(t *testing.T) {
	s := NewServer(Options{Faults: Faults{Rate: 1, Kinds: []Fault{FaultResetAfterCommit}}})
	defer s.Close()
	if status, err := create(context.Background(), s, "ann@example.com"); err == nil {
		t.Fatalf("the client got an answer: %d", status)
	}
	s.SetFaults(Faults{})
	list := do(t, s.Emulator, "GET", "/crm/v3/objects/contacts?properties=email", nil)
	if got := list.body.Get("results.#.properties.email").String(); got != `["ann@example.com"]` {
		t.Fatalf("the create was not applied: %s", list.raw)
	}
	// Sent again, as a client that cannot tell would: a second record.
	if status, err := create(context.Background(), s, "bob@example.com"); err != nil || status != 201 {
		t.Fatalf("retry: %d %v", status, err)
	}
	r := s.Requests()[0]
	if r.Fault != FaultResetAfterCommit || r.Status != 201 || s.Writes() != 2 || s.Faulted() != 1 || s.Served() != 3 {
		t.Errorf("logged as %+v; Writes %d, Faulted %d, Served %d", r, s.Writes(), s.Faulted(), s.Served())
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
			_, err := create(context.Background(), s, "ann@example.com") // a client that never gives up
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
	for _, f := range []Faults{{Rate: 1.5}, {Rate: -0.1}, {Rate: 0.5, Kinds: []Fault{"teapot"}}} {
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
