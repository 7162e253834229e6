package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"tandem/connectors/hubspot"
	"tandem/connectors/hubspot/hubspottest"
	"tandem/connectors/rest/resttest"
	"tandem/connectors/salesforce/salesforcetest"
)

// The sandbox's fixed credentials: they open the emulators and nothing else.
const (
	sandboxToken        = "sandbox-hubspot-token"
	sandboxClientID     = "sandbox-client-id"
	sandboxClientSecret = "sandbox-client-secret"
	// sandboxWebhookSecret signs the HubSpot emulator's webhooks, as an
	// app's client secret signs HubSpot's.
	sandboxWebhookSecret = "sandbox-webhook-secret"
)

func sandboxCmd(g *globals) *cobra.Command {
	var writeConfig, state, hsAddr, sfAddr, crmAddr, listen string
	var force bool
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve emulated HubSpot, Salesforce and a custom CRM on loopback, seeded, until interrupted",
		Long: `Start the HubSpot and Salesforce emulators and a custom CRM (a small REST
API, read by the rest connector from its description in the config) on
loopback ports, seeded with 50 HubSpot and 50 Salesforce contacts, 20 of
them the same people by email (some written with other capitalisation, some
with other phone numbers), and 25 in the CRM, 15 of them known elsewhere;
and with 5 companies in HubSpot and 5 Accounts in Salesforce, 3 of them the
same by domain. Every fifth person works for one (HubSpot's primary
company, Salesforce's AccountId); 2 people known to both systems work at
different companies in each, so the first sync records conflicts on
company. The CRM has no companies: its contacts' company is not mapped.
With --write-config, write a ready config pointing at them; then, in another
terminal:  tandem sync --config FILE  and  tandem status --config FILE,
or run the daemon:  tandem run --config FILE.  The HubSpot emulator sends a
signed webhook for every change to the daemon's address (--listen), as a
HubSpot app subscription does; while no daemon listens, they are retried and
then given up on, and the daemon's passes and sweeps pick the changes up.
Stays up until interrupted (Ctrl-C).

The emulators start empty and seeded anew each time, so an existing config
file or a state file left by an earlier sandbox (whose records are gone) is
refused; --force replaces the config and starts the state afresh. Each start
says which: a state file not there yet, or removed with --force, so the first
sync starts from clean state; never one reused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if writeConfig != "" {
				if err := freshSandboxFiles(g.stdout, writeConfig, state, force); err != nil {
					return err
				}
			}
			sb, err := startSandbox(hsAddr, sfAddr, crmAddr)
			if err != nil {
				return err
			}
			defer sb.close()
			sb.listen = listen
			sb.hs.SetWebhooks(&hubspottest.Webhooks{URL: "http://" + listen + "/webhooks/hubspot", ClientSecret: sandboxWebhookSecret})
			fmt.Fprintf(g.stdout, "HubSpot emulator:    %s  (token %s)\n", sb.hsURL, sandboxToken)
			fmt.Fprintf(g.stdout, "Salesforce emulator: %s  (client %s / %s)\n", sb.sfURL, sandboxClientID, sandboxClientSecret)
			fmt.Fprintf(g.stdout, "Custom CRM emulator: %s  (a REST API: GET %s/contacts)\n", sb.crmURL, sb.crmURL)
			if writeConfig != "" {
				if err := os.WriteFile(writeConfig, []byte(sb.config(state)), 0o600); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "Config written to %s; try: tandem sync --config %s\n", writeConfig, writeConfig)
			} else {
				fmt.Fprintln(g.stdout, "No config written, so no state file: the emulators start empty and seeded anew, and a")
				fmt.Fprintln(g.stdout, "state file left by an earlier sandbox names records they no longer hold; start with")
				fmt.Fprintln(g.stdout, "--write-config FILE (--force to replace an earlier sandbox's config and state).")
			}
			fmt.Fprintln(g.stdout, "Serving until interrupted.")
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&writeConfig, "write-config", "", "write a config for the sandbox to this file")
	cmd.Flags().BoolVar(&force, "force", false, "with --write-config: overwrite the config and remove an earlier sandbox's state file")
	cmd.Flags().StringVar(&state, "state", "sandbox.db", "state file named in the written config (a relative one lies beside the config)")
	cmd.Flags().StringVar(&hsAddr, "hubspot-addr", "127.0.0.1:0", "loopback address for the HubSpot emulator")
	cmd.Flags().StringVar(&sfAddr, "salesforce-addr", "127.0.0.1:0", "loopback address for the Salesforce emulator")
	cmd.Flags().StringVar(&crmAddr, "crm-addr", "127.0.0.1:0", "loopback address for the custom CRM's emulated REST API")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8765", "the daemon's address in the written config; HubSpot's webhooks go there")
	return cmd
}

// tandemKeys declares on an emulated portal the unique property that
// holds Tandem's key, as an admin creates it on a real one
// (connectors/hubspot/README.md, "Idempotent creates").
var tandemKeys = map[string][]string{"contacts": {hubspot.DefaultKeyProperty}, "companies": {hubspot.DefaultKeyProperty}}

type sandbox struct {
	hs                   *hubspottest.Emulator
	sf                   *salesforcetest.Emulator
	crm                  *resttest.Server // the custom CRM: a REST API the rest connector reads from config
	hsURL, sfURL, crmURL string
	servers              []*http.Server
	listen               string // the daemon's address (listen:), "" for none
}

func startSandbox(hsAddr, sfAddr, crmAddr string) (*sandbox, error) {
	sb := &sandbox{
		hs: hubspottest.New(hubspottest.Options{UniqueProperties: tandemKeys, Token: sandboxToken, RateLimit: loopbackRate}),
		sf: salesforcetest.New(salesforcetest.Options{ClientID: sandboxClientID, ClientSecret: sandboxClientSecret}),
	}
	var err error
	if sb.hsURL, err = sb.serve(hsAddr, sb.hs); err != nil {
		return nil, err
	}
	if sb.sfURL, err = sb.serve(sfAddr, sb.sf); err != nil {
		sb.close()
		return nil, err
	}
	sb.crm = resttest.New(resttest.Options{})
	if sb.crmURL, err = sb.serve(crmAddr, sb.crm); err != nil {
		sb.close()
		return nil, err
	}
	if err := sb.seed(); err != nil {
		sb.close()
		return nil, err
	}
	return sb, nil
}

func (sb *sandbox) serve(addr string, h http.Handler) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("address %q: the sandbox listens on loopback only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	sb.servers = append(sb.servers, srv)
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), nil
}

func (sb *sandbox) close() {
	for _, s := range sb.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s.Shutdown(ctx)
		cancel()
	}
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "John"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Backus"}
	stages     = []string{"lead", "customer", "opportunity"}
)

// seed puts people 0-49 in HubSpot and, a moment later, 30-79 in
// Salesforce: 20 shared, every third shared one with a capitalised email in
// Salesforce and every fourth with another phone number there (Salesforce's
// is newer, so the newest policy takes it). Companies come first, some in
// one system, some in both (sandboxCompanies), and every fifth person is
// linked to one in each system that holds them.
func (sb *sandbox) seed() error {
	person := func(i int) (first, last, email, phone string) {
		first, last = firstNames[i%10], lastNames[(i/10+i)%10]
		return first, last, sandboxEmail(i), fmt.Sprintf("+1555%07d", i)
	}
	// Salesforce users type national numbers; the phone type reads them as
	// the same E.164 number HubSpot holds.
	national := func(e164 string) string {
		d := e164[2:]
		return fmt.Sprintf("(%s) %s-%s", d[:3], d[3:6], d[6:])
	}
	hsCos, sfCos, err := sb.seedCompanies()
	if err != nil {
		return err
	}
	// Every fifth person works for a company, each system cycling through
	// its own: of the people in both, 30 and 35 are at the same company in
	// each, 40 and 45 at different ones (a conflict on company).
	companyOf := func(i int, cos []string) string { return cos[i/5%len(cos)] }
	for i := 0; i < 50; i++ {
		first, last, email, phone := person(i)
		id, err := sb.hs.Create("contacts", map[string]any{
			"email": email, "firstname": first, "lastname": last, "phone": phone, "lifecyclestage": stages[i%3],
		})
		if err == nil && i%5 == 0 {
			err = sb.hs.Associate(id, companyOf(i, hsCos), true) // as its primary company
		}
		if err != nil {
			return fmt.Errorf("seeding HubSpot: %w", err)
		}
	}
	// Salesforce stamps whole seconds: its records are made in the next
	// second, so that they are newer than HubSpot's, as the seed means.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	for i := 30; i < 80; i++ {
		first, last, email, phone := person(i)
		if i < 50 && i%3 == 0 {
			email = strings.ToUpper(email[:1]) + email[1:strings.Index(email, "@")] + "@Example.com"
		}
		if i < 50 && i%4 == 0 {
			phone = fmt.Sprintf("+1666%07d", i)
		}
		if i%2 == 1 {
			phone = national(phone)
		}
		fields := map[string]any{"Email": email, "FirstName": first, "LastName": last, "Phone": phone}
		if i%5 == 0 {
			fields["AccountId"] = companyOf(i, sfCos)
		}
		if _, err := sb.sf.Create("Contact", fields); err != nil {
			return fmt.Errorf("seeding Salesforce: %w", err)
		}
	}
	// The custom CRM holds people 0-4 (HubSpot's too), 70-79
	// (Salesforce's) and 80-89 (its own), as the CRM's users entered them.
	for _, i := range append([]int{0, 1, 2, 3, 4}, seq(70, 90)...) {
		first, last, email, phone := person(i)
		sb.crm.Create(map[string]any{"email": email, "first_name": first, "last_name": last, "phone": phone,
			"lifecycle": strings.ToUpper(stages[i%3][:1]) + stages[i%3][1:]}, time.Time{})
	}
	return nil
}

// sandboxCompanies are the seeded companies: some in HubSpot only, some in
// Salesforce only, a few in both (the same company by its domain).
var sandboxCompanies = []struct {
	name, domain        string
	hubspot, salesforce bool
}{
	{"Analytical Engines", "analytical-engines.example", true, true},
	{"Bletchley Works", "bletchley.example", true, true},
	{"Eckert-Mauchly", "eckert-mauchly.example", true, true},
	{"Difference Engines", "difference-engines.example", true, false},
	{"Jacquard Looms", "jacquard.example", true, false},
	{"Colossus Systems", "colossus.example", false, true},
	{"Zuse KG", "zuse.example", false, true},
}

// seedCompanies makes the companies in each system that holds them and
// returns their ids there, in sandboxCompanies' order.
func (sb *sandbox) seedCompanies() (hs, sf []string, err error) {
	for _, c := range sandboxCompanies {
		if c.hubspot {
			id, err := sb.hs.Create("companies", map[string]any{"name": c.name, "domain": c.domain})
			if err != nil {
				return nil, nil, fmt.Errorf("seeding HubSpot: %w", err)
			}
			hs = append(hs, id)
		}
		if c.salesforce {
			id, err := sb.sf.Create("Account", map[string]any{"Name": c.name, "Website": c.domain})
			if err != nil {
				return nil, nil, fmt.Errorf("seeding Salesforce: %w", err)
			}
			sf = append(sf, id)
		}
	}
	return hs, sf, nil
}

// sandboxEmail is the seeded person i's email, as HubSpot holds it.
func sandboxEmail(i int) string {
	return fmt.Sprintf("%s.%s%d@example.com", strings.ToLower(firstNames[i%10]), strings.ToLower(lastNames[(i/10+i)%10]), i)
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// config is a ready config for the sandbox. Real credentials come from the
// environment (${HUBSPOT_TOKEN}); the sandbox's open only the emulators.
func (sb *sandbox) config(state string) string {
	if !filepath.IsAbs(state) {
		state = filepath.ToSlash(state)
	}
	cfg := contactConfig(state, sb.hsURL, sandboxToken, sb.sfURL, sandboxClientID, sandboxClientSecret)
	cfg = withCompanies(withCRM(cfg, sb.crmURL))
	if sb.listen == "" {
		return cfg
	}
	cfg = strings.Replace(cfg, "\nsystems:\n", "\nlisten: "+sb.listen+"    # tandem run: webhooks, /healthz, /metrics\nsystems:\n", 1)
	cfg = strings.Replace(cfg, "    token: "+sandboxToken+"\n", "    token: "+sandboxToken+"\n    webhook_secret: "+sandboxWebhookSecret+"   # the app's client secret: it signs the webhooks\n", 1)
	return strings.ReplaceAll(cfg, `    schedule: "*/5 * * * *"`+"\n", `    schedule: "*/5 * * * *"    # tandem run: a pass every 5 minutes (UTC)`+"\n"+
		`    reconcile: "0 3 * * *"     # and a full comparison sweep at 03:00`+"\n")
}

