package hubspot

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/time/rate"

	"tandem"
	"tandem/connectors"
)

// The webhook fuzz targets. Seeds: the f.Add calls below and
// testdata/fuzz/FuzzReceive/. CI runs each for a bounded count (.ci/run).

// fuzzNow is the receiver's clock in the fuzz targets: fixed, so that a
// failure replays exactly.
var fuzzNow = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// uriOracle decodes the twelve escapes HubSpot's v3 signature decodes,
// written apart from decodeURI so that the two check each other:
// strings.Replacer replaces in one left-to-right pass, as HubSpot does.
var uriOracle = func() *strings.Replacer {
	var pairs []string
	for _, e := range []struct{ esc, ch string }{
		{"3A", ":"}, {"2F", "/"}, {"3F", "?"}, {"40", "@"}, {"21", "!"}, {"24", "$"},
		{"27", "'"}, {"28", "("}, {"29", ")"}, {"2A", "*"}, {"2C", ","}, {"3B", ";"},
	} {
		pairs = append(pairs, "%"+e.esc, e.ch)
		if lower := strings.ToLower(e.esc); lower != e.esc {
			pairs = append(pairs, "%"+lower, e.ch)
		}
	}
	return strings.NewReplacer(pairs...)
}()

// FuzzReceive: Receive never panics; a delivery is accepted only when its
// signature is HubSpot's v3 signature of what was sent and its timestamp
// is digits within five minutes of now; a delivery signed so is never
// refused as forged or stale; the events of an accepted one name a
// record (digits) of an object Tandem maps, under an id made of ids, and a
// verified body that cannot be read is an error naming the webhook, not
// a rejection.
//
// mode picks how the delivery is made: bit 0 signs it correctly (else sig
// is sent as given), bit 1 stamps it now+skew (else ts is sent as
// given), bit 2 spells the header names in lower case, as a header map
// built by hand may.
func FuzzReceive(f *testing.F) {
	const uri = "https://sync.example.com/webhooks/hubspot?tenant=a1"
	for _, body := range []string{
		`[{"eventId":100,"subscriptionId":7,"portalId":62515,"appId":1,"occurredAt":1741064700000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":51,"changeFlag":"CREATED","changeSource":"CRM_UI"}]`,
		`[{"eventId":"101","subscriptionId":8,"portalId":62515,"occurredAt":1741064700001,"subscriptionType":"contact.propertyChange","propertyName":"email","propertyValue":"a@b.example","objectId":"52"}]`,
		`[{"eventId":102,"subscriptionId":9,"portalId":62515,"subscriptionType":"contact.deletion","objectId":53},{"eventId":103,"subscriptionType":"contact.privacyDeletion","objectId":54}]`,
		`[{"eventId":104,"subscriptionId":10,"portalId":62515,"subscriptionType":"contact.merge","objectId":55,"primaryObjectId":55,"mergedObjectIds":[56,57],"newObjectId":null}]`,
		`[{"eventId":105,"subscriptionType":"object.creation","objectTypeId":"0-2","objectId":58},{"eventId":106,"subscriptionType":"contact.associationChange","fromObjectId":1,"toObjectId":2}]`,
		`[{"eventId":107,"subscriptionType":"conversation.creation","objectId":59},{"eventId":108,"subscriptionType":"deal.restore","objectId":9223372036854775807}]`,
		`[]`, `{}`, `null`, `[1]`, `[{"eventId":-1,"subscriptionType":"contact.creation","objectId":1}]`,
		`[{"eventId":1.5,"subscriptionType":"contact.creation","objectId":1}]`,
		`[{"eventId":1,"subscriptionType":"contact.creation","objectId":9223372036854775808}]`,
		`[{"eventId":1,"subscriptionType":"contact.merge","objectId":1,"mergedObjectIds":"2"}]`,
		`[{"eventId":1,"subscriptionType":"contact.creation","objectId":1,"occurredAt":"soon"}]`,
		`[{"eventId":1,"portalId":"1-2","subscriptionId":3,"subscriptionType":"contact.creation","objectId":7},{"eventId":1,"portalId":1,"subscriptionId":"2-3","subscriptionType":"contact.deletion","objectId":8}]`,
		`[{"eventId":1,"portalId":{"a":1},"subscriptionId":null,"subscriptionType":"contact.creation","objectId":1}]`,
		"{'example_field':'example_value'}",
	} {
		f.Add(uint8(3), "POST", uri, []byte(body), "", "", int64(-2000))
	}
	// Forged, stale and oddly stamped deliveries of a real body.
	body := []byte(`[{"eventId":100,"subscriptionId":7,"portalId":62515,"subscriptionType":"contact.creation","objectId":51}]`)
	ms := strconv.FormatInt(fuzzNow.UnixMilli(), 10)
	f.Add(uint8(2), "POST", uri, body, "", "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=", int64(0))
	f.Add(uint8(1), "POST", uri, body, "+"+ms, "", int64(0))
	f.Add(uint8(1), "POST", uri, body, "0"+ms, "", int64(0))
	f.Add(uint8(1), "POST", uri, body, ms+" ", "", int64(0))
	f.Add(uint8(1), "POST", uri, body, "1741064700000", "", int64(0))
	f.Add(uint8(3), "POST", uri, body, "", "", int64(5*time.Minute/time.Millisecond+1))
	f.Add(uint8(3), "POST", uri, body, "", "", int64(-5*time.Minute/time.Millisecond))
	f.Add(uint8(7), "POST", "https://h.example/w?x=%3a%2F%253A%", body, "", "", int64(0))
	f.Add(uint8(3), "", "", body, "", "", int64(0))
	f.Add(uint8(0), "POST", uri, body, ms, "", int64(0))

	c := fuzzClient(f, "webhook_secret: "+testSecret+"\n")
	f.Fuzz(func(t *testing.T, mode uint8, method, uri string, body []byte, ts, sig string, skew int64) {
		if mode&2 != 0 {
			ts = strconv.FormatInt(fuzzNow.UnixMilli()+skew, 10)
		}
		correct := sign(testSecret, method, uriOracle.Replace(uri), string(body), ts)
		if mode&1 != 0 {
			sig = correct
		}
		sigName, tsName := "X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp"
		if mode&4 != 0 {
			sigName, tsName = strings.ToLower(sigName), strings.ToLower(tsName)
		}
		h := http.Header{}
		if sig != "" {
			h[sigName] = []string{sig}
		}
		if ts != "" {
			h[tsName] = []string{ts}
		}
		evs, err := c.Receive(method, uri, h, body, fuzzNow)
		reason := rejection(err)

		n, perr := strconv.ParseInt(ts, 10, 64)
		fresh := perr == nil && n > 0 && strings.Trim(ts, "0123456789") == "" &&
			fuzzNow.Sub(time.UnixMilli(n)).Abs() <= webhookWindow
		switch {
		case reason != "" && sig == correct && fresh:
			t.Fatalf("a delivery signed correctly and stamped %q was refused: %v", ts, err)
		case reason != "":
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), correct) {
				t.Fatalf("the rejection shows the secret or the signature expected: %v", err)
			}
			return
		case sig != correct:
			t.Fatalf("accepted a delivery whose signature %q is not %q (err %v)", sig, correct, err)
		case !fresh:
			t.Fatalf("accepted a delivery stamped %q, not epoch milliseconds within %v of %v", ts, webhookWindow, fuzzNow)
		}
		if err != nil {
			var te *tandem.Error
			if !errors.As(err, &te) || te.Op != "webhook" || te.System != c.name {
				t.Fatalf("a verified body that cannot be read gave %T %v, want a *tandem.Error of op webhook", err, err)
			}
			if evs != nil {
				t.Fatalf("events %v beside the error %v", evs, err)
			}
			return
		}
		objects := map[string]bool{}
		for _, o := range webhookObjects {
			objects[o] = true
		}
		for _, ev := range evs {
			// portal-subscription-event[-record], each a HubSpot id (or,
			// for portal and subscription, absent): so two events have
			// one id only when they are one event, sent twice.
			if m := eventIDForm.FindStringSubmatch(ev.ID); m == nil || m[1] != "" && m[1] != "-"+ev.RecordID {
				t.Fatalf("event id %q of record %s is not portal-subscription-event[-record] of ids", ev.ID, ev.RecordID)
			}
			if _, err := strconv.ParseUint(ev.RecordID, 10, 63); err != nil {
				t.Fatalf("event %+v: record id is not a HubSpot id", ev)
			}
			if !objects[ev.Object] {
				t.Fatalf("event %+v: object is not one Tandem maps", ev)
			}
			if !ev.At.IsZero() && ev.At.Location() != time.UTC {
				t.Fatalf("event %+v: time not in UTC", ev)
			}
		}
	})
}

