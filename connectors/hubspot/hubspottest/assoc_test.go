package hubspottest

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"
)

func assocInput(from, to string, types ...int) map[string]any {
	ts := []any{}
	for _, t := range types {
		ts = append(ts, map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": t})
	}
	return map[string]any{"from": map[string]any{"id": from}, "to": map[string]any{"id": to}, "types": ts}
}

func TestAssociationsCreateReadArchive(t *testing.T) {
	e := New(Options{Now: newClock(time.Millisecond).Now})
	ann := mustCreate(t, e, "contacts", map[string]any{"email": "ann@x.com"})
	bob := mustCreate(t, e, "contacts", map[string]any{"email": "bob@x.com"})
	acme := mustCreate(t, e, "companies", map[string]any{"name": "Acme"})
	beta := mustCreate(t, e, "companies", map[string]any{"name": "Beta"})
	before, _ := e.Get("contacts", ann)

	c := do(t, e, "POST", "/crm/v4/associations/contacts/companies/batch/create", map[string]any{"inputs": []any{
		assocInput(ann, acme, ContactToCompanyPrimary), assocInput(bob, beta, ContactToCompanyUnlabeled), assocInput(bob, "999999", ContactToCompanyUnlabeled),
	}})
	if c.status != 207 || c.body.Get("results.#").Int() != 2 || c.body.Get("numErrors").Int() != 1 ||
		c.body.Get("errors.0.category").String() != "OBJECT_NOT_FOUND" || c.body.Get("errors.0.context.toObjectId.0").String() != "999999" {
		t.Fatalf("create: %d %s", c.status, c.raw)
	}
	r := c.body.Get(`results.#(fromObjectId==` + ann + `)`)
	if r.Get("toObjectId").String() != acme || r.Get("fromObjectTypeId").String() != "0-1" || r.Get("toObjectTypeId").String() != "0-2" || r.Get("labels.0").String() != "Primary" {
		t.Errorf("create result: %s", r.Raw)
	}
	if got := c.body.Get(`results.#(fromObjectId==` + bob + `).labels`).Raw; got != "[]" {
		t.Errorf("unlabeled labels: %s", got)
	}

	// A primary company is the contact's associatedcompanyid, and setting
	// it is a change of the contact.
	after, _ := e.Get("contacts", ann)
	if after.Properties["associatedcompanyid"] != acme || !after.UpdatedAt.After(before.UpdatedAt) {
		t.Errorf("associatedcompanyid %q, updated %v then %v", after.Properties["associatedcompanyid"], before.UpdatedAt, after.UpdatedAt)
	}
	if b, _ := e.Get("contacts", bob); b.Properties["associatedcompanyid"] != "" {
		t.Errorf("an unlabeled association set associatedcompanyid: %v", b.Properties)
	}

	// Read both ways; the unlabeled type comes with every association.
	c = do(t, e, "POST", "/crm/v4/associations/contact/company/batch/read", map[string]any{"inputs": []any{map[string]any{"id": ann}, map[string]any{"id": "424242"}}})
	if c.status != 207 || c.body.Get("results.#").Int() != 1 {
		t.Fatalf("read: %d %s", c.status, c.raw)
	}
	to := c.body.Get("results.0.to.0")
	if c.body.Get("results.0.from.id").String() != ann || to.Get("toObjectId").Int() == 0 || to.Get("toObjectId").String() != acme ||
		to.Get("associationTypes.#").Int() != 2 || to.Get("associationTypes.0.typeId").Int() != 1 || to.Get("associationTypes.0.label").String() != "Primary" ||
		to.Get("associationTypes.1.typeId").Int() != 279 || to.Get("associationTypes.1.label").Raw != "null" || to.Get("associationTypes.0.category").String() != "HUBSPOT_DEFINED" {
		t.Errorf("read result: %s", c.body.Get("results.0").Raw)
	}
	if e := c.body.Get("errors.0"); e.Get("subCategory").String() != "crm.associations.NO_ASSOCIATIONS_FOUND" || e.Get("message").String() != "No company is associated with contact 424242." || e.Get("context.fromObjectId.0").String() != "424242" {
		t.Errorf("read error: %s", e.Raw)
	}
	c = do(t, e, "POST", "/crm/v4/associations/0-2/0-1/batch/read", map[string]any{"inputs": []any{map[string]any{"id": acme}}})
	if c.status != 200 || c.body.Get("results.0.to.0.toObjectId").String() != ann || c.body.Get("results.0.to.0.associationTypes.#.typeId").Raw != "[2,280]" {
		t.Errorf("read company to contacts: %d %s", c.status, c.raw)
	}

	// A new primary company moves the primary label; the old one stays
	// associated, unlabeled.
	c = do(t, e, "POST", "/crm/v4/associations/contacts/companies/batch/create", map[string]any{"inputs": []any{assocInput(ann, beta, ContactToCompanyPrimary)}})
	if c.status != 201 {
		t.Fatalf("move primary: %d %s", c.status, c.raw)
	}
	if got := e.Associations("contacts", ann); !slices.Equal(got[acme], []int{279}) || !slices.Equal(got[beta], []int{1, 279}) {
		t.Errorf("after moving the primary: %v", got)
	}
	if o, _ := e.Get("contacts", ann); o.Properties["associatedcompanyid"] != beta {
		t.Errorf("associatedcompanyid after the move: %v", o.Properties["associatedcompanyid"])
	}

	// Archive removes every type, both ways; unknown pairs are ignored.
	c = do(t, e, "POST", "/crm/v4/associations/contacts/companies/batch/archive", map[string]any{"inputs": []any{
		map[string]any{"from": map[string]any{"id": ann}, "to": []any{map[string]any{"id": beta}, map[string]any{"id": "31337"}}},
	}})
	if c.status != 204 || c.raw != "" {
		t.Fatalf("archive: %d %s", c.status, c.raw)
	}
	if got := e.Associations("contacts", ann); len(got) != 1 || got[beta] != nil {
		t.Errorf("after archive: %v", got)
	}
	if got := e.Associations("companies", beta); got[ann] != nil || !slices.Equal(got[bob], []int{280}) {
		t.Errorf("company side after archive: %v", got)
	}
	if o, _ := e.Get("contacts", ann); o.Properties["associatedcompanyid"] != "" {
		t.Errorf("associatedcompanyid after archiving the primary: %v", o.Properties["associatedcompanyid"])
	}

	// An archived record's associations are not read.
	if err := e.Delete("companies", acme); err != nil {
		t.Fatal(err)
	}
	c = do(t, e, "POST", "/crm/v4/associations/contacts/companies/batch/read", map[string]any{"inputs": []any{map[string]any{"id": ann}}})
	if c.status != 207 || c.body.Get("results.#").Int() != 0 {
		t.Errorf("read with the company archived: %d %s", c.status, c.raw)
	}
	if w := e.Writes(); w != 3 {
		t.Errorf("Writes = %d, want the 2 creates and the archive", w)
	}
}

func TestAssociationsRefused(t *testing.T) {
	e := New(Options{})
	ann := mustCreate(t, e, "contacts", map[string]any{"email": "ann@x.com"})
	acme := mustCreate(t, e, "companies", map[string]any{"name": "Acme"})
	many := func(n int, f func(i int) any) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	for _, tc := range []struct {
		name, path string
		body       any
		status     int
		category   string
		msg        string
	}{
		{"unknown type", "/crm/v4/associations/contacts/widgets/batch/read", map[string]any{"inputs": []any{}}, 400, "VALIDATION_ERROR", "Unable to infer object type from: widgets"},
		{"unknown route", "/crm/v4/associations/contacts/companies/batch/upsert", map[string]any{"inputs": []any{}}, 404, "RESOURCE_NOT_FOUND", "No route"},
		{"read over 1000", "/crm/v4/associations/contacts/companies/batch/read", map[string]any{"inputs": many(1001, func(i int) any { return map[string]any{"id": strconv.Itoa(i)} })}, 400, "VALIDATION_ERROR", "at most 1000"},
		{"create over 100", "/crm/v4/associations/contacts/companies/batch/create", map[string]any{"inputs": many(101, func(int) any { return assocInput(ann, acme, 279) })}, 400, "VALIDATION_ERROR", "at most 100"},
		{"archive over 100", "/crm/v4/associations/contacts/companies/batch/archive", map[string]any{"inputs": many(101, func(int) any { return map[string]any{"from": map[string]any{"id": ann}, "to": []any{}} })}, 400, "VALIDATION_ERROR", "at most 100"},
		{"a type of the other direction", "/crm/v4/associations/contacts/companies/batch/create", map[string]any{"inputs": []any{assocInput(ann, acme, CompanyToContactPrimary)}}, 400, "VALIDATION_ERROR", "type 2 is not defined"},
		{"no types", "/crm/v4/associations/contacts/companies/batch/create", map[string]any{"inputs": []any{assocInput(ann, acme)}}, 400, "VALIDATION_ERROR", "types"},
		{"bad category", "/crm/v4/associations/contacts/companies/batch/create", map[string]any{"inputs": []any{map[string]any{"from": map[string]any{"id": ann}, "to": map[string]any{"id": acme}, "types": []any{map[string]any{"associationCategory": "MADE_UP", "associationTypeId": 1}}}}}, 400, "VALIDATION_ERROR", "associationCategory"},
		{"unknown field", "/crm/v4/associations/contacts/companies/batch/read", map[string]any{"inputs": []any{}, "limit": 5}, 400, "VALIDATION_ERROR", "Invalid input JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, do(t, e, "POST", tc.path, tc.body), tc.status, tc.category, tc.msg)
		})
	}
	if got := e.Associations("contacts", ann); len(got) != 0 {
		t.Errorf("a refused batch left associations: %v", got)
	}
	if c := doAuth(t, e, "Bearer nope", "POST", "/crm/v4/associations/contacts/companies/batch/read", map[string]any{"inputs": []any{}}); c.status != 401 {
		t.Errorf("bad token: %d", c.status)
	}
}

