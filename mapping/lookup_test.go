package mapping

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// lookupSystem reads each of paths into its own string field.
func lookupSystem(t *testing.T, paths ...string) *System {
	t.Helper()
	var fields, entries strings.Builder
	for i, p := range paths {
		fmt.Fprintf(&fields, "      f%d: string\n", i)
		fmt.Fprintf(&entries, "          f%d: { path: '%s', direction: in }\n", i, strings.ReplaceAll(p, "'", "''"))
	}
	return compile(t, `systems:
  crm: { type: test }
entities:
  contact:
    fields:
`+fields.String()+`    systems:
      crm:
        object: thing
        fields:
`+entries.String()).Entities[0].System("crm")
}

// The one-pass lookup finds what gjson.Get finds, path by path, in the
// corners: repeated keys, escaped dots and escaped JSON keys, arrays on
// the way, and payloads that are not objects.
func TestLookupMatchesGjson(t *testing.T) {
	s := lookupSystem(t,
		"a", "a.b", "a.b.c", "a.x", `k\.d`, "k.d", "arr.1", "arr.1.n", "arr.#.n", "arr.#(n==2).n", "e", "0", "0.a", "u\\ni",
	)
	if len(s.queries) != 2 {
		t.Fatalf("queries = %v, want the two # paths", s.queries)
	}
	for _, raw := range []string{
		`{"a":{"b":{"c":1}},"k.d":2,"k":{"d":3},"e":null}`,
		`{"a":1,"a":{"b":2}}`,                          // the first a has no b: gjson reads b from the second
		`{"a":{"x":1},"a":{"b":{"c":2}},"a":{"b":3}}`,  // a.b and a.b.c from the second a, a from the first
		`{"a":{"b":{"z":1}},"a":{"b":{"c":2}}}`,        // a.b from the first a, a.b.c from the second
		`{"a":[{"b":1}],"a":{"b":2}}`,                  // an array where an object is expected
		`{"arr":[{"n":1},{"n":2}],"arr":[]}`,           // indexes and queries into arrays
		`{"a\u002eb":1,"k\u002ed":2,"\u0061":{"b":5}}`, // escaped JSON keys
		`{"0":{"a":1},"u\\ni":2,"u\ni":3}`,
		`{"a":"{\"b\":{\"c\":1}}","arr":"[1,{\"n\":2}]"}`, // JSON text in strings is not looked into
		`{"a":{"b":"x"},"a":{"b":{"c":"y"}}}`,
		`[{"a":1},{"b":2}]`, `[]`, `"a"`, `1`, `null`, `{}`,
		` {"a" : { "b" : [ 1 , 2 ] } , "e" : "" } `,
	} {
		values, exists := s.lookup(raw)
		for i, f := range s.reads {
			want := gjson.Get(raw, f.Path)
			if exists[i] != want.Exists() || !reflect.DeepEqual(values[i], want.Value()) && exists[i] {
				t.Errorf("%s in %s: lookup = %#v (exists %v), gjson = %#v (exists %v)", f.Path, raw, values[i], exists[i], want.Value(), want.Exists())
			}
		}
	}
}

