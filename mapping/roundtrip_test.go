package mapping

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// roundTripConfig maps every field both ways, one per type, format and
// transform; each field's path is its own name (name: the split/join entry).
const roundTripConfig = `systems:
  crm: { type: test }
entities:
  contact:
    phone_region: GB
    fields:
      s: string
      s_trim: string
      s_lower: string
      s_upper: string
      email: email
      phone: phone
      phone_e164: phone
      n: number
      b: bool
      d: date
      d_ms: date
      d_fmt: date
      dt: datetime
      dt_ms: datetime
      dt_s: datetime
      dt_sf: datetime
      enum: { type: enum, values: [Lead, Customer, Other] }
      enum_map: { type: enum, values: [Lead, Customer, Other] }
      enum_default: { type: enum, values: [Lead, Other] }
      s_pass: string
      s_default: string
      l: list
      l_join: list
      first: string
      last: string
    systems:
      crm:
        object: thing
        fields:
          s: s
          s_trim: { path: s_trim, transform: trim }
          s_lower: { path: s_lower, transform: lower }
          s_upper: { path: s_upper, transform: upper }
          email: email
          phone: phone
          phone_e164: { path: phone_e164, transform: e164 }
          n: n
          b: b
          d: d
          d_ms: { path: d_ms, format: epoch_ms }
          d_fmt: { path: d_fmt, format: 02/01/2006 }
          dt: dt
          dt_ms: { path: dt_ms, format: epoch_ms }
          dt_s: { path: dt_s, format: epoch_s }
          dt_sf: { path: dt_sf, format: "2006-01-02T15:04:05.000-0700" }
          enum: enum
          enum_map: { path: enum_map, map: { lead: Lead, customer: Customer, other: Other } }
          enum_default: { path: enum_default, map: { values: { lead: Lead }, default: Other, passthrough: true } }
          s_pass: { path: s_pass, map: { values: { lead: Lead }, passthrough: true } }
          s_default: { path: s_default, default: Unknown }
          l: l
          l_join: { path: l_join, split: ";", join: ";" }
          name: { path: name, fields: [first, last], split: " ", join: " " }
`

// A round-trip case: the system's value x at path; out(in(x)) must give x
// back, or why says why it cannot.
type roundTrip struct {
	path, x, why string
}

