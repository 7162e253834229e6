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

	"tandem"
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

// A canonical round trip: canonical values written to the system and read
// back (ReadBack); back is what reads back when it differs, and why says
// why. The other direction (system -> canonical -> system) is roundTrips.
type canonicalTrip struct {
	path   string // the entry
	values tandem.Values
	back   tandem.Values // nil: the values come back as they were
	why    string
}

var canonicalTrips = []canonicalTrip{
	{"s", tandem.Values{"s": "Ann"}, nil, ""},
	{"s", tandem.Values{"s": " Ann "}, nil, ""},
	{"s_trim", tandem.Values{"s_trim": "Ann"}, nil, ""},
	{"s_trim", tandem.Values{"s_trim": " Ann "}, tandem.Values{"s_trim": "Ann"}, "trimmed both ways"},
	{"s_lower", tandem.Values{"s_lower": "ann"}, nil, ""},
	{"s_lower", tandem.Values{"s_lower": "Ann"}, tandem.Values{"s_lower": "ann"}, "written as it is, read lower-cased"},
	{"s_upper", tandem.Values{"s_upper": "GB"}, nil, ""},
	{"s_upper", tandem.Values{"s_upper": "gb"}, tandem.Values{"s_upper": "GB"}, "written as it is, read upper-cased"},
	{"email", tandem.Values{"email": "ann@example.com"}, nil, ""},
	{"phone", tandem.Values{"phone": "+442079460958"}, nil, ""},
	{"phone_e164", tandem.Values{"phone_e164": "+442079460958"}, nil, ""},
	{"n", tandem.Values{"n": -0.125}, nil, ""},
	{"b", tandem.Values{"b": false}, nil, ""},
	{"d", tandem.Values{"d": "2024-01-05"}, nil, ""},
	{"d_ms", tandem.Values{"d_ms": "2024-01-05"}, nil, ""},
	{"d_fmt", tandem.Values{"d_fmt": "2024-01-05"}, nil, ""},
	{"dt", tandem.Values{"dt": "2024-01-05T10:00:00.123Z"}, nil, ""},
	{"dt_ms", tandem.Values{"dt_ms": "2024-01-05T10:00:00.123Z"}, nil, ""},
	{"dt_s", tandem.Values{"dt_s": "2024-01-05T10:00:00.000Z"}, nil, ""},
	{"dt_sf", tandem.Values{"dt_sf": "2024-01-05T10:00:00.000Z"}, nil, ""},
	{"enum", tandem.Values{"enum": "Customer"}, nil, ""},
	{"enum_map", tandem.Values{"enum_map": "Other"}, nil, ""},
	{"enum_default", tandem.Values{"enum_default": "Lead"}, nil, ""},
	{"enum_default", tandem.Values{"enum_default": "Other"}, nil, ""},
	{"s_pass", tandem.Values{"s_pass": "Partner"}, nil, ""},
	{"s_pass", tandem.Values{"s_pass": "Lead"}, nil, ""},
	{"s_default", tandem.Values{"s_default": "Ann"}, nil, ""},
	{"s_default", tandem.Values{"s_default": nil}, tandem.Values{"s_default": "Unknown"}, "an empty value is written as the default"},
	{"l", tandem.Values{"l": []any{"a", "b b"}}, nil, ""},
	{"l_join", tandem.Values{"l_join": []any{"a", "b b"}}, nil, ""},
	{"l_join", tandem.Values{"l_join": []any{"a;b", "c"}}, tandem.Values{"l_join": []any{"a", "b", "c"}}, "an item holding the separator splits"},
	{"name", tandem.Values{"first": "Ann", "last": "Marie Lee"}, nil, ""},
	{"name", tandem.Values{"first": "Ann Marie", "last": "Lee"}, tandem.Values{"first": "Ann", "last": "Marie Lee"}, "the split cannot know where the first name ends"},
}

// TestRoundTripCanonical writes canonical values out and reads them back:
// what a system shows after Tandem's write. Every entry has a case that
// comes back as it was, and the entries where some value does not are
// exactly those System.Lossy names (tandem doctor's warnings).
func TestRoundTripCanonical(t *testing.T) {
	s := roundTripSystem(t)
	lossless, lossy := map[string]bool{}, map[string]bool{}
	for _, c := range canonicalTrips {
		fields := make([]string, 0, len(c.values))
		for f := range c.values {
			fields = append(fields, f)
		}
		got, err := s.ReadBack(c.values, fields)
		if err != nil {
			t.Errorf("%s %v: %v", c.path, c.values, err)
			continue
		}
		want := c.values
		if c.back != nil {
			want = c.back
		}
		for f, w := range want {
			if !reflect.DeepEqual(got[f], w) {
				t.Errorf("%s %v: %s reads back as %#v, want %#v", c.path, c.values, f, got[f], w)
			}
		}
		switch {
		case c.back == nil && c.why != "", c.back != nil && c.why == "":
			t.Errorf("%s %v: a case that changes needs a why, and only that one", c.path, c.values)
		case c.back == nil:
			lossless[c.path] = true
		default:
			lossy[c.path] = true
		}
	}
	warned := map[string]bool{}
	for _, w := range s.Lossy() {
		warned[w[:strings.IndexByte(w, ' ')]] = true
	}
	for _, f := range s.Fields {
		if !lossless[f.Path] {
			t.Errorf("no canonical round trip of %s that comes back as it was", f.Path)
		}
		if lossy[f.Path] != warned[f.Path] {
			t.Errorf("%s: a lossy case is %v, but Lossy warns %v: %q", f.Path, lossy[f.Path], warned[f.Path], s.Lossy())
		}
	}
}

