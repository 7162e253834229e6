package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"tandem/connectors/hubspot"
	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/salesforce/salesforcetest"
	"tandem/internal/loopback"
)

// The emulators' credentials: they open nothing else.
const (
	hsToken       = "bench-hubspot-token"
	sfClientID    = "bench-client-id"
	sfSecret      = "bench-client-secret"
	webhookSecret = "bench-webhook-secret"
)

// sfRate is the Salesforce emulator's rate in the ratelimited scenario,
// requests a second, given to the connector too (Salesforce publishes no
// such limit, so the connector has none unless told).
const sfRate = 10

// world is one scenario's systems: two emulators on loopback, seeded, and
// a config and state file for them in a directory of their own.
type world struct {
	hs              *hubspottest.Server
	sf              *salesforcetest.Server
	dir, config, st string
	n               int // records N
	hsEnd, sfStart  int // people [0, hsEnd) are in HubSpot, [sfStart, union) in Salesforce
	union           int
	listen          string // the daemon's address, when it has one
	limited         bool
	runs            int // tandem commands run on it, to name their profiles
}

// kind of world.
type worldKind int

const (
	plain   worldKind = iota // loopback limits
	daemon                   // plain, and a listen address and webhook secret for tandem run
	limited                  // HubSpot's real limits, Salesforce at sfRate
)

// newWorld seeds n records: people [0, n/2) in HubSpot, people
// [n/2 - n/5, n/2 - n/5 + n/2) in Salesforce, so n/5 are in both (the same
// values, the email written the same) and the union is about 0.8n.
// tandemKeys declares on an emulated portal the unique property that
// holds Tandem's key, as an admin creates it on a real one
// (connectors/hubspot/README.md, "Idempotent creates").
var tandemKeys = map[string][]string{"contacts": {hubspot.DefaultKeyProperty}}

func (b *bench) newWorld(name string, n int, kind worldKind) (*world, error) {
	dir, err := os.MkdirTemp(b.dir, name+"-")
	if err != nil {
		return nil, err
	}
	w := &world{dir: dir, n: n, config: filepath.Join(dir, "tandem.yaml"), st: filepath.Join(dir, "tandem.db")}
	w.hsEnd = n / 2
	w.sfStart = w.hsEnd - n/5
	w.union = w.sfStart + n/2
	hsOpts := hubspottest.Options{UniqueProperties: tandemKeys, Token: hsToken, RateLimit: hubspottest.RateLimit{Requests: 100000, Per: 10 * time.Second}}
	sfOpts := salesforcetest.Options{ClientID: sfClientID, ClientSecret: sfSecret}
	if kind == limited {
		w.limited = true
		hsOpts.RateLimit = hubspottest.RateLimit{Requests: 100, Per: 10 * time.Second}
		hsOpts.SearchLimit = hubspottest.RateLimit{Requests: 5, Per: time.Second}
		sfOpts.RateLimit = salesforcetest.RateLimit{Requests: sfRate, Per: time.Second}
	}
	w.hs = hubspottest.NewServer(hsOpts)
	w.sf = salesforcetest.NewServer(sfOpts)
	if kind == daemon {
		port, err := loopback.Free()
		if err != nil {
			w.close()
			return nil, err
		}
		w.listen = fmt.Sprintf("127.0.0.1:%d", port)
	}
	start := time.Now()
	if err := w.seed(); err != nil {
		w.close()
		return nil, err
	}
	b.progress("%s: seeded %d records (%d in HubSpot, %d in Salesforce) in %v", name, n, w.hsEnd, w.union-w.sfStart, time.Since(start).Round(time.Millisecond))
	if err := os.WriteFile(w.config, []byte(w.configText()), 0o600); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *world) close() {
	w.hs.Close()
	w.sf.Close()
	os.RemoveAll(w.dir)
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "John"}
	stages     = []string{"lead", "customer", "opportunity"}
	canonical  = map[string]string{"lead": "Lead", "customer": "Customer", "opportunity": "Opportunity"}
)

type person struct{ email, first, last, phone, stage string }

func personOf(i int) person {
	return person{
		email: fmt.Sprintf("p%07d@bench.example.com", i),
		first: firstNames[i%len(firstNames)],
		last:  fmt.Sprintf("Last%d", i),
		phone: fmt.Sprintf("+1555%07d", i),
		stage: stages[i%len(stages)],
	}
}

