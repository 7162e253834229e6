package hubspot

import (
	"context"
	"fmt"
	"regexp"

	"github.com/tidwall/gjson"

	"tandem"
)

// DefaultKeyProperty is the contact (or company, deal …) property that
// holds Tandem's key when the config names none. An admin creates it once
// per object, with unique values (README: "Idempotent creates"):
//
//	POST /crm/v3/properties/contacts
//	{"name": "tandem_id", "label": "Tandem ID", "type": "string",
//	 "fieldType": "text", "groupName": "contactinformation", "hasUniqueValue": true}
//
// Why a property of Tandem's own rather than the email: a create is an
// upsert, so that a create retried after a lost answer lands on the record
// the first try made. Upserting by email misses it once a person has
// changed the email meanwhile (a second record), and lands on a record a
// person made with that email meanwhile (overwriting it). Tandem's key is
// set by Tandem alone, so neither can happen; a record a person made with
// the same email is refused by HubSpot (409) and merged by the engine.
const DefaultKeyProperty = "tandem_id"

// KeyPath is where a record of object holds Tandem's key, for the engine
// to read with the mapped fields (connectors.Keyed): "" when creates of
// the object upsert by an id_property of the admin's choosing instead.
func (c *Client) KeyPath(object string) string {
	prop := c.createProperty(object)
	if prop == "" || prop != c.keyProp {
		return ""
	}
	return "properties." + gjson.Escape(prop)
}

// KeySetup is the properties API call that makes the key property, for
// `tandem doctor` to show (the private app needs the crm.schemas.<object>.write
// scope to make it this way; an admin can also make it in Settings,
// Properties, with "Require unique values for this property").
func (c *Client) KeySetup(object string) string {
	prop := c.createProperty(object)
	return fmt.Sprintf(`POST %s/crm/v3/properties/%s {"name": %q, "label": "Tandem ID", "type": "string", "fieldType": "text", "groupName": %q, "hasUniqueValue": true}`,
		c.base, object, prop, propertyGroup(object))
}

// propertyGroup is the group HubSpot keeps an object's own properties in,
// where the key property can go.
func propertyGroup(object string) string {
	switch object {
	case "contacts", "0-1":
		return "contactinformation"
	case "companies", "0-2":
		return "companyinformation"
	case "deals", "0-3":
		return "dealinformation"
	}
	return "tandem"
}

// createProperty is the unique property creates of object upsert by: the
// object's id_property when the config sets one ("" turns creates off),
// else the key property.
func (c *Client) createProperty(object string) string {
	if p, ok := c.idProp[object]; ok {
		return p
	}
	return c.keyProp
}

var (
	// existingID reads HubSpot's answer to a write that sets a unique
	// value another record holds: "Contact already exists. Existing ID:
	// 123" for an email; the emulator words other properties "A contact
	// with tandem_id "x" already exists. Existing ID: 9".
	existingID   = regexp.MustCompile(`already exists\. Existing ID: ([0-9]+)`)
	existingProp = regexp.MustCompile(`^A \S+ with (\S+) ".*" already exists`)
	contactEmail = regexp.MustCompile(`\bContact already exists\.`)
)

// existing is the ExistsError a 409's message describes, or nil.
func existing(message string) *tandem.ExistsError {
	m := existingID.FindStringSubmatch(message)
	if m == nil {
		return nil
	}
	x := &tandem.ExistsError{RecordID: m[1]}
	if p := existingProp.FindStringSubmatch(message); p != nil {
		x.Path = "properties." + gjson.Escape(p[1])
	} else if contactEmail.MatchString(message) {
		x.Path = "properties.email" // the only unique property HubSpot itself keeps on contacts
	}
	return x
}

// FetchKeys reads the live records that hold the given Tandem keys, by
// batch/read with the key property as idProperty, 100 keys a call
// (connectors.KeyFetcher). The engine asks before it sends a create again:
// a record the first try made is then merged as it is now, instead of the
// create's values being written over what a person changed in it since.
// Keys HubSpot does not find are left out (a 207's OBJECT_NOT_FOUND).
func (c *Client) FetchKeys(ctx context.Context, q tandem.Query, keys []string) ([]tandem.Record, error) {
	op := "fetch " + q.Object + " by key"
	prop := c.createProperty(q.Object)
	if prop == "" || prop != c.keyProp {
		return nil, nil // creates are not keyed on Tandem's key here
	}
	props, err := searchProperties(q.Object, q.Fields)
	if err != nil {
		return nil, &tandem.Error{Op: op, System: c.name, Err: err}
	}
	targets, err := associationTargets(q.Object, q.Fields)
	if err != nil {
		return nil, &tandem.Error{Op: op, System: c.name, Err: err}
	}
	var out []tandem.Record
	for start := 0; start < len(keys); start += maxBatch {
		req := batchReadRequest{Properties: props, PropertiesWithHistory: []string{}, IDProperty: prop}
		objs, err := c.batchReadAs(ctx, op, q.Object, keys[start:min(start+maxBatch, len(keys))], req, "")
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			rec, err := c.parseRecord(op, obj)
			if err != nil {
				return nil, err
			}
			if !rec.Deleted {
				out = append(out, rec)
			}
		}
	}
	if len(targets) > 0 {
		if err := c.addAssociations(ctx, op, q.Object, out, targets); err != nil {
			return nil, err
		}
	}
	return out, nil
}
