package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors"
)

var _ connectors.Describer = (*Client)(nil)

// Describe lists the fields of an sObject from its describe resource. A
// field's Path is its API name (Salesforce names hold no dots); it is
// read-only when neither createable nor updateable for the integration
// user, and a picklist's Options are its active values. The call is made
// like every other, session renewal on 401 included, so it doubles as a
// check of the credentials; an object the org does not have (or the user
// cannot see) is a *tandem.Error wrapping tandem.ErrNotFound.
func (c *Client) Describe(ctx context.Context, object string) ([]connectors.FieldInfo, error) {
	op := "describe " + object
	fail := func(status int, format string, args ...any) error {
		return &tandem.Error{Op: op, System: c.system, Status: status, Message: fmt.Sprintf(format, args...)}
	}
	if !nameRE.MatchString(object) {
		return nil, fail(0, "%q is not a Salesforce object name", object)
	}
	resp, err := c.call(ctx, connectors.Read, op, http.MethodGet, c.data+"/sobjects/"+object+"/describe", nil)
	if err != nil {
		var te *tandem.Error
		if errors.As(err, &te) && te.Status == http.StatusNotFound && te.Err == nil {
			te.Err = tandem.ErrNotFound
		}
		return nil, err
	}
	body := gjson.ParseBytes(resp.Body)
	if !gjson.ValidBytes(resp.Body) || !body.Get("fields").IsArray() {
		return nil, fail(resp.Status, "describe response has no fields: %s", clip(string(resp.Body), 200))
	}
	var fields []connectors.FieldInfo
	for i, f := range body.Get("fields").Array() {
		name := f.Get("name").String()
		if !nameRE.MatchString(name) {
			return nil, fail(resp.Status, "field %d has no valid name: %s", i, clip(f.Raw, 200))
		}
		info := connectors.FieldInfo{
			Path:     name,
			Label:    f.Get("label").String(),
			Type:     f.Get("type").String(),
			ReadOnly: !f.Get("createable").Bool() && !f.Get("updateable").Bool(),
			Unique:   f.Get("unique").Bool() && f.Get("externalId").Bool(),
		}
		for _, p := range f.Get("picklistValues").Array() {
			if p.Get("active").Bool() {
				info.Options = append(info.Options, p.Get("value").String())
			}
		}
		fields = append(fields, info)
	}
	return fields, nil
}
