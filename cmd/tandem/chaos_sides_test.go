package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/rest/resttest"
	"tandem/connectors/salesforce/salesforcetest"
)

// The systems of the chaos suite: what differs between them, behind one
// interface, so the suite runs with any list of them (-chaos.systems).

// chaosSide is one emulated system of the suite.
type chaosSide interface {
	name() string // in the config, the state, the conflicts, the logs
	object() string
	handler() http.Handler // the emulator's API
	// api is the system's name of each canonical field.
	api() map[string]string
	// precision is that of the modified stamps it gives a change.
	precision() time.Duration

	// The users' side, through the emulator's test API, in the API's
	// names: a live record's values as text, every live record's, and a
	// person's create, edit and delete.
	raw(id string) (map[string]string, bool)
	rawAll() map[string]map[string]string
	create(fields map[string]any) (string, error)
	update(id string, fields map[string]any) error
	remove(id string) error

	// The emulator's counts: write requests served, and the rest by
	// kind; resetRequests zeroes them and forgets its request log.
	writes() int
	counts() map[string]int
	resetRequests()
	// setFaults makes a share of its answers 500, 502 or 503 (0: none).
	setFaults(rate float64, seed uint64)
	// noise is a request of another integration spending the system's
	// rate limit, to the emulator at base; refused tells its refusal.
	noise(client *http.Client, base string) (req *http.Request, refused func(status int) bool, err error)

	// section is the system's part of the config, reached at url; mapping
	// is its part of the contact entity.
	section(url string) string
	mapping() string

	// note reads what one of Tandem's requests read and wrote (the
	// recorder's lock is held).
	note(r *recorder, q *recReq)
	close()
}

// chaosSystems makes each system the suite knows, on the shared clock.
var chaosSystems = map[string]func(c *chaosClock) chaosSide{
	"hubspot": func(c *chaosClock) chaosSide {
		return &hubspotSide{hubspottest.New(hubspottest.Options{UniqueProperties: tandemKeys, Token: chaosHSToken, Now: c.Now,
			RateLimit: hubspottest.RateLimit{Requests: chaosHSWindow, Per: 10 * time.Second}})}
	},
	"salesforce": func(c *chaosClock) chaosSide {
		return &salesforceSide{salesforcetest.New(salesforcetest.Options{ClientID: chaosSFID, ClientSecret: chaosSFSecret, Now: c.Now,
			RateLimit: salesforcetest.RateLimit{Requests: chaosSFPerSec, Per: time.Second}})}
	},
	// The sandbox's custom CRM: stamps of a whole second, as Salesforce's.
	"crm": func(c *chaosClock) chaosSide {
		return &crmSide{resttest.New(resttest.Options{Precision: time.Second, Now: c.Now, Limit: chaosCRMPerSec})}
	},
}

// chaosKinds are the 5xx a burst answers with.
var chaosKinds = []hubspottest.Fault{hubspottest.Fault500, hubspottest.Fault502, hubspottest.Fault503}

// recReq is one of Tandem's requests, as the recorder saw it.
type recReq struct {
	req         *http.Request
	body, resp  []byte
	status      int
	header      http.Header // of the answer
	ok          bool        // a 2xx
	route, corr string
	seq0, seq1  int64
	began, at   time.Time
}

// fields reads the canonical fields of a system's record (or write) in
// obj, in canonical form.
func (r *recorder) fields(obj gjson.Result) map[string]string {
	out := map[string]string{}
	obj.ForEach(func(k, v gjson.Result) bool {
		if f := chaosFieldOf(r.sys, k.String()); f != "" {
			out[f] = chaosCanon(f, v.String())
		}
		return true
	})
	return out
}

func (r *recorder) addWrite(q *recReq, id, op string, fields map[string]string, applied bool, body string) {
	r.writes[id] = append(r.writes[id], recWrite{seq0: q.seq0, seq1: q.seq1, op: op, fields: fields, applied: applied, body: body, corr: q.corr, began: q.began, at: q.at})
}

func (r *recorder) addRead(q *recReq, id string, fields map[string]string) {
	r.reads[id] = append(r.reads[id], recRead{seq0: q.seq0, seq1: q.seq1, path: q.route, corr: q.corr, fields: fields, at: q.at})
}

