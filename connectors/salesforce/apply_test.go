package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/connectors/salesforce/salesforcetest"
)

func creates(n int, prefix string) []tandem.Write {
	var ws []tandem.Write
	for i := 0; i < n; i++ {
		ws = append(ws, tandem.Write{Op: tandem.OpCreate, Key: fmt.Sprintf("%s-%d", prefix, i),
			Payload: payload(map[string]any{"LastName": fmt.Sprintf("L%d", i), "Email": fmt.Sprintf("%s%d@example.com", prefix, i)})})
	}
	return ws
}

func mustApply(t *testing.T, f *fixture, object string, ws []tandem.Write) []tandem.Result {
	t.Helper()
	res, err := f.c.Apply(context.Background(), object, ws)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(res) != len(ws) {
		t.Fatalf("%d results for %d writes", len(res), len(ws))
	}
	return res
}

func TestCreateBatchesAndKeys(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	res := mustApply(t, f, "Contact", creates(250, "ent"))
	for i, r := range res {
		if r.Err != nil || len(r.ID) != 18 || r.Record != nil {
			t.Fatalf("result %d: %+v", i, r)
		}
		rec, ok := f.sf.Get("Contact", r.ID)
		if !ok || rec.Fields["Tandem_Id__c"] != fmt.Sprintf("ent-%d", i) || rec.Fields["LastName"] != fmt.Sprintf("L%d", i) {
			t.Fatalf("result %d points at %+v", i, rec)
		}
	}
	if got := f.sf.Writes(); got != 2 {
		t.Fatalf("%d write calls for 250 creates, want 2 (200 + 50)", got)
	}
	for _, r := range f.sf.Requests() {
		if r.Method == "PATCH" && !strings.HasSuffix(r.Path, "/composite/sobjects/Contact/Tandem_Id__c") {
			t.Fatalf("create sent to %s", r.Path)
		}
		if r.Method == "PATCH" && !strings.Contains(string(r.Body), `"allOrNone":false`) {
			t.Fatalf("create body without allOrNone:false: %.100s", r.Body)
		}
	}
}

func TestRepeatedCreateIsIdempotent(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	ws := creates(3, "crash")
	first := mustApply(t, f, "Contact", ws)
	// The process died before it recorded the ids; on restart the same
	// writes go again.
	f.clk.Add(time.Millisecond)
	again := mustApply(t, f, "Contact", ws)
	for i := range ws {
		if again[i].Err != nil || again[i].ID != first[i].ID {
			t.Fatalf("write %d: first %+v, again %+v", i, first[i], again[i])
		}
	}
	if n := len(f.sf.List("Contact")); n != 3 {
		t.Fatalf("%d contacts after a repeated create, want 3", n)
	}
}

func TestPartialFailure(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	ws := creates(3, "p")
	ws[1].Payload = payload(map[string]any{"FirstName": "No last name"})
	res := mustApply(t, f, "Contact", ws)
	if res[0].Err != nil || res[2].Err != nil {
		t.Fatalf("good records failed: %+v", res)
	}
	var te *tandem.Error
	if !errors.As(res[1].Err, &te) || te.Code != "REQUIRED_FIELD_MISSING" || te.Retryable || tandem.IsRetryable(res[1].Err) {
		t.Fatalf("bad record: %#v", res[1].Err)
	}
	if !strings.Contains(te.Message, "[LastName]") || te.System != "sf" || !strings.Contains(te.Op, "Contact") {
		t.Fatalf("error says too little: %v", te)
	}
	if res[1].ID != "" {
		t.Fatalf("failed create has an id: %q", res[1].ID)
	}
	if n := len(f.sf.List("Contact")); n != 2 {
		t.Fatalf("%d contacts, want 2", n)
	}
}