// withCompanies adds companies to a contact config: the company entity
// (HubSpot's companies and Salesforce's Accounts, the same company by its
// domain) and the contact's company, a ref, mapped to HubSpot's primary
// company and Salesforce's AccountId. The custom CRM has no companies, so
// its contacts' company stays unmapped (a system that maps a ref must
// sync its target entity too).
func withCompanies(cfg string) string {
	for _, s := range []struct{ after, add string }{
		{"\nentities:\n", companyEntity},
		{"        values: [Subscriber, Lead, MarketingQualifiedLead, SalesQualifiedLead, Opportunity, Customer, Evangelist, Other]\n",
			"      company: { type: ref, entity: company }   # the company's entity id (mapping/README.md, References)\n"},
		{"              other: Other\n", "          company: associations.companies   # the contact's primary company\n"},
		{"          lifecycle: Lifecycle__c\n", "          company: AccountId\n"},
	} {
		if strings.Count(cfg, s.after) != 1 {
			panic("sandbox config: no single line " + strconv.Quote(s.after) + " to add companies after")
		}
		cfg = strings.Replace(cfg, s.after, s.after+s.add, 1)
	}
	return cfg
}

// companyEntity is the sandbox's company entity. It comes first, as the
// contacts point to it, though a pass syncs companies first whatever the
// order in the file.
const companyEntity = `  company:
    match: [domain]          # the same company by its web domain
    match_fallback: [name]   # or, for a company with none, by its name
    fields:
      name: string
      domain: string
    systems:
      hubspot:
        object: companies
        fields:
          name: { path: properties.name, transform: trim }
          domain: properties.domain
      salesforce:
        object: Account
        fields:
          name: { path: Name, transform: trim }
          domain: Website
    conflict: { policy: newest }
    schedule: "*/5 * * * *"
`

