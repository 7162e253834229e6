package hubspottest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Associations where the other APIs meet them: given with a create of the
// objects API, shown by its reads (?associations=), and the v4 objects
// API's PUT of a default association.

// inlineAssoc is one association given with a new record (the objects
// API's create and batch/create take associations: [{to, types}]).
type inlineAssoc struct {
	to   end
	typs []*assocType
}

// inlineAssociations reads the associations of a create. The type ids
// say which object type to is; a type not defined from t, or a to that
// is no live record, refuses the create whole (a guess: HubSpot's exact
// answer was not checked).
func (e *Emulator) inlineAssociations(t *objectType, raws []json.RawMessage) ([]inlineAssoc, *reply) {
	var out []inlineAssoc
	for i, raw := range raws {
		var a struct {
			To    assocRef    `json:"to"`
			Types []assocSpec `json:"types"`
		}
		if rep := decode(raw, &a); rep != nil {
			return nil, rep
		}
		if a.To.ID == "" || len(a.Types) == 0 {
			return nil, validation("associations[%d]: to.id and types are required", i)
		}
		in := inlineAssoc{}
		for _, s := range a.Types {
			var at *assocType
			for j := range assocTypes {
				if c := &assocTypes[j]; c.from == t.typeID && c.id == s.AssociationTypeID && s.AssociationCategory == "HUBSPOT_DEFINED" {
					at = c
				}
			}
			if at == nil || (in.to.typ != "" && in.to.typ != at.to) {
				return nil, validation("associations[%d]: %s association type %d is not defined from %s", i, s.AssociationCategory, s.AssociationTypeID, t.name)
			}
			in.to = end{at.to, string(a.To.ID)}
			in.typs = append(in.typs, at)
		}
		if e.live(e.types[in.to.typ], in.to.id) == nil {
			return nil, validation("associations[%d]: %s %s does not exist", i, singular(e.types[in.to.typ]), in.to.id)
		}
		out = append(out, in)
	}
	return out, nil
}

// linkNew makes a new record's associations, with the unlabeled type.
func (e *Emulator) linkNew(t *objectType, r *record, links []inlineAssoc) {
	for _, l := range links {
		from := end{t.typeID, r.id}
		e.associate(from, l.to, unlabeled(t.typeID, l.to.typ), apiWrite)
		for _, at := range l.typs {
			e.associate(from, l.to, at, apiWrite)
		}
	}
}

// defaultResult is one result of PUT …/associations/default/…
// (PublicDefaultAssociation).
type defaultResult struct {
	From idOut     `json:"from"`
	To   idOut     `json:"to"`
	Spec assocSpec `json:"associationSpec"`
}

// serveDefault is PUT /crm/v4/objects/{fromObjectType}/{fromObjectId}/
// associations/default/{toObjectType}/{toObjectId}: the default (unlabeled)
// association, both ways, each direction a result. A record that does
// not exist is a 400 (a guess, as is leaving the primary alone).
func (e *Emulator) serveDefault(r *http.Request, rest string) *reply {
	seg := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	if r.Method != http.MethodPut || len(seg) != 6 || seg[2] != "associations" || seg[3] != "default" {
		return fail(http.StatusNotFound, "RESOURCE_NOT_FOUND", "No route for %s %s", r.Method, r.URL.Path)
	}
	started := e.stamp()
	from, to := e.assocObject(seg[0]), e.assocObject(seg[4])
	switch {
	case from == nil:
		return validation("Unable to infer object type from: %s", seg[0])
	case to == nil:
		return validation("Unable to infer object type from: %s", seg[4])
	}
	at := unlabeled(from.typeID, to.typeID)
	if at == nil {
		return validation("No default association type is defined from %s to %s", from.name, to.name)
	}
	fid, tid := seg[1], seg[5]
	for _, x := range []struct {
		t  *objectType
		id string
	}{{from, fid}, {to, tid}} {
		if e.live(x.t, x.id) == nil {
			return validation("%s %s does not exist", singular(x.t), x.id)
		}
	}
	e.associate(end{from.typeID, fid}, end{to.typeID, tid}, at, apiWrite)
	results := []defaultResult{
		{From: idOut{fid}, To: idOut{tid}, Spec: assocSpec{"HUBSPOT_DEFINED", at.id}},
		{From: idOut{tid}, To: idOut{fid}, Spec: assocSpec{"HUBSPOT_DEFINED", at.inverse}},
	}
	return e.batchReply(http.StatusOK, started, results, nil)
}

// assocCollection is one object type's associations of a record, as the
// objects API shows them with ?associations= (CollectionResponseAssociatedId).
type assocCollection struct {
	Results []associatedID `json:"results"`
}

type associatedID struct {
	ID   string `json:"id"`
	Type string `json:"type"` // contact_to_company, contact_to_company_unlabeled
}

// addAssociated adds to o the associations of a live record with the
// object types named (unknown names are left out, and so are types with
// none): one entry per associated record and type, the primary type named
// contact_to_company, the unlabeled one contact_to_company_unlabeled.
func (e *Emulator) addAssociated(t *objectType, o *apiObject, r *record, names []string) {
	if r.archived {
		return
	}
	for _, n := range names {
		to := e.assocObject(n)
		if to == nil || unlabeled(t.typeID, to.typeID) == nil {
			continue
		}
		var res []associatedID
		for _, a := range e.targets(end{t.typeID, r.id}, to) {
			for _, at := range a.AssociationTypes {
				name := singular(t) + "_to_" + singular(to)
				if at.Label == nil {
					name += "_unlabeled"
				}
				res = append(res, associatedID{ID: strconv.FormatInt(a.ToObjectID, 10), Type: name})
			}
		}
		if len(res) == 0 {
			continue
		}
		if o.Associations == nil {
			o.Associations = map[string]assocCollection{}
		}
		o.Associations[to.name] = assocCollection{Results: res}
	}
}