func TestUpdateAndDelete(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	a := f.create(t, "Contact", map[string]any{"LastName": "A", "Title": "Old"})
	b := f.create(t, "Contact", map[string]any{"LastName": "B"})
	gone := f.create(t, "Contact", map[string]any{"LastName": "Gone"})
	if err := f.sf.Delete("Contact", gone); err != nil {
		t.Fatal(err)
	}
	ws := []tandem.Write{
		// The payload's own Id is ignored: Write.ID says which record.
		{Op: tandem.OpUpdate, ID: a, Payload: json.RawMessage(`{"Id":"0035g0000000zzzAAA","Title":null,"Email":"a@example.com"}`)},
		{Op: tandem.OpUpdate, ID: gone, Payload: json.RawMessage(`{"Title":"x"}`)},
		{Op: tandem.OpUpdate, ID: b, Payload: json.RawMessage(`{"AccountId":"001000000000000AAA"}`)},
		{Op: tandem.OpUpdate, ID: b, Payload: json.RawMessage(`["not an object"]`)},
		{Op: tandem.OpUpdate, Payload: json.RawMessage(`{"Title":"no id"}`)},
	}
	res := mustApply(t, f, "Contact", ws)
	if res[0].Err != nil || res[0].ID != a {
		t.Fatalf("update: %+v", res[0])
	}
	if r, _ := f.sf.Get("Contact", a); r.Fields["Title"] != nil || r.Fields["Email"] != "a@example.com" {
		t.Fatalf("after update: %+v", r.Fields)
	}
	if !errors.Is(res[1].Err, tandem.ErrNotFound) || tandem.IsRetryable(res[1].Err) || res[1].ID != gone {
		t.Fatalf("update of a deleted record: %+v", res[1])
	}
	// A bad lookup value is the payload's fault, not a missing record.
	if res[2].Err == nil || errors.Is(res[2].Err, tandem.ErrNotFound) {
		t.Fatalf("update with a bad AccountId: %+v", res[2])
	}
	if res[3].Err == nil || !strings.Contains(res[3].Err.Error(), "not a JSON object") || res[4].Err == nil {
		t.Fatalf("invalid writes: %+v %+v", res[3], res[4])
	}
	if f.sf.Writes() != 1 {
		t.Fatalf("%d calls for one batch of updates", f.sf.Writes())
	}

	del := []tandem.Write{{Op: tandem.OpDelete, ID: a}, {Op: tandem.OpDelete, ID: gone}, {Op: tandem.OpDelete, ID: "003000000000000AAA"}}
	res = mustApply(t, f, "Contact", del)
	if res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("delete, and delete of a record already deleted: %+v", res)
	}
	if !errors.Is(res[2].Err, tandem.ErrNotFound) {
		t.Fatalf("delete of an unknown id: %+v", res[2])
	}
	if r, _ := f.sf.Get("Contact", a); !r.IsDeleted {
		t.Fatal("not deleted")
	}
}

func TestApplyKeepsOrderAcrossKinds(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	ws := []tandem.Write{
		{Op: tandem.OpCreate, Key: "k1", Payload: payload(map[string]any{"LastName": "One"})},
		{Op: tandem.OpCreate, Key: "k2", Payload: payload(map[string]any{"LastName": "Two"})},
		{Op: tandem.OpCreate, Payload: payload(map[string]any{"LastName": "No key"})},
	}
	res := mustApply(t, f, "Contact", ws)
	if res[2].Err == nil || !strings.Contains(res[2].Err.Error(), "no Key") {
		t.Fatalf("create without key: %+v", res[2])
	}
	one := res[0].ID
	ws = []tandem.Write{
		{Op: tandem.OpUpdate, ID: one, Payload: payload(map[string]any{"Title": "T"})},
		{Op: tandem.OpDelete, ID: one},
		{Op: tandem.OpCreate, Key: "k3", Payload: payload(map[string]any{"LastName": "Three"})},
	}
	f.sf.ResetRequests()
	res = mustApply(t, f, "Contact", ws)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("write %d: %v", i, r.Err)
		}
	}
	var methods []string
	for _, r := range f.sf.Requests() {
		if r.Method != "POST" || !strings.Contains(r.Path, "oauth2") {
			methods = append(methods, r.Method)
		}
	}
	if strings.Join(methods, " ") != "PATCH DELETE PATCH" {
		t.Fatalf("calls %v, want update, delete, create in order", methods)
	}
}

func TestApplyWholeCallFailure(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	f.c.extID = "Lifecycle__c" // not an External ID field: Salesforce refuses the upsert
	ws := append(creates(2, "w"), tandem.Write{Op: tandem.OpUpdate, ID: f.create(t, "Contact", map[string]any{"LastName": "U"}), Payload: payload(map[string]any{"Title": "T"})})
	res := mustApply(t, f, "Contact", ws)
	var te *tandem.Error
	if !errors.As(res[0].Err, &te) || te.Status != 400 || te.Code != "INVALID_FIELD" || res[1].Err != res[0].Err {
		t.Fatalf("creates: %+v", res)
	}
	if res[2].Err != nil {
		t.Fatalf("the update after a refused batch was not made: %v", res[2].Err)
	}
}