// hubspotSide is a HubSpot portal's contacts; its webhooks go to the
// daemon.
type hubspotSide struct{ e *hubspottest.Emulator }

func (h *hubspotSide) name() string                            { return "hubspot" }
func (h *hubspotSide) object() string                          { return "contacts" }
func (h *hubspotSide) handler() http.Handler                   { return h.e }
func (h *hubspotSide) precision() time.Duration                { return time.Millisecond }
func (h *hubspotSide) writes() int                             { return h.e.Writes() }
func (h *hubspotSide) resetRequests()                          { h.e.ResetRequests() }
func (h *hubspotSide) close()                                  { h.e.Close() }
func (h *hubspotSide) remove(id string) error                  { return h.e.Delete("contacts", id) }
func (h *hubspotSide) create(f map[string]any) (string, error) { return h.e.Create("contacts", f) }
func (h *hubspotSide) update(id string, f map[string]any) error {
	return h.e.Update("contacts", id, f)
}

func (h *hubspotSide) api() map[string]string {
	return map[string]string{"email": "email", "first_name": "firstname", "last_name": "lastname", "phone": "phone", "title": "jobtitle"}
}

func (h *hubspotSide) counts() map[string]int {
	return map[string]int{"faulted": h.e.Faulted(), "refused for rate": h.e.RateLimited(), "served": h.e.Served()}
}

func (h *hubspotSide) setFaults(rate float64, seed uint64) {
	if rate == 0 {
		h.e.SetFaults(hubspottest.Faults{})
		return
	}
	h.e.SetFaults(hubspottest.Faults{Rate: rate, Seed: seed, Kinds: chaosKinds})
}

func (h *hubspotSide) raw(id string) (map[string]string, bool) {
	o, ok := h.e.Get("contacts", id)
	if !ok || o.Archived {
		return nil, false
	}
	return o.Properties, true
}

func (h *hubspotSide) rawAll() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, o := range h.e.List("contacts") {
		out[o.ID] = o.Properties
	}
	return out
}

// noise: HubSpot's window (600 calls per 10 s) is filled as fast as the
// emulator answers, then kept full (a slot frees as a call leaves the
// window, and most go to the neighbour: Tandem meets 429s until ten
// seconds after the hold).
func (h *hubspotSide) noise(_ *http.Client, base string) (*http.Request, func(int) bool, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/crm/v3/properties/contacts", nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+chaosHSToken)
	return req, func(st int) bool { return st == http.StatusTooManyRequests }, nil
}

func (h *hubspotSide) section(url string) string {
	return fmt.Sprintf(`  hubspot:
    type: hubspot
    base_url: %s
    token: %s
    webhook_secret: %s
    page_size: 100
    timeout: 20s
    rate_limit: { requests: 100000, per: 10s }
    search_rate_limit: { requests: 10000, per: 1s }
    breaker: { failures: 5, cooldown: 2s }
`, url, chaosHSToken, chaosHSSecret)
}

func (h *hubspotSide) mapping() string {
	return `      hubspot:
        object: contacts
        fields:
          email: properties.email
          first_name: properties.firstname
          last_name: properties.lastname
          phone: properties.phone
          title: properties.jobtitle
`
}