// crmSystem is the custom CRM's system section: the rest connector,
// with the emulated API described in the config (the emulator takes no
// credential; a real one names its token's variable: auth: {type:
// bearer, token_env: CRM_TOKEN}).
func crmSystem(url string) string {
	return `  crm:
    type: rest               # a custom CRM's REST API, described here: connectors/rest/README.md
    base_url: ` + url + `
    objects:
      contacts:
        path: /contacts
        records: data            # the records' array in a list answer
        updated: updated_at
        deleted: deleted         # deletes are kept as tombstones
        query: { updated_since: "{since}", limit: "{limit}", page: "{page}" }
        paging: link             # the Link header's rel="next"
        page_size: 10
        key: tandem_id           # creates keep Tandem's key here, and the API keeps it unique
        key_query: { tandem_id: "{key}" }
        create: unique
        concurrency: etag        # updates are sent with If-Match
        fetch: { param: ids, join: "," }
`
}

// withCRM adds the custom CRM at url to contactConfig's config.
func withCRM(cfg, url string) string {
	cfg = strings.Replace(cfg, "\nentities:\n", "\n"+crmSystem(url)+"entities:\n", 1)
	return strings.Replace(cfg, "    conflict: { policy: newest }\n", crmMapping+"    conflict: { policy: newest }\n", 1)
}

