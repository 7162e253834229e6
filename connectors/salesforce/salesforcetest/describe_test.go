package salesforcetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// fieldKeys are the keys of a field in a DescribeSObjectResult.
var fieldKeys = []string{"aggregatable", "aiPredictionField", "autoNumber", "byteLength", "calculated", "calculatedFormula",
	"cascadeDelete", "caseSensitive", "compoundFieldName", "controllerName", "createable", "custom", "defaultValue",
	"defaultValueFormula", "defaultedOnCreate", "dependentPicklist", "deprecatedAndHidden", "digits",
	"displayLocationInDecimal", "encrypted", "externalId", "extraTypeInfo", "filterable", "filteredLookupInfo",
	"formulaTreatNullNumberAsZero", "groupable", "highScaleNumber", "htmlFormatted", "idLookup", "inlineHelpText",
	"label", "length", "mask", "maskType", "name", "nameField", "namePointing", "nillable", "permissionable",
	"picklistValues", "polymorphicForeignKey", "precision", "queryByDistance", "referenceTargetField", "referenceTo",
	"relationshipName", "relationshipOrder", "restrictedDelete", "restrictedPicklist", "scale", "searchPrefilterable",
	"soapType", "sortable", "type", "unique", "updateable", "writeRequiresMasterRead"}

