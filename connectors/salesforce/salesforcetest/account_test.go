package salesforcetest

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// A Contact's AccountId is a lookup: every way a write can name a record
// that is not a live Account fails that record alone, with the error
// Salesforce gives, and the good record beside it is saved.
func TestAccountIdLookup(t *testing.T) {
	c, _ := newClient(t, Options{})
	e := c.s.Emulator
	acme := mustCreate(t, e, "Account", map[string]any{"Name": "Acme"})
	gone := mustCreate(t, e, "Account", map[string]any{"Name": "Gone"})
	if err := e.Delete("Account", gone); err != nil {
		t.Fatal(err)
	}
	ann := mustCreate(t, e, "Contact", map[string]any{"LastName": "Ann"})
	for _, tc := range []struct {
		name, value, code, message string
	}{
		{"an account", acme, "", ""},
		{"the 15-character form", acme[:15], "", ""},
		{"no account", mintID("001", 4242), "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"},
		{"in the recycle bin", gone, "ENTITY_IS_DELETED", "entity is deleted"},
		{"a contact's id", ann, "FIELD_INTEGRITY_EXCEPTION", "Account ID: id value of incorrect type: " + ann},
		{"not an id", "NotReal", "MALFORMED_ID", "Account ID: id value of incorrect type: NotReal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, res, _ := c.do("POST", dataPrefix+"composite/sobjects", body(false,
				contact(`"LastName":"New","AccountId":"`+tc.value+`"`), contact(`"LastName":"Fine"`)))
			_, upd, _ := c.do("PATCH", dataPrefix+"composite/sobjects", body(false,
				contact(`"id":"`+ann+`","AccountId":"`+tc.value+`"`)))
			for op, r := range map[string]string{"create": res.Get("0").Raw, "update": upd.Get("0").Raw} {
				g := gjson.Parse(r)
				if tc.code == "" {
					if !g.Get("success").Bool() {
						t.Errorf("%s: %s", op, r)
					}
					continue
				}
				if g.Get("success").Bool() || g.Get("errors.0.statusCode").String() != tc.code ||
					g.Get("errors.0.message").String() != tc.message || g.Get("errors.0.fields").Raw != `["AccountId"]` {
					t.Errorf("%s: got %s, want %s %q on AccountId", op, r, tc.code, tc.message)
				}
			}
			if !res.Get("1.success").Bool() {
				t.Errorf("the good record beside it failed: %s", res.Raw)
			}
		})
	}
	if r, _ := e.Get("Contact", ann); r.Fields["AccountId"] != acme {
		t.Errorf("AccountId after the refused updates: %v", r.Fields["AccountId"])
	}
	// Read back by query, as a pull does.
	if st, res := c.query("SELECT Id, AccountId FROM Contact WHERE Id = '" + ann + "'"); st != 200 || res.Get("records.0.AccountId").String() != acme {
		t.Errorf("query AccountId: %d %s", st, res.Raw)
	}
}

// Deleting an Account takes its Contacts to the recycle bin with it (the
// lookup cascades, as Salesforce's Account–Contact relationship does),
// stamped the same; undeleting it brings back those, not the ones deleted
// on their own.
func TestDeleteAccountCascades(t *testing.T) {
	c, clk := newClient(t, Options{})
	e := c.s.Emulator
	acme := mustCreate(t, e, "Account", map[string]any{"Name": "Acme"})
	other := mustCreate(t, e, "Account", map[string]any{"Name": "Other"})
	ann := mustCreate(t, e, "Contact", map[string]any{"LastName": "Ann", "AccountId": acme})
	bob := mustCreate(t, e, "Contact", map[string]any{"LastName": "Bob", "AccountId": acme})
	cat := mustCreate(t, e, "Contact", map[string]any{"LastName": "Cat", "AccountId": other})
	dan := mustCreate(t, e, "Contact", map[string]any{"LastName": "Dan"})
	if err := e.Delete("Contact", bob); err != nil { // deleted before, on its own
		t.Fatal(err)
	}
	bobBefore, _ := e.Get("Contact", bob)

	st, res, _ := c.do("DELETE", dataPrefix+"composite/sobjects?allOrNone=false&ids="+acme, nil)
	if st != 200 || !res.Get("0.success").Bool() {
		t.Fatalf("delete: %d %s", st, res.Raw)
	}
	a, _ := e.Get("Account", acme)
	an, _ := e.Get("Contact", ann)
	if !an.IsDeleted || !an.SystemModstamp.Equal(a.SystemModstamp) || an.Fields["AccountId"] != acme {
		t.Errorf("ann after her account was deleted: %+v (account stamped %v)", an, a.SystemModstamp)
	}
	if r, _ := e.Get("Contact", cat); r.IsDeleted {
		t.Error("a contact of another account was deleted")
	}
	if r, _ := e.Get("Contact", dan); r.IsDeleted {
		t.Error("a contact without an account was deleted")
	}
	if r, _ := e.Get("Contact", bob); !r.SystemModstamp.Equal(bobBefore.SystemModstamp) {
		t.Error("a contact already in the bin was stamped again")
	}
	// A pull sees the cascaded delete through queryAll.
	_, q, _ := c.do("GET", dataPrefix+"queryAll?q="+strings.ReplaceAll("SELECT+Id,IsDeleted+FROM+Contact+WHERE+Id+=+'"+ann+"'", "'", "%27"), nil)
	if q.Get("records.0.IsDeleted").Bool() != true {
		t.Errorf("queryAll: %s", q.Raw)
	}
	clk.Now()
	if err := e.Undelete("Account", acme); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.Get("Contact", ann); r.IsDeleted {
		t.Error("undeleting the account left its contact in the bin")
	}
	if r, _ := e.Get("Contact", bob); !r.IsDeleted {
		t.Error("undeleting the account restored a contact deleted on its own")
	}

	// describe says so.
	_, d, _ := c.do("GET", dataPrefix+"sobjects/Account/describe", nil)
	if got := d.Get(`childRelationships.#(childSObject=="Contact").cascadeDelete`); got.Type.String() != "True" {
		t.Errorf("cascadeDelete: %s", d.Get("childRelationships").Raw)
	}
}
