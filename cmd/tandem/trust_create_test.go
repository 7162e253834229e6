package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/salesforce/salesforcetest"
	"tandem/state"
)

// The regression tests of issue 11's creates and identities (cases 5, 6, 7
// and 10): a create that meets a record a person made, a create whose
// answer was lost, a match key edited onto another person's, and a split
// entity. Each drives `tandem` end to end on the emulators, with the race
// forced by wrapping an emulator's handler.

// trustWorld is the two emulators behind optional wrappers, a config and
// the state file.
// one returns the one contact each system holds, and fails the test
// when either holds another number (a duplicate, or a lost person).
func (w *trustWorld) one(t *testing.T) (hubspottest.Object, salesforcetest.Record) {
	t.Helper()
	hs, sf := w.hs.List("contacts"), w.sf.List("Contact")
	if len(hs) != 1 || len(sf) != 1 {
		t.Fatalf("HubSpot holds %d contacts, Salesforce %d; want 1 each (no duplicate, nobody lost)", len(hs), len(sf))
	}
	return hs[0], sf[0]
}

// wantEmails fails the test unless both systems' one contact has email.
func (w *trustWorld) wantEmails(t *testing.T, email string) {
	t.Helper()
	h, s := w.one(t)
	if h.Properties["email"] != email || str(s.Fields["Email"]) != email {
		t.Errorf("emails: HubSpot %q, Salesforce %q; want the person's %q in both", h.Properties["email"], str(s.Fields["Email"]), email)
	}
}

type trustWorld struct {
	hs     *hubspottest.Emulator
	sf     *salesforcetest.Emulator
	config string
	state  string
	// before and after, when set, run around each request the emulator
	// serves (under no lock): a person's edit at a chosen moment, or a
	// lost answer (after returns false: the request was served, and the
	// connection is dropped instead of answered).
	mu                 sync.Mutex
	hsBefore, sfBefore func(r *http.Request)
	hsAfter, sfAfter   func(r *http.Request) bool
	// hsRewrite, when set, changes the body of HubSpot's answers (a
	// search index that lags).
	hsRewrite func(r *http.Request, body []byte) []byte

	// now is both emulators' clock: it stands still but for later, which
	// each person's action calls first, so every edit is stamped after
	// what came before it, by whole seconds (Salesforce stamps to the
	// second): the newest policy decides the same way on every run.
	clockMu sync.Mutex
	now     time.Time
}

func (w *trustWorld) clock() time.Time {
	w.clockMu.Lock()
	defer w.clockMu.Unlock()
	return w.now
}

// later moves the clock on, before a person's action.
func (w *trustWorld) later() {
	w.clockMu.Lock()
	defer w.clockMu.Unlock()
	w.now = w.now.Add(2 * time.Second)
}

func newTrustWorld(t *testing.T) *trustWorld {
	t.Helper()
	w := &trustWorld{now: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	w.hs = hubspottest.New(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-token", RateLimit: loopbackRate, Now: w.clock})
	w.sf = salesforcetest.New(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret", Now: w.clock})
	t.Cleanup(w.hs.Close)
	t.Cleanup(w.sf.Close)
	wrap := func(h http.Handler, hooks func() (before func(*http.Request), after func(*http.Request) bool, rewrite func(*http.Request, []byte) []byte)) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			w.mu.Lock()
			before, after, rewrite := hooks()
			w.mu.Unlock()
			if before != nil {
				before(r)
			}
			if after == nil && rewrite == nil {
				h.ServeHTTP(rw, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if after != nil && !after(r) {
				panic(http.ErrAbortHandler) // served, and the answer lost
			}
			body := rec.Body.Bytes()
			if rewrite != nil {
				body = rewrite(r, body)
			}
			for k, v := range rec.Header() {
				rw.Header()[k] = v
			}
			rw.Header().Del("Content-Length")
			rw.WriteHeader(rec.Code)
			rw.Write(body)
		}))
	}
	hsSrv := wrap(w.hs, func() (func(*http.Request), func(*http.Request) bool, func(*http.Request, []byte) []byte) {
		return w.hsBefore, w.hsAfter, w.hsRewrite
	})
	t.Cleanup(hsSrv.Close)
	sfSrv := wrap(w.sf, func() (func(*http.Request), func(*http.Request) bool, func(*http.Request, []byte) []byte) {
		return w.sfBefore, w.sfAfter, nil
	})
	t.Cleanup(sfSrv.Close)
	dir := t.TempDir()
	w.config = reproConfig(t, dir, hsSrv.URL, sfSrv.URL, nil, []string{"email", "first_name", "last_name"},
		[]string{"conflict: { policy: newest, clock_tolerance: 0s }"})
	w.state = filepath.Join(dir, "tandem.db")
	return w
}

func (w *trustWorld) sync(t *testing.T) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := execute([]string{"sync", "--config", w.config}, &out, &errb); code != 0 {
		t.Fatalf("tandem sync: exit %d\n%s", code, errb.String())
	}
}

