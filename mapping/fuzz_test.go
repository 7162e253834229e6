package mapping

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"tandem"
)

// The fuzz targets map with the golden config (three systems: HubSpot,
// Salesforce and a nested legacy API, with queries, escaped keys, split
// fields, constants and exprs) and the round-trip config (every type,
// format and transform). Seeds: testdata/fuzz/Fuzz*/ and the f.Add calls.
// CI runs each briefly (see .ci/run):
//
//	go test ./mapping -run '^$' -fuzz '^FuzzIn$' -fuzztime 50000x
//	go test ./mapping -run '^$' -fuzz '^FuzzOut$' -fuzztime 50000x

func fuzzEntities(f *testing.F) []*Entity {
	return []*Entity{goldenEntity(f), compile(f, roundTripConfig).Entities[0]}
}

// FuzzIn: In never panics; what it finds is what gjson.Get finds; the
// values it returns are canonical, and Out of them never panics.
func FuzzIn(f *testing.F) {
	for _, s := range []string{
		benchContact,
		`{}`, `[]`, `null`, `"x"`, `{"properties":[{"email":"a@b"}]}`,
		`{"properties":{"email":"a@b"},"properties":{"phone":"+442079460958"}}`,
		`{"properties":{"email":{"a":1}},"properties":{"email":"a@b"}}`,
		`{"n":1e999}`, `{"dt_ms":8.64e15}`, `{"d_ms":-8.64e15}`, `{"dt_s":"8.64e12"}`, `{"d":"1e999"}`,
		`{"s":"\ud800","l":[[],{}],"name":" ","phone":"+1"}`,
		`{"contact":{"phones":[{"type":"work","number":1}]},"org\\.name":1,"org.name":2}`,
	} {
		f.Add([]byte(s))
	}
	entities := fuzzEntities(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, e := range entities {
			for _, s := range e.Systems {
				if gjson.ValidBytes(raw) {
					checkLookup(t, s, raw)
				}
				v, err := s.In(raw)
				if err != nil {
					continue
				}
				for name, x := range v {
					if err := checkCanonical(e.Types[name], x); err != "" {
						t.Errorf("%s: In gave %s = %#v: %s", s.Name, name, x, err)
					}
				}
				for _, to := range e.Systems {
					if !to.ReadOnly {
						checkOut(t, to, v, e.Fields)
					}
				}
			}
		}
	})
}

// FuzzOut: Out of any JSON object as canonical values never panics;
// values of the wrong type are errors; and what a write reads back
// (ReadBack) reads back as itself when written again, so a value Tandem
// writes settles after one write (no ping-pong through a lossy mapping).
func FuzzOut(f *testing.F) {
	for _, s := range []string{
		`{"email":"ann@example.com","first_name":"Ann","last_name":"Lee","phone":"+16502530000","lifecycle":"Customer","score":42.5,"opted_out":true,"birthday":"1990-04-01","last_contacted":"2024-03-01T09:30:00.123Z","tags":["vip","beta"],"source":"web"}`,
		`{"email":null,"first_name":null,"tags":null,"birthday":null}`,
		`{"score":"42","opted_out":"yes","birthday":"1990-13-01","last_contacted":"2024-03-01","tags":"vip"}`,
		`{"tags":[{"a":1},null,1.5,true,[]],"first_name":{"x":1},"last_name":[1],"lifecycle":"Nope"}`,
		`{"d":"9999-12-31","dt":"0000-01-01T00:00:00.000Z","dt_ms":"2024-01-05T10:00:00.000+01:00","enum_default":"Other"}`,
		`{"phone":"","phone_e164":"12","mobile":"+44 (0)20 7946 0958 ext. 12","s_default":null,"l_join":["a;b",""]}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	entities := fuzzEntities(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var v tandem.Values
		if json.Unmarshal(data, &v) != nil {
			return
		}
		for _, e := range entities {
			fields := slices.Clone(e.Fields)
			for k := range v {
				fields = append(fields, k) // fields the entity does not have
			}
			for _, s := range e.Systems {
				if !s.ReadOnly {
					checkOut(t, s, v, fields)
					checkReadBack(t, s, v, e.Fields)
				}
			}
		}
	})
}

// checkReadBack: canonical -> system -> canonical settles after one trip.
func checkReadBack(t *testing.T, s *System, v tandem.Values, fields []string) {
	t.Helper()
	once, err := s.ReadBack(v, fields)
	if err != nil {
		return
	}
	twice, err := s.ReadBack(once, fields)
	if err != nil {
		t.Errorf("%s: ReadBack(%v) = %v, which does not map out again: %v", s.Name, v, once, err)
		return
	}
	for f, x := range once {
		if !tandem.Equal(x, twice[f]) {
			t.Errorf("%s: %s reads back as %#v, and that as %#v", s.Name, f, x, twice[f])
		}
	}
}

// checkLookup checks the one-pass lookup of In against gjson.GetBytes,
// path by path.
func checkLookup(t *testing.T, s *System, raw []byte) {
	t.Helper()
	values, exists := s.lookup(string(raw))
	for i, f := range s.reads {
		want := gjson.GetBytes(raw, f.Path)
		if exists[i] != want.Exists() || exists[i] && !reflect.DeepEqual(values[i], want.Value()) {
			t.Errorf("%s: lookup(%s) = %#v (exists %v), gjson.Get = %#v (exists %v)", s.Name, f.Path, values[i], exists[i], want.Value(), want.Exists())
		}
	}
}

// checkOut maps values out: no panic, and a payload of valid JSON that
// sets only fields asked for.
func checkOut(t *testing.T, s *System, v tandem.Values, fields []string) {
	t.Helper()
	for _, create := range []bool{false, true} {
		payload, set, err := s.Out(v, fields, create)
		if err != nil {
			continue
		}
		if !json.Valid(payload) {
			t.Errorf("%s: Out(%v) = %q: not JSON", s.Name, v, payload)
		}
		for _, f := range set {
			if !slices.Contains(fields, f) {
				t.Errorf("%s: Out set %s, which was not asked for", s.Name, f)
			}
		}
	}
}

// checkCanonical says what is wrong with x as a canonical value of type
// t, or "".
func checkCanonical(t *Type, x any) string {
	if x == nil {
		return ""
	}
	switch t.Name {
	case "number":
		if f, ok := x.(float64); !ok || math.IsInf(f, 0) || math.IsNaN(f) {
			return "not a finite float64"
		}
	case "bool":
		if _, ok := x.(bool); !ok {
			return "not a bool"
		}
	case "list":
		items, ok := x.([]any)
		if !ok || len(items) == 0 {
			return "not a non-empty []any"
		}
		for _, it := range items {
			if s, ok := it.(string); !ok || s == "" {
				return "an item is not a non-empty string"
			}
		}
	default:
		s, ok := x.(string)
		if !ok || s == "" {
			return "not a non-empty string"
		}
		layout := map[string]string{"date": DateLayout, "datetime": DateTimeLayout}[t.Name]
		if _, err := time.Parse(layout, s); layout != "" && err != nil {
			return "not in the canonical layout"
		}
	}
	return ""
}
