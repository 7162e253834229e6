package salesforcetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

func contact(fields string) string {
	if fields != "" {
		fields = "," + fields
	}
	return `{"attributes":{"type":"Contact"}` + fields + `}`
}

func body(allOrNone bool, recs ...string) string {
	return fmt.Sprintf(`{"allOrNone":%t,"records":[%s]}`, allOrNone, strings.Join(recs, ","))
}

// statuses summarizes results as "ok" or the first error's statusCode.
func statuses(res gjson.Result) []string {
	var out []string
	for _, r := range res.Array() {
		if r.Get("success").Bool() {
			out = append(out, "ok")
		} else {
			out = append(out, r.Get("errors.0.statusCode").String())
		}
	}
	return out
}

func TestCreateCollection(t *testing.T) {
	c, clk := newClient(t, Options{})
	st, res, _ := c.do("POST", dataPrefix+"composite/sobjects", body(false,
		contact(`"LastName":"Ada","Email":"ada@example.com"`),
		`{"attributes":{"type":"Account"},"Name":"Acme"}`))
	if st != 200 || strings.Join(statuses(res), ",") != "ok,ok" {
		t.Fatalf("%d %s", st, res.Raw)
	}
	id := res.Get("0.id").String()
	if len(id) != 18 || !strings.HasPrefix(id, "003") || !strings.HasPrefix(res.Get("1.id").String(), "001") {
		t.Fatalf("ids: %s", res.Raw)
	}
	if res.Get("0.errors").Raw != "[]" || res.Get("0.created").Exists() {
		t.Fatalf("SaveResult shape: %s", res.Get("0").Raw)
	}
	r, ok := c.s.Get("Contact", id)
	now := clk.Now().Truncate(time.Second)
	if !ok || r.Fields["Email"] != "ada@example.com" || !r.CreatedDate.Equal(now) || !r.SystemModstamp.Equal(now) || !r.LastModifiedDate.Equal(now) {
		t.Fatalf("stored %+v", r)
	}
}

