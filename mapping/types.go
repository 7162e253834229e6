package mapping

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Canonical values are JSON values, so they survive the state file
// unchanged: string, email, phone, enum, date and datetime are strings,
// number is a float64, bool a bool and list a []any of strings. nil is an
// empty (cleared) field. A ref is a string too: the entity id of the
// record it points to (the engine translates it to and from each system's
// record id through links; at this level it is the value as read).
//
// TypeNames names the canonical types an entity's fields can have.
var TypeNames = []string{"string", "email", "phone", "number", "bool", "date", "datetime", "enum", "list", "ref"}

// Type is a canonical field's type: how a value read from a system is
// normalised, and how a canonical value is formatted for a system.
type Type struct {
	Name   string
	Region string   // phone: the region of numbers written without a country code (ISO 3166, "US")
	Values []string // enum: the allowed values
	// Entity is a ref's target entity (its name); Target is that entity,
	// set once the whole config is read.
	Entity string
	Target *Entity
	// Sensitive: the field's values are masked wherever Tandem shows them
	// to a person (conflicts and reports, plans, replays, dead letters);
	// its changes sync as any field's.
	Sensitive bool
}

// Layouts of dates and datetimes. Canonical dates are DateLayout; canonical
// datetimes are UTC with milliseconds, DateTimeLayout.
const (
	DateLayout     = "2006-01-02"
	DateTimeLayout = "2006-01-02T15:04:05.000Z07:00"
)

// datetimeLayouts are the ISO 8601 forms a datetime is read in: RFC 3339
// with or without fractions, Salesforce's "+0000" offsets, no zone (UTC),
// and a bare date (midnight UTC).
var datetimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999-0700",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	DateLayout,
}

// Named layouts a field's format can use besides a Go layout string.
const (
	EpochMillis  = "epoch_ms"
	EpochSeconds = "epoch_s"
)

// Canonical normalises a value given by a person (tandem resolve --value)
// into the type's canonical form, as if a system had held it.
func (t *Type) Canonical(v any) (any, error) { return t.in(v, "") }

// in normalises a value read from a system into its canonical form.
// layout, if set, is the system's layout of a date or datetime.
func (t *Type) in(v any, layout string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok && s == "" {
		return nil, nil
	}
	switch t.Name {
	case "string", "ref":
		return scalarText(v)
	case "email":
		s, err := scalarText(v)
		if err != nil {
			return nil, err
		}
		return normEmail(s.(string))
	case "phone":
		s, err := scalarText(v)
		if err != nil {
			return nil, err
		}
		return e164(s.(string), t.Region)
	case "enum":
		s, err := scalarText(v)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(t.Values, s.(string)) {
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(t.Values, ", "))
		}
		return s, nil
	case "number":
		return toNumber(v)
	case "bool":
		return toBool(v)
	case "date":
		tm, err := toTime(v, layout)
		if err != nil {
			return nil, err
		}
		return tm.UTC().Format(DateLayout), nil
	case "datetime":
		tm, err := toTime(v, layout)
		if err != nil {
			return nil, err
		}
		return formatDateTime(tm), nil
	case "list":
		return toList(v)
	}
	return nil, fmt.Errorf("unknown type %q", t.Name)
}

// out formats a canonical value for a system. layout, if set, is the
// system's layout of a date or datetime.
func (t *Type) out(v any, layout string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t.Name {
	case "date", "datetime":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("canonical %s is %T, want a string", t.Name, v)
		}
		canon := DateTimeLayout
		if t.Name == "date" {
			canon = DateLayout
		}
		tm, err := time.Parse(canon, s)
		if err != nil {
			return nil, fmt.Errorf("canonical %s %q: %w", t.Name, s, err)
		}
		switch layout {
		case "":
			return s, nil
		case EpochMillis:
			return float64(tm.UnixMilli()), nil
		case EpochSeconds:
			return float64(tm.Unix()), nil
		}
		return tm.Format(layout), nil
	case "number":
		if _, ok := v.(float64); !ok {
			return nil, fmt.Errorf("canonical number is %T", v)
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			return nil, fmt.Errorf("canonical bool is %T", v)
		}
	case "list":
		if _, ok := v.([]any); !ok {
			return nil, fmt.Errorf("canonical list is %T", v)
		}
	default:
		if _, ok := v.(string); !ok {
			return nil, fmt.Errorf("canonical %s is %T, want a string", t.Name, v)
		}
	}
	return v, nil
}

