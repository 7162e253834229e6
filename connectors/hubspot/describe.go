package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
)

var _ connectors.Describer = (*Client)(nil)

// recordFields are the fields of a record outside properties, which
// HubSpot sets and the properties API does not list.
var recordFields = []connectors.FieldInfo{
	{Path: "id", Label: "Record ID", Type: "string", ReadOnly: true},
	{Path: "createdAt", Label: "Created at", Type: "datetime", ReadOnly: true},
	{Path: "updatedAt", Label: "Updated at", Type: "datetime", ReadOnly: true},
	{Path: "archived", Label: "Archived", Type: "bool", ReadOnly: true},
	{Path: "archivedAt", Label: "Archived at", Type: "datetime", ReadOnly: true},
}

// Describe lists the fields of an object's records: the top-level ones
// (id, createdAt, updatedAt, archived, archivedAt), then every property
// the properties API lists, at properties.<name>, then the primary
// associations the object can map, at associations.<object>. A property is read-only
// when HubSpot keeps its value (modificationMetadata.readOnlyValue) or
// computes it (calculated). It goes through the same authenticated,
// retried, time-limited call as everything else, so it doubles as a check
// of the token.
func (c *Client) Describe(ctx context.Context, object string) ([]connectors.FieldInfo, error) {
	op := "describe " + object
	if object == "" || strings.ContainsAny(object, "/?#") {
		return nil, &tandem.Error{Op: op, System: c.name, Message: fmt.Sprintf("%q is not an object type", object)}
	}
	resp, err := c.call(ctx, connectors.Read, op, http.MethodGet, "/crm/v3/properties/"+url.PathEscape(object)+"?archived=false", nil)
	if err != nil {
		var te *tandem.Error
		// HubSpot answers an object type it does not know with a 400
		// that names it; to a caller that is an object not found.
		if errors.As(err, &te) && te.Status/100 == 4 && strings.Contains(te.Message, "Unable to infer object type") && te.Err == nil {
			te.Err = tandem.ErrNotFound
		}
		return nil, err
	}
	body := gjson.ParseBytes(resp.Body)
	if !gjson.ValidBytes(resp.Body) || !body.Get("results").IsArray() {
		return nil, c.notAPage(op, "properties response is not a list of results", resp)
	}
	fields := append([]connectors.FieldInfo(nil), recordFields...)
	for i, p := range body.Get("results").Array() {
		name := p.Get("name")
		if name.Type != gjson.String || name.Str == "" {
			return nil, &tandem.Error{Op: op, System: c.name, Status: resp.Status, Message: fmt.Sprintf("property %d has no name: %.200s", i, p.Raw)}
		}
		f := connectors.FieldInfo{
			Path:     "properties." + gjson.Escape(name.Str),
			Label:    p.Get("label").String(),
			Type:     p.Get("type").String(),
			ReadOnly: p.Get("modificationMetadata.readOnlyValue").Bool() || p.Get("calculated").Bool(),
			Unique:   p.Get("hasUniqueValue").Bool(),
		}
		for _, o := range p.Get("options").Array() {
			f.Options = append(f.Options, o.Get("value").String())
		}
		fields = append(fields, f)
	}
	// The primary associations this object can map (associations.go):
	// not properties, so the properties API does not list them.
	for pair := range primaryTypes {
		if pair[0] == object {
			fields = append(fields, connectors.FieldInfo{Path: "associations." + pair[1], Label: "Primary associated " + pair[1] + " record (id)", Type: "association"})
		}
	}
	return fields, nil
}
