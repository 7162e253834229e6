package hubspottest

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The associations v4 API: which records are linked to which, by
// association types that are directional (contact→company and
// company→contact are different types, each the other's inverse).
//
//	POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read
//	POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/create
//	POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/archive
//
// Only HubSpot's own types between contacts and companies exist here.

const (
	assocPrefix   = "/crm/v4/associations/"
	assocV4Object = "/crm/v4/objects/" // PUT …/{from}/{id}/associations/default/{to}/{toId}
)

// Batch limits of the associations API. Read: 1,000 inputs (HubSpot's
// changelog "Batch Read Limit for HubSpot Associations API", February
// 2025). Create and archive: 100, as the objects API's batches (a guess:
// HubSpot's pages here do not say).
const (
	maxAssocRead  = 1000
	maxAssocWrite = 100
	// assocPage is how many associated records one input of batch/read
	// returns before paging.next.after (a guess).
	assocPage = 500
)

// The association types HubSpot defines between contacts and companies.
const (
	ContactToCompanyPrimary   = 1
	CompanyToContactPrimary   = 2
	ContactToCompanyUnlabeled = 279
	CompanyToContactUnlabeled = 280
)

type assocType struct {
	from, to string // object type ids
	id       int
	label    string // "" is unlabeled: null in responses
	inverse  int
}

var assocTypes = []assocType{
	{"0-1", "0-2", ContactToCompanyPrimary, "Primary", CompanyToContactPrimary},
	{"0-2", "0-1", CompanyToContactPrimary, "Primary", ContactToCompanyPrimary},
	{"0-1", "0-2", ContactToCompanyUnlabeled, "", CompanyToContactUnlabeled},
	{"0-2", "0-1", CompanyToContactUnlabeled, "", ContactToCompanyUnlabeled},
}

func findAssocType(from, to string, id int) *assocType {
	for i := range assocTypes {
		if a := &assocTypes[i]; a.from == from && a.to == to && a.id == id {
			return a
		}
	}
	return nil
}

// unlabeled is the type every association between from and to carries.
func unlabeled(from, to string) *assocType {
	for i := range assocTypes {
		if a := &assocTypes[i]; a.from == from && a.to == to && a.label == "" {
			return a
		}
	}
	return nil
}

// end is one side of an association: an object type id and a record id.
type end struct{ typ, id string }

// assocs holds every association from one record, both directions stored:
// from -> to -> the type ids.
type assocs map[end]map[end]map[int]bool

func (as assocs) add(from, to end, typeID int) {
	if as[from] == nil {
		as[from] = map[end]map[int]bool{}
	}
	if as[from][to] == nil {
		as[from][to] = map[int]bool{}
	}
	as[from][to][typeID] = true
}

func (as assocs) remove(from, to end, typeID int) {
	delete(as[from][to], typeID)
	if len(as[from][to]) == 0 {
		delete(as[from], to)
	}
}

// assocObject resolves an object type as the associations API names it:
// "contacts", "contact", "0-1" (singular names are accepted there).
func (e *Emulator) assocObject(name string) *objectType {
	if t := e.types[name]; t != nil {
		return t
	}
	switch strings.ToLower(name) {
	case "contact":
		return e.types["contacts"]
	case "company":
		return e.types["companies"]
	}
	return e.types[strings.ToLower(name)]
}

// singular is the object's name in the associations API's messages.
func singular(t *objectType) string {
	if t.name == "companies" {
		return "company"
	}
	return strings.TrimSuffix(t.name, "s")
}

// live is the live record of type t with id, or nil.
func (e *Emulator) live(t *objectType, id string) *record {
	return e.tables[t.name].lookup("", id, false)
}

// serveAssoc answers the associations v4 endpoints.
func (e *Emulator) serveAssoc(r *http.Request, rest string, body []byte) *reply {
	seg := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	if len(seg) != 4 || seg[2] != "batch" || r.Method != http.MethodPost {
		return fail(http.StatusNotFound, "RESOURCE_NOT_FOUND", "No route for %s %s", r.Method, r.URL.Path)
	}
	from, to := e.assocObject(seg[0]), e.assocObject(seg[1])
	switch {
	case from == nil:
		return validation("Unable to infer object type from: %s", seg[0])
	case to == nil:
		return validation("Unable to infer object type from: %s", seg[1])
	}
	switch seg[3] {
	case "read":
		return e.assocRead(from, to, body)
	case "create":
		return e.assocCreate(from, to, body)
	case "archive":
		return e.assocArchive(from, to, body)
	}
	return fail(http.StatusNotFound, "RESOURCE_NOT_FOUND", "No route for %s %s", r.Method, r.URL.Path)
}