// formatDateTime is tm.UTC().Format(DateTimeLayout) at a third of the
// cost: Go formats RFC 3339 without parsing the layout, and the
// milliseconds go in before the Z. tm's year has four digits (toTime).
func formatDateTime(tm time.Time) string {
	var buf [len("2006-01-02T15:04:05.000Z")]byte
	b := tm.UTC().AppendFormat(buf[:0], time.RFC3339) // 2006-01-02T15:04:05Z
	ms := tm.Nanosecond() / 1e6
	b = append(b[:len(b)-1], '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
	return string(b)
}

// scalarText is a scalar's text: a string as it is, a number or boolean as
// JSON writes it.
func scalarText(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return v, nil // v as it is: boxing x again would allocate
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return nil, fmt.Errorf("want a single value, got %s", kindOf(v))
}

func kindOf(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

func normEmail(s string) (any, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return nil, nil
	}
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.Count(s, "@") != 1 || strings.ContainsAny(s, " \t\r\n<>,;") {
		return nil, fmt.Errorf("%q is not an email address", s)
	}
	return s, nil
}

// e164 parses a phone number, in international form or national to
// region, and writes it in E.164.
func e164(s, region string) (any, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	key := phoneKey{s, region}
	phones.RLock()
	r, ok := phones.m[key]
	phones.RUnlock()
	if !ok {
		r.v, r.err = parseE164(s, region)
		key.s = strings.Clone(s) // s may point into a whole payload
		phones.Lock()
		if len(phones.m)+2 > phoneCacheSize { // room for two entries
			clear(phones.m)
		}
		phones.m[key] = r
		if out, ok := r.v.(string); ok && out != s {
			// E.164 parses to itself: the phone type after an e164
			// transform, or the next read, finds it without parsing.
			phones.m[phoneKey{out, region}] = r
		}
		phones.Unlock()
	}
	return r.v, r.err
}

// phones caches e164: phonenumbers.Parse costs some 20µs (it runs
// regular expressions), more than all the rest of a contact's mapping,
// and the same numbers come back on every pass over the same records (a
// phone field with the e164 transform parses each number twice, too).
// The cache is bounded: when full it is emptied.
var phones = struct {
	sync.RWMutex
	m map[phoneKey]phoneResult
}{m: map[phoneKey]phoneResult{}}

const phoneCacheSize = 10_000

type phoneKey struct{ s, region string }

type phoneResult struct {
	v   any
	err error
}

func parseE164(s, region string) (any, error) {
	if region == "" && !strings.HasPrefix(s, "+") && !strings.HasPrefix(s, "00") {
		return nil, fmt.Errorf("phone %q has no country code and no region is configured", s)
	}
	n, err := phonenumbers.Parse(s, strings.ToUpper(region))
	if err != nil {
		return nil, fmt.Errorf("phone %q: %v", s, err)
	}
	if !phonenumbers.IsPossibleNumber(n) {
		return nil, fmt.Errorf("phone %q is not a possible number", s)
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

func toNumber(v any) (any, error) {
	switch x := v.(type) {
	case float64:
		if math.IsInf(x, 0) { // JSON's 1e999: no JSON can carry it back
			return nil, fmt.Errorf("%v is out of range for a number", x)
		}
		return x, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("%q is not a number", x)
		}
		return f, nil
	}
	return nil, fmt.Errorf("want a number, got %s", kindOf(v))
}

func toBool(v any) (any, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case float64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "yes", "1", "on":
			return true, nil
		case "false", "no", "0", "off":
			return false, nil
		}
	}
	return nil, fmt.Errorf("%s is not a boolean", short(v))
}

// toTime reads a date or datetime: with layout set, in that layout;
// otherwise ISO 8601 or epoch milliseconds (HubSpot sends both). Its UTC
// year has four digits, or the canonical layouts could not be read back.
func toTime(v any, layout string) (time.Time, error) {
	tm, err := parseTime(v, layout)
	if y := tm.UTC().Year(); err == nil && (y < 0 || y > 9999) {
		return time.Time{}, fmt.Errorf("%s is out of range (years 0000 to 9999)", short(v))
	}
	return tm, err
}

func parseTime(v any, layout string) (time.Time, error) {
	var ms float64
	switch x := v.(type) {
	case float64:
		ms = x
	case string:
		x = strings.TrimSpace(x)
		if layout != "" && layout != EpochMillis && layout != EpochSeconds {
			tm, err := time.Parse(layout, x)
			if err != nil {
				return time.Time{}, fmt.Errorf("%q does not match the format %q", x, layout)
			}
			return tm, nil
		}
		f, err := 0.0, errNotNumber
		if !strings.Contains(x, ":") { // a time, never a number: skip the failing parse
			f, err = strconv.ParseFloat(x, 64)
		}
		if err != nil {
			if layout != "" {
				return time.Time{}, fmt.Errorf("%q is not %s", x, layout)
			}
			for _, l := range datetimeLayouts {
				if tm, err := time.Parse(l, x); err == nil {
					return tm, nil
				}
			}
			return time.Time{}, fmt.Errorf("%q is not an ISO 8601 date or time, nor epoch milliseconds", x)
		}
		ms = f
	default:
		return time.Time{}, fmt.Errorf("want a date or time, got %s", kindOf(v))
	}
	if layout == EpochSeconds {
		ms *= 1000
	}
	if math.IsNaN(ms) || math.Abs(ms) > 8.64e15 { // the range of ECMAScript dates
		return time.Time{}, fmt.Errorf("%v is out of range for epoch milliseconds", ms)
	}
	return time.UnixMilli(int64(ms)).UTC(), nil
}

var errNotNumber = errors.New("not a number")

func toList(v any) (any, error) {
	items, ok := v.([]any)
	if !ok {
		if _, isStr := v.(string); isStr {
			return nil, fmt.Errorf("want a list, got a string (add split to read a delimited string as a list)")
		}
		return nil, fmt.Errorf("want a list, got %s", kindOf(v))
	}
	out := make([]any, 0, len(items))
	for _, it := range items {
		if it == nil {
			continue
		}
		s, err := scalarText(it)
		if err != nil {
			return nil, fmt.Errorf("list item: %w", err)
		}
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func short(v any) string {
	s := fmt.Sprintf("%#v", v)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