func TestPlainPath(t *testing.T) {
	for _, c := range []struct {
		path string
		keys []string
	}{
		{"a", []string{"a"}},
		{"properties.email", []string{"properties", "email"}},
		{`custom\.field.x`, []string{"custom.field", "x"}},
		{`a\\b`, []string{`a\b`}},
		{"full name.0", []string{"full name", "0"}},
		{"a.#.b", nil},
		{"a*", nil},
		{"a?", nil},
		{"a|b", nil},
		{"a.@this", nil},
		{"!true", nil},
		{"[a,b]", nil},
		{"{a}", nil},
		{"a..b", nil},
		{"a.", nil},
		{`a\`, nil},
	} {
		keys, _, ok := plainPath(c.path)
		if ok != (c.keys != nil) || !reflect.DeepEqual(keys, c.keys) {
			t.Errorf("plainPath(%q) = %q, %v; want %q", c.path, keys, ok, c.keys)
		}
	}
}

// e164 caches results, errors too, and stays bounded.
func TestPhoneCache(t *testing.T) {
	for _, c := range [][2]string{{"(650) 253-0000", "US"}, {"020 7946 0958", "GB"}, {"12", "GB"}, {"020 7946 0958", ""}} {
		want, wantErr := parseE164(c[0], c[1])
		for range 2 { // the second from the cache
			got, err := e164(c[0], c[1])
			if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Errorf("e164(%q, %q) = %v, %v; want %v, %v", c[0], c[1], got, err, want, wantErr)
			}
		}
	}
	// The cache also files each result under itself: E.164 must parse to itself.
	for _, c := range [][2]string{{"(650) 253-0000", "US"}, {"020 7946 0958", "GB"}, {"06 1234 5678", "IT"}, {"+39 06 1234 5678", ""},
		{"+44 20 7946 0958 ext. 12", ""}, {"0044 20 7946 0958", "DE"}, {"+1 242 357 1234", "GB"}, {"+80012345678", ""}, {"+7 912 345 67 89", "US"}} {
		out, err := parseE164(c[0], c[1])
		if err != nil {
			t.Errorf("%q: %v", c[0], err)
			continue
		}
		if again, err := parseE164(out.(string), c[1]); again != out || err != nil {
			t.Errorf("%q: %v parses to %v, %v", c[0], out, again, err)
		}
	}
	for i := range phoneCacheSize + 10 {
		e164(fmt.Sprint(i), "") // no region: an error, without parsing
	}
	phones.RLock()
	n := len(phones.m)
	phones.RUnlock()
	if n > phoneCacheSize {
		t.Errorf("cache holds %d numbers, more than %d", n, phoneCacheSize)
	}
}

// In is safe for concurrent use (the phone cache is shared): run with -race.
func TestInConcurrent(t *testing.T) {
	s := compile(t, benchConfig).Entities[0].System("hubspot")
	want, err := s.In([]byte(benchContact))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 50 {
				// A new number now and then, so goroutines write the cache too.
				raw := strings.Replace(benchContact, "(650) 253-0000", fmt.Sprintf("(650) 253-%04d", g*100+i%3), 1)
				v, err := s.In([]byte(raw))
				if err == nil && (len(v) != len(want) || v["email"] != want["email"]) {
					err = fmt.Errorf("In = %v, want %v", v, want)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// The same, on random JSON documents built from a few keys (so that keys
// repeat and paths meet arrays, scalars and escaped keys) with random
// white space.
func TestLookupMatchesGjsonRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	segs := []string{"a", "b", `a\.b`, "0", "1", "c d"}
	var paths []string
	seen := map[string]bool{}
	for len(paths) < 20 {
		var p []string
		for range 1 + r.IntN(3) {
			p = append(p, segs[r.IntN(len(segs))])
		}
		if s := strings.Join(p, "."); !seen[s] {
			seen[s] = true
			paths = append(paths, s)
		}
	}
	s := lookupSystem(t, paths...)
	for range 3000 {
		raw := randJSON(r, 0)
		if !gjson.Valid(raw) {
			t.Fatalf("generated invalid JSON: %s", raw)
		}
		values, exists := s.lookup(raw)
		for i, f := range s.reads {
			want := gjson.Get(raw, f.Path)
			if exists[i] != want.Exists() || exists[i] && !reflect.DeepEqual(values[i], want.Value()) {
				t.Fatalf("%s in %s: lookup = %#v (exists %v), gjson = %#v (exists %v)", f.Path, raw, values[i], exists[i], want.Value(), want.Exists())
			}
		}
	}
}

func randJSON(r *rand.Rand, depth int) string {
	sp := func() string { return []string{"", "", " ", "\n\t ", "\r\n"}[r.IntN(5)] }
	keys := []string{`"a"`, `"b"`, `"a.b"`, `"0"`, `"1"`, `"c d"`, `"\u0061"`, `"a\\.b"`, `"x"`}
	n := r.IntN(10)
	if depth == 0 {
		n = 6 // the top: mostly an object
	}
	switch {
	case depth < 4 && n < 6:
		var b strings.Builder
		b.WriteString("{" + sp())
		for i := range r.IntN(5) {
			if i > 0 {
				b.WriteString("," + sp())
			}
			b.WriteString(keys[r.IntN(len(keys))] + sp() + ":" + sp() + randJSON(r, depth+1) + sp())
		}
		return b.String() + "}"
	case depth < 4 && n < 8:
		var b strings.Builder
		b.WriteString("[" + sp())
		for i := range r.IntN(4) {
			if i > 0 {
				b.WriteString("," + sp())
			}
			b.WriteString(randJSON(r, depth+1) + sp())
		}
		return b.String() + "]"
	}
	return []string{`"v"`, `""`, `"q\"}]{["`, `"\\"`, `"\\\""`, `"é\u00e9\n"`, `12`, `-0.5e3`, `true`, `false`, `null`, `"{\"a\":1}"`}[r.IntN(12)]
}