func (w *trustWorld) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := execute(append(args, "--config", w.config), &out, &errb)
	return out.String() + errb.String(), code
}

// conflicts lists every conflict recorded, open or not.
func (w *trustWorld) conflicts(t *testing.T) []tandem.Conflict {
	t.Helper()
	st, err := state.OpenReadOnly(w.state)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.Conflicts(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func (w *trustWorld) deadLetters(t *testing.T) int {
	t.Helper()
	st, err := state.OpenReadOnly(w.state)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	for _, so := range [][2]string{{"hubspot", "contacts"}, {"salesforce", "Contact"}} {
		s, err := st.Status(context.Background(), so[0], so[1])
		if err != nil {
			t.Fatal(err)
		}
		n += s.DeadLetters
	}
	return n
}

func isUpsert(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/batch/upsert")
}

// TestTrustLostCreateAnswerEmailChange (case 6): Tandem creates Ann in
// HubSpot, the answer is lost, and a person changes her email in HubSpot
// before the next pass. The next passes must find that record again (it
// carries Tandem's key) instead of taking it for a new person and creating
// Ann a second time under her old email.
func TestTrustLostCreateAnswerEmailChange(t *testing.T) {
	w := newTrustWorld(t)
	w.later()
	if _, err := w.sf.Create("Contact", map[string]any{"Email": "ann@example.com", "FirstName": "Ann", "LastName": "Lee"}); err != nil {
		t.Fatal(err)
	}
	w.hsAfter = func(r *http.Request) bool { return !isUpsert(r) } // every create answer of this pass is lost
	w.sync(t)
	w.hsAfter = nil
	hs := w.hs.List("contacts")
	if len(hs) != 1 {
		t.Fatalf("HubSpot holds %d contacts after the lost answer, want the 1 created", len(hs))
	}
	w.later()
	if err := w.hs.Update("contacts", hs[0].ID, map[string]any{"email": "ann.lee@example.com"}); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	w.sync(t)
	w.wantEmails(t, "ann.lee@example.com")
}

// TestTrustLostCreateAnswerEmailChangeSalesforce (case 6, the other way):
// Tandem's create in Salesforce, keyed on its External ID field, loses its
// answer, and a person changes the email there. The record holds Tandem's
// key, so the next pass links it instead of making a second Ann.
func TestTrustLostCreateAnswerEmailChangeSalesforce(t *testing.T) {
	w := newTrustWorld(t)
	w.later()
	if _, err := w.hs.Create("contacts", map[string]any{"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee"}); err != nil {
		t.Fatal(err)
	}
	w.sfAfter = func(r *http.Request) bool {
		return !(r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/composite/sobjects/Contact/"))
	}
	// The pass fails (Salesforce unreachable, as far as Tandem can tell).
	if out, code := w.run(t, "sync"); code == 0 {
		t.Fatalf("the pass whose answers were lost succeeded: %s", out)
	}
	w.sfAfter = nil
	sf := w.sf.List("Contact")
	if len(sf) != 1 {
		t.Fatalf("Salesforce holds %d contacts after the lost answer, want the 1 created", len(sf))
	}
	w.later()
	if err := w.sf.Update("Contact", sf[0].ID, map[string]any{"Email": "ann.lee@example.com"}); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	w.sync(t)
	w.wantEmails(t, "ann.lee@example.com")
	for _, c := range w.conflicts(t) {
		if c.Status == tandem.ConflictOpen {
			t.Errorf("conflict %d open: %s", c.ID, c.Decided)
		}
	}
}

// TestTrustLostCreateAnswerSearchLag (case 6, the window left): as above,
// but HubSpot's search index has not caught up with the record when the
// next pass pulls, so only the create sent again can find it. It must not
// write Ann's old email over the person's new one.
func TestTrustLostCreateAnswerSearchLag(t *testing.T) {
	w := newTrustWorld(t)
	w.later()
	if _, err := w.sf.Create("Contact", map[string]any{"Email": "ann@example.com", "FirstName": "Ann", "LastName": "Lee"}); err != nil {
		t.Fatal(err)
	}
	w.hsAfter = func(r *http.Request) bool { return !isUpsert(r) }
	w.sync(t)
	w.hsAfter = nil
	hs := w.hs.List("contacts")
	if len(hs) != 1 {
		t.Fatalf("HubSpot holds %d contacts after the lost answer, want the 1 created", len(hs))
	}
	id := hs[0].ID
	w.later()
	if err := w.hs.Update("contacts", id, map[string]any{"email": "ann.lee@example.com"}); err != nil {
		t.Fatal(err)
	}
	// The search does not show the record yet.
	w.hsRewrite = func(r *http.Request, body []byte) []byte {
		if !strings.HasSuffix(r.URL.Path, "/search") {
			return body
		}
		var kept []string
		for _, res := range gjson.GetBytes(body, "results").Array() {
			if res.Get("id").String() != id {
				kept = append(kept, res.Raw)
			}
		}
		out, _ := sjson.SetRawBytes(body, "results", []byte("["+strings.Join(kept, ",")+"]"))
		out, _ = sjson.SetBytes(out, "total", len(kept))
		return out
	}
	w.sync(t)
	w.hsRewrite = nil
	w.sync(t)
	w.wantEmails(t, "ann.lee@example.com")
}

// TestTrustCreateMeetsPersonsRecordHubSpot (case 5, HubSpot): while Tandem
// creates Ann in HubSpot, a person creates her there too. Tandem's create
// must not overwrite the person's record: it links it with no base and
// merges it under the policy, recording the conflict.
func TestTrustCreateMeetsPersonsRecordHubSpot(t *testing.T) {
	w := newTrustWorld(t)
	w.later()
	if _, err := w.sf.Create("Contact", map[string]any{"Email": "ann@example.com", "FirstName": "Ann", "LastName": "Lee"}); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	w.hsBefore = func(r *http.Request) {
		if isUpsert(r) {
			once.Do(func() {
				w.later()
				if _, err := w.hs.Create("contacts", map[string]any{"email": "Ann@Example.com", "firstname": "Annabel", "lastname": "Lee"}); err != nil {
					t.Error(err)
				}
			})
		}
	}
	w.sync(t)
	w.sync(t)
	h, sf := w.one(t)
	// The person's edit is the newer: it wins, and the conflict says so.
	if got := h.Properties["firstname"]; got != "Annabel" {
		t.Errorf("HubSpot first name %q: the person's record was overwritten, want %q", got, "Annabel")
	}
	if got := str(sf.Fields["FirstName"]); got != "Annabel" {
		t.Errorf("Salesforce first name %q, want the newer %q", got, "Annabel")
	}
	found := false
	for _, c := range w.conflicts(t) {
		if c.Field == "first_name" && c.Values["hubspot"].Value == "Annabel" {
			found = true
		}
	}
	if !found {
		t.Errorf("no conflict on first_name names the person's %q", "Annabel")
	}
	if n := w.deadLetters(t); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
}

// TestTrustCreateMeetsPersonsRecordSalesforce (case 5, Salesforce): the
// same race makes a duplicate in Salesforce, which has no unique email.
// The identity conflict must say which record to keep, and resolve --link
// must merge the two: one Salesforce record left, the person's.
func TestTrustCreateMeetsPersonsRecordSalesforce(t *testing.T) {
	w := newTrustWorld(t)
	w.later()
	if _, err := w.hs.Create("contacts", map[string]any{"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee"}); err != nil {
		t.Fatal(err)
	}
	// Others, so that deleting one duplicate stays under the mass-delete
	// guard's share.
	for i := range 5 {
		w.later()
		if _, err := w.hs.Create("contacts", map[string]any{"email": "other" + strconv.Itoa(i) + "@example.com", "lastname": "Other"}); err != nil {
			t.Fatal(err)
		}
	}
	var once sync.Once
	var personID string
	w.sfBefore = func(r *http.Request) {
		if r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/composite/sobjects/Contact/") {
			once.Do(func() {
				w.later()
				id, err := w.sf.Create("Contact", map[string]any{"Email": "ann@example.com", "FirstName": "Annabel", "LastName": "Lee"})
				if err != nil {
					t.Error(err)
				}
				personID = id
			})
		}
	}
	w.sync(t)
	w.sync(t)
	if n := len(w.sf.List("Contact")); n != 7 {
		t.Fatalf("Salesforce holds %d contacts, want the duplicate the race makes (7)", n)
	}
	var c *tandem.Conflict
	for _, x := range w.conflicts(t) {
		if x.Kind == tandem.ConflictIdentity && x.Status == tandem.ConflictOpen {
			c = &x
		}
	}
	if c == nil {
		t.Fatal("no open identity conflict")
	}
	if !strings.Contains(c.Decided, "keep "+personID) {
		t.Errorf("the identity conflict does not say which record to keep (%s): %s", personID, c.Decided)
	}
	if out, code := w.run(t, "resolve", strconv.FormatInt(c.ID, 10), "--link"); code != 0 {
		t.Fatalf("resolve --link: exit %d: %s", code, out)
	}
	w.sync(t)
	w.sync(t)
	var anns []salesforcetest.Record
	for _, r := range w.sf.List("Contact") {
		if str(r.Fields["Email"]) == "ann@example.com" {
			anns = append(anns, r)
		}
	}
	if len(anns) != 1 || anns[0].ID != personID {
		t.Fatalf("Salesforce holds %d contacts of Ann (%v), want the person's %s alone", len(anns), anns, personID)
	}
	var ann hubspottest.Object
	for _, o := range w.hs.List("contacts") {
		if o.Properties["email"] == "ann@example.com" {
			ann = o
		}
	}
	if ann.Properties["firstname"] != "Annabel" || str(anns[0].Fields["FirstName"]) != "Annabel" {
		t.Errorf("first names: HubSpot %v, Salesforce %v; want the newer %q in both", ann.Properties, anns[0].Fields, "Annabel")
	}
	if n := w.deadLetters(t); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
}

// TestTrustMatchKeyOntoAnotherPerson (case 7): Ann's email is edited in
// Salesforce to Bob's. HubSpot refuses it (the email is Bob's there). It
// must become an open identity conflict naming both records, with the
// email held, while Ann's other fields go on syncing both ways.
func TestTrustMatchKeyOntoAnotherPerson(t *testing.T) {
	w := newTrustWorld(t)
	w.later()
	annHS, err := w.hs.Create("contacts", map[string]any{"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee"})
	if err != nil {
		t.Fatal(err)
	}
	w.later()
	bobHS, err := w.hs.Create("contacts", map[string]any{"email": "bob@example.com", "firstname": "Bob", "lastname": "Ray"})
	if err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	var annSF string
	for _, r := range w.sf.List("Contact") {
		if str(r.Fields["Email"]) == "ann@example.com" {
			annSF = r.ID
		}
	}
	if annSF == "" {
		t.Fatal("Ann did not reach Salesforce")
	}
	w.later()
	if err := w.sf.Update("Contact", annSF, map[string]any{"Email": "bob@example.com", "LastName": "Lee-Ray"}); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	w.sync(t)
	w.later()
	if err := w.hs.Update("contacts", annHS, map[string]any{"firstname": "Annie"}); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	w.sync(t)

	ann, _ := w.hs.Get("contacts", annHS)
	bob, _ := w.hs.Get("contacts", bobHS)
	annS, _ := w.sf.Get("Contact", annSF)
	if ann.Properties["email"] != "ann@example.com" || bob.Properties["email"] != "bob@example.com" || bob.Properties["firstname"] != "Bob" {
		t.Errorf("HubSpot: Ann %v, Bob %v; want both untouched but for Ann's other fields", ann.Properties, bob.Properties)
	}
	if ann.Properties["lastname"] != "Lee-Ray" {
		t.Errorf("HubSpot last name %q: Ann's other fields stopped syncing to HubSpot, want %q", ann.Properties["lastname"], "Lee-Ray")
	}
	if got := str(annS.Fields["FirstName"]); got != "Annie" {
		t.Errorf("Salesforce first name %q: Ann's other fields stopped syncing from HubSpot, want %q", got, "Annie")
	}
	var open *tandem.Conflict
	for _, c := range w.conflicts(t) {
		if c.Kind == tandem.ConflictIdentity && c.Status == tandem.ConflictOpen {
			open = &c
		}
	}
	if open == nil {
		t.Fatalf("no open identity conflict (conflicts: %v)", w.conflicts(t))
	}
	if !strings.Contains(open.Decided, annHS) || !strings.Contains(open.Decided, bobHS) {
		t.Errorf("the identity conflict does not name both HubSpot records %s and %s: %s", annHS, bobHS, open.Decided)
	}
	if n := w.deadLetters(t); n != 0 {
		t.Errorf("%d dead letters, want none (the refusal is a conflict)", n)
	}

	// A person decides: Ann keeps her own email, everywhere.
	if out, code := w.run(t, "resolve", strconv.FormatInt(open.ID, 10), "--value", `"ann@example.com"`); code != 0 {
		t.Fatalf("resolve --value: exit %d: %s", code, out)
	}
	w.sync(t)
	w.sync(t)
	annS, _ = w.sf.Get("Contact", annSF)
	ann, _ = w.hs.Get("contacts", annHS)
	if str(annS.Fields["Email"]) != "ann@example.com" || ann.Properties["email"] != "ann@example.com" {
		t.Errorf("after resolve: Salesforce %q, HubSpot %q; want the decided %q in both", str(annS.Fields["Email"]), ann.Properties["email"], "ann@example.com")
	}
	for _, c := range w.conflicts(t) {
		if c.Status == tandem.ConflictOpen {
			t.Errorf("conflict %d (%s %s) still open after the decision: %s", c.ID, c.Kind, c.Field, c.Decided)
		}
	}

	// The decision is in the audit trail (issue 17, item 10), and so is a
	// pass a person forced past the mass-delete guard.
	if out, code := w.run(t, "sync", "--force"); code != 0 {
		t.Fatalf("sync --force: exit %d: %s", code, out)
	}
	out, code := w.run(t, "audit", "--format", "json")
	var trail []state.AuditEntry
	if err := json.Unmarshal([]byte(out), &trail); code != 0 || err != nil {
		t.Fatalf("audit: exit %d, %v: %s", code, err, out)
	}
	want := []string{
		fmt.Sprintf("%s force sync: deletes beyond deletes.max_share let through", actor()),
		fmt.Sprintf("%s resolve conflict %d: identity contact email: --value \"ann@example.com\"", actor(), open.ID),
	}
	if len(trail) != 2 {
		t.Fatalf("audit trail %+v, want the forced sync and the resolve, newest first", trail)
	}
	for i, e := range trail {
		if got := fmt.Sprintf("%s %s %s: %s", e.Actor, e.Action, e.Subject, e.Detail); !strings.HasPrefix(got, want[i]) || e.At.IsZero() {
			t.Errorf("audit entry %d: %q at %v, want %q…", i, got, e.At, want[i])
		}
	}
}

// TestTrustSplitCreatesOnlyWhereFree (case 10): a second Salesforce record
// with Ann's email is split into an entity of its own. Its create in
// HubSpot must not land on Ann's HubSpot contact (the email is hers
// there): it stays an open conflict that says why.
func TestTrustSplitCreatesOnlyWhereFree(t *testing.T) {
	w := newTrustWorld(t)
	w.later()
	annHS, err := w.hs.Create("contacts", map[string]any{"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee"})
	if err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	w.later()
	anneSF, err := w.sf.Create("Contact", map[string]any{"Email": "ann@example.com", "FirstName": "Anne", "LastName": "Other"})
	if err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	var id int64
	for _, c := range w.conflicts(t) {
		if c.Kind == tandem.ConflictIdentity && c.Status == tandem.ConflictOpen {
			id = c.ID
		}
	}
	if id == 0 {
		t.Fatal("no open identity conflict for the second Salesforce record")
	}
	if out, code := w.run(t, "resolve", strconv.FormatInt(id, 10), "--split"); code != 0 {
		t.Fatalf("resolve --split: exit %d: %s", code, out)
	}
	w.sync(t)
	w.sync(t)
	ann, _ := w.hs.Get("contacts", annHS)
	if ann.Properties["firstname"] != "Ann" || ann.Properties["lastname"] != "Lee" {
		t.Errorf("Ann's HubSpot contact became %v: the split entity's create landed on it", ann.Properties)
	}
	if n := len(w.hs.List("contacts")); n != 1 {
		t.Errorf("HubSpot holds %d contacts, want Ann's alone (no record may share her email)", n)
	}
	why := ""
	for _, c := range w.conflicts(t) {
		if c.Kind == tandem.ConflictIdentity && c.Status == tandem.ConflictOpen && c.ID != id {
			why = c.Decided
		}
	}
	if !strings.Contains(why, annHS) {
		t.Errorf("no open conflict says why the split entity is not in HubSpot (naming %s): %q", annHS, why)
	}

	// Once her email is her own, she is created, and the conflict closes.
	w.later()
	if err := w.sf.Update("Contact", anneSF, map[string]any{"Email": "anne@example.com"}); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	w.sync(t)
	found := false
	for _, o := range w.hs.List("contacts") {
		if o.Properties["email"] == "anne@example.com" && o.Properties["firstname"] == "Anne" {
			found = true
		}
	}
	if !found {
		t.Errorf("the split entity was not created in HubSpot once its email was free: %v", w.hs.List("contacts"))
	}
	for _, c := range w.conflicts(t) {
		if c.Status == tandem.ConflictOpen {
			t.Errorf("conflict %d still open: %s", c.ID, c.Decided)
		}
	}
}

// TestTrustDoctorChecksKeyProperty: tandem doctor fails, with the call
// that fixes it, when the HubSpot property that creates are keyed on is
// missing or does not keep its values unique.
func TestTrustDoctorChecksKeyProperty(t *testing.T) {
	sf := salesforcetest.NewServer(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret"})
	t.Cleanup(sf.Close)
	for _, tc := range []struct {
		name string
		opts hubspottest.Options
		code int
		want string
	}{
		{"missing", hubspottest.Options{Token: "hs-token"}, 1,
			`FAIL  system hubspot: contacts holds Tandem's key in properties.tandem_id: no such field: every create is keyed on it, so none can be made; create it: POST `},
		{"not unique", hubspottest.Options{Token: "hs-token", ExtraProperties: map[string][]string{"contacts": {"tandem_id"}}}, 1,
			`FAIL  system hubspot: contacts holds Tandem's key in properties.tandem_id: the field exists but is not unique`},
		{"unique", hubspottest.Options{Token: "hs-token", UniqueProperties: tandemKeys}, 0,
			`ok    system hubspot: contacts holds Tandem's key in properties.tandem_id`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := hubspottest.NewServer(tc.opts)
			defer hs.Close()
			config := reproConfig(t, t.TempDir(), hs.URL, sf.URL, nil, []string{"email", "first_name"}, nil)
			var out, errb bytes.Buffer
			code := execute([]string{"doctor", "--config", config}, &out, &errb)
			if code != tc.code || !strings.Contains(out.String(), tc.want) {
				t.Errorf("doctor: exit %d, want %d and %q:\n%s%s", code, tc.code, tc.want, out.String(), errb.String())
			}
			if tc.code == 1 && !strings.Contains(out.String(), `"hasUniqueValue": true`) {
				t.Errorf("the failure does not say how to make the property:\n%s", out.String())
			}
		})
	}
}