func (w *world) seed() error {
	for i := 0; i < w.hsEnd; i++ {
		p := personOf(i)
		if _, err := w.hs.Create("contacts", map[string]any{
			"email": p.email, "firstname": p.first, "lastname": p.last, "phone": p.phone, "lifecyclestage": p.stage,
		}); err != nil {
			return fmt.Errorf("seeding HubSpot: %w", err)
		}
	}
	for i := w.sfStart; i < w.union; i++ {
		p := personOf(i)
		if _, err := w.sf.Create("Contact", map[string]any{
			"Email": p.email, "FirstName": p.first, "LastName": p.last, "Phone": p.phone, "Lifecycle__c": canonical[p.stage],
		}); err != nil {
			return fmt.Errorf("seeding Salesforce: %w", err)
		}
	}
	return nil
}

// configText is the sandbox's contact config (cmd/tandem/sandbox.go) with
// pages of 100; in the limited world without the loopback rate overrides,
// so the HubSpot connector keeps to its defaults (HubSpot's real limits)
// and the headers; in the daemon world with a listen address and HubSpot's
// webhook secret, and no schedule (only webhooks bring changes).
func (w *world) configText() string {
	hsRates := "    rate_limit: { requests: 100000, per: 10s }\n    search_rate_limit: { requests: 10000, per: 1s }\n"
	sfRates := ""
	if w.limited {
		hsRates = ""
		sfRates = fmt.Sprintf("    rate_limit: { requests: %d, per: 1s }\n", sfRate)
	}
	listen, secret, schedule := "", "", "    schedule: \"*/5 * * * *\"\n"
	if w.listen != "" {
		listen = "listen: " + w.listen + "\n"
		secret = "    webhook_secret: " + webhookSecret + "\n"
		schedule = ""
	}
	return fmt.Sprintf(`state: %s
%ssystems:
  hubspot:
    type: hubspot
    base_url: %s
    token: %s
%s    page_size: 100
%s  salesforce:
    type: salesforce
    instance_url: %s
    client_id: %s
    client_secret: %s
%sentities:
  contact:
    match: [email]
    phone_region: US
    fields:
      email: email
      first_name: string
      last_name: string
      phone: phone
      lifecycle:
        type: enum
        values: [Subscriber, Lead, MarketingQualifiedLead, SalesQualifiedLead, Opportunity, Customer, Evangelist, Other]
    systems:
      hubspot:
        object: contacts
        fields:
          email: properties.email
          first_name: { path: properties.firstname, transform: trim }
          last_name: { path: properties.lastname, transform: trim }
          phone: properties.phone
          lifecycle:
            path: properties.lifecyclestage
            map:
              subscriber: Subscriber
              lead: Lead
              marketingqualifiedlead: MarketingQualifiedLead
              salesqualifiedlead: SalesQualifiedLead
              opportunity: Opportunity
              customer: Customer
              evangelist: Evangelist
              other: Other
      salesforce:
        object: Contact
        fields:
          email: Email
          first_name: { path: FirstName, transform: trim }
          last_name: { path: LastName, transform: trim }
          phone: Phone
          lifecycle: Lifecycle__c
    conflict: { policy: newest }
%s`, w.st, listen, w.hs.URL, hsToken, secret, hsRates, w.sf.URL, sfClientID, sfSecret, sfRates, schedule)
}

// reset forgets the requests so far: what is counted next is the
// measured step's.
func (w *world) reset() {
	w.hs.ResetRequests()
	w.sf.ResetRequests()
}

// calls is the API requests both emulators received since reset,
// refused ones included.
func (w *world) calls() int { return len(w.hs.Requests()) + len(w.sf.Requests()) }

// written counts the records written to both emulators since reset, from
// the bodies of the write requests that succeeded.
func (w *world) written() int {
	n := 0
	for _, r := range w.hs.Requests() {
		if r.Status < 200 || r.Status > 299 {
			continue
		}
		switch {
		case r.Method == "GET" || strings.HasSuffix(r.Path, "/search") || strings.HasSuffix(r.Path, "/batch/read"): // reads
		case strings.Contains(r.Path, "/batch/"): // create, update, upsert, archive
			n += int(gjson.GetBytes(r.Body, "inputs.#").Int())
		case strings.HasPrefix(r.Path, "/crm/v3/objects/"): // one record: POST, PATCH, DELETE
			n++
		}
	}
	for _, r := range w.sf.Requests() {
		if r.Status >= 200 && r.Status <= 299 && r.Method == "POST" && strings.HasSuffix(r.Path, "/composite") {
			// Composite: conditional updates of recently edited records,
			// one sObject Rows subrequest each (one refused with 412 counts too:
			// the request log keeps no answers).
			n += int(gjson.GetBytes(r.Body, `compositeRequest.#(method=="PATCH")#`).Get("#").Int())
			continue
		}
		if r.Status < 200 || r.Status > 299 || !strings.Contains(r.Path, "/composite/sobjects") {
			continue
		}
		switch r.Method {
		case "PATCH":
			n += int(gjson.GetBytes(r.Body, "records.#").Int())
		case "POST":
			if strings.HasSuffix(strings.TrimSuffix(r.Path, "/"), "/composite/sobjects") { // a create; POST sobjects/{Object} is a retrieve
				n += int(gjson.GetBytes(r.Body, "records.#").Int())
			}
		case "DELETE":
			if ids := queryValue(r.RawQuery, "ids"); ids != "" {
				n += strings.Count(ids, ",") + 1
			}
		}
	}
	return n
}

