package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"go.yaml.in/yaml/v3"

	"tandem"
	"tandem/connectors"
)

// The query and retrieve fuzz targets. Seeds: the f.Add calls; CI runs
// each for a bounded count (.ci/run).

// FuzzBatch: batch, over a query batch Salesforce never sent, from any
// cursor, never panics and fails only when there is no records array;
// what it and the tracker's close emit are the elements: a record with a
// Salesforce id, its own bytes and its LastModifiedDate as Modified, once;
// one set aside with its bytes and a reason; and the cursor after it is
// written and read back as itself, and the stamp never moves back.
func FuzzBatch(f *testing.F) {
	rec := func(id, stamp string) string {
		return `{"attributes":{"type":"Contact","url":"/services/data/v62.0/sobjects/Contact/` + id + `"},"Id":"` + id + `","SystemModstamp":"` + stamp + `","LastModifiedDate":"` + stamp + `","IsDeleted":false,"Email":"a@example.com"}`
	}
	mark := `{"mark":{"v":1,"stamp":"2024-05-06T07:08:09.000Z","seen":{"2024-05-06T07:08:09.000Z":["003000000000001AAA:` + connectors.Fingerprint([]byte(rec("003000000000001AAA", "2024-05-06T07:08:09.000+0000"))) + `"]}}}`
	for _, s := range []struct {
		body, start string
		ceiling     int64
	}{
		{`{"totalSize":2,"done":true,"records":[` + rec("003000000000001AAA", "2024-05-06T07:08:09.000+0000") + `,` + rec("003000000000002AAA", "2024-05-06T07:08:09.000+0000") + `]}`, "", 0},
		{`{"totalSize":2,"done":false,"nextRecordsUrl":"/services/data/v62.0/query/01gD0000002HU6KIAW-2000","records":[` + rec("003000000000001AAA", "2024-05-06T07:08:09.000+0000") + `,` + rec("003000000000002AAA", "2024-05-06T07:08:10.000+0000") + `]}`, mark, 1714979290},
		{`{"records":[{"Id":"003000000000003AAA","SystemModstamp":"2024-05-06T07:08:09.000+0000","LastModifiedDate":"yesterday"},{"Id":"bad","SystemModstamp":"2024-05-06T07:08:09.000+0000"},{"Id":"003000000000004AAA"},{"Id":null,"SystemModstamp":null},1,null,[]]}`, "", 1714979290},
		{`{"records":[` + rec("003000000000005AAA", "2024-05-06T07:08:09.000+0200") + `,` + rec("003000000000006", "2024-05-06T07:08:08.999+0000") + `]}`, `{"stamp":"2024-05-06T07:08:09.000+02:00"}`, 0},
		{`{"records":[` + rec("003000000000007AAA", "2024-05-06T07:08:11.000+0000") + `,` + rec("003000000000007AAA", "2024-05-06T07:08:11.000+0000") + `,` + rec("003000000000008AAA", "2024-05-06T07:08:10.000+0000") + `]}`, mark, 1714979290},
		{`{"records":{}}`, "", 0}, {`{}`, "", 0}, {`[]`, "", 0}, {`{"records":[]}`, mark, 0},
	} {
		f.Add([]byte(s.body), s.start, s.ceiling)
	}
	c := &Client{}
	win := connectors.Window{Overlap: 10 * time.Minute, Precision: stampPrecision}
	f.Fuzz(func(t *testing.T, body []byte, start string, ceilingUnix int64) {
		if !gjson.ValidBytes(body) {
			return // Pull refuses it before batch
		}
		from, err := decodeCursor(tandem.Cursor(start))
		if err != nil {
			return
		}
		var ceiling time.Time
		if ceilingUnix != 0 {
			ceiling = time.Unix(ceilingUnix%(1<<35), 0).UTC()
		}
		res := gjson.ParseBytes(body)
		tr := from.Mark.Track(win, ceiling)
		recs, rejected, err := c.batch(res, tr, newRejectMemo(from))
		if err != nil {
			if res.Get("records").IsArray() {
				t.Fatalf("error %v for a batch with a records array", err)
			}
			return
		}
		more, rj := split(tr.Close())
		recs, rejected = append(recs, more...), append(rejected, rj...)
		elements := map[string]int{}
		all := res.Get("records").Array()
		for _, r := range all {
			elements[r.Raw]++
		}
		if len(recs)+len(rejected) > len(all) {
			t.Fatalf("%d records and %d set aside from %d elements", len(recs), len(rejected), len(all))
		}
		for _, r := range recs {
			lmd, err := time.Parse(sfTime, gjson.GetBytes(r.Raw, "LastModifiedDate").Str)
			switch {
			case !idRE.MatchString(r.ID) || gjson.GetBytes(r.Raw, "Id").Str != r.ID:
				t.Fatalf("record %q: not a Salesforce id, or not its own: %s", r.ID, r.Raw)
			case elements[string(r.Raw)] == 0:
				t.Fatalf("record %s: Raw is not an element: %s", r.ID, r.Raw)
			case err != nil || !lmd.Equal(r.Modified):
				t.Fatalf("record %s: Modified %v, LastModifiedDate %s", r.ID, r.Modified, gjson.GetBytes(r.Raw, "LastModifiedDate").Raw)
			}
			elements[string(r.Raw)]--
			if elements[string(r.Raw)] < 0 {
				t.Fatalf("record %s emitted more often than it was read: %s", r.ID, r.Raw)
			}
		}
		for _, r := range rejected {
			if r.Reason == "" || elements[string(r.Raw)] == 0 {
				t.Fatalf("set aside %+v: no reason, or bytes that are not an element", r)
			}
		}
		// Written and read back, the cursor holds the same stamp and
		// versions (those of one stamp sorted, their order meaning
		// nothing), and from there on writes as itself.
		after := cursor{Mark: tr.Watermark()}
		back, err := decodeCursor(after.encode())
		if err == nil {
			var again cursor
			again, err = decodeCursor(back.encode())
			if err == nil && (again.encode() != back.encode() || !back.Mark.Stamp.Equal(after.Mark.Stamp) || len(back.Mark.Seen) != len(after.Mark.Seen)) {
				err = errors.New("not the same cursor")
			}
		}
		if err != nil {
			t.Fatalf("the cursor after the batch, %s, reads back as %+v (%v)", after.encode(), back, err)
		}
		if after.Mark.Stamp.Before(from.Mark.Stamp) {
			t.Fatalf("the stamp went back from %v to %v", from.Mark.Stamp, after.Mark.Stamp)
		}
	})
}

