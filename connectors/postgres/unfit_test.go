package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"

	"tandem"
)

// A value that does not fit its column is named, with the column, in a
// *tandem.UnwritableError, so the engine holds that field alone: each
// class the connector checks before the statement, and the columns'
// values that do fit are not named.
func TestUnfitNamesTheColumn(t *testing.T) {
	dsn := newDB(t)
	pgtest := conn(t, dsn)
	if _, err := pgtest.Exec(context.Background(), `ALTER TABLE contacts ADD COLUMN region text NOT NULL DEFAULT 'eu'`); err != nil {
		t.Fatal(err)
	}
	c := openClient(t, dsn, Options{})
	for _, tc := range []struct{ payload, column, why string }{
		{`{"email":"` + strings.Repeat("x", 81) + `"}`, "email", "at most 80 characters, got 81"},
		{`{"score":99999999999}`, "score", "whole number"},
		{`{"score":-2147483649}`, "score", "whole number"},
		{`{"score":4.5}`, "score", "whole number"},
		{`{"amount":123456789.5}`, "amount", "at most 8 digits before the point"},
		{`{"amount":99999999.995}`, "amount", "at most 8 digits before the point"}, // rounds up to 100000000.00
		{`{"amount":"12,5"}`, "amount", "takes a number"},
		{`{"vip":"yes"}`, "vip", "true or false"},
		{`{"born":"10/12/1815"}`, "born", "a date like"},
		{`{"born":"2024-02-30"}`, "born", "a date like"},
		{`{"seen_at":"yesterday"}`, "seen_at", "a time like"},
		{`{"extra":{"a":"x\u0000y"}}`, "extra", "NUL"},
		{`{"last_name":"a\u0000b"}`, "last_name", "NUL"},
		{`{"tags":"one"}`, "tags", "takes a list"},
		{`{"tags":[1,{"a":2}]}`, "tags", "item 1"},
		{`{"region":null}`, "region", "NOT NULL"},
	} {
		payload := `{"last_name":"fine",` + tc.payload[1:]
		if strings.Contains(tc.payload, "last_name") {
			payload = tc.payload
		}
		rs := apply(t, c, create("k-"+tc.column, payload))
		var ue *tandem.UnwritableError
		if !errors.As(rs[0].Err, &ue) {
			t.Errorf("%s: got %v, want an UnwritableError", tc.payload, rs[0].Err)
			continue
		}
		if tandem.IsRetryable(rs[0].Err) {
			t.Errorf("%s: retryable", tc.payload)
		}
		if len(ue.Fields) != 1 || ue.Fields[0].Path != tc.column || !strings.Contains(ue.Fields[0].Reason, tc.why) ||
			!strings.Contains(ue.Fields[0].Reason, "column "+tc.column) {
			t.Errorf("%s: named %+v, want column %s: …%s…", tc.payload, ue.Fields, tc.column, tc.why)
		}
	}
	// Values that fit the edges are written.
	rs := apply(t, c, create("edges", `{"score":2147483647,"amount":99999999.994,"email":"`+strings.Repeat("é", 80)+`"}`))
	if rs[0].Err != nil {
		t.Errorf("values at the edges: %v", rs[0].Err)
	}
}

// Several values that do not fit are all named in one answer.
func TestUnfitNamesEveryColumn(t *testing.T) {
	dsn := newDB(t)
	c := openClient(t, dsn, Options{})
	rs := apply(t, c, create("k", `{"last_name":"fine","score":"many","vip":1}`))
	var ue *tandem.UnwritableError
	if !errors.As(rs[0].Err, &ue) || len(ue.Fields) != 2 {
		t.Fatalf("got %v, want score and vip named", rs[0].Err)
	}
	got := []string{ue.Fields[0].Path, ue.Fields[1].Path}
	if !(got[0] == "score" && got[1] == "vip" || got[0] == "vip" && got[1] == "score") {
		t.Errorf("named %v", got)
	}
	// A column the table lacks is the mapping's mistake, not a value's:
	// the write fails whole, as before.
	rs = apply(t, c, create("k2", `{"nosuch":1,"score":"many"}`))
	if errors.As(rs[0].Err, &ue) || rs[0].Err == nil {
		t.Errorf("a missing column: %v, want a plain permanent error", rs[0].Err)
	}
}

// A value fit does not check (a type it does not know, an array's item
// length, a float out of range) is refused by the server; its SQLSTATE
// says it is the value's fault, and the column is found by turning each
// value into its type alone. The batch's other writes are made.
func TestUnfitFromTheServer(t *testing.T) {
	dsn := newDB(t)
	if _, err := conn(t, dsn).Exec(context.Background(),
		`ALTER TABLE contacts ADD COLUMN ip inet, ADD COLUMN codes varchar(3)[], ADD COLUMN ratio real`); err != nil {
		t.Fatal(err)
	}
	c := openClient(t, dsn, Options{})
	for _, tc := range []struct{ payload, column, code string }{
		{`{"ip":"not-an-ip"}`, "ip", "inet"},
		{`{"codes":["ok","toolong"]}`, "codes", "too long"},
		{`{"ratio":1e39}`, "ratio", "out of range"},
	} {
		payload := `{"last_name":"fine",` + tc.payload[1:]
		rs := apply(t, c, create("ok-"+tc.column, `{"last_name":"good"}`), create("k-"+tc.column, payload))
		if rs[0].Err != nil {
			t.Errorf("%s: the good write failed with the bad one: %v", tc.payload, rs[0].Err)
		}
		var ue *tandem.UnwritableError
		if !errors.As(rs[1].Err, &ue) {
			t.Errorf("%s: got %v, want an UnwritableError", tc.payload, rs[1].Err)
			continue
		}
		if len(ue.Fields) != 1 || ue.Fields[0].Path != tc.column || !strings.Contains(ue.Fields[0].Reason, tc.code) {
			t.Errorf("%s: named %+v, want column %s (%s)", tc.payload, ue.Fields, tc.column, tc.code)
		}
		// Without the bad value the write goes.
		if rs := apply(t, c, create("k-"+tc.column, `{"last_name":"fine"}`)); rs[0].Err != nil {
			t.Errorf("%s: without it: %v", tc.payload, rs[0].Err)
		}
	}
}