// assocTypeOut is one association type in a batch/read result.
type assocTypeOut struct {
	Category string  `json:"category"`
	TypeID   int     `json:"typeId"`
	Label    *string `json:"label"`
}

type assocTo struct {
	ToObjectID       int64          `json:"toObjectId"`
	AssociationTypes []assocTypeOut `json:"associationTypes"`
}

type assocReadResult struct {
	From   idOut     `json:"from"`
	To     []assocTo `json:"to"`
	Paging *paging   `json:"paging,omitempty"`
}

type idOut struct {
	ID string `json:"id"`
}

type paging struct {
	Next struct {
		After string `json:"after"`
	} `json:"next"`
}

// targets lists the live records of type to associated with from, in id
// order, with their types.
func (e *Emulator) targets(from end, to *objectType) []assocTo {
	var out []assocTo
	for other, types := range e.assocs[from] {
		if other.typ != to.typeID || e.live(to, other.id) == nil || len(types) == 0 {
			continue
		}
		num, _ := strconv.ParseInt(other.id, 10, 64)
		a := assocTo{ToObjectID: num}
		ids := make([]int, 0, len(types))
		for id := range types {
			ids = append(ids, id)
		}
		sort.Ints(ids)
		for _, id := range ids {
			o := assocTypeOut{Category: "HUBSPOT_DEFINED", TypeID: id}
			if at := findAssocType(from.typ, to.typeID, id); at != nil && at.label != "" {
				l := at.label
				o.Label = &l
			}
			a.AssociationTypes = append(a.AssociationTypes, o)
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ToObjectID < out[j].ToObjectID })
	return out
}

// assocRead is batch/read: for each input id, the records of toObjectType
// it is associated with. An id with none (or no record) is an error of
// the 207, "No company is associated with contact 51.", as HubSpot's is.
func (e *Emulator) assocRead(from, to *objectType, body []byte) *reply {
	started := e.stamp()
	var req struct {
		Inputs []struct {
			ID    flexString `json:"id"`
			After string     `json:"after,omitempty"`
		} `json:"inputs"`
	}
	if rep := decode(body, &req); rep != nil {
		return rep
	}
	if len(req.Inputs) > maxAssocRead {
		return validation("Batch input may contain at most %d inputs, got %d", maxAssocRead, len(req.Inputs))
	}
	results := []assocReadResult{}
	var errs []batchError
	for _, in := range req.Inputs {
		id := string(in.ID)
		var all []assocTo
		if e.live(from, id) != nil {
			all = e.targets(end{from.typeID, id}, to)
		}
		start := 0
		if in.After != "" {
			n, err := strconv.Atoi(in.After)
			if err != nil || n < 0 {
				return validation("Invalid after: %s", in.After)
			}
			start = min(n, len(all))
		}
		if len(all) == 0 {
			errs = append(errs, batchError{
				Status: "error", Category: "OBJECT_NOT_FOUND", SubCategory: "crm.associations.NO_ASSOCIATIONS_FOUND",
				Message: fmt.Sprintf("No %s is associated with %s %s.", singular(to), singular(from), id),
				Context: map[string][]string{"fromObjectId": {id}, "fromObjectType": {singular(from)}, "toObjectType": {singular(to)}},
				Errors:  []errorDetail{}, Links: map[string]string{},
			})
			continue
		}
		res := assocReadResult{From: idOut{id}, To: all[start:min(start+assocPage, len(all))]}
		if start+assocPage < len(all) {
			res.Paging = &paging{}
			res.Paging.Next.After = strconv.Itoa(start + assocPage)
		}
		results = append(results, res)
	}
	return e.batchReply(http.StatusOK, started, results, errs)
}

type assocRef struct {
	ID flexString `json:"id"`
}

type assocSpec struct {
	AssociationCategory string `json:"associationCategory"`
	AssociationTypeID   int    `json:"associationTypeId"`
}

