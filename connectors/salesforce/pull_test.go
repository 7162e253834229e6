package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors/salesforce/salesforcetest"
)

func TestPullAllBatches(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{BatchSize: 3})
	var want []string
	for i := 0; i < 10; i++ {
		want = append(want, f.create(t, "Contact", map[string]any{"LastName": fmt.Sprintf("L%d", i), "Email": fmt.Sprintf("p%d@example.com", i), "Title": "not asked for"}))
		f.clk.Add(700 * time.Millisecond)
	}
	p := f.pull(t, "Contact", "", "Email", "FirstName", `attributes.type`, "Lifecycle__c", "email")

	if len(p.pages) != 4 {
		t.Fatalf("%d pages, want 4 (batches of 3)", len(p.pages))
	}
	if !sameIDs(p.ids(), want) {
		t.Fatalf("ids %v, want %v", p.ids(), want)
	}
	r := p.pages[0].Records[0]
	raw := gjson.ParseBytes(r.Raw)
	if raw.Get("attributes.type").String() != "Contact" || raw.Get("Email").String() != "p0@example.com" || raw.Get("Title").Exists() {
		t.Fatalf("raw record: %s", r.Raw)
	}
	if !raw.Get("Lifecycle__c").Exists() || raw.Get("Lifecycle__c").Type != gjson.Null {
		t.Fatalf("a selected empty field must come as null: %s", r.Raw)
	}
	stored, _ := f.sf.Get("Contact", r.ID)
	if len(r.ID) != 18 || !r.Modified.Equal(stored.LastModifiedDate) || r.Deleted {
		t.Fatalf("record %+v, stored %+v", r, stored)
	}

	// The SOQL sent: the fixed fields once, the asked fields once each.
	first := firstQuery(t, f)
	if first != "SELECT Id, SystemModstamp, LastModifiedDate, IsDeleted, Email, FirstName, Lifecycle__c FROM Contact ORDER BY SystemModstamp, Id" {
		t.Fatalf("SOQL sent: %s", first)
	}
}

// firstQuery is the SOQL of the first query the emulator received.
func firstQuery(t *testing.T, f *fixture) string {
	t.Helper()
	for _, r := range f.sf.Requests() {
		if strings.HasSuffix(r.Path, "/queryAll") {
			return queryParam(t, r.RawQuery)
		}
	}
	t.Fatal("no query sent")
	return ""
}

func queryParam(t *testing.T, raw string) string {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	return v.Get("q")
}

func TestResumeFromEveryPage(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{BatchSize: 4})
	for i := 0; i < 14; i++ {
		f.create(t, "Contact", map[string]any{"LastName": fmt.Sprintf("L%d", i)})
		f.clk.Add(350 * time.Millisecond) // several records a second
	}
	full := f.pull(t, "Contact", "")
	all := full.ids()
	seen := 0
	for i, pg := range full.pages {
		seen += len(pg.Records)
		rest := f.pull(t, "Contact", pg.Cursor).ids()
		if !sameIDs(rest, all[seen:]) {
			t.Fatalf("resume after page %d: got %v, want %v", i, rest, all[seen:])
		}
	}
	if got := f.pull(t, "Contact", full.last()); len(got.ids()) != 0 {
		t.Fatalf("nothing changed, yet a pull from the last cursor returned %v", got.ids())
	}
}

func TestTiesAtOneStamp(t *testing.T) {
	// A fixed clock: every record has the same SystemModstamp, as after a
	// bulk load. Batches cut through the tie.
	f := newFixture(t, salesforcetest.Options{BatchSize: 4})
	var want []string
	for i := 0; i < 25; i++ {
		want = append(want, f.create(t, "Contact", map[string]any{"LastName": fmt.Sprintf("L%d", i)}))
	}
	full := f.pull(t, "Contact", "")
	if !sameIDs(full.ids(), want) || len(full.pages) != 7 {
		t.Fatalf("%d pages, ids %v; want 7 pages of %v", len(full.pages), full.ids(), want)
	}
	seen := 0
	for i, pg := range full.pages {
		seen += len(pg.Records)
		if rest := f.pull(t, "Contact", pg.Cursor).ids(); !sameIDs(rest, want[seen:]) {
			t.Fatalf("resume after page %d: got %d records %v, want %v", i, len(rest), rest, want[seen:])
		}
	}
	// More records at the very same stamp are new, and only they come.
	extra := f.create(t, "Contact", map[string]any{"LastName": "Late"})
	if got := f.pull(t, "Contact", full.last()).ids(); !sameIDs(got, []string{extra}) {
		t.Fatalf("after a late record at the same stamp: %v, want [%s]", got, extra)
	}
}

func TestTiesWithinOneSecond(t *testing.T) {
	// SystemModstamp has whole seconds: three records share each one, and
	// batches of three cut them anywhere.
	f := newFixture(t, salesforcetest.Options{BatchSize: 3})
	var ids []string
	for i := 0; i < 12; i++ {
		ids = append(ids, f.create(t, "Contact", map[string]any{"LastName": fmt.Sprintf("L%d", i)}))
		if i%3 == 1 && i < 11 {
			f.clk.Add(time.Second)
		}
	}
	full := f.pull(t, "Contact", "", "Title")
	if !sameIDs(full.ids(), ids) {
		t.Fatalf("full pull %v, want %v", full.ids(), ids)
	}
	seen := 0
	for i, pg := range full.pages {
		seen += len(pg.Records)
		if rest := f.pull(t, "Contact", pg.Cursor, "Title").ids(); !sameIDs(rest, ids[seen:]) {
			t.Fatalf("resume after page %d: got %v, want %v", i, rest, ids[seen:])
		}
	}
	// An edit in the same second keeps the stamp, and is a change (of a
	// field the pull reads: the bytes read are the version).
	f.clk.Add(100 * time.Millisecond)
	if err := f.sf.Update("Contact", ids[11], map[string]any{"Title": "Edited"}); err != nil {
		t.Fatal(err)
	}
	got := f.pull(t, "Contact", full.last(), "Title")
	if !sameIDs(got.ids(), ids[11:]) {
		t.Fatalf("after an edit in the same second: %v, want [%s]", got.ids(), ids[11])
	}
}

