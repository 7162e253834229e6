package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/salesforce/salesforcetest"
	"tandem/state"
)

// The Tandem bugs the chaos suite found, each reproduced as small and as
// deterministically as it goes: the timing that the suite meets by chance is
// forced here by wrapping an emulator. Those that still fail are
// TestChaosKnown…, skipped unless -chaos.strict; the suite reports each
// (and does not fail on it) when its evidence matches (chaos_check_test.go).
// Those fixed since run always, as regression tests.

// TestChaosLostEditInWriteGap (fixed since, for Salesforce: an update of a
// record modified within the connector's conditional_window goes alone with
// If-Unmodified-Since, connectors/salesforce/conditional.go; kept as a
// regression test) is the smallest reproduction of what the chaos suite
// found most often: an edit made in a system between Tandem's re-read of
// the record (push.go, refresh) and its write to it was overwritten, and no
// conflict was recorded (DESIGN.md's invariant 4: "never a silent
// overwrite"). The suite met it because webhooks make Tandem carry an edit
// over within milliseconds: a user who edits the same field in the other
// system a moment later lands in the gap.
//
// Here the gap is hit deterministically: the Salesforce emulator is
// wrapped so that, right after it answers Tandem's re-read of the record, a
// user edits the field, a second later by the emulators' clock (an edit in
// the same second as the record's previous change is the window that
// remains: Salesforce's stamps and HTTP dates have whole seconds). The
// clock starts at the real time so the record counts as recently edited.
func TestChaosLostEditInWriteGap(t *testing.T) {
	clock := &testClock{now: time.Now().UTC().Truncate(time.Second)}
	hs := hubspottest.NewServer(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-token", RateLimit: loopbackRate, Now: clock.Now})
	t.Cleanup(hs.Close)
	sf := salesforcetest.New(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret", Now: clock.Now})
	t.Cleanup(sf.Close)
	var (
		mu    sync.Mutex
		armed func() // the user's edit, made once right after the re-read
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sf.ServeHTTP(w, r)
		// A retrieve (GET, or POST with the ids in the body) of Contacts:
		// the engine's re-read before it writes.
		if r.Method != http.MethodPatch && strings.HasSuffix(r.URL.Path, "/composite/sobjects/Contact") {
			mu.Lock()
			edit := armed
			armed = nil
			mu.Unlock()
			if edit != nil {
				edit()
			}
		}
	}))
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	config, statePath := reproConfig(t, dir, hs.URL, srv.URL, nil, []string{"email", "first_name", "last_name"}, []string{"conflict: { policy: newest, clock_tolerance: 0s }"}), filepath.Join(dir, "tandem.db")
	pass := func() {
		t.Helper()
		var out, errb bytes.Buffer
		if code := execute([]string{"sync", "--config", config}, &out, &errb); code != 0 {
			t.Fatalf("tandem sync: exit %d\n%s", code, errb.String())
		}
	}

	// Ann is in HubSpot; the first pass creates her in Salesforce.
	clock.tick()
	hsID, err := hs.Create("contacts", map[string]any{"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee"})
	if err != nil {
		t.Fatal(err)
	}
	pass()
	recs := sf.List("Contact")
	if len(recs) != 1 {
		t.Fatalf("Salesforce holds %d contacts after the first pass, want 1", len(recs))
	}
	sfID := recs[0].ID

	// A user renames her in HubSpot; the next pass carries it over. Right
	// after that pass has re-read her Salesforce record, and before its
	// write, another user renames her in Salesforce: the later edit.
	clock.tick()
	if err := hs.Update("contacts", hsID, map[string]any{"firstname": "Annie"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	armed = func() {
		clock.tick()
		if err := sf.Update("Contact", sfID, map[string]any{"FirstName": "Anna"}); err != nil {
			t.Error(err)
		}
	}
	mu.Unlock()
	pass()
	mu.Lock()
	fired := armed == nil
	mu.Unlock()
	if !fired {
		t.Fatal("the pass did not re-read the Salesforce record before writing it")
	}
	pass()

	// Newest wins: the Salesforce edit came last, so both hold "Anna" and
	// a conflict on first_name names "Annie" and "Anna". Before the fix:
	// "Annie" in both, "Anna" gone without a trace.
	h, _ := hs.Get("contacts", hsID)
	s, _ := sf.Get("Contact", sfID)
	st, err := state.OpenReadOnly(statePath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.Conflicts(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	named := false
	for _, c := range all {
		for _, sv := range c.Values {
			if sv.Value == "Anna" {
				named = true
			}
		}
	}
	if h.Properties["firstname"] != "Anna" || str(s.Fields["FirstName"]) != "Anna" {
		t.Errorf("first name: HubSpot %q, Salesforce %q; want the later edit %q in both", h.Properties["firstname"], str(s.Fields["FirstName"]), "Anna")
	}
	if !named {
		t.Errorf("no conflict names the overwritten edit %q (%d conflicts recorded)", "Anna", len(all))
	}
}

// TestChaosStaleWebhookFetch (fixed since: conflict/inbox.go now fetches
// within the engine's turn; kept as a regression test) reproduces the
// other loss the chaos suite found: a webhook merge stages records it
// fetched before a write Tandem made to them since, as if they were new.
// Engine.Inbox fetches the records a delivery names outside the engine's
// turn, then waits for the turn to stage them; a pass that holds the turn
// meanwhile can write those records (its snapshot then says what it wrote).
// The stale view then differs from the snapshot, so the merge takes it for
// an edit: the older value goes into the golden record and out to the
// other system, overwriting a newer edit there; and Tandem's own write,
// whose echo was already read, is never looked at again, so the systems
// stay apart. Under the chaos suite the fetch is held up by latency or a
// retry; here the HubSpot emulator holds its answer until a pass is done
// (or, fixed, until the passes are seen to wait for the fetch).
func TestChaosStaleWebhookFetch(t *testing.T) {
	hsEmu := hubspottest.New(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-token", RateLimit: loopbackRate})
	t.Cleanup(hsEmu.Close)
	var (
		mu      sync.Mutex
		hold    bool // hold the next batch/read's answer
		fetched = make(chan struct{})
		release = make(chan struct{})
	)
	hsSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		held := hold && strings.HasSuffix(r.URL.Path, "/batch/read")
		if held {
			hold = false
		}
		mu.Unlock()
		if !held {
			hsEmu.ServeHTTP(w, r)
			return
		}
		// The record is read now; the answer arrives later.
		rec := httptest.NewRecorder()
		hsEmu.ServeHTTP(rec, r)
		close(fetched)
		<-release
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(hsSrv.Close)
	sf := salesforcetest.NewServer(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret"})
	t.Cleanup(sf.Close)
	dir := t.TempDir()
	config := reproConfig(t, dir, hsSrv.URL, sf.URL, nil, []string{"email", "first_name", "last_name"}, []string{"conflict: { policy: newest, clock_tolerance: 0s }"})
	hsID, err := hsEmu.Create("contacts", map[string]any{"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee"})
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := execute([]string{"sync", "--config", config}, &out, &errb); code != 0 {
		t.Fatalf("first tandem sync: exit %d\n%s", code, errb.String())
	}
	sfID := sf.List("Contact")[0].ID

	// The engine as `tandem run` drives it: webhook merges and passes.
	a, ent := openRepro(t, config)
	ctx := context.Background()

	// A user renames Ann in HubSpot; HubSpot's webhook names the record.
	if err := hsEmu.Update("contacts", hsID, map[string]any{"firstname": "Annie"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.Receive(ctx, "hubspot", "", []state.InboxEvent{{System: "hubspot", Object: "contacts", EventID: "1",
		RecordID: hsID, At: time.Now(), Delivery: "delivery-1"}}); err != nil {
		t.Fatal(err)
	}
	// The webhook merge fetches the record; the answer is slow to come.
	mu.Lock()
	hold = true
	mu.Unlock()
	merged := make(chan error, 1)
	go func() {
		_, err := a.engine.Inbox(ctx, ent)
		if err == nil {
			_, err = a.engine.Drain(ctx, ent, state.RunWebhook)
		}
		merged <- err
	}()
	<-fetched
	// Meanwhile another user changes Ann's last name in Salesforce, and
	// the scheduled passes carry both edits over (the second reads the
	// echo of the first's writes: nothing to do).
	if err := sf.Update("Contact", sfID, map[string]any{"LastName": "Lee-Smith"}); err != nil {
		t.Fatal(err)
	}
	passes := make(chan error, 1)
	go func() {
		var err error
		for range 2 {
			if _, e := a.engine.Sync(ctx, ent); e != nil && err == nil {
				err = e
			}
		}
		passes <- err
	}()
	select {
	case err := <-passes:
		// The passes ran while the fetch was out (the fetch is not within
		// the engine's turn): the scene is set.
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := hsEmu.Get("contacts", hsID); h.Properties["lastname"] != "Lee-Smith" {
			t.Fatalf("the passes did not carry the Salesforce edit over: HubSpot last name %q", h.Properties["lastname"])
		}
		close(release) // the fetch's answer arrives, and the webhook merge stages it
	case <-time.After(3 * time.Second):
		// The passes wait for the fetch: it holds the engine's turn, as
		// a fix would have it. Let it go; the passes run after the merge.
		close(release)
		if err := <-passes; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-merged; err != nil {
		t.Fatal(err)
	}
	if _, err := a.engine.Sync(ctx, ent); err != nil {
		t.Fatal(err)
	}

	// Nobody changed the last name after "Lee-Smith": both systems must
	// hold it. Today Salesforce is back to "Lee" (the stale view, staged
	// as a HubSpot edit), HubSpot keeps "Lee-Smith", and further passes
	// leave them apart.
	h, _ := hsEmu.Get("contacts", hsID)
	s, _ := sf.Get("Contact", sfID)
	if h.Properties["lastname"] != "Lee-Smith" || str(s.Fields["LastName"]) != "Lee-Smith" {
		t.Errorf("last name after the webhook merge and a pass: HubSpot %q, Salesforce %q; want %q in both",
			h.Properties["lastname"], str(s.Fields["LastName"]), "Lee-Smith")
	}
}

// TestChaosSearchPageSkipsRecord (fixed since: a run of ties is paged by
// id, never by offset, connectors/hubspot/pull.go; kept as a regression
// test) is the smallest reproduction of the third loss the chaos suite
// found: a HubSpot pull that paged through a run of records sharing one
// modified time (a batch write stamps them all alike) followed the
// search's offsets (paging.next.after), and an edit made between two of
// those pages moved the edited record to the end of the order: every
// record after it moved up one place, the next page started one record
// late, and the record that moved into the gap was never read. The cursor
// moved past it, so no later pull read it either, until it was edited
// again. (The chaos suite met it as a contact created in HubSpot just
// after Tandem's last batch of creates, which never reached Salesforce.)
// Here the emulator is wrapped so that the edit lands before the pull's
// third search: the one that went to offset 10.
func TestChaosSearchPageSkipsRecord(t *testing.T) {
	var (
		mu  sync.Mutex
		now = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	setClock := func(t time.Time) {
		mu.Lock()
		now = t
		mu.Unlock()
	}
	hsEmu := hubspottest.New(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-token", RateLimit: loopbackRate, Now: clock})
	t.Cleanup(hsEmu.Close)
	// Ten people imported in one go (one modified time), then Zed.
	var tied []string
	for i := range 10 {
		id, err := hsEmu.Create("contacts", map[string]any{"email": fmt.Sprintf("tie%d@example.com", i), "firstname": "Tie", "lastname": fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		tied = append(tied, id)
	}
	setClock(now.Add(time.Second))
	if _, err := hsEmu.Create("contacts", map[string]any{"email": "zed@example.com", "firstname": "Zed", "lastname": "After"}); err != nil {
		t.Fatal(err)
	}
	setClock(now.Add(time.Second))
	// A user edits one of the ten just before the pull's page at offset 10.
	edited, searches := false, 0
	hsSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/search") && !edited {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			// The third search: the first read the ten, the second read
			// them again from their time and made no headway, so the
			// third goes past them (by offset 10 before; by id now).
			if searches++; searches == 3 {
				edited = true
				setClock(now.Add(time.Second))
				if err := hsEmu.Update("contacts", tied[4], map[string]any{"lastname": "Edited"}); err != nil {
					t.Error(err)
				}
			}
		}
		hsEmu.ServeHTTP(w, r)
	}))
	t.Cleanup(hsSrv.Close)
	sf := salesforcetest.NewServer(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret"})
	t.Cleanup(sf.Close)
	dir := t.TempDir()
	config := reproConfig(t, dir, hsSrv.URL, sf.URL, []string{"page_size: 10"}, []string{"email", "first_name", "last_name"}, nil)
	for range 2 {
		var out, errb bytes.Buffer
		if code := execute([]string{"sync", "--config", config}, &out, &errb); code != 0 {
			t.Fatalf("tandem sync: exit %d\n%s", code, errb.String())
		}
	}
	if !edited {
		t.Fatal("the pull made fewer than three searches: the reproduction no longer sets the scene")
	}
	got := map[string]bool{}
	for _, r := range sf.List("Contact") {
		got[str(r.Fields["Email"])] = true
	}
	if !got["zed@example.com"] || len(got) != 11 {
		t.Errorf("after two passes Salesforce holds %d of HubSpot's 11 people; zed@example.com there: %v", len(got), got["zed@example.com"])
	}
}

// TestChaosUnconfirmedWriteBeatsNewerEdit (fixed since: a write's values
// are kept on its outbox row until it is confirmed, and a read that shows
// them is Tandem's echo, conflict/echo.go; kept as a regression test) is
// the smallest reproduction of the fourth loss the chaos suite found. A
// write Tandem makes that the system applies, but whose answer Tandem
// never gets (the connection drops, or the daemon is killed, before the
// checkpoint), left the record's snapshot at the old value. When the
// record was read again, the value Tandem wrote differed from that
// snapshot, so the merge took Tandem's own write for an edit made in that
// system, and timed it with the record's modified time. If a user has
// meanwhile edited another field of that record (which moves the record's
// time), and the field Tandem wrote was edited in the other system in
// between, newest compared the user's newer edit with the record time of
// the unrelated edit and let Tandem's stale value win: the newer edit was
// overwritten, under a conflict decided the wrong way. (HubSpot's
// property_history would give the field its own time; the chaos suite runs
// without it, as the config does by default. The other direction, with
// history on, is TestUnconfirmedSalesforceWriteWithHistory.)
func TestChaosUnconfirmedWriteBeatsNewerEdit(t *testing.T) {
	hsEmu := hubspottest.New(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-token", RateLimit: loopbackRate})
	t.Cleanup(hsEmu.Close)
	var lost lostAnswers // drop the answers of batch/update (the first one is applied)
	hsSrv := lost.server(t, hsEmu, func(r *http.Request, _ bool) bool { return strings.HasSuffix(r.URL.Path, "/batch/update") })
	sf := salesforcetest.NewServer(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret"})
	t.Cleanup(sf.Close)
	dir := t.TempDir()
	config := reproConfig(t, dir, hsSrv.URL, sf.URL, []string{"timeout: 3s"}, []string{"email", "last_name", "title"}, []string{"conflict: { policy: newest, clock_tolerance: 0s }"})
	hsID, err := hsEmu.Create("contacts", map[string]any{"email": "ann@example.com", "lastname": "Lee", "jobtitle": "Clerk"})
	if err != nil {
		t.Fatal(err)
	}
	a, ent := openRepro(t, config)
	ctx := context.Background()
	a.engine.Sync(ctx, ent)
	sfID := sf.List("Contact")[0].ID

	// Salesforce: title "Manager". The pass writes it to HubSpot, which
	// applies it; the answer never comes back.
	sf.Update("Contact", sfID, map[string]any{"Title": "Manager"})
	lost.arm()
	a.engine.Sync(ctx, ent)
	lost.disarm()
	if h, _ := hsEmu.Get("contacts", hsID); h.Properties["jobtitle"] != "Manager" {
		t.Fatalf("the write was not applied: HubSpot title %q", h.Properties["jobtitle"])
	}
	// Later, in this order: a user in Salesforce sets the title to
	// "Director"; a user in HubSpot changes the last name.
	time.Sleep(5 * time.Millisecond)
	sf.Update("Contact", sfID, map[string]any{"Title": "Director"})
	time.Sleep(5 * time.Millisecond)
	hsEmu.Update("contacts", hsID, map[string]any{"lastname": "Lee-Smith"})
	// A pass in which HubSpot cannot be read (Salesforce's edit is merged
	// first), then a pass that reads both.
	hsEmu.SetFaults(hubspottest.Faults{Rate: 1, Kinds: []hubspottest.Fault{hubspottest.Fault503}})
	a.engine.Sync(ctx, ent)
	hsEmu.SetFaults(hubspottest.Faults{})
	a.engine.Sync(ctx, ent)
	a.engine.Sync(ctx, ent)

	// The newest title is Salesforce's "Director"; "Manager" was only
	// Tandem's own earlier write. Before the fix both systems ended with
	// "Manager", under a title conflict decided for HubSpot.
	h, _ := hsEmu.Get("contacts", hsID)
	s, _ := sf.Get("Contact", sfID)
	if h.Properties["jobtitle"] != "Director" || str(s.Fields["Title"]) != "Director" {
		t.Errorf("title: HubSpot %q, Salesforce %q; want the newest edit %q in both", h.Properties["jobtitle"], str(s.Fields["Title"]), "Director")
	}
	if h.Properties["lastname"] != "Lee-Smith" || str(s.Fields["LastName"]) != "Lee-Smith" {
		t.Errorf("last name: HubSpot %q, Salesforce %q; want %q in both", h.Properties["lastname"], str(s.Fields["LastName"]), "Lee-Smith")
	}
}

// TestChaosDeleteTimedByOlderEvent (fixed since: conflict/inbox.go times
// such a delete by its own event, else by now; kept as a regression test)
// reproduces the fifth issue the chaos suite found: a webhook merge whose
// fetch no longer finds a record stages a delete ("a record the system no
// longer has is a delete"), timed with the newest event it holds for the
// record. When the
// deletion's own event was dropped (or has not come yet), that is the time
// of an earlier change, not of the delete, and a delete timed too early
// loses to any edit made elsewhere in between: under propagate, "an edit
// made elsewhere after a delete wins over it", so Tandem creates the
// person again where a user deleted it, though every edit came before the
// delete. (In the suite the "edit" was even Tandem's own write, read back
// unconfirmed: see TestChaosKnownUnconfirmedWriteBeatsNewerEdit.)
func TestChaosDeleteTimedByOlderEvent(t *testing.T) {
	hs := hubspottest.NewServer(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-token", RateLimit: loopbackRate})
	t.Cleanup(hs.Close)
	sf := salesforcetest.NewServer(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret"})
	t.Cleanup(sf.Close)
	dir := t.TempDir()
	config := reproConfig(t, dir, hs.URL, sf.URL, nil, []string{"email", "first_name", "last_name", "title"}, []string{"conflict: { policy: newest, clock_tolerance: 0s }", "deletes: { policy: propagate, max_share: 1 }"})
	for _, who := range []string{"ann", "bob", "cat"} { // three, so one delete is not a mass delete
		if _, err := hs.Create("contacts", map[string]any{"email": who + "@example.com", "firstname": who, "lastname": "Lee", "jobtitle": "Clerk"}); err != nil {
			t.Fatal(err)
		}
	}
	a, ent := openRepro(t, config)
	ctx := context.Background()
	if _, err := a.engine.Sync(ctx, ent); err != nil {
		t.Fatal(err)
	}
	var annHS, annSF string
	for _, o := range hs.List("contacts") {
		if o.Properties["email"] == "ann@example.com" {
			annHS = o.ID
		}
	}
	for _, r := range sf.List("Contact") {
		if str(r.Fields["Email"]) == "ann@example.com" {
			annSF = r.ID
		}
	}

	// In this order: Ann's first name is edited in HubSpot (its webhook
	// event waits in the inbox), her title in Salesforce (a pass carries
	// both edits over), and then a user deletes her in HubSpot; the
	// deletion's webhook is lost.
	if err := hs.Update("contacts", annHS, map[string]any{"firstname": "Annie"}); err != nil {
		t.Fatal(err)
	}
	o, _ := hs.Get("contacts", annHS)
	if _, err := a.store.Receive(ctx, "hubspot", "", []state.InboxEvent{{System: "hubspot", Object: "contacts", EventID: "1",
		RecordID: annHS, At: o.UpdatedAt, Delivery: "delivery-1"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if err := sf.Update("Contact", annSF, map[string]any{"Title": "Manager"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.engine.Sync(ctx, ent); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if err := hs.Delete("contacts", annHS); err != nil {
		t.Fatal(err)
	}
	// The webhook merge runs first: the record it fetches is gone.
	if _, err := a.engine.Inbox(ctx, ent); err != nil {
		t.Fatal(err)
	}
	a.engine.Drain(ctx, ent, state.RunWebhook)
	if _, err := a.engine.Sync(ctx, ent); err != nil {
		t.Fatal(err)
	}

	// Every edit came before the delete, so the delete stands: Ann is gone
	// from both systems. Today HubSpot gets her back as a new record.
	var inHS, inSF int
	for _, o := range hs.List("contacts") {
		if o.Properties["email"] == "ann@example.com" {
			inHS++
		}
	}
	for _, r := range sf.List("Contact") {
		if str(r.Fields["Email"]) == "ann@example.com" {
			inSF++
		}
	}
	if inHS != 0 || inSF != 0 {
		t.Errorf("after a delete in HubSpot that came after every edit: HubSpot holds Ann %d times, Salesforce %d; want 0 and 0", inHS, inSF)
	}
}

// TestChaosEnginePassRace (fixed since: the webhook merge logs through
// baseLog and takes the turn before it sets e.pass; kept as a regression
// test, which the race detector judges) shows the data race the chaos
// suite's run under the race detector met in every daemon (which then
// exited 66 after SIGTERM): Engine.inboxBatch built its logger with
// e.log() before it took the engine's turn, so it read e.pass while a
// pass, holding the turn, wrote it (conflict/engine.go Sync;
// conflict/inbox.go). Besides the race, webhook merges logged the pass id
// of whatever else ran (their "webhook events merged" lines carried two
// "pass" keys). Run it with -race.
func TestChaosEnginePassRace(t *testing.T) {
	hs := hubspottest.NewServer(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-token", RateLimit: loopbackRate})
	t.Cleanup(hs.Close)
	sf := salesforcetest.NewServer(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret"})
	t.Cleanup(sf.Close)
	dir := t.TempDir()
	config := reproConfig(t, dir, hs.URL, sf.URL, nil, []string{"email", "last_name"}, nil)
	id, err := hs.Create("contacts", map[string]any{"email": "ann@example.com", "lastname": "Lee"})
	if err != nil {
		t.Fatal(err)
	}
	a, ent := openRepro(t, config)
	ctx := context.Background()
	for i := range 20 {
		if _, err := a.store.Receive(ctx, "hubspot", "", []state.InboxEvent{{System: "hubspot", Object: "contacts", EventID: fmt.Sprint(i),
			RecordID: id, At: time.Now(), Delivery: fmt.Sprint("delivery-", i)}}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); a.engine.Sync(ctx, ent) }()
		go func() { defer wg.Done(); a.engine.Inbox(ctx, ent) }()
		wg.Wait()
	}
}

// TestChaosSalesforceCursorSkipsEdit (fixed since: the pull keeps the
// shared watermark, connectors/cursor.go; kept as a regression test) is
// the smallest reproduction of the last loss the chaos suite found (in its
// full run). A Salesforce pull capped its cursor below Date + 1 s, the end
// of the second its query ran in. But the query's result set is fixed
// when it runs, part-way through that second, and its later batches are
// read when fetched: a record of the result set edited later in that
// second came back with its new stamp and moved the cursor there, past an
// edit of a record outside the result set made in between, and the cursor
// skipped by id the records it had read at its stamp. The next pull
// skipped that edit as seen, and no pull read it again until the record
// was edited again. Now the cursor never passes the server's time before
// the query, each pull reads an overlap window again, and only versions
// (id and bytes) are skipped. Here the emulator (batches of one record, a
// clock the test moves, whole-second stamps as in Salesforce) is wrapped
// so that the two edits land between the query's first and second batch.
func TestChaosSalesforceCursorSkipsEdit(t *testing.T) {
	var (
		mu  sync.Mutex
		now = time.Date(2026, 1, 5, 9, 58, 0, 0, time.UTC)
	)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	at := func(t time.Time) {
		mu.Lock()
		now = t
		mu.Unlock()
	}
	sfEmu := salesforcetest.New(salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret", BatchSize: 1, Now: clock})
	t.Cleanup(sfEmu.Close)
	// B is older than the others, so a pull from their second leaves it out.
	b, _ := sfEmu.Create("Contact", map[string]any{"Email": "b@example.com", "LastName": "B"})
	at(time.Date(2026, 1, 5, 9, 59, 0, 0, time.UTC))
	x, _ := sfEmu.Create("Contact", map[string]any{"Email": "x@example.com", "LastName": "X"})
	a, _ := sfEmu.Create("Contact", map[string]any{"Email": "a@example.com", "LastName": "A"})
	sec := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	armed := false
	sfSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The query's second batch: first B is edited (outside the result
		// set), then A (inside it), both in the second the query ran in.
		if armed && strings.Contains(r.URL.Path, "/queryAll/") {
			armed = false
			at(sec.Add(300 * time.Millisecond))
			if err := sfEmu.Update("Contact", b, map[string]any{"LastName": "B-edited"}); err != nil {
				t.Error(err)
			}
			at(sec.Add(400 * time.Millisecond))
			if err := sfEmu.Update("Contact", a, map[string]any{"LastName": "A-edited"}); err != nil {
				t.Error(err)
			}
		}
		sfEmu.ServeHTTP(w, r)
	}))
	t.Cleanup(sfSrv.Close)
	hs := hubspottest.NewServer(hubspottest.Options{UniqueProperties: tandemKeys, Token: "hs-token", RateLimit: loopbackRate})
	t.Cleanup(hs.Close)
	dir := t.TempDir()
	config := reproConfig(t, dir, hs.URL, sfSrv.URL, nil, []string{"email", "last_name"}, nil)
	pass := func() {
		t.Helper()
		var out, errb bytes.Buffer
		if code := execute([]string{"sync", "--config", config}, &out, &errb); code != 0 {
			t.Fatalf("tandem sync: exit %d\n%s", code, errb.String())
		}
	}
	at(time.Date(2026, 1, 5, 9, 59, 30, 0, time.UTC))
	pass() // the three reach HubSpot; the cursor is at 09:59:00

	// X and A are edited at 10:00:00.1; the next pull's query runs at .2.
	at(sec.Add(100 * time.Millisecond))
	sfEmu.Update("Contact", x, map[string]any{"LastName": "X-edited"})
	sfEmu.Update("Contact", a, map[string]any{"LastName": "A-edited-first"})
	at(sec.Add(200 * time.Millisecond))
	armed = true
	pass()
	if armed {
		t.Fatal("the pull never asked for a second batch: the reproduction no longer sets the scene")
	}
	at(sec.Add(5 * time.Second))
	pass()
	pass()

	got := map[string]string{}
	for _, o := range hs.List("contacts") {
		got[o.Properties["email"]] = o.Properties["lastname"]
	}
	if got["b@example.com"] != "B-edited" || got["a@example.com"] != "A-edited" || got["x@example.com"] != "X-edited" {
		t.Errorf("HubSpot after three passes: %v; want B-edited, A-edited and X-edited", got)
	}
}

// reproConfig writes the config of a reproduction to dir and returns its
// path (the state file is dir/tandem.db): HubSpot (with the loopback rate
// limits and hubspot's extra keys) and Salesforce syncing contacts matched
// by email, with the canonical fields named (email, first_name,
// last_name, title) and the entity's extra keys.
func reproConfig(t *testing.T, dir, hsURL, sfURL string, hubspot, fields, entity []string) string {
	t.Helper()
	paths := map[string][2]string{
		"email": {"properties.email", "Email"}, "first_name": {"properties.firstname", "FirstName"},
		"last_name": {"properties.lastname", "LastName"}, "title": {"properties.jobtitle", "Title"},
	}
	var canon, hs, sf []string
	for _, f := range fields {
		typ := "string"
		if f == "email" {
			typ = "email"
		}
		canon = append(canon, f+": "+typ)
		hs = append(hs, f+": "+paths[f][0])
		sf = append(sf, f+": "+paths[f][1])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "state: %s\nsystems:\n  hubspot:\n    type: hubspot\n    base_url: %s\n    token: hs-token\n", filepath.Join(dir, "tandem.db"), hsURL)
	for _, k := range hubspot {
		fmt.Fprintf(&b, "    %s\n", k)
	}
	fmt.Fprintf(&b, "    rate_limit: { requests: 100000, per: 10s }\n    search_rate_limit: { requests: 10000, per: 1s }\n")
	fmt.Fprintf(&b, "  salesforce:\n    type: salesforce\n    instance_url: %s\n    client_id: cid\n    client_secret: csecret\n", sfURL)
	fmt.Fprintf(&b, "entities:\n  contact:\n    match: [email]\n    fields: { %s }\n    systems:\n", strings.Join(canon, ", "))
	fmt.Fprintf(&b, "      hubspot:\n        object: contacts\n        fields: { %s }\n", strings.Join(hs, ", "))
	fmt.Fprintf(&b, "      salesforce:\n        object: Contact\n        fields: { %s }\n", strings.Join(sf, ", "))
	for _, k := range entity {
		fmt.Fprintf(&b, "    %s\n", k)
	}
	config := filepath.Join(dir, "tandem.yaml")
	if err := os.WriteFile(config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return config
}
