package salesforcetest

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

func TestQueryPaging(t *testing.T) {
	c, clk := newClient(t, Options{BatchSize: 3})
	e := c.s.Emulator
	var want []string
	for i := 0; i < 8; i++ {
		want = append(want, mustCreate(t, e, "Contact", map[string]any{"LastName": fmt.Sprintf("L%d", i), "Email": fmt.Sprintf("p%d@example.com", i)}))
		clk.Add(time.Millisecond)
	}

	st, res := c.query("SELECT Id, LastName, SystemModstamp FROM Contact ORDER BY SystemModstamp, Id")
	var got []string
	batches := 0
	for {
		if st != 200 {
			t.Fatalf("batch %d: %d %s", batches, st, res.Raw)
		}
		batches++
		if res.Get("totalSize").Int() != 8 {
			t.Fatalf("totalSize = %s", res.Get("totalSize").Raw)
		}
		for _, r := range res.Get("records").Array() {
			got = append(got, r.Get("Id").String())
			if r.Get("attributes.type").String() != "Contact" || r.Get("attributes.url").String() != dataPrefix+"sobjects/Contact/"+r.Get("Id").String() {
				t.Fatalf("attributes: %s", r.Get("attributes").Raw)
			}
			if r.Get("Email").Exists() {
				t.Fatalf("unselected field returned: %s", r.Raw)
			}
		}
		next := res.Get("nextRecordsUrl")
		if res.Get("done").Bool() {
			if next.Exists() {
				t.Fatalf("done batch has nextRecordsUrl: %s", res.Raw)
			}
			break
		}
		if !strings.HasPrefix(next.String(), dataPrefix+"query/01g") {
			t.Fatalf("nextRecordsUrl = %q", next.String())
		}
		st, res, _ = c.do("GET", next.String(), nil)
	}
	if batches != 3 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%d batches, records %v, want 3 batches of %v", batches, got, want)
	}
}

func TestQueryResultSetFixedValuesLive(t *testing.T) {
	c, clk := newClient(t, Options{BatchSize: 2})
	e := c.s.Emulator
	var ids []string
	for i := 0; i < 4; i++ {
		ids = append(ids, mustCreate(t, e, "Contact", map[string]any{"LastName": fmt.Sprintf("L%d", i)}))
		clk.Add(time.Second)
	}
	_, first := c.query("SELECT Id, LastName, SystemModstamp FROM Contact ORDER BY SystemModstamp, Id")

	// While the client pages: a record of the second batch is edited, one
	// is added. The set and order stay; the edited values show.
	if err := e.Update("Contact", ids[3], map[string]any{"LastName": "Edited"}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, e, "Contact", map[string]any{"LastName": "Late"})

	_, second, _ := c.do("GET", first.Get("nextRecordsUrl").String(), nil)
	recs := second.Get("records").Array()
	if len(recs) != 2 || recs[0].Get("Id").String() != ids[2] || recs[1].Get("Id").String() != ids[3] {
		t.Fatalf("second batch: %s", second.Raw)
	}
	if recs[1].Get("LastName").String() != "Edited" || recs[1].Get("SystemModstamp").String() != formatTime(clk.Now().Truncate(time.Second)) {
		t.Fatalf("values not read at serve time: %s", recs[1].Raw)
	}
	if !second.Get("done").Bool() || second.Get("totalSize").Int() != 4 {
		t.Fatalf("second batch: %s", second.Raw)
	}
}

