package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/rest/resttest"
	"tandem/connectors/salesforce/salesforcetest"
	"tandem/state"
)

// world is HubSpot and Salesforce (and more systems if asked for), seeded
// from testdata, on one clock, and a config pointing at them with a fresh
// state file.
type world struct {
	clock   *clock
	hs      *hubspottest.Server
	sf      *salesforcetest.Server
	crm     *resttest.Server // withCustomCRM's
	systems []e2eSystem      // HubSpot, Salesforce, then the others
	config  string
	state   string
}

// worldOption adds a system to a world before its config is written.
type worldOption func(t *testing.T, w *world)

// withCustomCRM adds the custom CRM of the sandbox (the rest connector's
// emulator, millisecond stamps as the sandbox's section says), empty: the
// test seeds it.
func withCustomCRM(t *testing.T, w *world) {
	w.crm = resttest.NewServer(resttest.Options{Now: w.clock.Now})
	t.Cleanup(w.crm.Close)
	w.systems = append(w.systems, crmContacts{w.crm})
}

func newWorld(t *testing.T, more ...worldOption) *world {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	w := &world{
		clock: c,
		hs:    hubspottest.NewServer(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-test-token", Now: c.Now, RateLimit: loopbackRate}),
		sf:    salesforcetest.NewServer(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret", BatchSize: 10, Now: c.Now}),
	}
	t.Cleanup(w.hs.Close)
	t.Cleanup(w.sf.Close)
	w.systems = []e2eSystem{hubspotContacts{w.hs.Emulator}, salesforceContacts{w.sf.Emulator}}
	if err := w.hs.LoadSeed("../../testdata/seed/contacts-hubspot.json"); err != nil {
		t.Fatal(err)
	}
	w.tick() // Salesforce's seed is newer than HubSpot's, so newest decides the differing phones
	if err := w.sf.LoadSeed("../../testdata/seed/contacts-salesforce.json"); err != nil {
		t.Fatal(err)
	}
	for _, o := range more {
		o(t, w)
	}
	dir := t.TempDir()
	w.config, w.state = filepath.Join(dir, "tandem.yaml"), filepath.Join(dir, "tandem.db")
	// The sandbox's config, with secrets from the environment as in real use.
	cfg := contactConfig(w.state, w.hs.URL, "${E2E_HS_TOKEN}", w.sf.URL, "cid", "${E2E_SF_SECRET}")
	for _, s := range w.systems {
		cfg = s.configure(cfg)
	}
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("E2E_HS_TOKEN", "hs-test-token")
	t.Setenv("E2E_SF_SECRET", "csecret")
	return w
}

// sync runs `tandem sync` in this process and fails the test unless it exits 0.
func (w *world) sync(t *testing.T) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := execute([]string{"sync", "--config", w.config}, &out, &errb); code != 0 {
		t.Fatalf("tandem sync exited %d:\n%s\n%s", code, out.String(), errb.String())
	}
	return out.String()
}

// editConfig replaces the first old in the world's config with new, and
// fails the test if old is not there.
func (w *world) editConfig(t *testing.T, old, new string) {
	t.Helper()
	cfg, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(cfg), old, new, 1)
	if edited == string(cfg) {
		t.Fatalf("config has no %q", old)
	}
	if err := os.WriteFile(w.config, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (w *world) writes() int {
	n := 0
	for _, s := range w.systems {
		n += s.writes()
	}
	return n
}

type person struct{ first, last, phone, lifecycle string }

// check asserts every system holds the same people, one record per email
// in each, and returns them by lower-cased email.
func (w *world) check(t *testing.T, want int) map[string]person {
	t.Helper()
	held := make([]map[string]person, len(w.systems))
	for i, s := range w.systems {
		held[i] = map[string]person{}
		for _, c := range s.contacts() {
			if _, dup := held[i][c.email]; dup {
				t.Errorf("%s holds %s twice", s.label(), c.email)
			}
			held[i][c.email] = c.person
		}
	}
	var counts []string
	wrong := false
	for i, s := range w.systems {
		counts = append(counts, fmt.Sprintf("%s %d", s.label(), len(held[i])))
		wrong = wrong || len(held[i]) != want
	}
	if wrong {
		t.Fatalf("contacts held: %s; want %d each", strings.Join(counts, ", "), want)
	}
	first := w.systems[0]
	for e, p := range held[0] {
		for i, s := range w.systems[1:] {
			if q, ok := held[i+1][e]; !ok {
				t.Errorf("%s is in %s, not in %s", e, first.label(), s.label())
			} else if p != q {
				t.Errorf("%s differs: %s %+v, %s %+v", e, first.label(), p, s.label(), q)
			}
		}
	}
	return held[0]
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func (w *world) hsByEmail(t *testing.T, email string) hubspottest.Object {
	for _, o := range w.hs.List("contacts") {
		if strings.EqualFold(o.Properties["email"], email) {
			return o
		}
	}
	t.Fatalf("no HubSpot contact %s", email)
	return hubspottest.Object{}
}

func (w *world) sfByEmail(t *testing.T, email string) salesforcetest.Record {
	for _, r := range w.sf.List("Contact") {
		if strings.EqualFold(str(r.Fields["Email"]), email) {
			return r
		}
	}
	t.Fatalf("no Salesforce contact %s", email)
	return salesforcetest.Record{}
}

// idOf is the id of a system's contact with email.
func idOf(t *testing.T, s e2eSystem, email string) string {
	t.Helper()
	for _, c := range s.contacts() {
		if c.email == strings.ToLower(email) {
			return c.id
		}
	}
	t.Fatalf("no %s contact %s", s.label(), email)
	return ""
}

// e2eSystem is one system of the end-to-end world, as its tests see it:
// its live contacts in canonical form, a person's edits in its UI, the
// write requests it served, and its part of the config.
type e2eSystem interface {
	name() string  // in the config, the state and the conflicts
	label() string // in messages
	object() string
	contacts() []e2eContact
	// edit sets canonical fields (first_name, last_name, phone) of a
	// contact, as a person would.
	edit(id string, fields map[string]string) error
	remove(id string) error
	writes() int
	// configure adds the system to the sandbox's config (which holds
	// HubSpot and Salesforce already).
	configure(cfg string) string
}

// e2eContact is one live contact: its record id, lower-cased email, and
// values (lifecycle lower-cased, as HubSpot's internal values are).
type e2eContact struct {
	id, email string
	person
}

// e2eAPI is each system's name of the canonical fields the tests edit.
var e2eAPI = map[string]map[string]string{
	"hubspot":    {"first_name": "firstname", "last_name": "lastname", "phone": "phone"},
	"salesforce": {"first_name": "FirstName", "last_name": "LastName", "phone": "Phone"},
	"crm":        {"first_name": "first_name", "last_name": "last_name", "phone": "phone"},
}

// apiFields names fields as a system's API does.
func apiFields(sys string, fields map[string]string) map[string]any {
	out := map[string]any{}
	for f, v := range fields {
		out[e2eAPI[sys][f]] = v
	}
	return out
}

type hubspotContacts struct{ e *hubspottest.Emulator }

func (h hubspotContacts) name() string                { return "hubspot" }
func (h hubspotContacts) label() string               { return "HubSpot" }
func (h hubspotContacts) object() string              { return "contacts" }
func (h hubspotContacts) writes() int                 { return h.e.Writes() }
func (h hubspotContacts) configure(cfg string) string { return cfg }
func (h hubspotContacts) remove(id string) error      { return h.e.Delete("contacts", id) }

func (h hubspotContacts) edit(id string, fields map[string]string) error {
	return h.e.Update("contacts", id, apiFields("hubspot", fields))
}

func (h hubspotContacts) contacts() []e2eContact {
	var out []e2eContact
	for _, o := range h.e.List("contacts") {
		p := o.Properties
		out = append(out, e2eContact{o.ID, strings.ToLower(p["email"]), person{p["firstname"], p["lastname"], p["phone"], p["lifecyclestage"]}})
	}
	return out
}

type salesforceContacts struct{ e *salesforcetest.Emulator }

func (s salesforceContacts) name() string                { return "salesforce" }
func (s salesforceContacts) label() string               { return "Salesforce" }
func (s salesforceContacts) object() string              { return "Contact" }
func (s salesforceContacts) writes() int                 { return s.e.Writes() }
func (s salesforceContacts) configure(cfg string) string { return cfg }
func (s salesforceContacts) remove(id string) error      { return s.e.Delete("Contact", id) }

func (s salesforceContacts) edit(id string, fields map[string]string) error {
	return s.e.Update("Contact", id, apiFields("salesforce", fields))
}

func (s salesforceContacts) contacts() []e2eContact {
	var out []e2eContact
	for _, r := range s.e.List("Contact") {
		f := r.Fields
		out = append(out, e2eContact{r.ID, strings.ToLower(str(f["Email"])),
			person{str(f["FirstName"]), str(f["LastName"]), str(f["Phone"]), strings.ToLower(str(f["Lifecycle__c"]))}})
	}
	return out
}

// crmContacts is the custom CRM of the sandbox, with its section.
type crmContacts struct{ s *resttest.Server }

func (c crmContacts) name() string                { return "crm" }
func (c crmContacts) label() string               { return "the CRM" }
func (c crmContacts) object() string              { return "contacts" }
func (c crmContacts) writes() int                 { return c.s.Writes() }
func (c crmContacts) configure(cfg string) string { return withCRM(cfg, c.s.URL) }

func (c crmContacts) edit(id string, fields map[string]string) error {
	if r, ok := c.s.Get(id); !ok || r.Deleted {
		return fmt.Errorf("crm: no contact %s", id)
	}
	c.s.Update(id, apiFields("crm", fields))
	return nil
}

func (c crmContacts) remove(id string) error {
	if r, ok := c.s.Get(id); !ok || r.Deleted {
		return fmt.Errorf("crm: no contact %s", id)
	}
	c.s.Delete(id)
	return nil
}

func (c crmContacts) contacts() []e2eContact {
	var out []e2eContact
	for _, r := range c.s.List() {
		if r.Deleted {
			continue
		}
		f := r.Fields
		out = append(out, e2eContact{r.ID, strings.ToLower(str(f["email"])),
			person{str(f["first_name"]), str(f["last_name"]), str(f["phone"]), strings.ToLower(str(f["lifecycle"]))}})
	}
	return out
}

// clock is the emulators' clock: it moves a millisecond each time it is
// read, so stamps are distinct and every run of a test pages the same way
// (with the wall clock, stamps that tie or not change where pages end).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// tick moves the emulators' clock a second on, so "newer" is clear.
func (w *world) tick() {
	w.clock.mu.Lock()
	w.clock.t = w.clock.t.Add(time.Second)
	w.clock.mu.Unlock()
}

func TestEndToEndTwoWaySync(t *testing.T) {
	w := newWorld(t)

	// 50 + 50 contacts, 20 the same people by email: 80 on each side.
	w.sync(t)
	w.check(t, 80)
	st, err := state.Open(w.state)
	if err != nil {
		t.Fatal(err)
	}
	for _, so := range [][2]string{{"hubspot", "contacts"}, {"salesforce", "Contact"}} {
		s, err := st.Status(context.Background(), so[0], so[1])
		if err != nil || s.Linked != 80 || s.Outbox != 0 || s.DeadLetters != 0 {
			t.Errorf("%s status = %+v, %v; want 80 linked, empty outbox", so[0], s, err)
		}
	}
	// No needless writes: HubSpot gets the 30 people it lacks and the 4 newer
	// phones; Salesforce the 30 it lacks and the lifecycle of the 20 shared.
	for sys, want := range map[[2]string]int{{"hubspot", "contacts"}: 34, {"salesforce", "Contact"}: 50} {
		if s, _ := st.Status(context.Background(), sys[0], sys[1]); s.LastPass == nil || s.LastPass.Written != want {
			t.Errorf("%s: initial pass wrote %+v records, want %d", sys[0], s.LastPass, want)
		}
	}
	// The shared people whose phones differed were decided by newest:
	// Salesforce was seeded after HubSpot, so its values are newer.
	conflicts, err := st.Conflicts(context.Background(), false)
	st.Close()
	if err != nil || len(conflicts) != 4 {
		t.Fatalf("conflicts = %d (%v), want 4 (phones of people 30, 35, 40, 45)", len(conflicts), err)
	}
	for _, c := range conflicts {
		if c.Field != "phone" || c.Decided != "salesforce" || c.Values["hubspot"].RecordID == "" || c.Values["salesforce"].RecordID == "" {
			t.Errorf("conflict = %+v", c)
		}
	}
	if p := w.hsByEmail(t, "sophie.turing.30@example.com"); p.Properties["phone"] != "+16660000030" {
		t.Errorf("newest phone did not win: %v", p.Properties["phone"])
	}

	// A pass with no edits sends zero write requests.
	before := w.writes()
	w.sync(t)
	if n := w.writes() - before; n != 0 {
		t.Fatalf("a pass with no edits sent %d write requests", n)
	}

	// An edit on either side reaches the other on the next pass.
	a, b := "ada.lovelace.0@example.com", "dennis.backus.31@example.com"
	if err := w.hs.Update("contacts", w.hsByEmail(t, a).ID, map[string]any{"phone": "+15551230000"}); err != nil {
		t.Fatal(err)
	}
	if err := w.sf.Update("Contact", w.sfByEmail(t, b).ID, map[string]any{"FirstName": "Den"}); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	got := w.check(t, 80)
	if got[a].phone != "+15551230000" || got[b].first != "Den" {
		t.Fatalf("edits did not cross: %+v %+v", got[a], got[b])
	}

	// Different fields edited on both sides of one contact: both kept.
	c := "sophie.turing.30@example.com"
	w.hs.Update("contacts", w.hsByEmail(t, c).ID, map[string]any{"phone": "+15550009999"})
	w.tick()
	w.sf.Update("Contact", w.sfByEmail(t, c).ID, map[string]any{"LastName": "Turing-Hopper"})
	w.sync(t)
	if got := w.check(t, 80)[c]; got.phone != "+15550009999" || got.last != "Turing-Hopper" {
		t.Fatalf("both edits must be kept: %+v", got)
	}

	// The same field edited on both sides: newest wins, either way round.
	for _, order := range []string{"hubspot-then-salesforce", "salesforce-then-hubspot"} {
		before := w.hs.Writes() + w.sf.Writes()
		hsValue, sfValue := "HubSpot-"+order, "Salesforce-"+order
		hsEdit := func() { w.hs.Update("contacts", w.hsByEmail(t, c).ID, map[string]any{"firstname": hsValue}) }
		sfEdit := func() { w.sf.Update("Contact", w.sfByEmail(t, c).ID, map[string]any{"FirstName": sfValue}) }
		want := sfValue
		if order == "hubspot-then-salesforce" {
			hsEdit()
			w.tick()
			sfEdit()
		} else {
			sfEdit()
			w.tick()
			hsEdit()
			want = hsValue
		}
		w.sync(t)
		if got := w.check(t, 80)[c]; got.first != want {
			t.Fatalf("%s: first name = %q, want the newest %q", order, got.first, want)
		}
		if w.writes() == before {
			t.Fatalf("%s: the loser was not overwritten", order)
		}
	}
	st, _ = state.Open(w.state)
	defer st.Close()
	all, _ := st.Conflicts(context.Background(), false)
	if n := len(all) - len(conflicts); n != 2 {
		t.Errorf("%d new conflicts recorded, want 2 (one per same-field edit)", n)
	}
	// And quiet again.
	before = w.writes()
	w.sync(t)
	if n := w.writes() - before; n != 0 {
		t.Fatalf("a quiet pass sent %d write requests", n)
	}
}

// A value the mapping cannot write to a system (HubSpot has no stage
// for it) holds that field of that record for that system: the record's
// other fields are written, then and later; the pass exits 0 and names
// the hold; tandem conflicts lists it; nothing is set aside. Once the
// mapping is fixed, the held value is written and the hold closes.
func TestUnwritableValueHeld(t *testing.T) {
	w := newWorld(t)
	w.editConfig(t, "              evangelist: Evangelist\n", "")
	w.sync(t)

	a, b := "dennis.backus.31@example.com", "margaret.allen.42@example.com"
	w.sf.Update("Contact", w.sfByEmail(t, a).ID, map[string]any{"Lifecycle__c": "Evangelist", "FirstName": "Denny"}) // no HubSpot stage for it now
	w.sf.Update("Contact", w.sfByEmail(t, b).ID, map[string]any{"FirstName": "Meg"})
	out := w.sync(t)
	if want := `values held: a system cannot take them, contact lifecycle: 1 (e.g. held: cannot be written to hubspot contacts: properties.lifecyclestage: map: canonical value "Evangelist" is not in the map`; !strings.Contains(out, want) {
		t.Errorf("summary lacks %q:\n%s", want, out)
	}
	if got := w.hsByEmail(t, b).Properties["firstname"]; got != "Meg" {
		t.Errorf("the other record's write did not go through: firstname %q", got)
	}
	if got := w.hsByEmail(t, a).Properties["firstname"]; got != "Denny" {
		t.Errorf("the held record's other field was not written: firstname %q", got)
	}
	stage := w.hsByEmail(t, a).Properties["lifecyclestage"]
	st, err := state.OpenReadOnly(w.state)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Status(context.Background(), "hubspot", "contacts")
	st.Close()
	if err != nil || s.LastPass == nil || s.LastPass.Failed != 0 || s.DeadLetters != 0 {
		t.Errorf("status = %+v, %v; want nothing failed or set aside", s, err)
	}
	id := w.openConflict(t, "value", "lifecycle")
	var cout, cerr bytes.Buffer
	if code := execute([]string{"conflicts", "--config", w.config, "--format", "json"}, &cout, &cerr); code != 0 ||
		!strings.Contains(cout.String(), `"policy": "map out"`) || !strings.Contains(cout.String(), `"Evangelist"`) {
		t.Errorf("tandem conflicts: exit %d\n%s%s", code, cout.String(), cerr.String())
	}

	// Later edits of the record still cross; the held field stays as it was.
	w.sf.Update("Contact", w.sfByEmail(t, a).ID, map[string]any{"LastName": "Backus-Naur"})
	w.sync(t)
	if o := w.hsByEmail(t, a); o.Properties["lastname"] != "Backus-Naur" || o.Properties["lifecyclestage"] != stage {
		t.Errorf("a later edit: HubSpot holds %v", o.Properties)
	}
	if w.openConflict(t, "value", "lifecycle") != id {
		t.Errorf("the hold was opened again")
	}

	// The mapping fixed, the value is written and the hold closes.
	w.editConfig(t, "              other: Other\n", "              evangelist: Evangelist\n              other: Other\n")
	w.sync(t)
	if got := w.hsByEmail(t, a).Properties["lifecyclestage"]; got != "evangelist" {
		t.Errorf("after the mapping was fixed, HubSpot's stage is %q", got)
	}
	st, err = state.OpenReadOnly(w.state)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if cs, _ := st.Conflicts(context.Background(), true); len(cs) != 0 {
		t.Errorf("still open: %+v", cs)
	}
}

// A read_only system is read and merged from, and never written to.
func TestReadOnlySystem(t *testing.T) {
	w := newWorld(t)
	w.editConfig(t, "        object: Contact\n", "        object: Contact\n        read_only: true\n")
	w.sync(t)
	if n := w.sf.Writes(); n != 0 {
		t.Errorf("%d writes to a read_only system", n)
	}
	if n := len(w.sf.List("Contact")); n != 50 {
		t.Errorf("Salesforce holds %d contacts, want its 50", n)
	}
	if n := len(w.hs.List("contacts")); n != 80 {
		t.Errorf("HubSpot holds %d contacts, want 80: the Salesforce people are read from it", n)
	}
}

// TestSyncNamesWhatNeedsAPerson: a pass that holds fields for a person
// exits 0 (nothing failed) and its summary names them, once per kind, with
// a count and an example; a pass with nothing new says nothing more.
func TestSyncNamesWhatNeedsAPerson(t *testing.T) {
	w := newWorld(t)
	w.editConfig(t, "conflict: { policy: newest }", "conflict: { policy: newest, fields: { phone: manual } }")
	out := w.sync(t)
	if want := "fields held for a person, contact phone: 4 (e.g. held: manual policy)"; !strings.Contains(out, want) {
		t.Errorf("first sync's summary lacks %q:\n%s", want, out)
	}
	if out := w.sync(t); strings.Contains(out, "Needs a look") {
		t.Errorf("a pass with nothing new still names something:\n%s", out)
	}
}
