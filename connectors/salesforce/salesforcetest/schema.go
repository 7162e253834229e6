package salesforcetest

import (
	"sort"
	"strings"
)

// kind is a field's Salesforce data type, as describe reports it.
type kind string

const (
	kID        kind = "id"
	kString    kind = "string"
	kTextArea  kind = "textarea"
	kEmail     kind = "email"
	kPhone     kind = "phone"
	kURL       kind = "url"
	kPicklist  kind = "picklist"
	kReference kind = "reference"
	kInt       kind = "int"
	kDouble    kind = "double"
	kCurrency  kind = "currency"
	kBoolean   kind = "boolean"
	kDateTime  kind = "datetime"
)

// textual kinds hold strings and obey a length.
func (k kind) textual() bool {
	switch k {
	case kString, kTextArea, kEmail, kPhone, kURL, kPicklist:
		return true
	}
	return false
}

// field is one column of an sObject, with what describe would say of it.
type field struct {
	Name          string
	Label         string
	Kind          kind
	Length        int    // textual kinds: max characters
	Required      bool   // not nillable and no default: needed on create, never cleared
	ReadOnly      bool   // neither createable nor updateable (system fields)
	ExternalID    bool   // usable as the key of an upsert
	Unique        bool   // unique index over live records
	CaseSensitive bool   // unique and SOQL equality compare exact case
	ReferenceTo   string // kReference: the object pointed at
}

// sobject is the schema of one object type.
type sobject struct {
	Name   string
	Label  string
	Prefix string // key prefix of its ids
	Fields []*field
	byName map[string]*field // lower-cased name -> field: the API is case-insensitive on names
}

func (o *sobject) field(name string) *field { return o.byName[strings.ToLower(name)] }

func (o *sobject) add(f *field) {
	if f.Label == "" {
		f.Label = f.Name
	}
	o.Fields = append(o.Fields, f)
	o.byName[strings.ToLower(f.Name)] = f
}

func text(name, label string, n int) *field {
	return &field{Name: name, Label: label, Kind: kString, Length: n}
}

// systemFields are the read-only columns every object has.
func systemFields() []*field {
	return []*field{
		{Name: "IsDeleted", Label: "Deleted", Kind: kBoolean, ReadOnly: true},
		{Name: "CreatedDate", Label: "Created Date", Kind: kDateTime, ReadOnly: true},
		{Name: "LastModifiedDate", Label: "Last Modified Date", Kind: kDateTime, ReadOnly: true},
		{Name: "SystemModstamp", Label: "System Modstamp", Kind: kDateTime, ReadOnly: true},
	}
}

// tandemID is the custom External ID field the connector keys creates on:
// unique and case-sensitive, as Tandem's entity ids are.
func tandemID() *field {
	return &field{Name: "Tandem_Id__c", Label: "Tandem Id", Kind: kString, Length: 255,
		ExternalID: true, Unique: true, CaseSensitive: true}
}

// newSchema builds the objects the emulator serves, with lengths and types
// of a standard org, plus extra custom string fields per object.
func newSchema(extra map[string][]string) map[string]*sobject {
	contact := &sobject{Name: "Contact", Label: "Contact", Prefix: "003", byName: map[string]*field{}}
	for _, f := range []*field{
		{Name: "Id", Label: "Contact ID", Kind: kID, ReadOnly: true},
		text("FirstName", "First Name", 40),
		{Name: "LastName", Label: "Last Name", Kind: kString, Length: 80, Required: true},
		{Name: "Email", Label: "Email", Kind: kEmail, Length: 80},
		{Name: "Phone", Label: "Business Phone", Kind: kPhone, Length: 40},
		{Name: "MobilePhone", Label: "Mobile Phone", Kind: kPhone, Length: 40},
		text("Title", "Title", 128),
		text("Department", "Department", 80),
		text("MailingCity", "Mailing City", 40),
		{Name: "AccountId", Label: "Account ID", Kind: kReference, ReferenceTo: "Account"},
		{Name: "Description", Label: "Contact Description", Kind: kTextArea, Length: 32000},
		text("Lifecycle__c", "Lifecycle", 255),
		tandemID(),
	} {
		contact.add(f)
	}
	account := &sobject{Name: "Account", Label: "Account", Prefix: "001", byName: map[string]*field{}}
	for _, f := range []*field{
		{Name: "Id", Label: "Account ID", Kind: kID, ReadOnly: true},
		{Name: "Name", Label: "Account Name", Kind: kString, Length: 255, Required: true},
		{Name: "Website", Label: "Website", Kind: kURL, Length: 255},
		{Name: "Phone", Label: "Account Phone", Kind: kPhone, Length: 40},
		{Name: "Industry", Label: "Industry", Kind: kPicklist, Length: 255},
		text("BillingCity", "Billing City", 40),
		{Name: "NumberOfEmployees", Label: "Employees", Kind: kInt},
		{Name: "AnnualRevenue", Label: "Annual Revenue", Kind: kCurrency},
		{Name: "Description", Label: "Account Description", Kind: kTextArea, Length: 32000},
		tandemID(),
	} {
		account.add(f)
	}
	objs := map[string]*sobject{}
	for _, o := range []*sobject{contact, account} {
		for _, f := range systemFields() {
			o.add(f)
		}
		objs[strings.ToLower(o.Name)] = o
	}
	// Sorted so the field order (and so describe) does not depend on map order.
	objNames := make([]string, 0, len(extra))
	for name := range extra {
		objNames = append(objNames, name)
	}
	sort.Strings(objNames)
	for _, name := range objNames {
		o := objs[strings.ToLower(name)]
		if o == nil {
			panic("salesforcetest: ExtraFields names unknown object " + name)
		}
		for _, fname := range extra[name] {
			if o.field(fname) != nil {
				panic("salesforcetest: ExtraFields repeats field " + name + "." + fname)
			}
			o.add(text(fname, strings.TrimSuffix(fname, "__c"), 255))
		}
	}
	return objs
}
