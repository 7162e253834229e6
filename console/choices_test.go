package console

import (
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"tandem"
	"tandem/conflict"
	"tandem/conflict/report"
)

// TestChoices: each kind of open conflict offers what tandem resolve
// takes for it; a decided one offers nothing.
func TestChoices(t *testing.T) {
	two := func(a, b any) map[string]tandem.SideValue {
		return map[string]tandem.SideValue{"hubspot": {Value: a}, "salesforce": {Value: b}}
	}
	open := tandem.ConflictOpen
	for _, c := range []struct {
		name     string
		c        tandem.Conflict
		take     []side
		value    bool
		identity bool
		note     bool
	}{
		{"field", tandem.Conflict{Kind: tandem.ConflictField, Field: "phone", Status: open, Values: two("1", "2")},
			[]side{{"hubspot", "Take hubspot"}, {"salesforce", "Take salesforce"}}, true, false, false},
		{"delete", tandem.Conflict{Kind: tandem.ConflictDelete, Status: open, Values: two(nil, map[string]any{"email": "a@b"})},
			[]side{{"hubspot", "Delete everywhere (as hubspot did)"}, {"salesforce", "Keep it (as salesforce has it)"}}, false, false, false},
		{"identity", tandem.Conflict{Kind: tandem.ConflictIdentity, Status: open, Values: two(map[string]any{}, map[string]any{})}, nil, false, true, false},
		{"unique key held", tandem.Conflict{Kind: tandem.ConflictIdentity, Field: "email", Status: open, Values: two("a", "b")}, nil, true, false, false},
		{"unreadable value", tandem.Conflict{Kind: tandem.ConflictValue, Field: "phone", Status: open, Values: two("x", nil)}, nil, false, false, true},
		{"decided", tandem.Conflict{Kind: tandem.ConflictField, Field: "phone", Status: tandem.ConflictResolved, Values: two("1", "2")}, nil, false, false, false},
	} {
		v := choicesOf(report.Card{}, c.c)
		if !reflect.DeepEqual(v.Take, c.take) || v.Value != c.value || v.Identity != c.identity || (v.Note != "") != c.note {
			t.Errorf("%s: %+v", c.name, v)
		}
	}
}

// TestDecision: a form is read as tandem resolve reads its flags.
func TestDecision(t *testing.T) {
	for _, c := range []struct {
		form url.Values
		want conflict.Decision
		err  string
	}{
		{url.Values{"action": {"take"}, "take": {"hubspot"}}, conflict.Decision{Take: "hubspot"}, ""},
		{url.Values{"action": {"take"}}, conflict.Decision{}, "no side chosen"},
		{url.Values{"action": {"value"}, "value": {"Ada Byron"}}, conflict.Decision{HasValue: true, Value: "Ada Byron"}, ""},
		{url.Values{"action": {"value"}, "value": {`"null"`}}, conflict.Decision{HasValue: true, Value: "null"}, ""},
		{url.Values{"action": {"value"}, "value": {"42"}}, conflict.Decision{HasValue: true, Value: float64(42)}, ""},
		{url.Values{"action": {"value"}, "value": {"null"}}, conflict.Decision{HasValue: true}, ""},
		{url.Values{"action": {"link"}, "to": {" e-1 "}}, conflict.Decision{Link: true, To: "e-1"}, ""},
		{url.Values{"action": {"link"}}, conflict.Decision{Link: true}, ""},
		{url.Values{"action": {"split"}}, conflict.Decision{Split: true}, ""},
		{url.Values{"action": {"merge"}}, conflict.Decision{}, `unknown action "merge"`},
	} {
		r := httptest.NewRequest("POST", "/conflicts/1/resolve", strings.NewReader(c.form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		d, err := decision(r)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: %v, want %q", c.form, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(d, c.want) {
			t.Errorf("%v: %+v %v, want %+v", c.form, d, err, c.want)
		}
	}
}
