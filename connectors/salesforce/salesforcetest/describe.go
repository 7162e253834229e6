package salesforcetest

import (
	"net/http"
	"strings"
)

// describeField is one entry of fields[] in a DescribeSObjectResult, every
// key Salesforce sends, in its (alphabetical) order. Pointers are the
// keys Salesforce sends as null when they do not apply.
type describeField struct {
	Aggregatable                 bool            `json:"aggregatable"`
	AIPredictionField            bool            `json:"aiPredictionField"`
	AutoNumber                   bool            `json:"autoNumber"`
	ByteLength                   int             `json:"byteLength"`
	Calculated                   bool            `json:"calculated"`
	CalculatedFormula            *string         `json:"calculatedFormula"`
	CascadeDelete                bool            `json:"cascadeDelete"`
	CaseSensitive                bool            `json:"caseSensitive"`
	CompoundFieldName            *string         `json:"compoundFieldName"`
	ControllerName               *string         `json:"controllerName"`
	Createable                   bool            `json:"createable"`
	Custom                       bool            `json:"custom"`
	DefaultValue                 any             `json:"defaultValue"`
	DefaultValueFormula          *string         `json:"defaultValueFormula"`
	DefaultedOnCreate            bool            `json:"defaultedOnCreate"`
	DependentPicklist            bool            `json:"dependentPicklist"`
	DeprecatedAndHidden          bool            `json:"deprecatedAndHidden"`
	Digits                       int             `json:"digits"`
	DisplayLocationInDecimal     bool            `json:"displayLocationInDecimal"`
	Encrypted                    bool            `json:"encrypted"`
	ExternalID                   bool            `json:"externalId"`
	ExtraTypeInfo                *string         `json:"extraTypeInfo"`
	Filterable                   bool            `json:"filterable"`
	FilteredLookupInfo           any             `json:"filteredLookupInfo"`
	FormulaTreatNullNumberAsZero bool            `json:"formulaTreatNullNumberAsZero"`
	Groupable                    bool            `json:"groupable"`
	HighScaleNumber              bool            `json:"highScaleNumber"`
	HTMLFormatted                bool            `json:"htmlFormatted"`
	IDLookup                     bool            `json:"idLookup"`
	InlineHelpText               *string         `json:"inlineHelpText"`
	Label                        string          `json:"label"`
	Length                       int             `json:"length"`
	Mask                         *string         `json:"mask"`
	MaskType                     *string         `json:"maskType"`
	Name                         string          `json:"name"`
	NameField                    bool            `json:"nameField"`
	NamePointing                 bool            `json:"namePointing"`
	Nillable                     bool            `json:"nillable"`
	Permissionable               bool            `json:"permissionable"`
	PicklistValues               []picklistEntry `json:"picklistValues"`
	PolymorphicForeignKey        bool            `json:"polymorphicForeignKey"`
	Precision                    int             `json:"precision"`
	QueryByDistance              bool            `json:"queryByDistance"`
	ReferenceTargetField         *string         `json:"referenceTargetField"`
	ReferenceTo                  []string        `json:"referenceTo"`
	RelationshipName             *string         `json:"relationshipName"`
	RelationshipOrder            *int            `json:"relationshipOrder"`
	RestrictedDelete             bool            `json:"restrictedDelete"`
	RestrictedPicklist           bool            `json:"restrictedPicklist"`
	Scale                        int             `json:"scale"`
	SearchPrefilterable          bool            `json:"searchPrefilterable"`
	SoapType                     string          `json:"soapType"`
	Sortable                     bool            `json:"sortable"`
	Type                         kind            `json:"type"`
	Unique                       bool            `json:"unique"`
	Updateable                   bool            `json:"updateable"`
	WriteRequiresMasterRead      bool            `json:"writeRequiresMasterRead"`
}

// picklistEntry is a PicklistEntry; validFor is null on a picklist that
// no other field controls.
type picklistEntry struct {
	Active       bool    `json:"active"`
	DefaultValue bool    `json:"defaultValue"`
	Label        string  `json:"label"`
	ValidFor     *string `json:"validFor"`
	Value        string  `json:"value"`
}