func (h *hubspotSide) note(r *recorder, q *recReq) {
	switch route, body, resp := q.route, q.body, q.resp; {
	case strings.HasSuffix(route, "/batch/update"), strings.HasSuffix(route, "/batch/upsert"):
		done := map[string]string{} // key (id, or the idProperty value for upserts) -> record id
		if q.ok {
			for _, res := range gjson.GetBytes(resp, "results").Array() {
				id := res.Get("id").String()
				done[id] = id
				if e := res.Get("properties.email").String(); e != "" {
					done[strings.ToLower(e)] = id
				}
				if k := res.Get("properties.tandem_id").String(); k != "" {
					done[k] = id // creates upsert by Tandem's key
				}
			}
		}
		op := "update"
		if strings.HasSuffix(route, "/batch/upsert") {
			op = "upsert"
		}
		for _, in := range gjson.GetBytes(body, "inputs").Array() {
			key := in.Get("id").String()
			if op == "upsert" && in.Get("idProperty").String() == "email" {
				key = strings.ToLower(key)
			}
			id, applied := done[key]
			if !applied {
				id = key
			}
			if op == "upsert" && applied {
				r.created[strings.ToLower(in.Get("properties.email").String())] = id
			}
			r.addWrite(q, id, op, r.fields(in.Get("properties")), applied, in.Raw)
		}
	case strings.HasSuffix(route, "/batch/archive"):
		for _, in := range gjson.GetBytes(body, "inputs").Array() {
			r.addWrite(q, in.Get("id").String(), "delete", nil, q.ok, in.Raw)
		}
	case q.ok:
		if strings.HasSuffix(route, "/search") {
			s := recSearch{seq0: q.seq0, seq1: q.seq1, corr: q.corr, from: gjson.GetBytes(body, "filterGroups.0.filters.0.value").Int(),
				after: int(gjson.GetBytes(body, "after").Int())}
			for i, res := range gjson.GetBytes(resp, "results").Array() {
				ts, _ := time.Parse(time.RFC3339Nano, res.Get("properties.lastmodifieddate").String())
				if i == 0 {
					s.first = ts.UnixMilli()
				}
				s.last, s.n = ts.UnixMilli(), s.n+1
			}
			r.pages = append(r.pages, s)
		}
		for _, res := range gjson.GetBytes(resp, "results").Array() {
			r.addRead(q, res.Get("id").String(), r.fields(res.Get("properties")))
		}
	}
}

// salesforceSide is a Salesforce org's Contacts.
type salesforceSide struct{ e *salesforcetest.Emulator }

func (s *salesforceSide) name() string                            { return "salesforce" }
func (s *salesforceSide) object() string                          { return "Contact" }
func (s *salesforceSide) handler() http.Handler                   { return s.e }
func (s *salesforceSide) precision() time.Duration                { return time.Second } // SystemModstamp has whole seconds
func (s *salesforceSide) writes() int                             { return s.e.Writes() }
func (s *salesforceSide) resetRequests()                          { s.e.ResetRequests() }
func (s *salesforceSide) close()                                  { s.e.Close() }
func (s *salesforceSide) remove(id string) error                  { return s.e.Delete("Contact", id) }
func (s *salesforceSide) create(f map[string]any) (string, error) { return s.e.Create("Contact", f) }
func (s *salesforceSide) update(id string, f map[string]any) error {
	return s.e.Update("Contact", id, f)
}

func (s *salesforceSide) api() map[string]string {
	return map[string]string{"email": "Email", "first_name": "FirstName", "last_name": "LastName", "phone": "Phone", "title": "Title"}
}

func (s *salesforceSide) counts() map[string]int {
	return map[string]int{"faulted": s.e.Faulted(), "refused for rate": s.e.RateLimited(), "served": s.e.Served()}
}

func (s *salesforceSide) setFaults(rate float64, seed uint64) {
	if rate == 0 {
		s.e.SetFaults(salesforcetest.Faults{})
		return
	}
	s.e.SetFaults(salesforcetest.Faults{Rate: rate, Seed: seed, Kinds: chaosKinds})
}

func sfText(fields map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range fields {
		out[k] = str(v)
	}
	return out
}

func (s *salesforceSide) raw(id string) (map[string]string, bool) {
	r, ok := s.e.Get("Contact", id)
	if !ok || r.IsDeleted {
		return nil, false
	}
	return sfText(r.Fields), true
}

func (s *salesforceSide) rawAll() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, r := range s.e.List("Contact") {
		out[r.ID] = sfText(r.Fields)
	}
	return out
}