func TestPullDeletes(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	keep := f.create(t, "Contact", map[string]any{"LastName": "Keep"})
	gone := f.create(t, "Contact", map[string]any{"LastName": "Gone"})
	cur := f.pull(t, "Contact", "").last()
	f.clk.Add(time.Second)
	if err := f.sf.Delete("Contact", gone); err != nil {
		t.Fatal(err)
	}
	p := f.pull(t, "Contact", cur)
	if len(p.ids()) != 1 || p.ids()[0] != gone || !p.pages[0].Records[0].Deleted {
		t.Fatalf("after delete: %+v", p.pages)
	}
	if slices.Contains(p.ids(), keep) {
		t.Fatalf("unchanged record %s pulled again", keep)
	}
}

func TestPullEditDuringPaging(t *testing.T) {
	// The result set of a query is fixed when it runs, but each batch is
	// read when fetched. Here, between two batches, record a (already
	// emitted) is edited, then record d (still to come) is edited. d comes
	// with a stamp later than a's edit, which the running query cannot see.
	f := newFixture(t, salesforcetest.Options{BatchSize: 2})
	var ids []string
	for i := 0; i < 4; i++ {
		ids = append(ids, f.create(t, "Contact", map[string]any{"LastName": fmt.Sprintf("L%d", i)}))
		f.clk.Add(time.Second)
	}
	var p pulled
	err := f.c.Pull(context.Background(), tandem.Query{Object: "Contact"}, func(pg tandem.Page) error {
		p.pages = append(p.pages, pg)
		if len(p.pages) == 1 {
			f.clk.Add(5 * time.Second)
			f.sf.Update("Contact", ids[0], map[string]any{"Title": "edited while paging"})
			f.clk.Add(time.Millisecond)
			f.sf.Update("Contact", ids[3], map[string]any{"Title": "edited while paging"})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sameIDs(p.ids(), ids) {
		t.Fatalf("first pull %v, want %v", p.ids(), ids)
	}
	// The edit to a must not be lost behind d's newer stamp.
	next := f.pull(t, "Contact", p.last()).ids()
	if !slices.Contains(next, ids[0]) {
		t.Fatalf("next pull %v lost the edit to %s made during paging", next, ids[0])
	}
}

func TestPullEditOutOfOrder(t *testing.T) {
	// Within one second: c, first of the second batch, is edited while the
	// client pages, so it comes with a stamp later than d's, which follows
	// it. d must still be emitted.
	f := newFixture(t, salesforcetest.Options{BatchSize: 2})
	var ids []string
	for i := 0; i < 4; i++ {
		ids = append(ids, f.create(t, "Contact", map[string]any{"LastName": fmt.Sprintf("L%d", i)}))
		f.clk.Add(time.Millisecond)
	}
	var p pulled
	err := f.c.Pull(context.Background(), tandem.Query{Object: "Contact"}, func(pg tandem.Page) error {
		p.pages = append(p.pages, pg)
		if len(p.pages) == 1 {
			f.sf.Update("Contact", ids[2], map[string]any{"Title": "edited while paging"})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sameIDs(p.ids(), ids) {
		t.Fatalf("pull %v, want %v", p.ids(), ids)
	}
}

func TestPullErrors(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	ctx := context.Background()
	noop := func(tandem.Page) error { return nil }
	tests := []struct {
		name string
		q    tandem.Query
		code string
		msg  string
	}{
		{"unknown object", tandem.Query{Object: "Lead"}, "INVALID_TYPE", "sObject type 'Lead' is not supported"},
		{"unknown field", tandem.Query{Object: "Contact", Fields: []string{"Nope__c"}}, "INVALID_FIELD", "No such column 'Nope__c'"},
		{"not a field name", tandem.Query{Object: "Contact", Fields: []string{"@this"}}, "", "is not a Salesforce field name"},
		{"not an object name", tandem.Query{Object: "Contact WHERE"}, "", "is not a Salesforce object name"},
		{"bad cursor", tandem.Query{Object: "Contact", After: "yesterday"}, "", "invalid cursor"},
	}
	for _, tt := range tests {
		err := f.c.Pull(ctx, tt.q, noop)
		var te *tandem.Error
		if !errors.As(err, &te) || te.Code != tt.code || te.Retryable || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: %v (%#v), want code %q containing %q", tt.name, err, te, tt.code, tt.msg)
		}
	}
	stop := errors.New("stop")
	f.create(t, "Contact", map[string]any{"LastName": "X"})
	if err := f.c.Pull(ctx, tandem.Query{Object: "Contact"}, func(tandem.Page) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("page error not returned: %v", err)
	}
}

func TestSelectList(t *testing.T) {
	got, err := selectList([]string{"Email", `Odd\.Name`, "Account.Name", "email", "attributes.url", "Id"})
	if err == nil {
		t.Fatalf("Odd.Name accepted as a field: %v", got)
	}
	got, err = selectList([]string{"Email", "Account.Name", "email", "attributes.url", "Id", "Lifecycle__c"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Id", "SystemModstamp", "LastModifiedDate", "IsDeleted", "Email", "Account", "Lifecycle__c"}
	if !sameIDs(got, want) {
		t.Fatalf("selectList = %v, want %v", got, want)
	}
}