// crmMapping maps the contact's fields to the custom CRM's.
const crmMapping = `      crm:
        object: contacts
        fields:
          email: email
          first_name: first_name
          last_name: last_name
          phone: phone
          lifecycle: lifecycle
`

// contactConfig is the sandbox's config, which the end-to-end tests run
// too: contacts with typed fields (E.164 phones, an enum of lifecycle
// stages mapped from HubSpot's internal values), matched by email.
func contactConfig(state, hsURL, hsToken, sfURL, sfClientID, sfSecret string) string {
	return fmt.Sprintf(`# Tandem config for the sandbox (tandem sandbox). The credentials below open
# only the emulators; for real systems write ${HUBSPOT_TOKEN} and the like.
state: %s
systems:
  hubspot:
    type: hubspot
    base_url: %s
    token: %s
    page_size: 10            # small pages, to show paging on 50 records
    # The emulator runs on loopback and allows this much; a real portal
    # allows 100 per 10 s and 5 searches a second (the defaults: drop these).
    rate_limit: { requests: 100000, per: 10s }
    search_rate_limit: { requests: 10000, per: 1s }
  salesforce:
    type: salesforce
    instance_url: %s
    client_id: %s
    client_secret: %s
entities:
  contact:
    match: [email]
    phone_region: US         # phones written without +country are American
    fields:
      email: email           # trimmed and lower-cased
      first_name: string
      last_name: string
      phone: phone           # E.164: "(555) 010-0000" becomes "+15550100000"
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
            map:             # HubSpot's internal values <-> the canonical ones
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
    schedule: "*/5 * * * *"
`, state, hsURL, hsToken, sfURL, sfClientID, sfSecret)
}