// labelsBetween is one result of batch/create (LabelsBetweenObjectPair).
type labelsBetween struct {
	FromObjectTypeID string   `json:"fromObjectTypeId"`
	FromObjectID     int64    `json:"fromObjectId"`
	ToObjectTypeID   string   `json:"toObjectTypeId"`
	ToObjectID       int64    `json:"toObjectId"`
	Labels           []string `json:"labels"`
}

// assocCreate is batch/create: each input links from to to with the given
// types, and with the unlabeled type as well (HubSpot adds it to every
// association). A primary contact→company replaces the contact's primary
// company (which stays associated, unlabeled), and sets the contact's
// associatedcompanyid, which bumps its modified date. An input that names
// a record that does not exist fails alone, in the 207's errors.
func (e *Emulator) assocCreate(from, to *objectType, body []byte) *reply {
	started := e.stamp()
	var req struct {
		Inputs []struct {
			From  assocRef    `json:"from"`
			To    assocRef    `json:"to"`
			Types []assocSpec `json:"types"`
		} `json:"inputs"`
	}
	if rep := decode(body, &req); rep != nil {
		return rep
	}
	if len(req.Inputs) > maxAssocWrite {
		return validation("Batch input may contain at most %d inputs, got %d", maxAssocWrite, len(req.Inputs))
	}
	// Every input is checked before any is applied, so a malformed one
	// fails the batch whole, as HubSpot's 400s do.
	for i, in := range req.Inputs {
		if in.From.ID == "" || in.To.ID == "" {
			return validation("inputs[%d]: from.id and to.id are required", i)
		}
		if len(in.Types) == 0 {
			return validation("inputs[%d].types: at least one association type is required", i)
		}
		for _, s := range in.Types {
			switch s.AssociationCategory {
			case "HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED":
			default:
				return validation("inputs[%d].types: associationCategory %q is not one of [HUBSPOT_DEFINED, USER_DEFINED, INTEGRATOR_DEFINED]", i, s.AssociationCategory)
			}
			if s.AssociationCategory != "HUBSPOT_DEFINED" || findAssocType(from.typeID, to.typeID, s.AssociationTypeID) == nil {
				return validation("inputs[%d].types: %s association type %d is not defined from %s to %s", i, s.AssociationCategory, s.AssociationTypeID, from.name, to.name)
			}
		}
	}
	results := []labelsBetween{}
	var errs []batchError
	for _, in := range req.Inputs {
		fid, tid := string(in.From.ID), string(in.To.ID)
		fr, tr := e.live(from, fid), e.live(to, tid)
		if fr == nil || tr == nil {
			var missing []string
			if fr == nil {
				missing = append(missing, fid)
			}
			if tr == nil {
				missing = append(missing, tid)
			}
			errs = append(errs, batchError{
				Status: "error", Category: "OBJECT_NOT_FOUND",
				Message: fmt.Sprintf("Could not find %s %s or %s %s: they may be deleted or not exist.", singular(from), fid, singular(to), tid),
				Context: map[string][]string{"fromObjectId": {fid}, "toObjectId": {tid}, "ids": missing},
				Errors:  []errorDetail{}, Links: map[string]string{},
			})
			continue
		}
		ids := []int{unlabeled(from.typeID, to.typeID).id}
		for _, s := range in.Types {
			if !slices.Contains(ids, s.AssociationTypeID) {
				ids = append(ids, s.AssociationTypeID)
			}
		}
		for _, id := range ids {
			e.associate(end{from.typeID, fid}, end{to.typeID, tid}, findAssocType(from.typeID, to.typeID, id), apiWrite)
		}
		res := labelsBetween{FromObjectTypeID: from.typeID, FromObjectID: fr.num, ToObjectTypeID: to.typeID, ToObjectID: tr.num, Labels: []string{}}
		for _, id := range ids {
			if l := findAssocType(from.typeID, to.typeID, id).label; l != "" {
				res.Labels = append(res.Labels, l)
			}
		}
		results = append(results, res)
	}
	return e.batchReply(http.StatusCreated, started, results, errs)
}

// associate adds one association type and its inverse. A primary
// contact→company (either direction) first takes the primary type off the
// contact's other companies.
func (e *Emulator) associate(from, to end, at *assocType, by *source) {
	contact, company := from, to
	if from.typ == "0-2" {
		contact, company = to, from
	}
	if at.label == "Primary" {
		for other, types := range e.assocs[contact] {
			if other != company && types[ContactToCompanyPrimary] {
				e.assocs.remove(contact, other, ContactToCompanyPrimary)
				e.assocs.remove(other, contact, CompanyToContactPrimary)
			}
		}
	}
	e.assocs.add(from, to, at.id)
	e.assocs.add(to, from, at.inverse)
	e.syncPrimary(contact, by)
}