func TestDescribe(t *testing.T) {
	c, _ := newClient(t, Options{ExtraPicklists: map[string][]Picklist{"Contact": {{Name: "Rating__c", Values: []string{"Hot", "Warm"}, Inactive: []string{"Cold"}}}}})
	st, res, hdr := c.do("GET", dataPrefix+"sobjects/contact/describe/", nil)
	if st != 200 || hdr.Get("Sforce-Limit-Info") == "" {
		t.Fatalf("describe: %d %v %s", st, hdr, res.Raw)
	}
	for k, want := range map[string]string{
		"name": "Contact", "label": "Contact", "labelPlural": "Contacts", "keyPrefix": "003", "custom": "false",
		"createable": "true", "updateable": "true", "deletable": "true", "queryable": "true", "retrieveable": "true",
		"searchable": "true", "urls.sobject": dataPrefix + "sobjects/Contact", "urls.describe": dataPrefix + "sobjects/Contact/describe",
		"urls.rowTemplate": dataPrefix + "sobjects/Contact/{ID}", "urls.uiDetailTemplate": c.s.URL + "/{ID}",
	} {
		if got := res.Get(k).String(); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	fields := res.Get("fields").Array()
	if len(fields) != len(c.s.table("Contact").obj.Fields) {
		t.Errorf("%d fields described", len(fields))
	}
	for _, f := range fields {
		for _, k := range fieldKeys {
			if !f.Get(k).Exists() {
				t.Errorf("field %s has no %s", f.Get("name"), k)
			}
		}
		if n := len(f.Map()); n != len(fieldKeys) {
			t.Errorf("field %s has %d keys, want %d", f.Get("name"), n, len(fieldKeys))
		}
	}
	field := func(name string) gjson.Result {
		t.Helper()
		f := res.Get(fmt.Sprintf(`fields.#(name==%q)`, name))
		if !f.Exists() {
			t.Fatalf("no field %s", name)
		}
		return f
	}
	for name, want := range map[string]string{
		"Id":             `{"type":"id","soapType":"tns:ID","length":18,"byteLength":18,"createable":false,"updateable":false,"nillable":false,"idLookup":true,"defaultedOnCreate":true}`,
		"FirstName":      `{"type":"string","soapType":"xsd:string","length":40,"byteLength":120,"createable":true,"nillable":true,"compoundFieldName":"Name","extraTypeInfo":"personname","nameField":false}`,
		"LastName":       `{"type":"string","length":80,"nillable":false,"compoundFieldName":"Name"}`,
		"Name":           `{"type":"string","label":"Full Name","length":121,"byteLength":363,"createable":false,"updateable":false,"nillable":false,"nameField":true,"compoundFieldName":null,"calculated":false,"filterable":true,"sortable":true}`,
		"Email":          `{"type":"email","idLookup":true,"length":80}`,
		"AccountId":      `{"type":"reference","referenceTo":["Account"],"relationshipName":"Account","length":18,"soapType":"tns:ID"}`,
		"Description":    `{"type":"textarea","length":32000,"filterable":false,"sortable":false,"groupable":false}`,
		"IsDeleted":      `{"type":"boolean","soapType":"xsd:boolean","defaultValue":false,"nillable":false,"defaultedOnCreate":true,"createable":false}`,
		"Tandem_Id__c":   `{"custom":true,"externalId":true,"unique":true,"caseSensitive":true,"idLookup":true,"createable":true,"updateable":true}`,
		"SystemModstamp": `{"type":"datetime","soapType":"xsd:dateTime","groupable":false,"createable":false}`,
		"Rating__c":      `{"type":"picklist","custom":true,"restrictedPicklist":false,"picklistValues":[{"active":true,"defaultValue":false,"label":"Hot","validFor":null,"value":"Hot"},{"active":true,"defaultValue":false,"label":"Warm","validFor":null,"value":"Warm"},{"active":false,"defaultValue":false,"label":"Cold","validFor":null,"value":"Cold"}]}`,
	} {
		f := field(name)
		gjson.Parse(want).ForEach(func(k, v gjson.Result) bool {
			if got := f.Get(k.String()).Raw; got != v.Raw {
				t.Errorf("%s.%s = %s, want %s", name, k, got, v.Raw)
			}
			return true
		})
	}

	st, res, _ = c.do("GET", dataPrefix+"sobjects/Account/describe", nil)
	if st != 200 || res.Get("name").String() != "Account" {
		t.Fatalf("describe Account: %d %s", st, res.Raw)
	}
	industry := res.Get(`fields.#(name=="Industry")`)
	if industry.Get("type").String() != "picklist" || !industry.Get(`picklistValues.#(value=="Banking").active`).Bool() || len(industry.Get("picklistValues").Array()) != len(industries) {
		t.Errorf("Industry: %s", industry.Raw)
	}
	if f := res.Get(`fields.#(name=="NumberOfEmployees")`); f.Get("digits").Int() != 8 || f.Get("soapType").String() != "xsd:int" || f.Get("length").Int() != 0 {
		t.Errorf("NumberOfEmployees: %s", f.Raw)
	}
	if f := res.Get(`fields.#(name=="AnnualRevenue")`); f.Get("precision").Int() != 18 || f.Get("scale").Int() != 0 || f.Get("type").String() != "currency" || f.Get("soapType").String() != "xsd:double" {
		t.Errorf("AnnualRevenue: %s", f.Raw)
	}
	if f := res.Get(`fields.#(name=="Name")`); !f.Get("createable").Bool() || !f.Get("nameField").Bool() || !f.Get("idLookup").Bool() || f.Get("nillable").Bool() {
		t.Errorf("Account.Name: %s", f.Raw)
	}
	if ch := res.Get("childRelationships"); ch.Raw != `[{"cascadeDelete":true,"childSObject":"Contact","deprecatedAndHidden":false,"field":"AccountId","junctionIdListNames":[],"junctionReferenceTo":[],"relationshipName":"Contacts","restrictedDelete":false}]` {
		t.Errorf("Account childRelationships: %s", ch.Raw)
	}

	st, res, _ = c.do("GET", dataPrefix+"sobjects/Lead/describe", nil)
	if st != 404 || res.Raw != `[{"message":"The requested resource does not exist","errorCode":"NOT_FOUND"}]` {
		t.Errorf("unknown object: %d %s", st, res.Raw)
	}
	if st, res, _ := c.do("POST", dataPrefix+"sobjects/Contact/describe", "{}"); st != 405 || errorCode(res) != "METHOD_NOT_ALLOWED" {
		t.Errorf("POST describe: %d %s", st, res.Raw)
	}
	if st, _, _ := c.do("GET", "/services/data/v58.0/sobjects/Contact/describe", nil); st != 404 {
		t.Errorf("another API version: %d", st)
	}
	if c.s.Writes() != 1 { // the POST: a method that could write, refused or not
		t.Errorf("Writes = %d", c.s.Writes())
	}
}

func TestDescribeSessionAndLimits(t *testing.T) {
	c, _ := newClient(t, Options{DailyLimit: 2})
	c.s.RevokeTokens()
	st, res, hdr := c.do("GET", dataPrefix+"sobjects/Contact/describe", nil)
	if st != 401 || errorCode(res) != "INVALID_SESSION_ID" || res.Get("0.message").String() != "Session expired or invalid" || hdr.Get("Sforce-Limit-Info") != "" {
		t.Fatalf("revoked session: %d %s %v", st, res.Raw, hdr)
	}
	c.token = c.login()
	for i := 1; i <= 2; i++ {
		if st, _, hdr := c.do("GET", dataPrefix+"sobjects/Contact/describe", nil); st != 200 || hdr.Get("Sforce-Limit-Info") != fmt.Sprintf("api-usage=%d/2", i) {
			t.Fatalf("call %d: %d %q", i, st, hdr.Get("Sforce-Limit-Info"))
		}
	}
	if st, res, _ := c.do("GET", dataPrefix+"sobjects/Contact/describe", nil); st != 403 || errorCode(res) != "REQUEST_LIMIT_EXCEEDED" {
		t.Fatalf("over the daily limit: %d %s", st, res.Raw)
	}
}

// TestContactName: Contact.Name is composed from FirstName and LastName,
// read like any field and never written.
func TestContactName(t *testing.T) {
	c, _ := newClient(t, Options{})
	e := c.s.Emulator
	ada := mustCreate(t, e, "Contact", map[string]any{"FirstName": " Ada", "LastName": "Lovelace"})
	grace := mustCreate(t, e, "Contact", map[string]any{"LastName": "Hopper"})

	st, res := c.query("SELECT Id, Name FROM Contact ORDER BY Name")
	if st != 200 || res.Get("records.#.Name").Raw != `["Ada Lovelace","Hopper"]` {
		t.Fatalf("SELECT Name: %d %s", st, res.Raw)
	}
	if _, res := c.query("SELECT Id FROM Contact WHERE Name = 'ada lovelace'"); res.Get("records.#.Id").Raw != `["`+ada+`"]` {
		t.Errorf("WHERE Name: %s", res.Raw)
	}
	if _, res, _ := c.do("GET", dataPrefix+"sobjects/Contact/"+grace, nil); res.Get("Name").String() != "Hopper" {
		t.Errorf("record: %s", res.Raw)
	}
	if _, res, _ := c.do("GET", dataPrefix+"composite/sobjects/Contact?ids="+ada+"&fields=Name,FirstName", nil); res.Get("0.Name").String() != "Ada Lovelace" {
		t.Errorf("retrieve: %s", res.Raw)
	}
	if err := e.Update("Contact", ada, map[string]any{"FirstName": nil}); err != nil {
		t.Fatal(err)
	}
	if _, res := c.query("SELECT Name FROM Contact WHERE Id = '" + ada + "'"); res.Get("records.0.Name").String() != "Lovelace" {
		t.Errorf("after clearing FirstName: %s", res.Raw)
	}
	if r, _ := e.Get("Contact", ada); r.Fields["Name"] != nil {
		t.Errorf("Name is stored: %v", r.Fields)
	}

	const msg = "Unable to create/update fields: Name. Please check the security settings of this field and verify that it is read/write for your profile or permission set."
	_, res, _ = c.do("POST", dataPrefix+"composite/sobjects", `{"allOrNone":false,"records":[{"attributes":{"type":"Contact"},"LastName":"X","Name":"X Y"}]}`)
	if res.Get("0.success").Bool() || res.Get("0.errors.0.statusCode").String() != "INVALID_FIELD_FOR_INSERT_UPDATE" ||
		res.Get("0.errors.0.message").String() != msg || res.Get("0.errors.0.fields").Raw != `["Name"]` {
		t.Errorf("create with Name: %s", res.Raw)
	}
	_, res, _ = c.do("PATCH", dataPrefix+"composite/sobjects", `{"records":[{"attributes":{"type":"Contact"},"id":"`+grace+`","Name":"Grace Hopper"}]}`)
	if res.Get("0.errors.0.statusCode").String() != "INVALID_FIELD_FOR_INSERT_UPDATE" {
		t.Errorf("update of Name: %s", res.Raw)
	}
	if _, err := e.Create("Contact", map[string]any{"LastName": "Z", "Name": "Z"}); err == nil || !strings.Contains(err.Error(), msg) {
		t.Errorf("test API create with Name: %v", err)
	}
	// Account.Name is an ordinary, writable field.
	if _, err := e.Create("Account", map[string]any{"Name": "Acme"}); err != nil {
		t.Errorf("Account.Name: %v", err)
	}
	if st, res := c.query("SELECT Name FROM Account WHERE Name = 'Acme'"); st != 200 || res.Get("totalSize").Int() != 1 {
		t.Errorf("Account by Name: %d %s", st, res.Raw)
	}
}