func TestQueryLocatorErrors(t *testing.T) {
	c, clk := newClient(t, Options{BatchSize: 1})
	mustCreate(t, c.s.Emulator, "Contact", map[string]any{"LastName": "A"})
	mustCreate(t, c.s.Emulator, "Contact", map[string]any{"LastName": "B"})
	_, res := c.query("SELECT Id FROM Contact")
	next := res.Get("nextRecordsUrl").String()

	for _, bad := range []string{dataPrefix + "query/01g5g0000000999AAA-1", strings.TrimSuffix(next, "1") + "9", strings.TrimSuffix(next, "-1") + "-x"} {
		st, res, _ := c.do("GET", bad, nil)
		if st != 400 || errorCode(res) != "INVALID_QUERY_LOCATOR" {
			t.Errorf("%s: %d %s", bad, st, res.Raw)
		}
	}
	clk.Add(14 * time.Minute)
	if st, _, _ := c.do("GET", next, nil); st != 200 {
		t.Fatalf("locator used within 15 minutes: %d", st)
	}
	// Each use restarts the idle clock; 15 idle minutes end it.
	clk.Add(14 * time.Minute)
	if st, _, _ := c.do("GET", next, nil); st != 200 {
		t.Fatalf("locator used again within 15 minutes of its last use: %d", st)
	}
	clk.Add(15 * time.Minute)
	if st, res, _ := c.do("GET", next, nil); st != 400 || errorCode(res) != "INVALID_QUERY_LOCATOR" {
		t.Fatalf("idle locator: %d %s", st, res.Raw)
	}
}

func TestQueryFiltersAndFormats(t *testing.T) {
	c, clk := newClient(t, Options{})
	e := c.s.Emulator
	t0 := clk.Now().Truncate(time.Second)
	a := mustCreate(t, e, "Account", map[string]any{"Name": "Acme", "NumberOfEmployees": 50, "AnnualRevenue": 1.5e6})
	clk.Add(1500 * time.Millisecond)
	x := mustCreate(t, e, "Contact", map[string]any{"LastName": "X", "Email": "X@Example.com", "AccountId": a, "Tandem_Id__c": "Ent-1"})
	clk.Add(time.Second)
	y := mustCreate(t, e, "Contact", map[string]any{"LastName": "Y", "Tandem_Id__c": "ent-1"})
	clk.Add(time.Second)
	z := mustCreate(t, e, "Contact", map[string]any{"LastName": "Z"})
	if err := e.Delete("Contact", z); err != nil {
		t.Fatal(err)
	}
	tx := t0.Add(1500 * time.Millisecond)

	tests := []struct {
		where string
		want  []string
	}{
		{"", []string{x, y}},
		{"WHERE SystemModstamp > " + tx.Format("2006-01-02T15:04:05Z"), []string{y}}, // stamps are whole seconds: x is 09:30:01.000
		// SOQL compares datetimes to the second: a literal's fraction is dropped.
		{"WHERE SystemModstamp >= " + tx.Format("2006-01-02T15:04:05.000Z07:00"), []string{x, y}},
		{"WHERE SystemModstamp > " + tx.Format("2006-01-02T15:04:05.000Z07:00"), []string{y}},
		{"WHERE SystemModstamp = " + tx.In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05.000-07:00"), []string{x}},
		{"WHERE CreatedDate < " + tx.Add(time.Second).Format(time.RFC3339), []string{x}},
		{"WHERE Email = 'x@example.COM'", []string{x}},  // SOQL text equality ignores case
		{"WHERE Email != 'x@example.com'", []string{y}}, // and != includes nulls
		{"WHERE Email = null", []string{y}},
		{"WHERE Tandem_Id__c = 'ent-1'", []string{y}}, // a case-sensitive field does not
		{"WHERE Tandem_Id__c IN ('Ent-1', 'ent-1') AND LastName = 'x'", []string{x}},
		{"WHERE AccountId = '" + a[:15] + "'", []string{x}},
		{"WHERE Id NOT IN ('" + strings.ToLower(x) + "')", []string{y}},
		{"ORDER BY LastName DESC", []string{y, x}},
		{"ORDER BY Id LIMIT 1", []string{x}},
	}
	for _, tt := range tests {
		st, res := c.query("SELECT Id FROM Contact " + tt.where)
		var got []string
		for _, r := range res.Get("records").Array() {
			got = append(got, r.Get("Id").String())
		}
		if st != 200 || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: %d %v, want %v (%s)", tt.where, st, got, tt.want, res.Raw)
		}
	}

	_, res := c.query("SELECT Id, Name, NumberOfEmployees, AnnualRevenue, Website, CreatedDate, IsDeleted FROM Account")
	r := res.Get("records.0")
	if r.Get("NumberOfEmployees").Raw != "50" || r.Get("AnnualRevenue").Float() != 1.5e6 || r.Get("Website").Type != gjson.Null || r.Get("IsDeleted").Raw != "false" {
		t.Errorf("values: %s", r.Raw)
	}
	if got := r.Get("CreatedDate").String(); got != t0.Format("2006-01-02T15:04:05.000")+"+0000" {
		t.Errorf("CreatedDate = %q", got)
	}
	// Keys come in the order selected, after attributes.
	if !strings.HasPrefix(r.Raw, `{"attributes":`) || strings.Index(r.Raw, `"Name"`) > strings.Index(r.Raw, `"NumberOfEmployees"`) {
		t.Errorf("key order: %s", r.Raw)
	}
}

