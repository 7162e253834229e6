package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/tidwall/gjson"
)

// The baseline: the least a sync of the same data has to do, with none of
// Tandem's logic (no cursor state, links, snapshots, merge, outbox, retries
// or rate budget). It reads both systems through the endpoints and page
// sizes the connectors use for a full read (HubSpot's list of records,
// 100 a page; Salesforce's queryAll, in batches of 2,000), takes the mapped fields out with gjson, upserts one
// row per record in SQLite (the state store's settings, one transaction a
// page), then pushes the people missing on each side in the batch calls
// the connectors make (HubSpot batch/upsert by email, 100 a call;
// Salesforce collections upsert by external id, 200 a call), recording
// each created id in the same table (one transaction a batch). It streams:
// no side is ever held in memory.

// paramsEnv carries the worker's baselineParams, as JSON.
const paramsEnv = "TANDEM_BENCH_PARAMS"

type baselineParams struct {
	HubSpotURL, HubSpotToken, SalesforceURL, ClientID, ClientSecret, State string
}

type baselineCounts struct {
	Read    int `json:"read"`
	Written int `json:"written"`
}

// worker is the child process's main.
func worker(stdout, stderr io.Writer) int {
	var p baselineParams
	if err := json.Unmarshal([]byte(os.Getenv(paramsEnv)), &p); err != nil || os.Getenv(workerEnv) != "baseline" {
		fmt.Fprintf(stderr, "tandem-bench worker: bad parameters (%s=%q): %v\n", workerEnv, os.Getenv(workerEnv), err)
		return 2
	}
	n, err := runBaseline(context.Background(), p)
	if err != nil {
		fmt.Fprintln(stderr, "tandem-bench baseline:", err)
		return 1
	}
	json.NewEncoder(stdout).Encode(n)
	return 0
}

// The mapped fields: the canonical name, HubSpot's property, Salesforce's field.
var fields = [][3]string{
	{"email", "email", "Email"}, {"first_name", "firstname", "FirstName"}, {"last_name", "lastname", "LastName"},
	{"phone", "phone", "Phone"}, {"lifecycle", "lifecyclestage", "Lifecycle__c"},
}

type baselineRun struct {
	p        baselineParams
	db       *sql.DB
	http     *http.Client
	sfToken  string
	sfData   string
	counts   baselineCounts
	upsert   *sql.Stmt
	canonMap map[string]string // HubSpot's lifecycle stages to canonical values, and back
}

