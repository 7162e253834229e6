package salesforcetest

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseSOQLValid(t *testing.T) {
	tests := []struct {
		name  string
		q     string
		check func(t *testing.T, q *soql)
	}{
		{"incremental", "SELECT Id, SystemModstamp, Email FROM Contact WHERE SystemModstamp > 2024-01-02T03:04:05Z ORDER BY SystemModstamp, Id LIMIT 10",
			func(t *testing.T, q *soql) {
				if len(q.fields) != 3 || q.object.name != "Contact" || q.limit != 10 {
					t.Fatalf("got %+v", q)
				}
				c := q.where[0]
				if c.op != ">" || c.vals[0].kind != litDateTime || !c.vals[0].t.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
					t.Fatalf("where = %+v", c)
				}
				if len(q.order) != 2 || q.order[0].field.name != "SystemModstamp" || q.order[1].field.name != "Id" {
					t.Fatalf("order = %+v", q.order)
				}
			}},
		{"keywords in any case, offsets and milliseconds", "select id from contact where SystemModstamp >= 2024-01-02T03:04:05.120+02:00 and LastModifiedDate <= 2024-01-02T03:04:05-05:30 order by Id desc nulls first",
			func(t *testing.T, q *soql) {
				if got := q.where[0].vals[0].t; !got.Equal(time.Date(2024, 1, 2, 1, 4, 5, 0, time.UTC)) { // compared to the second
					t.Fatalf("+02:00 literal = %v", got)
				}
				if got := q.where[1].vals[0].t; !got.Equal(time.Date(2024, 1, 2, 8, 34, 5, 0, time.UTC)) {
					t.Fatalf("-05:30 literal = %v", got)
				}
				if !q.order[0].desc || q.order[0].nullsLast {
					t.Fatalf("order = %+v", q.order[0])
				}
			}},
		{"string equality and IN with escapes", `SELECT Id FROM Contact WHERE Email = 'o\'brien@example.com' AND Tandem_Id__c IN ('a', 'b\\c') AND LastName != null`,
			func(t *testing.T, q *soql) {
				if q.where[0].vals[0].s != "o'brien@example.com" {
					t.Fatalf("escaped quote: %q", q.where[0].vals[0].s)
				}
				if q.where[1].op != "IN" || len(q.where[1].vals) != 2 || q.where[1].vals[1].s != `b\c` {
					t.Fatalf("IN = %+v", q.where[1])
				}
				if q.where[2].op != "!=" || q.where[2].vals[0].kind != litNull {
					t.Fatalf("!= null = %+v", q.where[2])
				}
			}},
		{"NOT IN, <>, numbers and booleans", "SELECT Id FROM Account WHERE Industry NOT IN ('Banking') AND NumberOfEmployees > -5 AND IsDeleted <> TRUE",
			func(t *testing.T, q *soql) {
				if q.where[0].op != "NOT IN" || q.where[1].vals[0].n != -5 || q.where[2].op != "!=" || !q.where[2].vals[0].b {
					t.Fatalf("where = %+v", q.where)
				}
			}},
		{"no ORDER BY", "SELECT Id FROM Contact", func(t *testing.T, q *soql) {
			if q.order != nil || q.limit != -1 {
				t.Fatalf("got %+v", q)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := parseSOQL(tt.q)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			tt.check(t, q)
		})
	}
}

