package salesforce

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"tandem"
	"tandem/connectors/salesforce/salesforcetest"

	"github.com/tidwall/gjson"
)

// AccountId is an ordinary field to the connector: it is pulled with the
// contact and written as given. The other system's company id (here an
// Account id) is the canonical value at this level; translating ids
// through links is the engine's.
func TestAccountIdReadAndWritten(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	acme := f.create(t, "Account", map[string]any{"Name": "Acme"})
	beta := f.create(t, "Account", map[string]any{"Name": "Beta"})
	gone := f.create(t, "Account", map[string]any{"Name": "Gone"})
	if err := f.sf.Delete("Account", gone); err != nil {
		t.Fatal(err)
	}
	ann := f.create(t, "Contact", map[string]any{"LastName": "Ann", "AccountId": acme})

	p := f.pull(t, "Contact", "", "LastName", "AccountId")
	if len(p.ids()) != 1 || gjson.GetBytes(p.pages[0].Records[0].Raw, "AccountId").String() != acme {
		t.Fatalf("pulled: %+v", p.pages)
	}
	cur := p.last()
	f.clk.Add(time.Second)

	ws := []tandem.Write{
		{Op: tandem.OpUpdate, ID: ann, Payload: json.RawMessage(`{"AccountId":"` + beta + `"}`)},
		{Op: tandem.OpCreate, Key: "E1", Payload: json.RawMessage(`{"LastName":"Bob","AccountId":"` + acme + `"}`)},
		{Op: tandem.OpCreate, Key: "E2", Payload: json.RawMessage(`{"LastName":"Cat","AccountId":"` + gone + `"}`)},
		{Op: tandem.OpCreate, Key: "E3", Payload: json.RawMessage(`{"LastName":"Dan","AccountId":"001000000000042AAA"}`)},
		{Op: tandem.OpCreate, Key: "E4", Payload: json.RawMessage(`{"LastName":"Eve","AccountId":"` + ann + `"}`)},
	}
	res := mustApply(t, f, "Contact", ws)
	if res[0].Err != nil || res[1].Err != nil || res[1].ID == "" {
		t.Fatalf("good writes: %+v %+v", res[0], res[1])
	}
	// A bad reference is that record's permanent failure (a dead letter),
	// never a failed batch, and never "record not found".
	for i, code := range map[int]string{2: "ENTITY_IS_DELETED", 3: "INVALID_CROSS_REFERENCE_KEY", 4: "FIELD_INTEGRITY_EXCEPTION"} {
		var te *tandem.Error
		if !errors.As(res[i].Err, &te) || te.Retryable || errors.Is(res[i].Err, tandem.ErrNotFound) || te.Code != code {
			t.Errorf("write %d: %+v, want a permanent %s", i, res[i].Err, code)
		}
	}
	if r, _ := f.sf.Get("Contact", ann); r.Fields["AccountId"] != beta {
		t.Errorf("AccountId after the update: %v", r.Fields["AccountId"])
	}
	// Cleared.
	if res := mustApply(t, f, "Contact", []tandem.Write{{Op: tandem.OpUpdate, ID: res[1].ID, Payload: json.RawMessage(`{"AccountId":null}`)}}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	p = f.pull(t, "Contact", cur, "LastName", "AccountId")
	got := map[string]gjson.Result{}
	for _, pg := range p.pages {
		for _, r := range pg.Records {
			got[gjson.GetBytes(r.Raw, "LastName").String()] = gjson.GetBytes(r.Raw, "AccountId")
		}
	}
	if got["Ann"].String() != beta || got["Bob"].Type != gjson.Null || len(got) != 2 {
		t.Errorf("pulled after the writes: %v", got)
	}
}

// Deleting an Account deletes its Contacts in Salesforce: the next pull
// reports them deleted, with the Account.
func TestAccountDeleteReachesContacts(t *testing.T) {
	f := newFixture(t, salesforcetest.Options{})
	acme := f.create(t, "Account", map[string]any{"Name": "Acme"})
	ann := f.create(t, "Contact", map[string]any{"LastName": "Ann", "AccountId": acme})
	cur := f.pull(t, "Contact", "", "LastName", "AccountId").last()
	f.clk.Add(time.Second)
	res := mustApply(t, f, "Account", []tandem.Write{{Op: tandem.OpDelete, ID: acme}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	p := f.pull(t, "Contact", cur, "LastName", "AccountId")
	if len(p.ids()) != 1 || p.ids()[0] != ann || !p.pages[0].Records[0].Deleted {
		t.Fatalf("after deleting the account: %+v", p.pages)
	}
}