func TestLossyNamesTheTransform(t *testing.T) {
	s := roundTripSystem(t)
	got := strings.Join(s.Lossy(), "\n")
	for _, want := range []string{
		`s_lower (s_lower): transform lower: a value is written as it is ("Ann") and read back in lower case ("ann")`,
		`s_trim (s_trim): transform trim:`,
		`name (first, last): split/join: a part holding " " moves to the next field on the way back ("Ann Marie" + "Lee" is written as "Ann Marie Lee" and reads back as "Ann" + "Marie Lee")`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Lossy lacks %q:\n%s", want, got)
		}
	}
	// A map with a default over a string (not an enum it covers) loses the
	// values it does not list; a read-only system is never written.
	s = fieldSystem(t, "string", "{ path: v, map: { values: { lead: Lead }, default: Other, passthrough: true } }")
	if l := s.Lossy(); len(l) != 1 || !strings.Contains(l[0], "transform map: every value the table does not list reads back as its default Other") {
		t.Errorf("Lossy = %q", l)
	}
	s.ReadOnly = true
	if l := s.Lossy(); len(l) != 0 {
		t.Errorf("a read-only system: Lossy = %q", l)
	}
}

// In an entity, a trim, lower or upper that every system reading the field
// applies loses nothing: no canonical value can hold what it removes.
func TestEntityLossy(t *testing.T) {
	cfg := compile(t, `systems:
  a: { type: test }
  b: { type: test }
entities:
  contact:
    fields: { first: string, last: string, code: string }
    systems:
      a:
        object: x
        fields:
          first: { path: first, transform: trim }
          last: { path: last, transform: lower }
          code: { path: code, transform: upper }
      b:
        object: y
        fields:
          first: { path: first, transform: trim }
          last: last
          code: { path: code, transform: [trim, upper] }
`)
	e := cfg.Entities[0]
	got := e.Lossy(e.System("a"))
	if len(got) != 1 || !strings.HasPrefix(got[0], "last (last): transform lower:") {
		t.Errorf("entity Lossy(a) = %q, want the lower of last only", got)
	}
	if got := e.Lossy(e.System("b")); len(got) != 1 || !strings.HasPrefix(got[0], "code (code): transform trim:") {
		t.Errorf("entity Lossy(b) = %q, want the trim of code only", got)
	}
	if got := e.System("a").Lossy(); len(got) != 3 {
		t.Errorf("System.Lossy(a) = %q, want all three", got)
	}
}

// TestRoundTripCanonicalRandom writes records of random canonical values
// and reads them back: every entry Lossy does not name gives its values
// back; every entry it names settles after one trip (what reads back reads
// back as itself), so Tandem's write of it is echoed at most once.
func TestRoundTripCanonicalRandom(t *testing.T) {
	s := roundTripSystem(t)
	lossy := map[string]bool{}
	for _, w := range s.Lossy() {
		lossy[w[:strings.IndexByte(w, ' ')]] = true
	}
	const seed = 20261204
	r := rand.New(rand.NewPCG(seed, seed))
	minMs, maxMs := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()
	randMs := func() int64 { return minMs + r.Int64N(maxMs-minMs+1) }
	day := func() string { return time.UnixMilli(randMs()).UTC().Format(DateLayout) }
	instant := func() string { return time.UnixMilli(randMs()).UTC().Format(DateTimeLayout) }
	text := func() string { return randText(r, 0, false) }
	for i := range 500 {
		v := tandem.Values{
			"s": text(), "s_trim": text(), "s_lower": text(), "s_upper": text(),
			"email": strings.ToLower(randWord(r, "abcdefghijklmnopqrstuvwxyz0123456789.+_-") + "@" + randWord(r, "abcdefghijklmnopqrstuvwxyz0123456789.-")),
			"phone": "+4420794609" + fmt.Sprintf("%02d", r.IntN(100)),
			"n":     randNumber(r),
			"b":     r.IntN(2) == 1,
			"d":     day(), "d_ms": day(), "d_fmt": day(),
			"dt": instant(), "dt_ms": instant(), "dt_s": time.Unix(randMs()/1000, 0).UTC().Format(DateTimeLayout), "dt_sf": instant(),
			"enum":   []string{"Lead", "Customer", "Other"}[r.IntN(3)],
			"s_pass": text(), "s_default": text(),
			"l":      []any{text(), text()},
			"l_join": []any{text(), text()},
			"first":  text(), "last": text(),
		}
		v["phone_e164"] = v["phone"]
		v["enum_map"], v["enum_default"] = v["enum"], []string{"Lead", "Other"}[r.IntN(2)]
		fields := make([]string, 0, len(v))
		for f := range v {
			fields = append(fields, f)
		}
		once, err := s.ReadBack(v, fields)
		if err != nil {
			t.Fatalf("seed %d, record %d: %v\n%v", seed, i, err, v)
		}
		twice, err := s.ReadBack(once, fields)
		if err != nil {
			t.Fatalf("seed %d, record %d: reading back %v: %v", seed, i, once, err)
		}
		for _, f := range s.Fields {
			for _, n := range f.Names() {
				if !lossy[f.Path] && !reflect.DeepEqual(once[n], v[n]) {
					t.Errorf("seed %d, record %d: %s = %#v reads back as %#v, and Lossy does not warn of %s", seed, i, n, v[n], once[n], f.Path)
				}
				if !reflect.DeepEqual(twice[n], once[n]) {
					t.Errorf("seed %d, record %d: %s reads back as %#v, and that as %#v", seed, i, n, once[n], twice[n])
				}
			}
		}
	}
}