func TestAssociationsReadPages(t *testing.T) {
	e := New(Options{})
	acme := mustCreate(t, e, "companies", map[string]any{"name": "Acme"})
	for i := 0; i < assocPage+3; i++ {
		id := mustCreate(t, e, "contacts", map[string]any{"email": fmt.Sprintf("c%d@x.com", i)})
		if err := e.Associate(id, acme, false); err != nil {
			t.Fatal(err)
		}
	}
	var seen []int64
	after := ""
	for pages := 0; pages < 5; pages++ {
		in := map[string]any{"id": acme}
		if after != "" {
			in["after"] = after
		}
		c := do(t, e, "POST", "/crm/v4/associations/companies/contacts/batch/read", map[string]any{"inputs": []any{in}})
		if c.status != 200 {
			t.Fatalf("%d %s", c.status, c.raw)
		}
		for _, v := range c.body.Get("results.0.to.#.toObjectId").Array() {
			seen = append(seen, v.Int())
		}
		after = c.body.Get("results.0.paging.next.after").String()
		if after == "" {
			break
		}
	}
	if len(seen) != assocPage+3 || !slices.IsSorted(seen) || len(slices.Compact(slices.Clone(seen))) != len(seen) {
		t.Errorf("read %d associations over pages, want %d in order", len(seen), assocPage+3)
	}
}