// noise: Salesforce's 150 calls a second (the emulator's test limit) are
// spent; the org answers 403 REQUEST_LIMIT_EXCEEDED.
func (s *salesforceSide) noise(client *http.Client, base string) (*http.Request, func(int) bool, error) {
	resp, err := client.PostForm(base+"/services/oauth2/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {chaosSFID}, "client_secret": {chaosSFSecret}})
	if err != nil {
		return nil, nil, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	req, err := http.NewRequest(http.MethodGet, base+"/services/data/"+salesforcetest.APIVersion+"/", nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return req, func(st int) bool { return st == http.StatusForbidden || st == http.StatusTooManyRequests }, nil
}

func (s *salesforceSide) section(url string) string {
	return fmt.Sprintf(`  salesforce:
    type: salesforce
    instance_url: %s
    client_id: %s
    client_secret: %s
    timeout: 20s
    breaker: { failures: 5, cooldown: 2s }
`, url, chaosSFID, chaosSFSecret)
}

func (s *salesforceSide) mapping() string {
	return `      salesforce:
        object: Contact
        fields:
          email: Email
          first_name: FirstName
          last_name: LastName
          phone: Phone
          title: Title
`
}

func (s *salesforceSide) note(r *recorder, q *recReq) {
	req, route, body, resp := q.req, q.route, q.body, q.resp
	switch {
	case req.Method == http.MethodPatch && strings.Contains(route, "/composite/sobjects"):
		results := gjson.ParseBytes(resp).Array()
		op := "upsert" // PATCH composite/sobjects/{Object}/{External ID field}
		if strings.HasSuffix(route, "/composite/sobjects") {
			op = "update"
		}
		for i, rec := range gjson.GetBytes(body, "records").Array() {
			id := rec.Get("id").String()
			applied := false
			if q.ok && i < len(results) && results[i].Get("success").Bool() {
				applied = true
				id = results[i].Get("id").String()
			}
			if id == "" {
				id = "email:" + strings.ToLower(rec.Get("Email").String())
			}
			if op == "upsert" && applied {
				r.created[strings.ToLower(rec.Get("Email").String())] = id
			}
			r.addWrite(q, id, op, r.fields(rec), applied, rec.Raw)
		}
	case req.Method == http.MethodPost && strings.HasSuffix(route, "/composite"):
		// Composite: sObject Rows updates, each conditional
		// (If-Unmodified-Since) on a record edited recently; each
		// answered by referenceId, 204 when applied, 412 when refused.
		status := map[string]int64{}
		for _, res := range gjson.GetBytes(resp, "compositeResponse").Array() {
			status[res.Get("referenceId").String()] = res.Get("httpStatusCode").Int()
		}
		for _, sub := range gjson.GetBytes(body, "compositeRequest").Array() {
			u := sub.Get("url").String()
			if sub.Get("method").String() != http.MethodPatch || !strings.Contains(u, "/sobjects/") {
				continue
			}
			applied := q.ok && status[sub.Get("referenceId").String()]/100 == 2
			r.addWrite(q, u[strings.LastIndex(u, "/")+1:], "update", r.fields(sub.Get("body")), applied, sub.Raw)
		}
	case req.Method == http.MethodDelete && strings.Contains(route, "/composite/sobjects"):
		for _, id := range strings.Split(req.URL.Query().Get("ids"), ",") {
			r.addWrite(q, id, "delete", nil, q.ok, "")
		}
	case q.ok && !strings.Contains(route, "oauth2"):
		if strings.Contains(route, "/queryAll") {
			p := r.pulls[q.corr]
			if p == nil || req.URL.Query().Get("q") != "" {
				p = &recPull{}
				p.date, _ = http.ParseTime(q.header.Get("Date"))
				r.pulls[q.corr] = p
			}
			for _, rec := range gjson.GetBytes(resp, "records").Array() {
				if ts, err := time.Parse("2006-01-02T15:04:05.000-0700", rec.Get("SystemModstamp").String()); err == nil && ts.After(p.latest) {
					p.latest = ts
				}
			}
		}
		recs := gjson.GetBytes(resp, "records")
		if !recs.Exists() {
			recs = gjson.ParseBytes(resp) // a retrieve: an array of records (null when not found)
		}
		if recs.IsArray() {
			for _, rec := range recs.Array() {
				if id := rec.Get("Id").String(); id != "" {
					r.addRead(q, id, r.fields(rec))
				}
			}
		}
	}
}

// crmSide is the sandbox's custom CRM, behind the rest connector: ETags
// on updates (If-Match), creates kept unique by Tandem's key, deletes
// kept as tombstones, a request budget told in RateLimit-* headers.
type crmSide struct{ s *resttest.Server }

func (c *crmSide) name() string             { return "crm" }
func (c *crmSide) object() string           { return "contacts" }
func (c *crmSide) handler() http.Handler    { return c.s }
func (c *crmSide) precision() time.Duration { return time.Second }
func (c *crmSide) writes() int              { return c.s.Writes() }
func (c *crmSide) resetRequests()           { c.s.ResetRequests() }
func (c *crmSide) close()                   { c.s.Close() }

func (c *crmSide) api() map[string]string {
	return map[string]string{"email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone", "title": "title"}
}

func (c *crmSide) counts() map[string]int {
	return map[string]int{"faulted": c.s.Faulted(), "refused for rate": c.s.RateLimited(), "served": c.s.Served()}
}

func (c *crmSide) setFaults(rate float64, seed uint64) {
	if rate == 0 {
		c.s.SetFaults(resttest.Faults{})
		return
	}
	c.s.SetFaults(resttest.Faults{Rate: rate, Seed: seed, Kinds: chaosKinds})
}

func (c *crmSide) create(f map[string]any) (string, error) { return c.s.Create(f, time.Time{}), nil }

func (c *crmSide) update(id string, f map[string]any) error {
	if _, ok := c.raw(id); !ok {
		return fmt.Errorf("crm: no contact %s", id)
	}
	c.s.Update(id, f)
	return nil
}

func (c *crmSide) remove(id string) error {
	if _, ok := c.raw(id); !ok {
		return fmt.Errorf("crm: no contact %s", id)
	}
	c.s.Delete(id)
	return nil
}

func (c *crmSide) raw(id string) (map[string]string, bool) {
	r, ok := c.s.Get(id)
	if !ok || r.Deleted {
		return nil, false
	}
	return sfText(r.Fields), true
}

func (c *crmSide) rawAll() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, r := range c.s.List() {
		if !r.Deleted {
			out[r.ID] = sfText(r.Fields)
		}
	}
	return out
}

// noise: the CRM's budget (chaosCRMPerSec a second) is spent; it answers
// 429 with Retry-After.
func (c *crmSide) noise(_ *http.Client, base string) (*http.Request, func(int) bool, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/contacts?limit=1", nil)
	return req, func(st int) bool { return st == http.StatusTooManyRequests }, err
}

// section is the sandbox's (crmSystem), with the suite's call deadline and
// breaker, pages of a hundred, and the precision of this emulator's
// stamps: whole seconds (the sandbox's stamps milliseconds), which newest
// must know to order them against HubSpot's (see tieWinner).
func (c *crmSide) section(url string) string {
	s := crmSystem(url)
	for _, r := range [][2]string{
		{"    base_url: " + url + "\n", "    base_url: " + url + "\n    timeout: 20s\n    breaker: { failures: 5, cooldown: 2s }\n"},
		{"page_size: 10\n", "page_size: 100\n"},
		{"        updated: updated_at\n", "        updated: updated_at\n        precision: 1s\n"},
	} {
		if !strings.Contains(s, r[0]) {
			panic(fmt.Sprintf("crmSystem has no %q", r[0]))
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	return s
}

func (c *crmSide) mapping() string {
	return strings.Replace(crmMapping, "lifecycle: lifecycle", "title: title", 1)
}

func (c *crmSide) note(r *recorder, q *recReq) {
	rest, ok := strings.CutPrefix(q.route, "/contacts")
	if !ok {
		return
	}
	id := strings.TrimPrefix(rest, "/")
	switch q.req.Method {
	case http.MethodPost:
		// A create, kept unique by Tandem's key: 201 with the record, or
		// 409 naming the record that holds the key.
		applied := q.ok
		if applied {
			id = gjson.GetBytes(q.resp, "id").String()
			r.created[strings.ToLower(gjson.GetBytes(q.body, "email").String())] = id
		} else {
			id = "email:" + strings.ToLower(gjson.GetBytes(q.body, "email").String())
		}
		r.addWrite(q, id, "create", r.fields(gjson.ParseBytes(q.body)), applied, string(q.body))
	case http.MethodPatch, http.MethodPut:
		r.addWrite(q, id, "update", r.fields(gjson.ParseBytes(q.body)), q.ok, string(q.body))
	case http.MethodDelete:
		r.addWrite(q, id, "delete", nil, q.ok, "")
	case http.MethodGet:
		if !q.ok {
			return
		}
		recs := gjson.GetBytes(q.resp, "data").Array()
		if id != "" {
			recs = []gjson.Result{gjson.ParseBytes(q.resp)}
		}
		for _, rec := range recs {
			r.addRead(q, rec.Get("id").String(), r.fields(rec))
		}
	}
}