// FuzzRetrieve: Fetch over a retrieve answer Salesforce never sent never
// panics and fails with a *tandem.Error, or gives records that were asked
// for (a 15-character id answered by its 18-character form), once each,
// live, with a Salesforce id, their own bytes and their LastModifiedDate.
func FuzzRetrieve(f *testing.F) {
	el := func(id, lmd string) string {
		return `{"attributes":{"type":"Contact","url":"/services/data/v62.0/sobjects/Contact/` + id + `"},"Id":"` + id + `","SystemModstamp":"` + lmd + `","LastModifiedDate":"` + lmd + `","IsDeleted":false,"Email":"a@example.com"}`
	}
	const lmd = "2024-05-06T07:08:09.000+0000"
	for _, s := range []string{
		`[` + el("003000000000001AAA", lmd) + `,` + el("003000000000002AAA", lmd) + `,` + el("003000000000003AAA", lmd) + `]`,
		`[null,null,null]`,
		`[` + el("003000000000001AAA", lmd) + `,null,{"Id":"003000000000003AAA","LastModifiedDate":"2024-05-06T07:08:09Z"}]`,
		`[` + el("003000000000001AAA", lmd) + `,` + el("003000000000001AAA", lmd) + `,` + el("003000000000009AAA", lmd) + `]`,
		`[{"Id":5,"LastModifiedDate":"` + lmd + `"},{"Id":{"a":1},"LastModifiedDate":"` + lmd + `"},{"Id":"x","LastModifiedDate":"` + lmd + `"}]`,
		`[` + el("003000000000001AAA", lmd) + `,{"Id":"003000000000002AAA","LastModifiedDate":"` + lmd + `","IsDeleted":true},1]`,
		`[null,null]`, `[]`, `{}`, `null`, `[{"errorCode":"MALFORMED_ID","message":"bad id"}]`,
	} {
		f.Add([]byte(s), 200)
	}
	f.Add([]byte(`[{"errorCode":"MALFORMED_ID","message":"malformed id 003000000000002AAA"}]`), 400)
	f.Add([]byte(`[{"errorCode":"INVALID_ID_FIELD","message":"invalid"}]`), 400)
	f.Add([]byte(`<html>Service Unavailable</html>`), 503)

	c, answer := fuzzOrg(f, "/composite/sobjects/Contact")
	asked := []string{"003000000000001AAA", "003000000000002AAA", "003000000000003", "not an id", "003000000000001AAA"}
	f.Fuzz(func(t *testing.T, b []byte, code int) {
		if code < 200 || code > 599 || code == 401 || code == 429 || code >= 500 {
			code = 200 // 401 renews the session, 429 and 5xx are retried: other tests' business
		}
		answer(code, b)
		elements := map[string]bool{}
		for _, r := range gjson.ParseBytes(b).Array() {
			elements[r.Raw] = true
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		recs, err := c.Fetch(ctx, tandem.Query{Object: "Contact", Fields: []string{"Email"}}, asked)
		seen := map[string]bool{}
		if rej, ok := rejectedOf(err); ok {
			// Unreadable elements set aside by the id asked for, once each.
			for _, r := range rej {
				if !slices.Contains(asked, r.ID) || seen[r.ID[:15]] || r.Reason == "" || !elements[string(r.Raw)] {
					t.Fatalf("rejected %+v: not asked for, given twice, without a reason, or not an element", r)
				}
				seen[r.ID[:15]] = true
			}
			err = nil
		}
		var te *tandem.Error
		if err != nil && !errors.As(err, &te) {
			t.Fatalf("error %T %v: want a *tandem.Error", err, err)
		}
		for _, r := range recs {
			lmd, perr := time.Parse(sfTime, gjson.GetBytes(r.Raw, "LastModifiedDate").Str)
			switch {
			case !idRE.MatchString(r.ID) || gjson.GetBytes(r.Raw, "Id").Str != r.ID:
				t.Fatalf("record %q: not a Salesforce id, or not its own: %s", r.ID, r.Raw)
			case seen[r.ID[:15]]:
				t.Fatalf("record %s given twice", r.ID)
			case r.ID[:15] != "003000000000001" && r.ID[:15] != "003000000000002" && r.ID[:15] != "003000000000003":
				t.Fatalf("record %s was not asked for", r.ID)
			case r.Deleted || gjson.GetBytes(r.Raw, "IsDeleted").Bool():
				t.Fatalf("record %s is deleted", r.ID)
			case !json.Valid(r.Raw) || !elements[string(r.Raw)]:
				t.Fatalf("record %s: Raw is not an element: %s", r.ID, r.Raw)
			case perr != nil || !lmd.Equal(r.Modified):
				t.Fatalf("record %s: Modified %v, LastModifiedDate %s", r.ID, r.Modified, gjson.GetBytes(r.Raw, "LastModifiedDate").Raw)
			}
			seen[r.ID[:15]] = true
		}
	})
}

// fuzzOrg is a connector to an org that grants every session and answers
// every call to a path containing path with the status and body last
// given to answer.
func fuzzOrg(f *testing.F, path string) (*Client, func(status int, body []byte)) {
	var mu sync.Mutex
	var body []byte
	status := 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		if r.URL.Path == "/services/oauth2/token" {
			w.Write([]byte(`{"access_token":"00D!token","instance_url":"http://` + r.Host + `","token_type":"Bearer","issued_at":"1714979289000"}`))
			return
		}
		if !strings.Contains(r.URL.Path, path) {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	f.Cleanup(srv.Close)
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("type: salesforce\ninstance_url: "+srv.URL+"\nclient_id: id\nclient_secret: secret\ntimeout: 10s\n"), &doc); err != nil {
		f.Fatal(err)
	}
	conn, err := New(connectors.Config{Name: "sf", Type: "salesforce", File: "tandem.yaml", Node: doc.Content[0]})
	if err != nil {
		f.Fatal(err)
	}
	return conn.(*Client), func(s int, b []byte) {
		mu.Lock()
		defer mu.Unlock()
		status, body = s, b
	}
}