// loopbackRate is the rate limit of the sandbox's and tests' HubSpot
// emulators: its headers tell the client it may go as fast as loopback
// allows (a real portal allows 100 requests per 10 s).
var loopbackRate = hubspottest.RateLimit{Requests: 100000, Per: 10 * time.Second}

// freshSandboxFiles checks that the config and state files a sandbox
// writes are not there yet, or, with force, clears them: a sandbox's
// emulators are new each time, so an earlier sandbox's state file links
// records that no longer exist. The state path is relative to the config
// file's directory, as in any config.
func freshSandboxFiles(w io.Writer, config, statePath string, force bool) error {
	if !filepath.IsAbs(statePath) {
		statePath = filepath.Join(filepath.Dir(config), statePath)
	}
	var there []string
	for _, p := range []string{config, statePath} {
		if _, err := os.Stat(p); err == nil {
			there = append(there, p)
		}
	}
	if len(there) == 0 {
		fmt.Fprintf(w, "State file %s: none yet; the first sync starts from clean state\n", statePath)
		return nil
	}
	if !force {
		return fmt.Errorf("%s already exists (an earlier sandbox's?): the new sandbox's emulators hold none of its records; pass --force to replace it and start the state afresh, or choose other paths with --write-config and --state", strings.Join(there, " and "))
	}
	for _, p := range []string{statePath, statePath + "-wal", statePath + "-shm", statePath + ".lock"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	fmt.Fprintf(w, "Starting afresh: %s removed; the first sync starts from clean state\n", statePath)
	return nil
}