var roundTrips = []roundTrip{
	{"s", `"Ann"`, ""},
	{"s", `"  Ann  "`, ""},
	{"s", `"é \"quoted\" \\ \n\u0000"`, ""},
	{"s", `null`, ""},
	{"s", `42`, "a number read into a string field is written back as a string"},
	{"s", `true`, "a boolean read into a string field is written back as a string"},
	{"s", `""`, `"" and null are both empty, and empty is written as null`},
	{"s_trim", `"Ann"`, ""},
	{"s_trim", `" Ann "`, "trimmed"},
	{"s_lower", `"ann"`, ""},
	{"s_lower", `"ANN"`, "lower is not undone on the way out"},
	{"s_upper", `"GB"`, ""},
	{"s_upper", `"gb"`, "upper is not undone on the way out"},
	{"email", `"ann@example.com"`, ""},
	{"email", `" Ann@Example.COM"`, "normalised: trimmed and lower-cased"},
	{"phone", `"+442079460958"`, ""},
	{"phone", `"020 7946 0958"`, "normalised to E.164"},
	{"phone", `"+44 20 7946 0958 ext. 12"`, "E.164 has no extension: it is dropped"},
	{"phone_e164", `"+442079460958"`, ""},
	{"phone_e164", `"+44 (0)20 7946 0958"`, "normalised to E.164"},
	{"n", `42`, ""},
	{"n", `-0.125`, ""},
	{"n", `1e300`, ""},
	{"n", `"42"`, "a string number (HubSpot) is written back as a JSON number"},
	{"b", `true`, ""},
	{"b", `false`, ""},
	{"b", `"true"`, "a string boolean (HubSpot) is written back as a JSON boolean"},
	{"b", `1`, "1 and 0 are written back as JSON booleans"},
	{"d", `"2024-01-05"`, ""},
	{"d", `"2024-01-05T10:00:00Z"`, "a date keeps the UTC day only"},
	{"d", `1704412800000`, "without a format a date is written in ISO 8601"},
	{"d_ms", `1704412800000`, ""},
	{"d_ms", `"1704412800000"`, "a string epoch (HubSpot) is written back as a JSON number"},
	{"d_ms", `1704448800000`, "a date keeps the UTC day only: the time of day is dropped"},
	{"d_fmt", `"05/01/2024"`, ""},
	{"dt", `"2024-01-05T10:00:00.123Z"`, ""},
	{"dt", `"2024-01-05T10:00:00Z"`, "canonical datetimes carry milliseconds"},
	{"dt", `"2024-01-05T10:00:00.123456Z"`, "canonical datetimes stop at milliseconds"},
	{"dt", `"2024-01-05T10:00:00.000+0000"`, "without a format a datetime is written in UTC as Z"},
	{"dt_ms", `1704448800123`, ""},
	{"dt_s", `1704448800`, ""},
	{"dt_sf", `"2024-01-05T10:00:00.000+0000"`, ""},
	{"dt_sf", `"2024-01-05T11:00:00.000+0100"`, "converted to UTC"},
	{"enum", `"Customer"`, ""},
	{"enum_map", `"lead"`, ""},
	{"enum_map", `"other"`, ""},
	{"enum_default", `"lead"`, ""},
	{"enum_default", `"partner"`, "a map's default is lossy: every unmapped value reads as Other, and Other passes through"},
	{"s_pass", `"partner"`, ""},
	{"s_pass", `"lead"`, ""},
	{"s_default", `"Ann"`, ""},
	{"s_default", `null`, "default fills the empty value, both ways"},
	{"l", `["a","b b"]`, ""},
	{"l", `["a","",null]`, "empty items are dropped"},
	{"l", `[]`, "an empty list is empty, and empty is written as null"},
	{"l", `[1,"b"]`, "items are strings"},
	{"l_join", `"a;b b"`, ""},
	{"l_join", `"a; b"`, "items are trimmed"},
	{"l_join", `"a;;b"`, "empty items are dropped"},
	{"name", `"Ann Lee"`, ""},
	{"name", `"Ann Marie  Lee"`, ""},
	{"name", `"Ann"`, ""},
	{"name", `"Ann  Lee"`, "spaces around the parts are trimmed"},
}

func roundTripSystem(t testing.TB) *System {
	t.Helper()
	s := compile(t, roundTripConfig).Entities[0].System("crm")
	for _, f := range s.Fields {
		if f.Dir != Both {
			t.Fatalf("%s is mapped %s: the round trip covers fields mapped both ways", f.Path, f.Dir)
		}
	}
	return s
}