// The objects API's creates take associations too: the new record is
// associated as batch/create of associations would.
func TestCreateWithAssociations(t *testing.T) {
	e := New(Options{})
	acme := mustCreate(t, e, "companies", map[string]any{"name": "Acme"})
	to := func(id string, types ...int) []any {
		ts := []any{}
		for _, t := range types {
			ts = append(ts, map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": t})
		}
		return []any{map[string]any{"to": map[string]any{"id": id}, "types": ts}}
	}
	c := do(t, e, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": "ann@x.com"}, "associations": to(acme, ContactToCompanyPrimary)})
	if c.status != 201 {
		t.Fatalf("create: %d %s", c.status, c.raw)
	}
	ann := c.body.Get("id").String()
	if got := e.Associations("contacts", ann); !slices.Equal(got[acme], []int{1, 279}) {
		t.Errorf("ann: %v", got)
	}
	if o, _ := e.Get("contacts", ann); o.Properties["associatedcompanyid"] != acme {
		t.Errorf("associatedcompanyid: %v", o.Properties)
	}
	c = do(t, e, "POST", "/crm/v3/objects/contacts/batch/create", map[string]any{"inputs": []any{
		map[string]any{"properties": map[string]any{"email": "bob@x.com"}, "associations": to(acme, ContactToCompanyUnlabeled)},
		map[string]any{"properties": map[string]any{"email": "cat@x.com"}, "associations": []any{}},
	}})
	if c.status != 201 {
		t.Fatalf("batch create: %d %s", c.status, c.raw)
	}
	if got := e.Associations("companies", acme); len(got) != 2 {
		t.Errorf("acme's contacts: %v", got)
	}
	for _, tc := range []struct {
		name  string
		assoc []any
	}{
		{"no such company", to("31337", ContactToCompanyPrimary)},
		{"a type of the other direction", to(acme, CompanyToContactPrimary)},
		{"no types", to(acme)},
	} {
		wantError(t, do(t, e, "POST", "/crm/v3/objects/contacts/batch/create", map[string]any{"inputs": []any{
			map[string]any{"properties": map[string]any{"email": "dan@x.com"}, "associations": tc.assoc}}}), 400, "VALIDATION_ERROR", "associations[0]")
	}
	if len(e.List("contacts")) != 3 {
		t.Errorf("a refused create made a contact: %d", len(e.List("contacts")))
	}
}

func TestAssociateDefault(t *testing.T) {
	e := New(Options{})
	ann := mustCreate(t, e, "contacts", map[string]any{"email": "ann@x.com"})
	acme := mustCreate(t, e, "companies", map[string]any{"name": "Acme"})
	c := do(t, e, "PUT", "/crm/v4/objects/contacts/"+ann+"/associations/default/companies/"+acme, nil)
	if c.status != 200 || c.body.Get("results.#").Int() != 2 || c.body.Get("results.0.associationSpec.associationTypeId").Int() != 279 ||
		c.body.Get("results.1.associationSpec.associationTypeId").Int() != 280 || c.body.Get("results.1.from.id").String() != acme {
		t.Fatalf("default: %d %s", c.status, c.raw)
	}
	if got := e.Associations("companies", acme); !slices.Equal(got[ann], []int{280}) {
		t.Errorf("after default: %v", got)
	}
	wantError(t, do(t, e, "PUT", "/crm/v4/objects/contacts/"+ann+"/associations/default/companies/404", nil), 400, "VALIDATION_ERROR", "company 404 does not exist")
	wantError(t, do(t, e, "POST", "/crm/v4/objects/contacts/"+ann+"/associations/default/companies/"+acme, nil), 404, "RESOURCE_NOT_FOUND", "No route")
	if e.Writes() != 2 { // the two PUTs
		t.Errorf("Writes = %d", e.Writes())
	}
}

// Reads of the objects API show a record's associations when asked.
func TestReadWithAssociations(t *testing.T) {
	e := New(Options{})
	ann := mustCreate(t, e, "contacts", map[string]any{"email": "ann@x.com"})
	bob := mustCreate(t, e, "contacts", map[string]any{"email": "bob@x.com"})
	acme := mustCreate(t, e, "companies", map[string]any{"name": "Acme"})
	if err := e.Associate(ann, acme, true); err != nil {
		t.Fatal(err)
	}
	c := do(t, e, "GET", "/crm/v3/objects/contacts/"+ann+"?associations=companies", nil)
	if got := c.body.Get("associations.companies.results").Raw; got != `[{"id":"`+acme+`","type":"contact_to_company"},{"id":"`+acme+`","type":"contact_to_company_unlabeled"}]` {
		t.Errorf("read: %s", c.raw)
	}
	c = do(t, e, "GET", "/crm/v3/objects/contacts?associations=company", nil)
	if c.body.Get(`results.#(id=="`+bob+`").associations`).Exists() || !c.body.Get(`results.#(id=="`+ann+`").associations.companies`).Exists() {
		t.Errorf("list: %s", c.raw)
	}
	if c := do(t, e, "GET", "/crm/v3/objects/contacts/"+ann, nil); c.body.Get("associations").Exists() {
		t.Errorf("associations not asked for: %s", c.raw)
	}
}
