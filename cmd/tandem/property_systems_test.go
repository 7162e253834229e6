package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/rest/resttest"
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
	// norm is how a canonical value of field reads back from this system
	// once written to it: the identity, unless its mapping is lossy.
	norm(field, v string) string
	// stamp is the modified time the system gives a change made at t.
	stamp(t time.Time) time.Time
	// classify tells Tandem's request apart: "pull" (a page of changes),
	// "reread" (records by id, before a write), "write", or "".
	classify(r *http.Request) string
}

// hubspotSystem is a hubspottest portal's contacts.
type hubspotSystem struct {
	sys   string
	srv   *hubspottest.Emulator
	upper map[string]bool // canonical fields mapped in with transform: upper (the lossy mapping)
}

var hubspotProps = map[string]string{"email": "email", "first_name": "firstname", "last_name": "lastname", "phone": "phone", "title": "jobtitle"}

func (h *hubspotSystem) name() string   { return h.sys }
func (h *hubspotSystem) object() string { return "contacts" }
func (h *hubspotSystem) writes() int    { return h.srv.Writes() }

func (h *hubspotSystem) norm(field, v string) string {
	if h.upper[field] {
		return strings.ToUpper(v)
	}
	return v
}

func (h *hubspotSystem) stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func (h *hubspotSystem) classify(r *http.Request) string {
	rest, ok := strings.CutPrefix(r.URL.Path, "/crm/v3/objects/contacts")
	switch {
	case !ok:
		return ""
	case rest == "/search" || rest == "" && r.Method == http.MethodGet:
		return "pull"
	case rest == "/batch/read":
		return "reread"
	case r.Method == http.MethodGet:
		return ""
	}
	return "write"
}

func (h *hubspotSystem) records() []propRec {
	var out []propRec
	for _, o := range h.srv.List("contacts") {
		v := propVals{}
		for f, p := range hubspotProps {
			v[f] = o.Properties[p]
		}
		v = canonical(v)
		for f := range v {
			v[f] = h.norm(f, v[f])
		}
		out = append(out, propRec{id: o.ID, v: v, modified: o.UpdatedAt})
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
	srv *salesforcetest.Emulator
}

var salesforceFields = map[string]string{"email": "Email", "first_name": "FirstName", "last_name": "LastName", "phone": "Phone", "title": "Title"}

func (s *salesforceSystem) name() string   { return s.sys }
func (s *salesforceSystem) object() string { return "Contact" }
func (s *salesforceSystem) writes() int    { return s.srv.Writes() }

func (s *salesforceSystem) norm(_, v string) string { return v }

// stamp: SystemModstamp has whole seconds, as in the real API.
func (s *salesforceSystem) stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

func (s *salesforceSystem) classify(r *http.Request) string {
	rest, ok := strings.CutPrefix(r.URL.Path, "/services/data/"+salesforcetest.APIVersion+"/")
	if !ok {
		return ""
	}
	switch {
	case strings.HasPrefix(rest, "query"):
		return "pull"
	case strings.HasPrefix(rest, "composite/sobjects/Contact") && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		return "reread" // a retrieve by ids (POST carries them in its body)
	case r.Method == http.MethodGet:
		return ""
	}
	return "write"
}

// commitLate edits a record in a transaction that began at began and
// commits now (see salesforcetest.CommitLate).
func (s *salesforceSystem) commitLate(id, field, raw string, began time.Time) error {
	var v any = raw
	if raw == "" {
		v = nil
	}
	_, err := s.srv.CommitLate("Contact", id, map[string]any{salesforceFields[field]: v}, began)
	return err
}

// undelete restores a record from the recycle bin.
func (s *salesforceSystem) undelete(id string) error { return s.srv.Undelete("Contact", id) }

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

// customCRM is a custom CRM's contacts, served by the rest connector's
// emulator: stamps of a whole second, deletes kept as tombstones, ETags
// on writes, an id list for re-reads, the key kept unique by the API.
type customCRM struct {
	sys string
	srv *resttest.Server
}

var crmFields = map[string]string{"email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone", "title": "title"}

func (c *customCRM) name() string            { return c.sys }
func (c *customCRM) object() string          { return "contacts" }
func (c *customCRM) writes() int             { return c.srv.Writes() }
func (c *customCRM) norm(_, v string) string { return v }

func (c *customCRM) stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

func (c *customCRM) classify(r *http.Request) string {
	rest, ok := strings.CutPrefix(r.URL.Path, "/contacts")
	q := r.URL.Query()
	switch {
	case !ok:
		return ""
	case r.Method != http.MethodGet:
		return "write"
	case rest == "" && q.Has("ids"):
		return "reread"
	case rest == "" && !q.Has("tandem_id"):
		return "pull"
	}
	return "" // a look-up by key before a create, or one record
}

func (c *customCRM) records() []propRec {
	var out []propRec
	for _, r := range c.srv.List() {
		if r.Deleted {
			continue
		}
		v := propVals{}
		for f, api := range crmFields {
			v[f] = str(r.Fields[api])
		}
		out = append(out, propRec{id: r.ID, v: canonical(v), modified: r.Updated})
	}
	return out
}

func (c *customCRM) create(raw map[string]string) (string, error) {
	fields := map[string]any{}
	for f, v := range raw {
		if v != "" {
			fields[crmFields[f]] = v
		}
	}
	return c.srv.Create(fields, time.Time{}), nil
}

func (c *customCRM) set(id, field, raw string) error {
	if r, ok := c.srv.Get(id); !ok || r.Deleted {
		return fmt.Errorf("crm: no contact %s", id)
	}
	var v any = raw
	if raw == "" {
		v = nil // the API clears with null
	}
	c.srv.Update(id, map[string]any{crmFields[field]: v})
	return nil
}

func (c *customCRM) remove(id string) error {
	if r, ok := c.srv.Get(id); !ok || r.Deleted {
		return fmt.Errorf("crm: no contact %s", id)
	}
	c.srv.Delete(id)
	return nil
}

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

// propertyConfig is the test's config: four systems (the custom CRM's
// section is the sandbox's), HubSpot paged by
// ten, newest wins with no tolerance, deletes propagated without a guard.
// No system gives per-field times (HubSpot's property_history is off), so
// newest compares the records' modified times.
//
// With lossy set, hubspot_b reads its job title in upper case (transform:
// upper): a mapping that does not round-trip, so what Tandem writes there
// reads back as another value (issue 11, case 9).
func propertyConfig(state, hsA, hsB, sf, crm string, lossy bool) string {
	hubspot := func(name string, lossy bool) string {
		title := "properties.jobtitle"
		if lossy {
			title = "{ path: properties.jobtitle, transform: upper }"
		}
		return fmt.Sprintf(`      %s:
        object: contacts
        fields:
          email: properties.email
          first_name: properties.firstname
          last_name: properties.lastname
          phone: properties.phone
          title: %s
`, name, title)
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
%sentities:
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
      crm:
        object: contacts
        fields:
          email: email
          first_name: first_name
          last_name: last_name
          phone: phone
          title: title
    conflict: { policy: newest, clock_tolerance: 0s }
    deletes: { policy: propagate, max_share: 1 }
`, state, hsA, hsB, sf, crmSystem(crm), hubspot("hubspot_a", false), hubspot("hubspot_b", lossy))
}