// syncPrimary keeps a contact's associatedcompanyid equal to its primary
// company, as HubSpot maintains it; a change is a write of the contact
// (by by: the integration, or a user), so its modified date moves and
// search sees it.
func (e *Emulator) syncPrimary(contact end, by *source) {
	if contact.typ != "0-1" {
		return
	}
	tb := e.tables["contacts"]
	r := tb.lookup("", contact.id, false)
	if r == nil {
		return
	}
	primary := ""
	for other, types := range e.assocs[contact] {
		if types[ContactToCompanyPrimary] {
			primary = other.id
		}
	}
	if r.props["associatedcompanyid"] != primary {
		tb.set(r, map[string]string{"associatedcompanyid": primary}, e.stamp(), by)
	}
}

// assocArchive is batch/archive: each input removes every association
// type between from and each of to (both directions). Pairs that are not
// associated, and ids that do not exist, are ignored: 204 either way (as
// the objects API's batch/archive; not checked against HubSpot).
func (e *Emulator) assocArchive(from, to *objectType, body []byte) *reply {
	var req struct {
		Inputs []struct {
			From assocRef   `json:"from"`
			To   []assocRef `json:"to"`
		} `json:"inputs"`
	}
	if rep := decode(body, &req); rep != nil {
		return rep
	}
	if len(req.Inputs) > maxAssocWrite {
		return validation("Batch input may contain at most %d inputs, got %d", maxAssocWrite, len(req.Inputs))
	}
	for i, in := range req.Inputs {
		if in.From.ID == "" {
			return validation("inputs[%d]: from.id is required", i)
		}
	}
	for _, in := range req.Inputs {
		f := end{from.typeID, string(in.From.ID)}
		for _, t := range in.To {
			o := end{to.typeID, string(t.ID)}
			for id := range e.assocs[f][o] {
				e.assocs.remove(f, o, id)
			}
			for id := range e.assocs[o][f] {
				e.assocs.remove(o, f, id)
			}
			e.syncPrimary(f, apiWrite)
			e.syncPrimary(o, apiWrite)
		}
	}
	return &reply{status: http.StatusNoContent}
}

// Associate links a contact and a company as a user does in HubSpot's UI
// (not an API request): with the unlabeled types, and as the contact's
// primary company when primary is set. Both records must be live.
func (e *Emulator) Associate(contactID, companyID string, primary bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	contacts, companies := e.types["contacts"], e.types["companies"]
	if e.live(contacts, contactID) == nil {
		return fmt.Errorf("hubspottest: contact %s not found", contactID)
	}
	if e.live(companies, companyID) == nil {
		return fmt.Errorf("hubspottest: company %s not found", companyID)
	}
	c, co := end{"0-1", contactID}, end{"0-2", companyID}
	e.associate(c, co, findAssocType("0-1", "0-2", ContactToCompanyUnlabeled), uiEdit)
	if primary {
		e.associate(c, co, findAssocType("0-1", "0-2", ContactToCompanyPrimary), uiEdit)
	}
	return nil
}

// Dissociate removes every association between a contact and a company,
// as a user does in HubSpot's UI.
func (e *Emulator) Dissociate(contactID, companyID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, co := end{"0-1", contactID}, end{"0-2", companyID}
	for id := range e.assocs[c][co] {
		e.assocs.remove(c, co, id)
	}
	for id := range e.assocs[co][c] {
		e.assocs.remove(co, c, id)
	}
	e.syncPrimary(c, uiEdit)
}

// Associations lists the ids of the live companies a contact is
// associated with (or the contacts of a company), each with its type ids,
// as the associations API would read them.
func (e *Emulator) Associations(object, id string) map[string][]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	from := e.assocObject(object)
	if from == nil {
		return nil
	}
	to := e.types["companies"]
	if from.name == "companies" {
		to = e.types["contacts"]
	}
	out := map[string][]int{}
	for _, a := range e.targets(end{from.typeID, id}, to) {
		for _, t := range a.AssociationTypes {
			k := strconv.FormatInt(a.ToObjectID, 10)
			out[k] = append(out[k], t.TypeID)
		}
	}
	return out
}