func TestQueryAllSeesDeleted(t *testing.T) {
	c, _ := newClient(t, Options{})
	e := c.s.Emulator
	keep := mustCreate(t, e, "Contact", map[string]any{"LastName": "Keep"})
	gone := mustCreate(t, e, "Contact", map[string]any{"LastName": "Gone"})
	if err := e.Delete("Contact", gone); err != nil {
		t.Fatal(err)
	}
	_, res := c.query("SELECT Id, IsDeleted FROM Contact")
	if res.Get("totalSize").Int() != 1 || res.Get("records.0.Id").String() != keep {
		t.Fatalf("query returned deleted records: %s", res.Raw)
	}
	_, res, _ = c.do("GET", dataPrefix+"queryAll?q="+url.QueryEscape("SELECT Id, IsDeleted FROM Contact ORDER BY Id"), nil)
	if res.Get("totalSize").Int() != 2 || res.Get("records.1.Id").String() != gone || !res.Get("records.1.IsDeleted").Bool() {
		t.Fatalf("queryAll: %s", res.Raw)
	}
	_, res, _ = c.do("GET", dataPrefix+"queryAll?q="+url.QueryEscape("SELECT Id FROM Contact WHERE IsDeleted = true"), nil)
	if res.Get("totalSize").Int() != 1 || res.Get("records.0.Id").String() != gone {
		t.Fatalf("queryAll IsDeleted = true: %s", res.Raw)
	}
}

func TestQueryErrorsOverHTTP(t *testing.T) {
	c, _ := newClient(t, Options{})
	tests := []struct{ q, code string }{
		{"", "MALFORMED_QUERY"},
		{"SELECT Id FROM Contact WHERE", "MALFORMED_QUERY"},
		{"SELECT Foo FROM Contact", "INVALID_FIELD"},
		{"SELECT Id FROM Foo", "INVALID_TYPE"},
	}
	for _, tt := range tests {
		st, res := c.query(tt.q)
		if st != 400 || errorCode(res) != tt.code || res.Get("0.message").String() == "" {
			t.Errorf("%q: %d %s, want 400 %s", tt.q, st, res.Raw, tt.code)
		}
	}
}

func TestBatchSizeHeader(t *testing.T) {
	c, _ := newClient(t, Options{})
	for i := 0; i < 450; i++ {
		mustCreate(t, c.s.Emulator, "Contact", map[string]any{"LastName": "L"})
	}
	c.hdr.Set("Sforce-Query-Options", "batchSize=100") // below Salesforce's minimum of 200
	_, res := c.query("SELECT Id FROM Contact")
	if n := len(res.Get("records").Array()); n != 200 || !strings.HasSuffix(res.Get("nextRecordsUrl").String(), "-200") {
		t.Fatalf("batch of %d, next %q; want 200", n, res.Get("nextRecordsUrl").String())
	}
}