func queryValue(raw, key string) string {
	for _, kv := range strings.Split(raw, "&") {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return strings.ReplaceAll(v, "%2C", ",")
		}
	}
	return ""
}

// failedRequests counts the requests answered with an error other than a
// rate limit's, since reset.
func (w *world) failedRequests() int {
	n := 0
	for _, r := range w.hs.Requests() {
		if r.Status >= 400 && r.Status != 429 {
			n++
		}
	}
	for _, r := range w.sf.Requests() {
		if r.Status >= 400 {
			n++
		}
	}
	return n - w.sf.RateLimited() // Salesforce refuses for rate with 403
}

// contacts counts both emulators' live contacts.
func (w *world) contacts() (hs, sf int) {
	return len(w.hs.List("contacts")), len(w.sf.List("Contact"))
}

// checkUnion says what is wrong unless both systems hold every person once.
func (w *world) checkUnion(want int) string {
	var errs []string
	seen := map[string]int{}
	for _, o := range w.hs.List("contacts") {
		seen[strings.ToLower(o.Properties["email"])]++
	}
	if len(seen) != want {
		errs = append(errs, fmt.Sprintf("HubSpot holds %d people, want %d", len(seen), want))
	}
	for e, c := range seen {
		if c > 1 {
			errs = append(errs, fmt.Sprintf("HubSpot holds %s %d times", e, c))
			break
		}
	}
	clear(seen)
	for _, r := range w.sf.List("Contact") {
		e, _ := r.Fields["Email"].(string)
		seen[strings.ToLower(e)]++
	}
	if len(seen) != want {
		errs = append(errs, fmt.Sprintf("Salesforce holds %d people, want %d", len(seen), want))
	}
	for e, c := range seen {
		if c > 1 {
			errs = append(errs, fmt.Sprintf("Salesforce holds %s %d times", e, c))
			break
		}
	}
	return strings.Join(errs, "; ")
}

// child is a measured process that ran: its wall time (the launcher's
// start and exit included: a few milliseconds), its own peak RSS, and what
// it printed.
type child struct {
	seconds float64
	rssMB   float64
	stdout  string
	stderr  string
	err     error
}

// errText is the child's failure with the end of its stderr.
func (c child) errText() string {
	tail := strings.TrimSpace(c.stderr)
	if len(tail) > 1500 {
		tail = "…" + tail[len(tail)-1500:]
	}
	return fmt.Sprintf("%v: %s", c.err, tail)
}

// runChild runs a measured process to its end, through the launcher.
func (b *bench) runChild(ctx context.Context, env []string, name string, args ...string) child {
	m, err := b.measure(ctx, env, name, args...)
	if err != nil {
		return child{err: err}
	}
	var out, errb bytes.Buffer
	m.Stdout, m.Stderr = &out, &errb
	start := time.Now()
	if err = m.Start(); err == nil {
		err = m.Wait()
	}
	c := child{seconds: time.Since(start).Seconds(), stdout: out.String(), stderr: errb.String(), err: err}
	c.rssMB = m.peakMB()
	return c
}

// tandemRun runs a tandem command on the world's config.
func (b *bench) tandemRun(ctx context.Context, w *world, args ...string) child {
	args = append(args, "--config", w.config)
	if b.profile != "" {
		w.runs++
		name := fmt.Sprintf("%s-%d-%s.pprof", filepath.Base(w.dir), w.runs, args[0])
		args = append(args, "--cpuprofile", filepath.Join(b.profile, name))
	}
	return b.runChild(ctx, nil, b.tandem, args...)
}

// sync runs an unmeasured tandem sync, for the state a scenario starts
// from.
func (b *bench) sync(ctx context.Context, w *world, what string) error {
	c := b.tandemRun(ctx, w, "sync")
	if c.err != nil {
		return fmt.Errorf("%s: tandem sync: %s", what, c.errText())
	}
	b.progress("  %s: tandem sync in %.1f s", what, c.seconds)
	return nil
}
