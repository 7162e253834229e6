package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors/salesforce/salesforcetest"
)

// An update of a record modified within the conditional window goes as an
// sObject Rows subrequest of a Composite call with If-Unmodified-Since (the
// time the engine read it at); the others go in a collection. A record edited since that time
// is not overwritten: its write fails retryable, wrapping ErrConflict.
func TestConditionalUpdate(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	f.c.now = f.clk.Now
	a := f.create(t, "Contact", map[string]any{"LastName": "A"})
	b := f.create(t, "Contact", map[string]any{"LastName": "B"})
	readAt := func(id string) time.Time { r, _ := f.sf.Get("Contact", id); return r.LastModifiedDate }
	aRead := readAt(a)
	f.clk.Add(time.Minute) // the write comes a minute after A was last changed: within the window
	res, err := f.c.Apply(context.Background(), "Contact", []tandem.Write{
		{Op: tandem.OpUpdate, ID: a, Payload: []byte(`{"FirstName":"Ann"}`), Unmodified: aRead},
		{Op: tandem.OpUpdate, ID: b, Payload: []byte(`{"FirstName":"Bob"}`)},
	})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("apply: %v %+v", err, res)
	}
	var composite, collections int
	for _, r := range f.sf.Requests() {
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/composite"):
			composite++
			sub := gjson.GetBytes(r.Body, "compositeRequest.0")
			if n := len(gjson.GetBytes(r.Body, "compositeRequest").Array()); n != 1 || sub.Get("method").String() != "PATCH" ||
				!strings.HasSuffix(sub.Get("url").String(), "/sobjects/Contact/"+a) || sub.Get("httpHeaders.If-Unmodified-Since").String() == "" {
				t.Errorf("composite call %s: want one conditional PATCH of A", r.Body)
			}
		case r.Method == http.MethodPatch && strings.HasSuffix(r.Path, "/composite/sobjects"):
			collections++
		}
	}
	if composite != 1 || collections != 1 {
		t.Errorf("%d composite and %d collection calls, want one of each", composite, collections)
	}

	// A person edits A after Tandem read it (a second later): the write
	// planned from the read is refused, and A keeps the person's edit.
	aRead = readAt(a)
	f.clk.Add(time.Second)
	if err := f.sf.Update("Contact", a, map[string]any{"FirstName": "Anna"}); err != nil {
		t.Fatal(err)
	}
	res, err = f.c.Apply(context.Background(), "Contact", []tandem.Write{{Op: tandem.OpUpdate, ID: a, Payload: []byte(`{"FirstName":"Annie"}`), Unmodified: aRead}})
	if err != nil {
		t.Fatal(err)
	}
	if e := res[0].Err; e == nil || !tandem.IsRetryable(e) || !errors.Is(e, tandem.ErrConflict) {
		t.Errorf("write over an edit made since the read: err %v; want a retryable ErrConflict", e)
	}
	if r, _ := f.sf.Get("Contact", a); r.Fields["FirstName"] != "Anna" {
		t.Errorf("A's first name = %v, want the person's Anna kept", r.Fields["FirstName"])
	}

	// Outside the window (A read an hour before the write), the update goes
	// in a collection, unguarded: the window that remains.
	f.clk.Add(time.Hour)
	res, err = f.c.Apply(context.Background(), "Contact", []tandem.Write{{Op: tandem.OpUpdate, ID: a, Payload: []byte(`{"FirstName":"Annie"}`), Unmodified: aRead}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("apply outside the window: %v %+v", err, res)
	}
	if r, _ := f.sf.Get("Contact", a); r.Fields["FirstName"] != "Annie" {
		t.Errorf("A's first name = %v, want Annie", r.Fields["FirstName"])
	}
}

// conditional_window: 0s turns conditional updates off; unset is 5m.
func TestConditionalWindowConfig(t *testing.T) {
	for _, tc := range []struct {
		extra string
		want  time.Duration
	}{{"", DefaultConditionalWindow}, {"conditional_window: 0s\n", -1}, {"conditional_window: 30s\n", 30 * time.Second}} {
		conn, err := New(config(t, "type: salesforce\ninstance_url: https://x.my.salesforce.com\nclient_id: id\nclient_secret: s\n"+tc.extra))
		if err != nil {
			t.Fatal(err)
		}
		if got := conn.(*Client).condWindow; got != tc.want {
			t.Errorf("%q: window %v, want %v", tc.extra, got, tc.want)
		}
	}
}

// Thirty recently edited records take two Composite calls (25 + 5); one
// refused in the middle fails alone.
func TestConditionalUpdatesShareCompositeCalls(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	f.c.now = f.clk.Now
	var writes []tandem.Write
	for i := range 30 {
		id := f.create(t, "Contact", map[string]any{"LastName": fmt.Sprint(i)})
		r, _ := f.sf.Get("Contact", id)
		writes = append(writes, tandem.Write{Op: tandem.OpUpdate, ID: id, Payload: []byte(`{"FirstName":"x"}`), Unmodified: r.LastModifiedDate})
	}
	f.clk.Add(2 * time.Second)
	if err := f.sf.Update("Contact", writes[7].ID, map[string]any{"FirstName": "edited"}); err != nil {
		t.Fatal(err)
	}
	before := len(f.sf.Requests())
	res, err := f.c.Apply(context.Background(), "Contact", writes)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if (i == 7) != (r.Err != nil) {
			t.Errorf("write %d: err %v; want only write 7 refused", i, r.Err)
		}
	}
	if !errors.Is(res[7].Err, tandem.ErrConflict) {
		t.Errorf("write 7: %v, want ErrConflict", res[7].Err)
	}
	calls := 0
	for _, r := range f.sf.Requests()[before:] {
		if strings.Contains(r.Path, "/services/data/") {
			calls++
		}
	}
	if calls != 2 {
		t.Errorf("%d API calls for 30 conditional updates, want 2", calls)
	}
}
