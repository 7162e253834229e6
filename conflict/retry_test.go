package conflict

import (
	"context"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/mapping"
	"tandem/mapping/config"
	"tandem/state"
)

// Dead letters as tandem deadletters and the console handle them: a
// write retried is planned afresh and lands, one discarded is never made,
// a record set aside is read again. Each runs over echoWorld (Ann linked
// in a and b).

// refuseUpdates makes b refuse every update for good, as a validation
// rule a person set up in b would.
func refuseUpdates(w tandem.Write) error {
	if w.Op == tandem.OpUpdate {
		return &tandem.Error{Op: "update", Message: "FIELD_CUSTOM_VALIDATION_EXCEPTION"}
	}
	return nil
}

// deadLetters lists the dead letters; the test fails unless there are n.
func (w *echoWorld) deadLetters(n int) []state.DeadLetter {
	w.t.Helper()
	ds, err := w.e.Store.DeadLetters(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	if len(ds) != n {
		w.t.Fatalf("dead letters = %+v, want %d", ds, n)
	}
	return ds
}

// lastAudit is the newest entry of the audit trail.
func (w *echoWorld) lastAudit() state.AuditEntry {
	w.t.Helper()
	log, err := w.e.Store.AuditLog(context.Background(), 1)
	if err != nil || len(log) != 1 {
		w.t.Fatalf("audit log = %+v, %v", log, err)
	}
	return log[0]
}

// A write b refused for good is set aside; once b takes it again (the
// validation rule fixed), a retry plans it from the current record and
// the next pass lands it. If the record came to agree meanwhile, the
// retry queues nothing and says so. Either way the dead letter is gone and
// the retry is in the audit trail.
func TestDeadWriteRetried(t *testing.T) {
	for _, tc := range []struct {
		name      string
		meanwhile func(w *echoWorld) // after the write died, before the retry
		answer    string
		detail    string
		queued    bool
	}{
		{name: "planned again and written", meanwhile: func(*echoWorld) {},
			answer: "write to b B planned again from the current record", detail: "planned again from the current record", queued: true},
		{name: "b came to agree meanwhile: no write",
			meanwhile: func(w *echoWorld) {
				w.tick()
				w.b.put(w.b.live()[0], map[string]any{"name": "Annie"}) // a person typed it in b
				w.sync()
			},
			answer: "b B needs no write any more; set aside no longer", detail: "needs no write any more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newEchoWorld(t, "{policy: newest}")
			bAnn := w.b.live()[0]
			w.b.refuse = refuseUpdates
			w.tick()
			w.a.put("1", map[string]any{"name": "Annie"})
			w.sync()
			if got := w.b.get(bAnn)["name"]; got != "Ann" {
				t.Fatalf("b's name = %v: the refused write landed", got)
			}
			d := w.deadLetters(1)[0]
			if d.Kind != state.DeadWrite || d.System != "b" || d.RecordID != bAnn || !strings.Contains(d.Reason, "VALIDATION") {
				t.Fatalf("dead letter = %+v", d)
			}
			w.b.refuse = nil
			tc.meanwhile(w)
			ctx := context.Background()
			answer, err := w.e.Retry(ctx, w.cfg, d, "ops")
			if err != nil || answer != tc.answer {
				t.Fatalf("retry = %q, %v; want %q", answer, err, tc.answer)
			}
			w.deadLetters(0)
			if a := w.lastAudit(); a.Actor != "ops" || a.Action != "retry" || !strings.Contains(a.Subject, d.ID) || a.Detail != tc.detail {
				t.Errorf("audit = %+v", a)
			}
			pending, err := w.e.Store.Pending(ctx, "b", "B", 0, 10)
			if err != nil || (len(pending) == 1) != tc.queued {
				t.Errorf("b's outbox after the retry = %+v, %v; want queued %v", pending, err, tc.queued)
			}
			w.sync()
			if got := w.b.get(bAnn)["name"]; got != "Annie" {
				t.Errorf("b's name = %v, want Annie", got)
			}
			if _, err := w.e.Retry(ctx, w.cfg, d, "ops"); err == nil {
				t.Error("a dead letter retried twice: no error")
			}
		})
	}
}

// A dead write discarded is never made; discarding names all or none.
func TestDeadWriteDiscarded(t *testing.T) {
	w := newEchoWorld(t, "{policy: newest}")
	bAnn := w.b.live()[0]
	w.b.refuse = refuseUpdates
	w.tick()
	w.a.put("1", map[string]any{"name": "Annie"})
	w.sync()
	d := w.deadLetters(1)[0]
	ctx := context.Background()
	if err := w.e.Discard(ctx, "ops", d.ID, "w999"); err == nil || !strings.Contains(err.Error(), "w999") {
		t.Fatalf("discard of one dead letter and one unknown: err = %v", err)
	}
	w.deadLetters(1) // nothing discarded
	if err := w.e.Discard(ctx, "ops", d.ID); err != nil {
		t.Fatal(err)
	}
	w.deadLetters(0)
	if a := w.lastAudit(); a.Actor != "ops" || a.Action != "discard" || a.Subject != "dead letter "+d.ID {
		t.Errorf("audit = %+v", a)
	}
	w.b.refuse = nil
	w.sync()
	if got := w.b.get(bAnn)["name"]; got != "Ann" {
		t.Errorf("b's name = %v: the discarded write was made", got)
	}
}