// soapTypes are the SOAP types of the field types the emulator has.
var soapTypes = map[kind]string{
	kID: "tns:ID", kReference: "tns:ID", kString: "xsd:string", kTextArea: "xsd:string", kEmail: "xsd:string",
	kPhone: "xsd:string", kURL: "xsd:string", kPicklist: "xsd:string", kInt: "xsd:int", kDouble: "xsd:double",
	kCurrency: "xsd:double", kBoolean: "xsd:boolean", kDateTime: "xsd:dateTime",
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// systemField reports the fields Salesforce sets on every record.
func systemField(f *field) bool {
	switch f.Name {
	case "Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp":
		return true
	}
	return false
}

func (f *field) describe() describeField {
	// A long text area can be neither filtered, sorted nor grouped by.
	longText := f.Kind == kTextArea && f.Length > 255
	d := describeField{
		Name: f.Name, Label: f.Label, Type: f.Kind, SoapType: soapTypes[f.Kind],
		Createable: !f.ReadOnly, Updateable: !f.ReadOnly,
		Nillable:   !f.Required && f.Kind != kBoolean && !f.ReadOnly,
		Custom:     strings.HasSuffix(f.Name, "__c"),
		ExternalID: f.ExternalID, Unique: f.Unique, CaseSensitive: f.CaseSensitive,
		IDLookup: f.IDLookup, NameField: f.NameField,
		CompoundFieldName: strPtr(f.Compound), ExtraTypeInfo: strPtr(f.ExtraType),
		Digits: f.Digits, Precision: f.Precision, Scale: f.Scale,
		DefaultedOnCreate: systemField(f) || f.Kind == kBoolean,
		Filterable:        !longText, Sortable: !longText,
		Groupable:      !longText && f.Kind != kDouble && f.Kind != kCurrency && f.Kind != kDateTime,
		Aggregatable:   !longText && f.Kind != kBoolean,
		Permissionable: !f.ReadOnly && !f.Required && f.Compound == "",
		PicklistValues: []picklistEntry{}, ReferenceTo: []string{},
		RelationshipName: strPtr(f.Relationship),
	}
	switch {
	case f.Kind.textual():
		d.Length, d.ByteLength = f.Length, 3*f.Length // up to three bytes a character
	case f.Kind == kID || f.Kind == kReference:
		d.Length, d.ByteLength = 18, 18
	}
	if f.Kind == kBoolean {
		d.DefaultValue = false
	}
	if f.ReferenceTo != "" {
		d.ReferenceTo = []string{f.ReferenceTo}
	}
	for _, p := range f.Picklist {
		label := p.Label
		if label == "" {
			label = p.Value
		}
		d.PicklistValues = append(d.PicklistValues, picklistEntry{Active: p.Active, Label: label, Value: p.Value})
	}
	return d
}

type childRelationship struct {
	CascadeDelete       bool     `json:"cascadeDelete"`
	ChildSObject        string   `json:"childSObject"`
	DeprecatedAndHidden bool     `json:"deprecatedAndHidden"`
	Field               string   `json:"field"`
	JunctionIDListNames []string `json:"junctionIdListNames"`
	JunctionReferenceTo []string `json:"junctionReferenceTo"`
	RelationshipName    *string  `json:"relationshipName"`
	RestrictedDelete    bool     `json:"restrictedDelete"`
}

// serveDescribe is GET sobjects/{Object}/describe: the
// DescribeSObjectResult of the object, for an integration user allowed
// everything.
func (e *Emulator) serveDescribe(w http.ResponseWriter, r *http.Request, object string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.table(object)
	if t == nil {
		notFound(w)
		return
	}
	o := t.obj
	fields := make([]describeField, len(o.Fields))
	for i, f := range o.Fields {
		fields[i] = f.describe()
	}
	// Children: every reference field of the other objects pointing here.
	children := []childRelationship{}
	for _, name := range e.objectNames() {
		other := e.table(name)
		for _, f := range other.obj.Fields {
			if f.Kind == kReference && f.ReferenceTo == o.Name {
				children = append(children, childRelationship{CascadeDelete: f.Cascade, ChildSObject: other.obj.Name, Field: f.Name,
					JunctionIDListNames: []string{}, JunctionReferenceTo: []string{}, RelationshipName: strPtr(other.obj.Plural)})
			}
		}
	}
	sobj := dataPrefix + "sobjects/" + o.Name
	ui := "http://" + r.Host
	writeJSON(w, http.StatusOK, map[string]any{
		"actionOverrides": []any{}, "activateable": false, "associateEntityType": nil, "associateParentEntity": nil,
		"childRelationships": children, "compactLayoutable": true, "createable": true, "custom": false,
		"customSetting": false, "deepCloneable": false, "defaultImplementation": nil, "deletable": true,
		"deprecatedAndHidden": false, "extendedBy": nil, "extendsInterfaces": nil, "feedEnabled": true,
		"fields": fields, "hasSubtypes": false, "implementedBy": nil, "implementsInterfaces": nil,
		"isInterface": false, "isSubtype": false, "keyPrefix": o.Prefix, "label": o.Label, "labelPlural": o.Plural,
		"layoutable": true, "mergeable": true, "mruEnabled": true, "name": o.Name, "namedLayoutInfos": []any{},
		"networkScopeFieldName": nil, "queryable": true, "recordTypeInfos": []any{}, "replicateable": true,
		"retrieveable": true, "searchLayoutable": true, "searchable": true, "sobjectDescribeOption": "FULL",
		"triggerable": true, "undeletable": true, "updateable": true,
		"urls": map[string]string{
			"sobject": sobj, "describe": sobj + "/describe", "rowTemplate": sobj + "/{ID}",
			"defaultValues": sobj + "/defaultValues?recordTypeId&fields", "layouts": sobj + "/describe/layouts",
			"compactLayouts": sobj + "/describe/compactLayouts", "approvalLayouts": sobj + "/describe/approvalLayouts",
			"quickActions": sobj + "/quickActions", "listviews": sobj + "/listviews",
			"uiDetailTemplate": ui + "/{ID}", "uiEditTemplate": ui + "/{ID}/e", "uiNewRecord": ui + "/" + o.Prefix + "/e",
		},
	})
}
