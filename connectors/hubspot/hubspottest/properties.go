package hubspottest

import (
	"net/http"
	"sort"
	"time"
)

// apiProperty is a property as the properties API shows it (the spec's
// Property).
type apiProperty struct {
	Name                 string      `json:"name"`
	Label                string      `json:"label"`
	Type                 string      `json:"type"`
	FieldType            string      `json:"fieldType"`
	Description          string      `json:"description"`
	GroupName            string      `json:"groupName"`
	Options              []apiOption `json:"options"`
	DisplayOrder         int         `json:"displayOrder"`
	Calculated           bool        `json:"calculated"`
	ExternalOptions      bool        `json:"externalOptions"`
	HasUniqueValue       bool        `json:"hasUniqueValue"`
	Hidden               bool        `json:"hidden"`
	HubspotDefined       bool        `json:"hubspotDefined"`
	ModificationMetadata modMetadata `json:"modificationMetadata"`
	FormField            bool        `json:"formField"`
	CreatedAt            string      `json:"createdAt"`
	UpdatedAt            string      `json:"updatedAt"`
	Archived             bool        `json:"archived"`
}

type apiOption struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

type modMetadata struct {
	Archivable         bool `json:"archivable"`
	ReadOnlyDefinition bool `json:"readOnlyDefinition"`
	ReadOnlyValue      bool `json:"readOnlyValue"`
	ReadOnlyOptions    bool `json:"readOnlyOptions"`
}

// definedAt stamps every property definition: the emulator's properties
// exist before any record, and reading the test clock for them would
// shift the stamps tests expect of records.
var definedAt = stamp(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))

// describe shows one property definition.
func (t *objectType) describe(d *propDef) apiProperty {
	p := apiProperty{
		Name: d.name, Label: d.label, Type: d.kind.hubspotType(), FieldType: d.fieldType,
		GroupName: t.group, Options: []apiOption{}, DisplayOrder: -1,
		HasUniqueValue: d.unique && d.name != "hs_object_id", HubspotDefined: !d.custom,
		ModificationMetadata: modMetadata{
			Archivable: d.custom, ReadOnlyDefinition: !d.custom, ReadOnlyValue: d.readOnly, ReadOnlyOptions: !d.custom,
		},
		FormField: !d.readOnly, CreatedAt: definedAt, UpdatedAt: definedAt,
	}
	if p.Label == "" {
		p.Label = d.name
	}
	if p.FieldType == "" {
		p.FieldType = d.kind.fieldType()
	}
	switch d.kind {
	case kindEnum, kindMulti:
		for i, o := range d.options {
			label := optionLabels[o]
			if d.custom || label == "" {
				label = o
			}
			p.Options = append(p.Options, apiOption{Label: label, Value: o, DisplayOrder: i})
		}
	case kindBool:
		p.Options = []apiOption{{Label: "Yes", Value: "true", DisplayOrder: 0}, {Label: "No", Value: "false", DisplayOrder: 1}}
	}
	return p
}

// listProperties is GET /crm/v3/properties/{objectType}: every property
// of the type, by name. No property is ever archived here, so
// archived=true lists none.
func (e *Emulator) listProperties(r *http.Request, t *objectType, _ string, _ []byte) *reply {
	archived, rep := queryBool(r.URL.Query(), "archived")
	if rep != nil {
		return rep
	}
	out := struct {
		Results []apiProperty `json:"results"`
	}{Results: []apiProperty{}}
	if !archived {
		for _, d := range t.props {
			out.Results = append(out.Results, t.describe(d))
		}
	}
	sort.Slice(out.Results, func(i, j int) bool { return out.Results[i].Name < out.Results[j].Name })
	return &reply{status: http.StatusOK, body: out}
}

// propertyCreate is the body of POST /crm/v3/properties/{objectType}
// (HubSpot's PropertyCreate).
type propertyCreate struct {
	Name                 string      `json:"name"`
	Label                string      `json:"label"`
	Type                 string      `json:"type"`
	FieldType            string      `json:"fieldType"`
	GroupName            string      `json:"groupName"`
	Description          string      `json:"description,omitempty"`
	Options              []apiOption `json:"options,omitempty"`
	DisplayOrder         int         `json:"displayOrder,omitempty"`
	HasUniqueValue       bool        `json:"hasUniqueValue,omitempty"`
	Hidden               bool        `json:"hidden,omitempty"`
	FormField            bool        `json:"formField,omitempty"`
	ExternalOptions      bool        `json:"externalOptions,omitempty"`
	CalculationFormula   string      `json:"calculationFormula,omitempty"`
	ReferencedObjectType string      `json:"referencedObjectType,omitempty"`
	DataSensitivity      string      `json:"dataSensitivity,omitempty"`
}

// createProperty is POST /crm/v3/properties/{objectType}: a custom
// property, as an admin (or an integration with the schema scope) makes
// one. With hasUniqueValue it is kept unique among live records and can
// be an upsert's idProperty, as Tandem's key property is.
func (e *Emulator) createProperty(_ *http.Request, t *objectType, _ string, body []byte) *reply {
	var in propertyCreate
	if rep := decode(body, &in); rep != nil {
		return rep
	}
	var missing []string
	for name, v := range map[string]string{"name": in.Name, "label": in.Label, "type": in.Type, "fieldType": in.FieldType, "groupName": in.GroupName} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return validation("Missing required fields for property creation: %v", missing)
	}
	if t.props[in.Name] != nil {
		return fail(http.StatusConflict, "OBJECT_ALREADY_EXISTS", "Property named '%s' already exists.", in.Name)
	}
	p := Property{Name: in.Name, Type: in.Type, FieldType: in.FieldType, Label: in.Label}
	for _, o := range in.Options {
		p.Options = append(p.Options, o.Value)
	}
	if p.Type == "enumeration" && p.FieldType != "checkbox" && p.FieldType != "radio" {
		p.FieldType = "select"
	}
	d, err := p.def()
	if err != nil {
		return validation("Invalid property definition: %v", err)
	}
	if d.kind != kindEnum && d.kind != kindMulti {
		d.fieldType = in.FieldType
	}
	if in.HasUniqueValue {
		if d.kind != kindString && d.kind != kindNumber {
			return validation("Only string and number properties can have unique values; %s is %s", in.Name, in.Type)
		}
		d.unique = true
		e.tables[t.name].unique[d.name] = map[string]*record{}
	}
	t.props[d.name] = d
	return &reply{status: http.StatusCreated, body: t.describe(d)}
}