var eventIDForm = regexp.MustCompile(`^[0-9]*-[0-9]*-[0-9]+(-[0-9]+)?$`)

// FuzzRateHeaders: rateHeaders never panics, and reads only what the
// headers say: counts never negative, a limit always with its window (and
// a positive one, at most a day), "not given" as -1 or 0, and a value
// that is not a count is not given.
func FuzzRateHeaders(f *testing.F) {
	for _, s := range [][7]string{
		{"100", "97", "10000", "250000", "249000", "", ""},
		{"190", "0", "10000", "", "", "", ""},
		{"", "", "", "", "", "10", "9"},
		{"", "", "", "500000", "-1", "", ""},
		{" 100 ", "+5", "1e4", "0", "18446744073709551616", "0", "x"},
		{"100", "", "0", "", "", "", ""},
		{"9223372036854775807", "1", "9223372036854775807", "", "", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5], s[6])
	}
	names := []string{"X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining", "X-HubSpot-RateLimit-Interval-Milliseconds",
		"X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Daily-Remaining", "X-HubSpot-RateLimit-Secondly", "X-HubSpot-RateLimit-Secondly-Remaining"}
	f.Fuzz(func(t *testing.T, max, remaining, interval, daily, dailyRemaining, secondly, secondlyRemaining string) {
		h := http.Header{}
		for i, v := range []string{max, remaining, interval, daily, dailyRemaining, secondly, secondlyRemaining} {
			if v != "" {
				h.Set(names[i], v)
			}
		}
		ri := rateHeaders(h)
		count := func(s string) (int, bool) {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			return n, err == nil && n >= 0
		}
		switch {
		case ri.Limit < 0 || ri.Window < 0 || ri.DailyLimit < 0:
			t.Fatalf("%+v: negative", ri)
		case ri.Remaining < -1 || ri.DailyRemaining < -1:
			t.Fatalf("%+v: a remainder below -1", ri)
		case (ri.Limit == 0) != (ri.Window == 0):
			t.Fatalf("%+v: a limit without its window, or the reverse", ri)
		case ri.Window > 24*time.Hour:
			t.Fatalf("%+v: a window past a day", ri)
		}
		if n, ok := count(dailyRemaining); ok != (ri.DailyRemaining >= 0) || ok && n != ri.DailyRemaining {
			t.Fatalf("Daily-Remaining %q read as %d", dailyRemaining, ri.DailyRemaining)
		}
		if n, ok := count(daily); (ok && n > 0) != (ri.DailyLimit > 0) || ri.DailyLimit > 0 && n != ri.DailyLimit {
			t.Fatalf("Daily %q read as %d", daily, ri.DailyLimit)
		}
		if ri.Limit > 0 {
			m, okM := count(max)
			ms, okMS := count(interval)
			s, okS := count(secondly)
			if !(okM && okMS && m == ri.Limit && time.Duration(ms)*time.Millisecond == ri.Window) &&
				!(okS && s == ri.Limit && ri.Window == time.Second) {
				t.Fatalf("%+v: a limit the headers %v do not give", ri, h)
			}
		}
	})
}

// fuzzClient is testClient for a fuzz target (testClient takes a
// *testing.T): a client with the tests' fast HTTP options, searches
// unpaced, and section's extra keys.
func fuzzClient(f *testing.F, extra string) *Client {
	f.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("type: hubspot\ntoken: test-token\n"+extra), &doc); err != nil {
		f.Fatal(err)
	}
	c, err := newClient(connectors.Config{Name: "hs", Type: "hubspot", File: "tandem.yaml", Node: doc.Content[0]}, connectorsTestHTTP)
	if err != nil {
		f.Fatal(err)
	}
	c.searchPace.SetLimit(rate.Inf)
	return c
}