func TestPerRecordErrors(t *testing.T) {
	c, _ := newClient(t, Options{})
	e := c.s.Emulator
	live := mustCreate(t, e, "Contact", map[string]any{"LastName": "Live", "Tandem_Id__c": "taken"})
	deleted := mustCreate(t, e, "Contact", map[string]any{"LastName": "Deleted"})
	if err := e.Delete("Contact", deleted); err != nil {
		t.Fatal(err)
	}
	acct := mustCreate(t, e, "Account", map[string]any{"Name": "Acme"})
	missing := mintID("003", 999)

	creates := []struct {
		rec, code, message string
		fields             []string
	}{
		{contact(`"FirstName":"No last name"`), "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", []string{"LastName"}},
		{contact(`"LastName":"X","Foo__c":"1"`), "INVALID_FIELD", "No such column 'Foo__c' on sobject of type Contact", []string{"Foo__c"}},
		{contact(`"LastName":"X","CreatedDate":"2024-01-01T00:00:00.000+0000"`), "INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: CreatedDate.", []string{"CreatedDate"}},
		{contact(`"LastName":"X","Id":"` + live + `"`), "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", []string{"Id"}},
		{contact(`"LastName":"` + strings.Repeat("x", 81) + `"`), "STRING_TOO_LONG", "Last Name: data value too large", []string{"LastName"}},
		{contact(`"LastName":"X","Email":"not-an-email"`), "INVALID_EMAIL_ADDRESS", "Email: invalid email address: not-an-email", []string{"Email"}},
		{contact(`"LastName":"X","Tandem_Id__c":"taken"`), "DUPLICATE_VALUE", "duplicate value found: Tandem_Id__c duplicates value on record with id: " + live, []string{"Tandem_Id__c"}},
		{contact(`"LastName":"X","AccountId":"` + live + `"`), "FIELD_INTEGRITY_EXCEPTION", "Account ID: id value of incorrect type: " + live, []string{"AccountId"}},
		{contact(`"LastName":"X","AccountId":"NotReal"`), "MALFORMED_ID", "Account ID: id value of incorrect type: NotReal", []string{"AccountId"}},
		{contact(`"LastName":"X","AccountId":"` + mintID("001", 999) + `"`), "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []string{"AccountId"}},
		{contact(`"LastName":""`), "REQUIRED_FIELD_MISSING", "[LastName]", []string{"LastName"}}, // "" is null in Salesforce
		{`{"LastName":"X"}`, "INVALID_TYPE", "Must send a concrete entity type.", nil},
		{`{"attributes":{"type":"Lead"},"LastName":"X"}`, "INVALID_TYPE", "sObject type 'Lead' is not supported.", nil},
	}
	for _, tt := range creates {
		_, res, _ := c.do("POST", dataPrefix+"composite/sobjects", body(false, tt.rec, contact(`"LastName":"Fine"`)))
		r := res.Get("0")
		if r.Get("success").Bool() || r.Get("id").Exists() || r.Get("errors.0.statusCode").String() != tt.code ||
			!strings.Contains(r.Get("errors.0.message").String(), tt.message) {
			t.Errorf("create %s: got %s, want %s %q", tt.rec, r.Raw, tt.code, tt.message)
		}
		if got := r.Get("errors.0.fields").Raw; tt.fields != nil && got != `["`+strings.Join(tt.fields, `","`)+`"]` {
			t.Errorf("create %s: fields %s, want %v", tt.rec, got, tt.fields)
		}
		if !res.Get("1.success").Bool() {
			t.Errorf("create %s: the good record beside it failed: %s", tt.rec, res.Raw)
		}
	}

	updates := []struct{ rec, code string }{
		{contact(`"id":"` + deleted + `","LastName":"Z"`), "ENTITY_IS_DELETED"},
		{contact(`"id":"` + missing + `","LastName":"Z"`), "INVALID_CROSS_REFERENCE_KEY"},
		{contact(`"id":"garbage","LastName":"Z"`), "MALFORMED_ID"},
		{contact(`"id":"` + acct + `","LastName":"Z"`), "MALFORMED_ID"},
		{contact(`"LastName":"Z"`), "MISSING_ARGUMENT"},
		{contact(`"id":"` + live + `","LastName":null`), "REQUIRED_FIELD_MISSING"},
		{contact(`"Id":"` + strings.ToLower(live) + `","Title":"Dr"`), "ok"}, // Id in any case, id with lost case
	}
	for _, tt := range updates {
		_, res, _ := c.do("PATCH", dataPrefix+"composite/sobjects", body(false, tt.rec))
		if got := statuses(res); len(got) != 1 || got[0] != tt.code {
			t.Errorf("update %s: got %s, want %s", tt.rec, res.Raw, tt.code)
		}
	}
	if r, _ := e.Get("Contact", live); r.Fields["Title"] != "Dr" || r.Fields["LastName"] != "Live" {
		t.Errorf("after updates: %+v", r.Fields)
	}
}

func TestWholeRequestErrors(t *testing.T) {
	c, _ := newClient(t, Options{})
	var many []string
	for i := 0; i < 201; i++ {
		many = append(many, contact(`"LastName":"L"`))
	}
	ids := strings.Repeat(mintID("003", 1)+",", 200) + mintID("003", 1)
	tests := []struct{ method, path, body, code string }{
		{"POST", "composite/sobjects", body(false, many...), "EXCEEDED_ID_LIMIT"},
		{"DELETE", "composite/sobjects?ids=" + ids, "", "EXCEEDED_ID_LIMIT"},
		{"POST", "composite/sobjects", `{"records":`, "JSON_PARSER_ERROR"},
		{"POST", "composite/sobjects", `{"allOrNone":"yes","records":[]}`, "JSON_PARSER_ERROR"},
		{"POST", "composite/sobjects", `{"records":{}}`, "JSON_PARSER_ERROR"},
		// A value of the wrong type fails the body as a whole, before any record is saved.
		{"POST", "composite/sobjects", body(false, contact(`"LastName":"Fine"`), `{"attributes":{"type":"Account"},"Name":"A","NumberOfEmployees":"many"}`), "JSON_PARSER_ERROR"},
		{"POST", "composite/sobjects", body(false, contact(`"LastName":{"first":"x"}`)), "JSON_PARSER_ERROR"},
		{"PATCH", "composite/sobjects/Contact/Email", body(false, contact(`"LastName":"L","Email":"a@b.co"`)), "INVALID_FIELD"},
		{"PATCH", "composite/sobjects/Lead/Tandem_Id__c", body(false), "NOT_FOUND"},
	}
	for _, tt := range tests {
		var b any
		if tt.body != "" {
			b = tt.body
		}
		st, res, _ := c.do(tt.method, dataPrefix+tt.path, b)
		if st/100 != 4 || errorCode(res) != tt.code {
			t.Errorf("%s %s: %d %s, want %s", tt.method, tt.path, st, res.Raw, tt.code)
		}
	}
	if n := len(c.s.List("Contact")); n != 0 {
		t.Fatalf("%d contacts saved by failed requests", n)
	}
}

func TestAllOrNone(t *testing.T) {
	c, clk := newClient(t, Options{})
	e := c.s.Emulator
	existing := mustCreate(t, e, "Contact", map[string]any{"LastName": "Before"})
	before, _ := e.Get("Contact", existing)
	clk.Add(time.Second)

	// Create: one bad record rolls back the others, which say so.
	_, res, _ := c.do("POST", dataPrefix+"composite/sobjects", body(true,
		contact(`"LastName":"A"`), contact(`"FirstName":"no last"`), contact(`"LastName":"C"`)))
	if got := strings.Join(statuses(res), ","); got != "ALL_OR_NONE_OPERATION_ROLLED_BACK,REQUIRED_FIELD_MISSING,ALL_OR_NONE_OPERATION_ROLLED_BACK" {
		t.Fatalf("create allOrNone: %s", res.Raw)
	}
	if res.Get("0.id").Exists() {
		t.Fatalf("rolled-back record reports an id: %s", res.Raw)
	}
	if n := len(e.List("Contact")); n != 1 {
		t.Fatalf("allOrNone create saved records: %d contacts", n)
	}

	// Update: the good update to an existing record is undone too.
	_, res, _ = c.do("PATCH", dataPrefix+"composite/sobjects", body(true,
		contact(`"id":"`+existing+`","LastName":"After"`), contact(`"id":"`+mintID("003", 500)+`","LastName":"X"`)))
	if got := strings.Join(statuses(res), ","); got != "ALL_OR_NONE_OPERATION_ROLLED_BACK,INVALID_CROSS_REFERENCE_KEY" {
		t.Fatalf("update allOrNone: %s", res.Raw)
	}
	if after, _ := e.Get("Contact", existing); after.Fields["LastName"] != "Before" || !after.SystemModstamp.Equal(before.SystemModstamp) {
		t.Fatalf("rolled-back update changed the record: %+v", after)
	}

	// Upsert: a created record is undone, and its external id is free again.
	_, res, _ = c.do("PATCH", dataPrefix+"composite/sobjects/Contact/Tandem_Id__c", body(true,
		contact(`"LastName":"New","Tandem_Id__c":"k1"`), contact(`"Tandem_Id__c":"k2"`)))
	if got := strings.Join(statuses(res), ","); got != "ALL_OR_NONE_OPERATION_ROLLED_BACK,REQUIRED_FIELD_MISSING" || res.Get("0.created").Bool() {
		t.Fatalf("upsert allOrNone: %s", res.Raw)
	}
	_, res, _ = c.do("PATCH", dataPrefix+"composite/sobjects/Contact/Tandem_Id__c", body(true, contact(`"LastName":"New","Tandem_Id__c":"k1"`)))
	if !res.Get("0.created").Bool() {
		t.Fatalf("external id still held after rollback: %s", res.Raw)
	}

	// Delete.
	_, res, _ = c.do("DELETE", dataPrefix+"composite/sobjects?allOrNone=true&ids="+existing+",nope", nil)
	if got := strings.Join(statuses(res), ","); got != "ALL_OR_NONE_OPERATION_ROLLED_BACK,MALFORMED_ID" {
		t.Fatalf("delete allOrNone: %s", res.Raw)
	}
	if r, _ := e.Get("Contact", existing); r.IsDeleted {
		t.Fatal("rolled-back delete deleted")
	}

	// Without allOrNone the good records are saved.
	_, res, _ = c.do("POST", dataPrefix+"composite/sobjects", body(false, contact(`"LastName":"A"`), contact(`"FirstName":"no last"`)))
	if got := strings.Join(statuses(res), ","); got != "ok,REQUIRED_FIELD_MISSING" {
		t.Fatalf("partial create: %s", res.Raw)
	}
}

func TestUpsert(t *testing.T) {
	c, clk := newClient(t, Options{})
	e := c.s.Emulator
	path := dataPrefix + "composite/sobjects/Contact/Tandem_Id__c"

	_, res, _ := c.do("PATCH", path, body(false, contact(`"LastName":"One","Tandem_Id__c":"E1"`), contact(`"LastName":"Two","Tandem_Id__c":"E2"`)))
	if statuses(res)[0] != "ok" || !res.Get("0.created").Bool() || !res.Get("1.created").Bool() {
		t.Fatalf("first upsert: %s", res.Raw)
	}
	id1 := res.Get("0.id").String()
	created, _ := e.Get("Contact", id1)
	clk.Add(time.Second)

	// The same key again (a retried create) updates the same record.
	_, res, _ = c.do("PATCH", path, body(false, contact(`"LastName":"One again","Tandem_Id__c":"E1"`)))
	if res.Get("0.created").Bool() || res.Get("0.id").String() != id1 || !res.Get("0.success").Bool() {
		t.Fatalf("second upsert: %s", res.Raw)
	}
	r, _ := e.Get("Contact", id1)
	if r.Fields["LastName"] != "One again" || !r.CreatedDate.Equal(created.CreatedDate) || !r.SystemModstamp.After(created.SystemModstamp) {
		t.Fatalf("after second upsert: %+v", r)
	}
	if n := len(e.List("Contact")); n != 2 {
		t.Fatalf("%d contacts, want 2", n)
	}

	// The key is case-sensitive: e1 is another record.
	_, res, _ = c.do("PATCH", path, body(false, contact(`"LastName":"Lower","Tandem_Id__c":"e1"`)))
	if !res.Get("0.created").Bool() || res.Get("0.id").String() == id1 {
		t.Fatalf("case-sensitive key: %s", res.Raw)
	}

	// The same key twice in one call is ambiguous: Salesforce refuses every
	// record that carries it, and saves the rest.
	_, res, _ = c.do("PATCH", path, body(false, contact(`"LastName":"A","Tandem_Id__c":"E3"`), contact(`"LastName":"B","Tandem_Id__c":"E4"`), contact(`"LastName":"C","Tandem_Id__c":"E3"`)))
	if got := strings.Join(statuses(res), ","); got != "DUPLICATE_VALUE,ok,DUPLICATE_VALUE" || !strings.Contains(res.Get("0.errors.0.message").String(), "E3") {
		t.Fatalf("repeated key in one call: %s", res.Raw)
	}

	// Failures.
	_, res, _ = c.do("PATCH", path, body(false,
		contact(`"LastName":"No key"`),
		`{"attributes":{"type":"Account"},"Name":"Wrong type","Tandem_Id__c":"E9"}`,
		contact(`"Tandem_Id__c":"E8"`)))
	if got := strings.Join(statuses(res), ","); got != "MISSING_ARGUMENT,INVALID_TYPE,REQUIRED_FIELD_MISSING" {
		t.Fatalf("upsert failures: %s", res.Raw)
	}
	if res.Get("0.created").Raw != "false" {
		t.Fatalf("a failed upsert result must say created:false: %s", res.Get("0").Raw)
	}
}

func TestDeleteCollection(t *testing.T) {
	c, clk := newClient(t, Options{})
	e := c.s.Emulator
	a := mustCreate(t, e, "Contact", map[string]any{"LastName": "A"})
	b := mustCreate(t, e, "Account", map[string]any{"Name": "B"})
	clk.Add(time.Second)
	_, res, _ := c.do("DELETE", dataPrefix+"composite/sobjects?ids="+a[:15]+","+b+",nope,"+mintID("003", 77)+"&allOrNone=false", nil)
	if got := strings.Join(statuses(res), ","); got != "ok,ok,MALFORMED_ID,INVALID_CROSS_REFERENCE_KEY" {
		t.Fatalf("delete: %s", res.Raw)
	}
	if res.Get("0.id").String() != a {
		t.Fatalf("delete result id %q, want the 18-character %s", res.Get("0.id").String(), a)
	}
	r, _ := e.Get("Contact", a)
	if !r.IsDeleted || !r.SystemModstamp.Equal(clk.Now().Truncate(time.Second)) {
		t.Fatalf("deleted record: %+v", r)
	}
	if len(e.List("Contact")) != 0 || len(e.List("Account")) != 0 {
		t.Fatal("List shows deleted records")
	}
	_, res, _ = c.do("DELETE", dataPrefix+"composite/sobjects?ids="+a, nil)
	if statuses(res)[0] != "ENTITY_IS_DELETED" {
		t.Fatalf("second delete: %s", res.Raw)
	}
}

func TestRetrieveAndDescribe(t *testing.T) {
	c, _ := newClient(t, Options{ExtraFields: map[string][]string{"Contact": {"Nickname__c"}}})
	e := c.s.Emulator
	a := mustCreate(t, e, "Contact", map[string]any{"LastName": "A", "Nickname__c": "Al"})
	st, res, _ := c.do("GET", dataPrefix+"composite/sobjects/Contact?ids="+a+","+mintID("003", 50)+"&fields=Id,Nickname__c", nil)
	if st != 200 || res.Get("0.Nickname__c").String() != "Al" || res.Get("1").Type != gjson.Null {
		t.Fatalf("retrieve: %d %s", st, res.Raw)
	}
	st, res, _ = c.do("GET", dataPrefix+"sobjects/Contact/"+a+"?fields=LastName", nil)
	if st != 200 || res.Get("LastName").String() != "A" || res.Get("Email").Exists() {
		t.Fatalf("get record: %d %s", st, res.Raw)
	}
	st, res, _ = c.do("GET", dataPrefix+"sobjects/Contact/describe", nil)
	if st != 200 || res.Get("keyPrefix").String() != "003" {
		t.Fatalf("describe: %d %s", st, res.Raw)
	}
	ext := res.Get(`fields.#(name=="Tandem_Id__c")`)
	if !ext.Get("externalId").Bool() || !ext.Get("unique").Bool() || !ext.Get("caseSensitive").Bool() {
		t.Fatalf("Tandem_Id__c described as %s", ext.Raw)
	}
	if !res.Get(`fields.#(name=="Nickname__c").custom`).Bool() || res.Get(`fields.#(name=="LastName").nillable`).Bool() {
		t.Fatalf("describe fields: %s", res.Get("fields").Raw)
	}
}