func runBaseline(ctx context.Context, p baselineParams) (baselineCounts, error) {
	v := url.Values{"_journal_mode": {"WAL"}, "_synchronous": {"NORMAL"}, "_busy_timeout": {"5000"}, "_txlock": {"immediate"}}
	db, err := sql.Open("sqlite3", "file:"+p.State+"?"+v.Encode())
	if err != nil {
		return baselineCounts{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one writer, as the state store has
	r := &baselineRun{p: p, db: db, http: &http.Client{Timeout: time.Minute}, sfData: p.SalesforceURL + "/services/data/v62.0",
		canonMap: map[string]string{"lead": "Lead", "customer": "Customer", "opportunity": "Opportunity", "Lead": "lead", "Customer": "customer", "Opportunity": "opportunity"}}
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS records (system TEXT NOT NULL, id TEXT NOT NULL, email TEXT NOT NULL,
		first_name TEXT, last_name TEXT, phone TEXT, lifecycle TEXT, linked TEXT, PRIMARY KEY (system, id));
		CREATE INDEX IF NOT EXISTS records_email ON records (email, system)`); err != nil {
		return r.counts, err
	}
	if r.upsert, err = db.Prepare(`INSERT INTO records (system, id, email, first_name, last_name, phone, lifecycle) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (system, id) DO UPDATE SET email = excluded.email, first_name = excluded.first_name, last_name = excluded.last_name,
		phone = excluded.phone, lifecycle = excluded.lifecycle`); err != nil {
		return r.counts, err
	}
	defer r.upsert.Close()
	for _, step := range []func(context.Context) error{r.sfLogin, r.pullHubSpot, r.pullSalesforce, r.pushToSalesforce, r.pushToHubSpot} {
		if err := step(ctx); err != nil {
			return r.counts, err
		}
	}
	return r.counts, nil
}

// call makes one request and returns the body of a 2xx answer.
func (r *baselineRun) call(ctx context.Context, method, url, auth, ctype string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", auth)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode/100 != 2 {
		err = fmt.Errorf("%s %s: %s: %.300s", method, url, resp.Status, b)
	}
	return b, err
}

// store upserts one page of records in one transaction.
func (r *baselineRun) store(ctx context.Context, system string, recs []gjson.Result, id string, path func(i int) string) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st := tx.Stmt(r.upsert)
	for _, rec := range recs {
		vals := []any{system, rec.Get(id).String()}
		for i := range fields {
			vals = append(vals, rec.Get(path(i)).String())
		}
		vals[2] = strings.ToLower(strings.TrimSpace(vals[2].(string))) // the match key
		if _, err := st.ExecContext(ctx, vals...); err != nil {
			return err
		}
	}
	r.counts.Read += len(recs)
	return tx.Commit()
}

func (r *baselineRun) pullHubSpot(ctx context.Context) error {
	auth := "Bearer " + r.p.HubSpotToken
	q := url.Values{"limit": {"100"}, "properties": {"lastmodifieddate,email,firstname,lastname,phone,lifecyclestage"}}
	for {
		body, err := r.call(ctx, "GET", r.p.HubSpotURL+"/crm/v3/objects/contacts?"+q.Encode(), auth, "", nil)
		if err != nil {
			return err
		}
		res := gjson.ParseBytes(body)
		if err := r.store(ctx, "hubspot", res.Get("results").Array(), "id", func(i int) string { return "properties." + fields[i][1] }); err != nil {
			return err
		}
		next := res.Get("paging.next.after")
		if !next.Exists() {
			return nil
		}
		q.Set("after", next.String())
	}
}

func (r *baselineRun) sfLogin(ctx context.Context) error {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {r.p.ClientID}, "client_secret": {r.p.ClientSecret}}
	body, err := r.call(ctx, "POST", r.p.SalesforceURL+"/services/oauth2/token", "", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if err != nil {
		return err
	}
	r.sfToken = "Bearer " + gjson.GetBytes(body, "access_token").String()
	return nil
}

func (r *baselineRun) pullSalesforce(ctx context.Context) error {
	q := "SELECT Id, SystemModstamp, LastModifiedDate, IsDeleted, Email, FirstName, LastName, Phone, Lifecycle__c FROM Contact ORDER BY SystemModstamp, Id"
	next := r.sfData + "/queryAll?q=" + url.QueryEscape(q)
	for next != "" {
		body, err := r.call(ctx, "GET", next, r.sfToken, "", nil)
		if err != nil {
			return err
		}
		res := gjson.ParseBytes(body)
		if err := r.store(ctx, "salesforce", res.Get("records").Array(), "Id", func(i int) string { return fields[i][2] }); err != nil {
			return err
		}
		next = ""
		if more := res.Get("nextRecordsUrl").String(); !res.Get("done").Bool() && more != "" {
			next = r.p.SalesforceURL + more
		}
	}
	return nil
}

// missing reads, after the id last, up to limit records of system that
// have no record with their email in the other system.
func (r *baselineRun) missing(ctx context.Context, system, other, last string, limit int) ([][]string, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT id, email, first_name, last_name, phone, lifecycle FROM records a
		WHERE system = ? AND id > ? AND NOT EXISTS (SELECT 1 FROM records b WHERE b.email = a.email AND b.system = ?)
		ORDER BY id LIMIT ?`, system, last, other, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		rec := make([]string, 6)
		if err := rows.Scan(&rec[0], &rec[1], &rec[2], &rec[3], &rec[4], &rec[5]); err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// link records the ids the other system gave, one transaction a batch.
func (r *baselineRun) link(ctx context.Context, system string, pairs [][2]string) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, p := range pairs {
		if _, err := tx.ExecContext(ctx, `UPDATE records SET linked = ? WHERE system = ? AND id = ?`, p[1], system, p[0]); err != nil {
			return err
		}
	}
	r.counts.Written += len(pairs)
	return tx.Commit()
}

func (r *baselineRun) pushToSalesforce(ctx context.Context) error {
	for last := ""; ; {
		batch, err := r.missing(ctx, "hubspot", "salesforce", last, 200)
		if err != nil || len(batch) == 0 {
			return err
		}
		last = batch[len(batch)-1][0]
		recs := make([]map[string]any, len(batch))
		for i, rec := range batch {
			recs[i] = map[string]any{"attributes": map[string]string{"type": "Contact"}, "Tandem_Id__c": "hs-" + rec[0],
				"Email": rec[1], "FirstName": rec[2], "LastName": rec[3], "Phone": rec[4], "Lifecycle__c": r.canonMap[rec[5]]}
		}
		body, _ := json.Marshal(map[string]any{"allOrNone": false, "records": recs})
		resp, err := r.call(ctx, "PATCH", r.sfData+"/composite/sobjects/Contact/Tandem_Id__c", r.sfToken, "application/json", body)
		if err != nil {
			return err
		}
		var pairs [][2]string
		for i, res := range gjson.ParseBytes(resp).Array() { // in input order
			if !res.Get("success").Bool() {
				return fmt.Errorf("Salesforce refused %s: %s", batch[i][1], res.Get("errors").Raw)
			}
			pairs = append(pairs, [2]string{batch[i][0], res.Get("id").String()})
		}
		if err := r.link(ctx, "hubspot", pairs); err != nil {
			return err
		}
	}
}

func (r *baselineRun) pushToHubSpot(ctx context.Context) error {
	for last := ""; ; {
		batch, err := r.missing(ctx, "salesforce", "hubspot", last, 100)
		if err != nil || len(batch) == 0 {
			return err
		}
		last = batch[len(batch)-1][0]
		inputs := make([]map[string]any, len(batch))
		byEmail := map[string]string{}
		for i, rec := range batch {
			inputs[i] = map[string]any{"id": rec[1], "idProperty": "email", "properties": map[string]string{
				"email": rec[1], "firstname": rec[2], "lastname": rec[3], "phone": rec[4], "lifecyclestage": r.canonMap[rec[5]]}}
			byEmail[rec[1]] = rec[0]
		}
		body, _ := json.Marshal(map[string]any{"inputs": inputs})
		resp, err := r.call(ctx, "POST", r.p.HubSpotURL+"/crm/v3/objects/contacts/batch/upsert", "Bearer "+r.p.HubSpotToken, "application/json", body)
		if err != nil {
			return err
		}
		var pairs [][2]string
		for _, res := range gjson.GetBytes(resp, "results").Array() { // in any order: matched by email
			if sfID, ok := byEmail[strings.ToLower(res.Get("properties.email").String())]; ok {
				pairs = append(pairs, [2]string{sfID, res.Get("id").String()})
			}
		}
		if len(pairs) != len(batch) {
			return fmt.Errorf("HubSpot answered %d of %d upserts: %.300s", len(pairs), len(batch), resp)
		}
		if err := r.link(ctx, "salesforce", pairs); err != nil {
			return err
		}
	}
}
