package mapping

import (
	"encoding/json"
	"testing"
)

// benchConfig maps 15 fields of a HubSpot contact, of every kind the
// mapping layer handles on a hot path: text with trim, email, phone with
// e164, an enum through a value map, HubSpot's string numbers, booleans
// and epoch-millisecond dates, ISO datetimes and a delimited list.
const benchConfig = `systems:
  hubspot: { type: hubspot }
entities:
  contact:
    match: [email]
    phone_region: US
    fields:
      email: email
      first_name: string
      last_name: string
      phone: phone
      lifecycle: { type: enum, values: [Lead, Customer, Opportunity, Subscriber] }
      score: number
      employees: number
      opted_out: bool
      birthday: date
      created: datetime
      last_contacted: datetime
      tags: list
      city: string
      company: string
      job_title: string
    systems:
      hubspot:
        object: contacts
        fields:
          email: properties.email
          first_name: { path: properties.firstname, transform: trim }
          last_name: { path: properties.lastname, transform: trim }
          phone: { path: properties.phone, transform: e164 }
          lifecycle: { path: properties.lifecyclestage, map: { lead: Lead, customer: Customer, opportunity: Opportunity, subscriber: Subscriber } }
          score: properties.hubspotscore
          employees: properties.numemployees
          opted_out: properties.hs_email_optout
          birthday: properties.date_of_birth
          created: { path: createdAt, direction: in }
          last_contacted: properties.notes_last_contacted
          tags: { path: properties.hs_tags, split: ";", join: ";" }
          city: { path: properties.city, transform: trim }
          company: { path: properties.company, transform: trim }
          job_title: { path: properties.jobtitle, transform: trim }
`

// benchContact is a HubSpot contact as the v3 API returns it: about 1 KB,
// 30 properties (the 15 mapped ones among them) and the envelope.
const benchContact = `{
  "id": "51234",
  "properties": {
    "address": "1 Main Street",
    "city": " Springfield ",
    "company": "Acme Corporation",
    "country": "United States",
    "createdate": "2024-01-05T10:00:00.000Z",
    "date_of_birth": "638928000000",
    "email": "Ann.Lee@Example.COM",
    "fax": null,
    "firstname": " Ann ",
    "hs_analytics_source": "ORGANIC_SEARCH",
    "hs_email_optout": "false",
    "hs_lead_status": "OPEN",
    "hs_object_id": "51234",
    "hs_tags": "vip;beta;newsletter",
    "hubspot_owner_id": "80012",
    "hubspotscore": "42.5",
    "industry": "COMPUTER_SOFTWARE",
    "jobtitle": "Head of Operations",
    "lastmodifieddate": "2024-03-01T09:30:00.123Z",
    "lastname": "Lee",
    "lifecyclestage": "customer",
    "mobilephone": "",
    "notes_last_contacted": "1709285400123",
    "num_associated_deals": "3",
    "numemployees": "250",
    "phone": "(650) 253-0000",
    "salutation": "Ms",
    "state": "IL",
    "website": "https://acme.example.com",
    "zip": "62701"
  },
  "createdAt": "2024-01-05T10:00:00.000Z",
  "updatedAt": "2024-03-01T09:30:00.123Z",
  "archived": false
}`

// BenchmarkIn maps a contact beside encoding/json decoding the same bytes
// into a map[string]any, the baseline the mapping must beat by 2×:
//
//	go test ./mapping -run '^$' -bench BenchmarkIn -count 6
func BenchmarkIn(b *testing.B) {
	raw := []byte(benchContact)
	b.Run("mapping", func(b *testing.B) {
		s := compile(b, benchConfig).Entities[0].System("hubspot")
		v, err := s.In(raw)
		if err != nil || len(v) != 15 {
			b.Fatalf("In = %v, %v; want 15 fields", v, err)
		}
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.In(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPhone is why e164 caches: one phonenumbers parse costs more
// than mapping all the rest of a contact.
func BenchmarkPhone(b *testing.B) {
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseE164("(650) 253-0000", "US"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e164("(650) 253-0000", "US"); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The contact of BenchmarkIn with a number never seen before: its
	// phone field (type phone, transform e164) parses twice.
	b.Run("contact-uncached", func(b *testing.B) {
		s := compile(b, benchConfig).Entities[0].System("hubspot")
		raw := []byte(benchContact)
		b.ReportAllocs()
		for b.Loop() {
			phones.Lock()
			clear(phones.m)
			phones.Unlock()
			if _, err := s.In(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
