package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// scenario runs one scenario once, on fresh emulators and a fresh state
// file, and returns its figures; a failure is in the result's error.
func (b *bench) scenario(ctx context.Context, name string) *result {
	r := newResult(name)
	start := time.Now()
	var err error
	switch name {
	case "baseline":
		err = b.baseline(ctx, r)
	case "initial":
		err = b.initial(ctx, r)
	case "noop":
		err = b.noop(ctx, r)
	case "changed10":
		err = b.changed10(ctx, r)
	case "webhook":
		err = b.webhook(ctx, r)
	case "ratelimited":
		err = b.ratelimited(ctx, r)
	}
	if err != nil {
		r.fail("%v", err)
	}
	if r.err != "" {
		b.progress("%s: FAILED: %s", name, r.err)
	} else {
		b.progress("%s: %.0f records in %.2f s (%.0f records/s), peak RSS %.0f MB; scenario took %v",
			name, r.get("records"), r.get("seconds"), r.get("records_per_s"), r.get("peak_rss_mb"), time.Since(start).Round(time.Second))
	}
	return r
}

// baseline is the yardstick: the minimal pipeline (baseline.go), in a
// child process, on the same data set as initial. records = N read.
func (b *bench) baseline(ctx context.Context, r *result) error {
	w, err := b.newWorld("baseline", b.records, plain)
	if err != nil {
		return err
	}
	defer w.close()
	params, _ := json.Marshal(baselineParams{HubSpotURL: w.hs.URL, HubSpotToken: hsToken,
		SalesforceURL: w.sf.URL, ClientID: sfClientID, ClientSecret: sfSecret, State: w.st})
	w.reset()
	c := b.runChild(ctx, []string{workerEnv + "=baseline", paramsEnv + "=" + string(params)}, b.self)
	if c.err != nil {
		return fmt.Errorf("baseline worker: %s", c.errText())
	}
	var got baselineCounts
	if err := json.Unmarshal([]byte(strings.TrimSpace(c.stdout)), &got); err != nil {
		return fmt.Errorf("baseline worker printed %q: %v", c.stdout, err)
	}
	r.throughput(got.Read, c.seconds, w.calls())
	r.set("peak_rss_mb", c.rssMB)
	r.set("writes", float64(w.written()))
	if got.Read != w.n {
		r.fail("the baseline read %d records, want %d", got.Read, w.n)
	}
	if msg := w.checkUnion(w.union); msg != "" {
		r.fail("after the baseline: %s", msg)
	}
	return nil
}

// initial is a two-way initial sync: one tandem sync of N records, N/2 in
// each system, N/5 of them the same people (by email). Afterwards both
// systems must hold the 0.8N people, once each. records = N read.
func (b *bench) initial(ctx context.Context, r *result) error {
	w, err := b.newWorld("initial", b.records, plain)
	if err != nil {
		return err
	}
	defer w.close()
	w.reset()
	c := b.tandemRun(ctx, w, "sync")
	if c.err != nil {
		return fmt.Errorf("tandem sync: %s", c.errText())
	}
	r.throughput(w.n, c.seconds, w.calls())
	r.set("peak_rss_mb", c.rssMB)
	r.set("writes", float64(w.written()))
	if msg := w.checkUnion(w.union); msg != "" {
		r.fail("after the sync: %s", msg)
	}
	return nil
}

// noop is a pass over every linked record with nothing changed: after an
// initial sync (not measured), tandem backfill --entity contact reads both
// systems in full and must write nothing. records = records read (both
// systems' contacts, 2 × 0.8N).
func (b *bench) noop(ctx context.Context, r *result) error {
	w, err := b.newWorld("noop", b.records, plain)
	if err != nil {
		return err
	}
	defer w.close()
	if err := b.sync(ctx, w, "noop"); err != nil {
		return err
	}
	hs, sf := w.contacts()
	w.reset()
	c := b.tandemRun(ctx, w, "backfill", "--entity", "contact")
	if c.err != nil {
		return fmt.Errorf("tandem backfill: %s", c.errText())
	}
	r.throughput(hs+sf, c.seconds, w.calls())
	r.set("peak_rss_mb", c.rssMB)
	r.set("writes", float64(w.written()))
	if n := w.hs.Writes() + w.sf.Writes(); n != 0 {
		r.fail("a pass with nothing changed sent %d write requests (HubSpot %d, Salesforce %d), want 0", n, w.hs.Writes(), w.sf.Writes())
	}
	return nil
}