// roundTripOnce maps raw in and back out, and returns the payload.
func roundTripOnce(s *System, raw []byte) ([]byte, error) {
	v, err := s.In(raw)
	if err != nil {
		return nil, fmt.Errorf("in: %w", err)
	}
	fields := make([]string, 0, len(v))
	for f := range v {
		fields = append(fields, f)
	}
	payload, _, err := s.Out(v, fields, false)
	if err != nil {
		return nil, fmt.Errorf("out: %w", err)
	}
	return payload, nil
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

func TestRoundTrip(t *testing.T) {
	s := roundTripSystem(t)
	lossless := map[string]bool{}
	for _, c := range roundTrips {
		raw, err := sjson.SetRawBytes([]byte(`{}`), c.path, []byte(c.x))
		if err != nil {
			t.Fatal(err)
		}
		payload, err := roundTripOnce(s, raw)
		got := gjson.GetBytes(payload, c.path).Raw
		ok := err == nil && sameJSON(got, c.x)
		switch {
		case c.why == "" && !ok:
			t.Errorf("%s = %s: out(in(x)) = %s, %v", c.path, c.x, got, err)
		case c.why != "" && ok:
			t.Errorf("%s = %s round-trips, but the case says it cannot (%s)", c.path, c.x, c.why)
		case c.why == "":
			lossless[c.path] = true
		}
	}
	for _, f := range s.Fields {
		if !lossless[f.Path] {
			t.Errorf("no lossless round trip of %s", f.Path)
		}
	}
}

// TestRoundTripRandom maps records of random values of the lossless kinds
// in and out, and checks every path comes back as it was.
func TestRoundTripRandom(t *testing.T) {
	s := roundTripSystem(t)
	const seed = 20240105
	r := rand.New(rand.NewPCG(seed, seed))
	minMs, maxMs := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()
	randMs := func() int64 { return minMs + r.Int64N(maxMs-minMs+1) }
	randDay := func() time.Time { return time.UnixMilli(randMs()).UTC().Truncate(24 * time.Hour) }
	for i := range 500 {
		rec := map[string]any{
			"s":            randText(r, 0, false),
			"s_trim":       randText(r, 0, true),
			"s_lower":      strings.ToLower(randText(r, 0, false)),
			"email":        randWord(r, "abcdefghijklmnopqrstuvwxyz0123456789.+_-") + "@" + randWord(r, "abcdefghijklmnopqrstuvwxyz0123456789.-"),
			"n":            randNumber(r),
			"b":            r.IntN(2) == 1,
			"d":            randDay().Format(DateLayout),
			"d_ms":         randDay().UnixMilli(),
			"d_fmt":        randDay().Format("02/01/2006"),
			"dt":           time.UnixMilli(randMs()).UTC().Format(DateTimeLayout),
			"dt_ms":        randMs(),
			"dt_s":         randMs() / 1000,
			"dt_sf":        time.UnixMilli(randMs()).UTC().Format("2006-01-02T15:04:05.000-0700"),
			"enum":         []string{"Lead", "Customer", "Other"}[r.IntN(3)],
			"enum_map":     []string{"lead", "customer", "other"}[r.IntN(3)],
			"s_pass":       randText(r, 0, false),
			"s_default":    randText(r, 0, false),
			"l":            []string{randText(r, 0, false), randText(r, 0, false)},
			"l_join":       randText(r, ';', true) + ";" + randText(r, ';', true),
			"name":         randWord(r, "abcdefgh'-ÄÖ") + " " + randText(r, 0, true),
			"enum_default": "lead",
		}
		raw, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		payload, err := roundTripOnce(s, raw)
		if err != nil {
			t.Fatalf("seed %d, record %d: %v\n%s", seed, i, err, raw)
		}
		for path := range rec {
			want := gjson.GetBytes(raw, path).Raw
			if got := gjson.GetBytes(payload, path).Raw; !sameJSON(got, want) {
				t.Errorf("seed %d, record %d: %s = %s came back as %s", seed, i, path, want, got)
			}
		}
	}
}

// randText is a non-empty valid UTF-8 string of printable and other runes,
// without the rune not (if set); trimmed ones have no space at either end.
func randText(r *rand.Rand, not rune, trimmed bool) string {
	for {
		var b strings.Builder
		for range 1 + r.IntN(12) {
			var c rune
			switch r.IntN(4) {
			case 0:
				c = rune(' ' + r.IntN(95)) // ASCII
			case 1:
				c = []rune{' ', '\t', '\n', '"', '\\', '/', '\u00a0', '\u2028', 0}[r.IntN(9)]
			default:
				c = rune(r.IntN(0x10ffff))
			}
			if utf8.ValidRune(c) && c != not {
				b.WriteRune(c)
			}
		}
		s := b.String()
		if trimmed {
			s = strings.TrimFunc(s, unicode.IsSpace)
		}
		if s != "" {
			return s
		}
	}
}

func randWord(r *rand.Rand, alphabet string) string {
	letters := []rune(alphabet)
	var b strings.Builder
	for range 1 + r.IntN(10) {
		b.WriteRune(letters[r.IntN(len(letters))])
	}
	return b.String()
}

// randNumber is a finite float64: small integers, decimals, or any bits.
func randNumber(r *rand.Rand) float64 {
	switch r.IntN(3) {
	case 0:
		return float64(r.IntN(2000) - 1000)
	case 1:
		return r.NormFloat64() * 1e6
	}
	for {
		if f := math.Float64frombits(r.Uint64()); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
}