func TestParseSOQLMalformed(t *testing.T) {
	tests := []struct {
		q       string
		column  int // where the caret points, 1-based
		message string
	}{
		{"", 1, "unexpected token: '<EOF>'"},
		{"SELECT FROM Contact", 8, "unexpected token: 'FROM'"},
		{"SELECT Id FROM", 15, "unexpected token: '<EOF>'"},
		{"SELECT Id, FROM Contact", 12, "unexpected token: 'FROM'"},
		{"SELECT Id Contact", 11, "expecting 'FROM'"},
		{"SELECT COUNT() FROM Contact", 13, "functions are not supported"},
		{"SELECT Id FROM Contact WHERE", 29, "unexpected token: '<EOF>'"},
		{"SELECT Id FROM Contact WHERE Email = 'a' OR Email = 'b'", 42, "unexpected token: 'OR'"},
		{"SELECT Id FROM Contact WHERE (Email = 'a')", 30, "unexpected token: '('"},
		{"SELECT Id FROM Contact WHERE Email LIKE 'a%'", 36, "expecting a comparison operator"},
		{"SELECT Id FROM Contact WHERE SystemModstamp > 2024-01-02T03:04:05", 47, "invalid datetime literal"},
		{"SELECT Id FROM Contact WHERE SystemModstamp > LAST_N_DAYS", 47, "unexpected token: 'LAST_N_DAYS'"},
		{"SELECT Id FROM Contact WHERE Email = 'abc", 38, "unterminated string literal"},
		{`SELECT Id FROM Contact WHERE Email = 'a\qb'`, 40, `Illegal character sequence '\q'`},
		{"SELECT Id FROM Contact WHERE Email IN 'a'", 39, "expecting '('"},
		{"SELECT Id FROM Contact WHERE Email IN ('a' 'b')", 44, "expecting ',' or ')'"},
		{"SELECT Id FROM Contact LIMIT x", 30, "LIMIT must be a non-negative integer"},
		{"SELECT Id FROM Contact LIMIT 5 OFFSET 5", 32, "unexpected token: 'OFFSET'"},
		{"SELECT Id FROM Contact ORDER BY Id NULLS MIDDLE", 42, "expecting FIRST or LAST"},
		{"SELECT Id FROM Contact WHERE Email = 'a'; DROP", 41, "no viable alternative at character ';'"},
	}
	for _, tt := range tests {
		_, err := parseSOQL(tt.q)
		if err == nil {
			t.Errorf("%q: parsed, want MALFORMED_QUERY", tt.q)
			continue
		}
		if err.Code != "MALFORMED_QUERY" || !strings.Contains(err.Message, tt.message) {
			t.Errorf("%q: got %s %q, want MALFORMED_QUERY containing %q", tt.q, err.Code, err.Message, tt.message)
		}
		if want := "ERROR at Row:1:Column:" + strconv.Itoa(tt.column) + "\n"; !strings.Contains(err.Message, want) {
			t.Errorf("%q: message %q does not point at column %d", tt.q, err.Message, tt.column)
		}
	}
}

func TestBindErrors(t *testing.T) {
	e := New(Options{})
	tests := []struct{ q, code, message string }{
		{"SELECT Id FROM Lead", "INVALID_TYPE", "sObject type 'Lead' is not supported."},
		{"SELECT Id, Foo FROM Contact", "INVALID_FIELD", "No such column 'Foo' on entity 'Contact'."},
		{"SELECT Id FROM Contact WHERE Bar = 'x'", "INVALID_FIELD", "No such column 'Bar'"},
		{"SELECT Id FROM Contact ORDER BY Baz", "INVALID_FIELD", "No such column 'Baz'"},
		{"SELECT Account.Name FROM Contact", "INVALID_FIELD", "Didn't understand relationship 'Account'"},
		{"SELECT Id, id FROM Contact", "MALFORMED_QUERY", "duplicate field selected: Id"},
		{"SELECT Id FROM Contact WHERE SystemModstamp > '2024-01-02T03:04:05Z'", "INVALID_FIELD", "must be of type dateTime and should not be enclosed in quotes"},
		{"SELECT Id FROM Contact WHERE CreatedDate > 2024-01-02", "INVALID_FIELD", "must be of type dateTime"},
		{"SELECT Id FROM Contact WHERE Email = 5", "INVALID_FIELD", "must be of type string and should be enclosed in quotes"},
		{"SELECT Id FROM Account WHERE NumberOfEmployees = '5'", "INVALID_FIELD", "must be of type number"},
		{"SELECT Id FROM Contact WHERE Id = 'nope'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: nope"},
		{"SELECT Id FROM Contact WHERE IsDeleted > false", "INVALID_QUERY_FILTER_OPERATOR", "invalid operator on boolean"},
	}
	for _, tt := range tests {
		q, perr := parseSOQL(tt.q)
		if perr != nil {
			t.Errorf("%q: parse: %v", tt.q, perr)
			continue
		}
		_, err := e.bind(q)
		if err == nil || err.Code != tt.code || !strings.Contains(err.Message, tt.message) {
			t.Errorf("%q: got %v, want %s containing %q", tt.q, err, tt.code, tt.message)
		}
	}
}