// A record set aside (its email does not read as one) is read again on
// retry: fixed meanwhile by an edit no incremental pull sees (stamped
// before the cursor), it is read through the inbox and created in b.
func TestDeadRecordRetried(t *testing.T) {
	w := newEchoWorld(t, "{policy: newest}")
	w.tick()
	w.a.put("2", map[string]any{"email": "carl", "name": "Carl"})
	w.sync()
	d := w.deadLetters(1)[0]
	if d.Kind != state.DeadRecord || d.System != "a" || d.RecordID != "2" {
		t.Fatalf("dead letter = %+v", d)
	}
	back := w.now
	w.now = w.now.Add(-time.Hour)
	w.a.put("2", map[string]any{"email": "carl@x.com"})
	w.now = back
	w.sync()
	if got := len(w.b.live()); got != 1 {
		t.Fatalf("b holds %d records: the fix was read by a pull, the test shows nothing", got)
	}
	ctx := context.Background()
	answer, err := w.e.Retry(ctx, w.cfg, d, "ops")
	if err != nil || answer != "a A record 2 to be read again" {
		t.Fatalf("retry = %q, %v", answer, err)
	}
	w.deadLetters(0)
	if a := w.lastAudit(); a.Action != "retry" || a.Detail != "read again" {
		t.Errorf("audit = %+v", a)
	}
	if _, err := w.e.Retry(ctx, w.cfg, d, "ops"); err == nil || !strings.Contains(err.Error(), "no such record") {
		t.Errorf("a record retried twice: err = %v", err)
	}
	if _, err := w.e.Inbox(ctx, w.ent); err != nil {
		t.Fatal(err)
	}
	if _, err := w.e.Drain(ctx, w.ent, state.RunWebhook); err != nil {
		t.Fatal(err)
	}
	var carl map[string]any
	for _, id := range w.b.live() {
		if r := w.b.get(id); r["email"] == "carl@x.com" {
			carl = r
		}
	}
	if carl == nil || carl["name"] != "Carl" {
		t.Errorf("b's records %v: want Carl created", w.b.live())
	}
}

// maskConfig has a contact (name and phone sensitive) in a and b, and a
// company in a only.
func maskConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(`state: x.db
systems:
  a: {type: hubspot}
  b: {type: salesforce}
entities:
  contact:
    match: [email]
    fields: {email: email, name: {type: string, sensitive: true}, phone: {type: string, sensitive: true}}
    systems:
      a: {object: A, fields: {email: email, name: name, phone: props.phone}}
      b: {object: B, fields: {email: email, phone: phone}}
  company:
    match: [domain]
    fields: {domain: string}
    systems:
      a: {object: C, fields: {domain: domain}}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The entity a dead letter belongs to is found by its system and object
// (and its entity, when it names one); none when the config no longer
// maps them, which a retry reports instead of guessing.
func TestEntityOfDeadLetter(t *testing.T) {
	cfg := maskConfig(t)
	for _, tc := range []struct {
		d    state.DeadLetter
		want string
	}{
		{state.DeadLetter{System: "a", Object: "A"}, "contact"},
		{state.DeadLetter{System: "a", Object: "C"}, "company"},
		{state.DeadLetter{Entity: "contact", System: "b", Object: "B"}, "contact"},
		{state.DeadLetter{Entity: "company", System: "a", Object: "A"}, ""}, // the company is not in a's A
		{state.DeadLetter{System: "b", Object: "C"}, ""},
		{state.DeadLetter{System: "c", Object: "A"}, ""},
	} {
		var got string
		if e := EntityOf(cfg, tc.d); e != nil {
			got = e.Name
		}
		if got != tc.want {
			t.Errorf("EntityOf(%s %s %s) = %q, want %q", tc.d.Entity, tc.d.System, tc.d.Object, got, tc.want)
		}
	}
	e := &Engine{}
	d := state.DeadLetter{ID: "w1", Kind: state.DeadWrite, System: "c", Object: "A"}
	if _, err := e.Retry(context.Background(), cfg, d, ""); err == nil || !strings.Contains(err.Error(), "no entity") {
		t.Errorf("retry of a dead letter no entity maps: err = %v", err)
	}
}

// A dead letter shown to a person masks the sensitive fields: every
// value a write sent (an empty one stays empty), and their paths in a
// record's payload; the others are shown as they are.
func TestMaskDeadLetter(t *testing.T) {
	cfg := maskConfig(t)
	d := state.DeadLetter{System: "a", Object: "A",
		Sent: state.InFlight{"phone": {"555-1234", nil}, "email": {"ann@x.com"}},
		Raw:  []byte(`{"email":"ann@x.com","props":{"phone":"555-1234"}}`)}
	MaskDeadLetter(cfg, &d)
	if got := d.Sent["phone"]; len(got) != 2 || got[0] != mapping.Masked || got[1] != nil {
		t.Errorf("sent phone = %v, want masked, and the empty value empty", got)
	}
	if got := d.Sent["email"]; len(got) != 1 || got[0] != "ann@x.com" {
		t.Errorf("sent email = %v, want it as sent", got)
	}
	if strings.Contains(string(d.Raw), "555") || !strings.Contains(string(d.Raw), "ann@x.com") {
		t.Errorf("raw = %s, want the phone masked and the email shown", d.Raw)
	}
	other := state.DeadLetter{System: "c", Object: "A", Sent: state.InFlight{"phone": {"555"}}}
	MaskDeadLetter(cfg, &other)
	if other.Sent["phone"][0] != "555" {
		t.Errorf("a dead letter no entity maps was changed: %v", other.Sent)
	}
}
