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
	Digits        int    // kInt: max digits
	Precision     int    // kDouble, kCurrency: max digits in all
	Scale         int    // kDouble, kCurrency: digits after the point
	Required      bool   // not nillable and no default: needed on create, never cleared
	ReadOnly      bool   // neither createable nor updateable (system and compound fields)
	ExternalID    bool   // usable as the key of an upsert
	Unique        bool   // unique index over live records
	CaseSensitive bool   // unique and SOQL equality compare exact case
	IDLookup      bool   // can identify a record in an upsert or search
	NameField     bool   // the object's name field
	ReferenceTo   string // kReference: the object pointed at
	Relationship  string // kReference: the relationship name (Account for AccountId)
	// Cascade, on a reference, deletes the records that point at a record
	// when it is deleted (and restores them with it), as deleting an
	// Account does to its Contacts.
	Cascade   bool
	Compound  string // a component of this compound field (FirstName of Name)
	ExtraType string // describe's extraTypeInfo, e.g. personname
	Picklist  []picklistValue
	// Compute, when set, derives the value from the record's other
	// fields: a compound field such as Contact.Name is never stored.
	Compute func(r *Record) any
}

// picklistValue is one value of a picklist field, as describe lists it.
type picklistValue struct {
	Value  string
	Label  string // default Value
	Active bool
}

// Picklist declares a custom picklist field (Options.ExtraPicklists).
// Like a picklist created in Setup without "restrict to the values
// defined", it takes any value on write; describe lists Values as active
// and Inactive as inactive ones (kept for old records, offered no more).
type Picklist struct {
	Name     string // API name, ending in __c
	Values   []string
	Inactive []string
}

// sobject is the schema of one object type.
type sobject struct {
	Name   string
	Label  string
	Plural string
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

// fullName is Contact.Name: first and last name, as Salesforce composes
// it when no salutation, middle name or suffix is set.
func fullName(r *Record) any {
	first, _ := r.Fields["FirstName"].(string)
	last, _ := r.Fields["LastName"].(string)
	if n := strings.TrimSpace(first + " " + last); n != "" {
		return n
	}
	return nil
}

// industries are the values of Account.Industry in a new org.
var industries = []string{"Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
	"Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment",
	"Environmental", "Finance", "Food & Beverage", "Government", "Healthcare", "Hospitality", "Insurance",
	"Machinery", "Manufacturing", "Media", "Not For Profit", "Other", "Recreation", "Retail", "Shipping",
	"Technology", "Telecommunications", "Transportation", "Utilities"}

func activeValues(vs []string) []picklistValue {
	out := make([]picklistValue, len(vs))
	for i, v := range vs {
		out[i] = picklistValue{Value: v, Active: true}
	}
	return out
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
		ExternalID: true, Unique: true, CaseSensitive: true, IDLookup: true}
}

// newSchema builds the objects the emulator serves, with lengths and types
// of a standard org, plus extra custom string and picklist fields per
// object.
func newSchema(extra map[string][]string, picklists map[string][]Picklist) map[string]*sobject {
	contact := &sobject{Name: "Contact", Label: "Contact", Plural: "Contacts", Prefix: "003", byName: map[string]*field{}}
	for _, f := range []*field{
		{Name: "Id", Label: "Contact ID", Kind: kID, ReadOnly: true, IDLookup: true},
		{Name: "FirstName", Label: "First Name", Kind: kString, Length: 40, Compound: "Name", ExtraType: "personname"},
		{Name: "LastName", Label: "Last Name", Kind: kString, Length: 80, Required: true, Compound: "Name", ExtraType: "personname"},
		// The compound name: read-only, composed from the parts.
		{Name: "Name", Label: "Full Name", Kind: kString, Length: 121, ReadOnly: true, NameField: true, ExtraType: "personname", Compute: fullName},
		{Name: "Email", Label: "Email", Kind: kEmail, Length: 80, IDLookup: true},
		{Name: "Phone", Label: "Business Phone", Kind: kPhone, Length: 40},
		{Name: "MobilePhone", Label: "Mobile Phone", Kind: kPhone, Length: 40},
		text("Title", "Title", 128),
		text("Department", "Department", 80),
		text("MailingCity", "Mailing City", 40),
		{Name: "AccountId", Label: "Account ID", Kind: kReference, ReferenceTo: "Account", Relationship: "Account", Cascade: true},
		{Name: "Description", Label: "Contact Description", Kind: kTextArea, Length: 32000},
		text("Lifecycle__c", "Lifecycle", 255),
		tandemID(),
	} {
		contact.add(f)
	}
	account := &sobject{Name: "Account", Label: "Account", Plural: "Accounts", Prefix: "001", byName: map[string]*field{}}
	for _, f := range []*field{
		{Name: "Id", Label: "Account ID", Kind: kID, ReadOnly: true, IDLookup: true},
		{Name: "Name", Label: "Account Name", Kind: kString, Length: 255, Required: true, NameField: true, IDLookup: true},
		{Name: "Website", Label: "Website", Kind: kURL, Length: 255},
		{Name: "Phone", Label: "Account Phone", Kind: kPhone, Length: 40},
		{Name: "Industry", Label: "Industry", Kind: kPicklist, Length: 255, Picklist: activeValues(industries)},
		text("BillingCity", "Billing City", 40),
		{Name: "NumberOfEmployees", Label: "Employees", Kind: kInt, Digits: 8},
		{Name: "AnnualRevenue", Label: "Annual Revenue", Kind: kCurrency, Precision: 18},
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
	objNames = objNames[:0]
	for name := range picklists {
		objNames = append(objNames, name)
	}
	sort.Strings(objNames)
	for _, name := range objNames {
		o := objs[strings.ToLower(name)]
		if o == nil {
			panic("salesforcetest: ExtraPicklists names unknown object " + name)
		}
		for _, p := range picklists[name] {
			if o.field(p.Name) != nil || !strings.HasSuffix(p.Name, "__c") || len(p.Values) == 0 {
				panic("salesforcetest: ExtraPicklists: " + name + "." + p.Name + " exists, is not a custom field name, or has no values")
			}
			f := &field{Name: p.Name, Label: strings.TrimSuffix(p.Name, "__c"), Kind: kPicklist, Length: 255, Picklist: activeValues(p.Values)}
			for _, v := range p.Inactive {
				f.Picklist = append(f.Picklist, picklistValue{Value: v})
			}
			o.add(f)
		}
	}
	return objs
}