// changed10 is one incremental sync after 10 % of the records were edited,
// half in each system: after an initial sync and a second one that reads
// its echoes (neither measured), N/20 HubSpot contacts and N/20 other
// people's Salesforce contacts get a new last name, as a user would edit
// them; then tandem sync, and every edit must be in the other system.
// records = the records edited (N/10).
func (b *bench) changed10(ctx context.Context, r *result) error {
	w, err := b.newWorld("changed10", b.records, plain)
	if err != nil {
		return err
	}
	defer w.close()
	if err := b.sync(ctx, w, "changed10 initial"); err != nil {
		return err
	}
	if err := b.sync(ctx, w, "changed10 settle"); err != nil {
		return err
	}
	hsIDs, sfIDs := w.idsByEmail()
	edits := max(2, w.n/10)
	inHS := edits / 2
	want := map[string]string{} // email -> last name, in the other system
	for i := 0; i < inHS; i++ { // people at the start: HubSpot's
		p := personOf(i)
		last := fmt.Sprintf("EditedInHubSpot%d", i)
		if err := w.hs.Update("contacts", hsIDs[p.email], map[string]any{"lastname": last}); err != nil {
			return fmt.Errorf("editing HubSpot: %w", err)
		}
		want[p.email] = last
	}
	for i := w.union - (edits - inHS); i < w.union; i++ { // people at the end: Salesforce's
		p := personOf(i)
		last := fmt.Sprintf("EditedInSalesforce%d", i)
		if err := w.sf.Update("Contact", sfIDs[p.email], map[string]any{"LastName": last}); err != nil {
			return fmt.Errorf("editing Salesforce: %w", err)
		}
		want[p.email] = last
	}
	w.reset()
	c := b.tandemRun(ctx, w, "sync")
	if c.err != nil {
		return fmt.Errorf("tandem sync: %s", c.errText())
	}
	r.throughput(edits, c.seconds, w.calls())
	r.set("peak_rss_mb", c.rssMB)
	r.set("writes", float64(w.written()))
	missed := 0
	for _, o := range w.hs.List("contacts") {
		if last, ok := want[o.Properties["email"]]; ok && o.Properties["lastname"] != last {
			missed++
		}
	}
	for _, rec := range w.sf.List("Contact") {
		e, _ := rec.Fields["Email"].(string)
		if last, ok := want[strings.ToLower(e)]; ok && rec.Fields["LastName"] != last {
			missed++
		}
	}
	if missed > 0 {
		r.fail("%d of %d edits did not reach the other system", missed, edits)
	}
	return nil
}

// idsByEmail maps the people's emails to their ids in each system.
func (w *world) idsByEmail() (hs, sf map[string]string) {
	hs, sf = map[string]string{}, map[string]string{}
	for _, o := range w.hs.List("contacts") {
		hs[strings.ToLower(o.Properties["email"])] = o.ID
	}
	for _, rec := range w.sf.List("Contact") {
		e, _ := rec.Fields["Email"].(string)
		sf[strings.ToLower(e)] = rec.ID
	}
	return hs, sf
}

// ratelimited is an initial sync of a smaller set (--ratelimited-records,
// default N/4, at least 2,000 and at most 20,000: the limits make it slow)
// against HubSpot's real limits (100 requests per rolling 10 s, 5
// searches per second) and Salesforce at sfRate requests a second, with a
// config that leaves the HubSpot connector its defaults.
//
// Its ceiling is the least time the limits allow for the calls the work
// needs — reading every record (HubSpot's list pages of 100, Salesforce's
// query batches of 2,000 and a token) and writing what is missing (HubSpot
// batches of 100, Salesforce collections of 200) — at each limit's
// sustained rate (calls × window / allowed), the longest of them; as in
// TestThroughputUnderRateLimits. A client may beat it by the first
// window's burst (the limits' windows start empty), so the least time with
// that burst is reported too (ceiling_burst_seconds); over a long sync the
// two meet.
func (b *bench) ratelimited(ctx context.Context, r *result) error {
	w, err := b.newWorld("ratelimited", b.rateRecords, limited)
	if err != nil {
		return err
	}
	defer w.close()
	w.reset()
	c := b.tandemRun(ctx, w, "sync")
	if c.err != nil {
		r.fail("tandem sync: %s", c.errText())
	}
	r.throughput(w.n, c.seconds, w.calls())
	r.set("peak_rss_mb", c.rssMB)
	r.set("writes", float64(w.written()))
	r.set("rate_limited", float64(w.hs.RateLimited()+w.sf.RateLimited()))
	r.set("failed_requests", float64(w.failedRequests()))
	hsHas, sfHas := w.hsEnd, w.union-w.sfStart
	lists := ceilDiv(hsHas, 100) // a full read lists, it does not search
	hsCalls := lists + ceilDiv(w.union-hsHas, 100)
	sfCalls := 1 + ceilDiv(sfHas, 2000) + ceilDiv(w.union-sfHas, 200)
	limits := []struct {
		calls, allowed int
		per            time.Duration
	}{{hsCalls, 100, 10 * time.Second}, {sfCalls, sfRate, time.Second}}
	var least, burst time.Duration
	for _, l := range limits {
		least = max(least, time.Duration(l.calls)*l.per/time.Duration(l.allowed))
		if l.calls > 0 {
			burst = max(burst, time.Duration((l.calls-1)/l.allowed)*l.per)
		}
	}
	b.progress("  ratelimited: the work needs %d HubSpot calls (%d pages of the list) and %d Salesforce calls: %v at the limits' sustained rates, %v with their first windows as a burst",
		hsCalls, lists, sfCalls, least, burst)
	r.set("ceiling_seconds", least.Seconds())
	r.set("ceiling_burst_seconds", burst.Seconds())
	r.set("ceiling_records_per_s", float64(w.n)/least.Seconds())
	if c.seconds > 0 {
		r.set("share_of_ceiling", least.Seconds()/c.seconds)
	}
	if c.err == nil {
		if msg := w.checkUnion(w.union); msg != "" {
			r.fail("after the sync: %s", msg)
		}
	}
	return nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
