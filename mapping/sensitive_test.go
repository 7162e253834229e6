package mapping

import (
	"strings"
	"testing"

	"tandem"
)

// A field marked sensitive: true is masked wherever Tandem shows values:
// conflicts (both sides and the base), canonical values, and a system's raw
// payload (at the field's paths only, and only where it has a value).
func TestSensitiveFieldsAreMasked(t *testing.T) {
	cfg := compile(t, `systems:
  crm: { type: test }
entities:
  contact:
    fields:
      email: email
      ssn: { type: string, sensitive: true }
    systems:
      crm:
        object: thing
        fields:
          email: props.email
          ssn: props.ssn
`)
	e := cfg.Entities[0]
	if !e.Sensitive("ssn") || e.Sensitive("email") {
		t.Fatalf("sensitive: ssn %v, email %v", e.Sensitive("ssn"), e.Sensitive("email"))
	}
	vals := e.MaskValues(tandem.Values{"email": "a@x.com", "ssn": "123-45-6789"})
	if vals["ssn"] != Masked || vals["email"] != "a@x.com" {
		t.Errorf("masked values %v", vals)
	}
	if got := e.MaskValues(tandem.Values{"ssn": nil}); got["ssn"] != nil {
		t.Errorf("an empty value masked: %v", got)
	}
	c := tandem.Conflict{Entity: "contact", Field: "ssn", Base: "000", Values: map[string]tandem.SideValue{
		"crm": {Value: "123-45-6789", RecordID: "1"}, "other": {Value: "987-65-4321"}}}
	for _, m := range []tandem.Conflict{e.MaskConflict(c)} {
		if m.Base != Masked || m.Values["crm"].Value != Masked || m.Values["other"].Value != Masked || m.Values["crm"].RecordID != "1" {
			t.Errorf("masked conflict %+v", m)
		}
	}
	if c.Values["crm"].Value != "123-45-6789" {
		t.Errorf("masking changed the conflict it was given: %+v", c)
	}
	other := tandem.Conflict{Entity: "contact", Field: "email", Values: map[string]tandem.SideValue{"crm": {Value: "a@x.com"}}}
	if m := e.MaskConflict(other); m.Values["crm"].Value != "a@x.com" {
		t.Errorf("a field not sensitive was masked: %+v", m)
	}
	raw := string(e.System("crm").MaskRaw(e, []byte(`{"props":{"email":"a@x.com","ssn":"123-45-6789"}}`)))
	if strings.Contains(raw, "6789") || !strings.Contains(raw, "a@x.com") || !strings.Contains(raw, Masked) {
		t.Errorf("masked raw %s", raw)
	}
	if raw := string(e.System("crm").MaskRaw(e, []byte(`{"props":{"email":"a@x.com"}}`))); strings.Contains(raw, "ssn") {
		t.Errorf("masking added a path the record lacks: %s", raw)
	}
}

// A conflict carrying whole records (identity, delete) has their sensitive
// fields masked, the others shown.
func TestSensitiveFieldsMaskedInRecords(t *testing.T) {
	cfg := compile(t, `systems:
  crm: { type: test }
entities:
  contact:
    fields:
      email: email
      ssn: { type: string, sensitive: true }
    systems:
      crm:
        object: thing
        fields: { email: props.email, ssn: props.ssn }
`)
	c := tandem.Conflict{Entity: "contact", Kind: tandem.ConflictIdentity, Values: map[string]tandem.SideValue{
		"crm": {Value: map[string]any{"email": "a@x.com", "ssn": "123-45-6789"}}}}
	m := cfg.Entities[0].MaskConflict(c)
	view := m.Values["crm"].Value.(map[string]any)
	if view["ssn"] != Masked || view["email"] != "a@x.com" {
		t.Errorf("masked view %v", view)
	}
	if c.Values["crm"].Value.(map[string]any)["ssn"] != "123-45-6789" {
		t.Error("masking changed the record it was given")
	}
}
