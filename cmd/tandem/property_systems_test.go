package main

import (
	"fmt"
	"strings"
	"time"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/salesforce/salesforcetest"
)

// The systems of the convergence property test, the values the model
// follows, and the config the test syncs with.

// propVals are a record's canonical values; "" is the empty value.
type propVals map[string]string

func (v propVals) equal(w propVals) bool {
	for _, f := range propFields {
		if v[f] != w[f] {
			return false
		}
	}
	return true
}

func (v propVals) clone() propVals {
	out := propVals{}
	for _, f := range propFields {
		out[f] = v[f]
	}
	return out
}

func (v propVals) String() string {
	var b strings.Builder
	for i, f := range propFields[1:] {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%q", f, v[f])
	}
	return b.String()
}

// propRec is one live record of a system, read back through the
// emulator's test API and put in canonical form.
type propRec struct {
	id       string
	v        propVals
	modified time.Time
}

// propSystem is one emulated system as a person in its UI sees it.
type propSystem interface {
	name() string
	object() string
	records() []propRec
	// create and set take raw values, as a person types them ("" clears).
	create(raw map[string]string) (string, error)
	set(id, field, raw string) error
	remove(id string) error
	writes() int
}

// hubspotSystem is a hubspottest portal's contacts.
type hubspotSystem struct {
	sys string
	srv *hubspottest.Server
}

var hubspotProps = map[string]string{"email": "email", "first_name": "firstname", "last_name": "lastname", "phone": "phone", "title": "jobtitle"}

func (h *hubspotSystem) name() string   { return h.sys }
func (h *hubspotSystem) object() string { return "contacts" }
func (h *hubspotSystem) writes() int    { return h.srv.Writes() }

func (h *hubspotSystem) records() []propRec {
	var out []propRec
	for _, o := range h.srv.List("contacts") {
		v := propVals{}
		for f, p := range hubspotProps {
			v[f] = o.Properties[p]
		}
		out = append(out, propRec{id: o.ID, v: canonical(v), modified: o.UpdatedAt})
	}
	return out
}

func (h *hubspotSystem) create(raw map[string]string) (string, error) {
	props := map[string]any{}
	for f, s := range raw {
		if s != "" {
			props[hubspotProps[f]] = s
		}
	}
	return h.srv.Create("contacts", props)
}

func (h *hubspotSystem) set(id, field, raw string) error {
	return h.srv.Update("contacts", id, map[string]any{hubspotProps[field]: raw}) // "" clears, as in HubSpot
}

func (h *hubspotSystem) remove(id string) error { return h.srv.Delete("contacts", id) }

// salesforceSystem is a salesforcetest org's Contacts.
type salesforceSystem struct {
	sys string
	srv *salesforcetest.Server
}

var salesforceFields = map[string]string{"email": "Email", "first_name": "FirstName", "last_name": "LastName", "phone": "Phone", "title": "Title"}

func (s *salesforceSystem) name() string   { return s.sys }
func (s *salesforceSystem) object() string { return "Contact" }
func (s *salesforceSystem) writes() int    { return s.srv.Writes() }

func (s *salesforceSystem) records() []propRec {
	var out []propRec
	for _, r := range s.srv.List("Contact") {
		v := propVals{}
		for f, api := range salesforceFields {
			v[f] = str(r.Fields[api])
		}
		out = append(out, propRec{id: r.ID, v: canonical(v), modified: r.LastModifiedDate})
	}
	return out
}

func (s *salesforceSystem) create(raw map[string]string) (string, error) {
	fields := map[string]any{}
	for f, v := range raw {
		if v != "" {
			fields[salesforceFields[f]] = v
		}
	}
	return s.srv.Create("Contact", fields)
}

func (s *salesforceSystem) set(id, field, raw string) error {
	var v any = raw
	if raw == "" {
		v = nil // Salesforce clears with null
	}
	return s.srv.Update("Contact", id, map[string]any{salesforceFields[field]: v})
}

func (s *salesforceSystem) remove(id string) error { return s.srv.Delete("Contact", id) }

// canonical puts raw values in the form the test's mapping reads them in:
// emails lower-cased, phones in E.164 (the test writes US numbers only,
// in E.164 or as "(555) 123-4567").
func canonical(v propVals) propVals {
	out := propVals{}
	for _, f := range propFields {
		s := strings.TrimSpace(v[f])
		switch f {
		case "email":
			s = strings.ToLower(s)
		case "phone":
			if s != "" && !strings.HasPrefix(s, "+") {
				s = "+1" + strings.Map(func(r rune) rune {
					if r >= '0' && r <= '9' {
						return r
					}
					return -1
				}, s)
			}
		}
		out[f] = s
	}
	return out
}

// propertyConfig is the test's config: three systems, HubSpot paged by
// ten, newest wins with no tolerance, deletes propagated without a guard.
// No system gives per-field times (HubSpot's property_history is off), so
// newest compares the records' modified times.
func propertyConfig(state, hsA, hsB, sf string) string {
	hubspot := func(name string) string {
		return fmt.Sprintf(`      %s:
        object: contacts
        fields:
          email: properties.email
          first_name: properties.firstname
          last_name: properties.lastname
          phone: properties.phone
          title: properties.jobtitle
`, name)
	}
	return fmt.Sprintf(`state: %s
systems:
  hubspot_a:
    type: hubspot
    base_url: %s
    token: hs-a-token
    page_size: 10
    rate_limit: { requests: 100000, per: 10s }
    search_rate_limit: { requests: 10000, per: 1s }
  hubspot_b:
    type: hubspot
    base_url: %s
    token: hs-b-token
    page_size: 10
    rate_limit: { requests: 100000, per: 10s }
    search_rate_limit: { requests: 10000, per: 1s }
  salesforce:
    type: salesforce
    instance_url: %s
    client_id: cid
    client_secret: csecret
entities:
  contact:
    match: [email]
    phone_region: US
    fields:
      email: email
      first_name: string
      last_name: string
      phone: phone
      title: string
    systems:
%s%s      salesforce:
        object: Contact
        fields:
          email: Email
          first_name: FirstName
          last_name: LastName
          phone: Phone
          title: Title
    conflict: { policy: newest, clock_tolerance: 0s }
    deletes: { policy: propagate, max_share: 1 }
`, state, hsA, hsB, sf, hubspot("hubspot_a"), hubspot("hubspot_b"))
}
