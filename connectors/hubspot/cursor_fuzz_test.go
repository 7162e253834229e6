package hubspot

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"tandem"
)

// FuzzCursor: parseCursor never panics on any text; what it refuses is a
// *tandem.Error naming the pull; what it takes has no negative time and
// is a fixed point of encode (it reads back as itself); and any cursor
// the connector can make reads back as what was made:
// parseCursor(encode(c)) == c. Seeds: the f.Add calls; CI runs it for a
// bounded count (.ci/run).
func FuzzCursor(f *testing.F) {
	for _, s := range []string{
		``, `{"ts":0}`, `{"ts":1714979289123,"ids":["51","52"]}`,
		`{"ts":1714979289123,"ids":["51"],"arch":1714979200000,"aids":{"9":1714979250000},"rej":["id:7","sha256:00112233aabbccdd"]}`,
		`{"ts":-1}`, `{"ts":1,"arch":-1}`, `{"ts":1.5}`, `{"ts":"1"}`, `{"ts":9223372036854775807,"arch":9223372036854775807}`,
		`null`, `[]`, `{}`, `{"ts":1,"ids":null,"aids":{}}`, `{"TS":1,"Ids":["x"]}`, `{"ts":1,"ts":2}`, `{"ts":1}garbage`,
		`{"ts":1,"ids":["\u0000","\ud800"]}`, "{\"ts\":1,\"ids\":[\"\xff\"]}",
	} {
		f.Add(s, int64(1714979289123), "51,52", int64(1714979200000), "9", "id:7")
	}
	c := &Client{name: "hs"}
	f.Fuzz(func(t *testing.T, text string, ts int64, ids string, arch int64, aids, rej string) {
		cur, err := c.parseCursor("pull contacts", tandem.Cursor(text))
		var te *tandem.Error
		switch {
		case err != nil && (!errors.As(err, &te) || te.Op != "pull contacts" || te.System != "hs"):
			t.Fatalf("%q: error %v does not name the pull", text, err)
		case err == nil && (cur.TS < 0 || cur.Arch < 0):
			t.Fatalf("%q read as %+v: a negative time", text, cur)
		case err == nil:
			again, err := c.parseCursor("pull contacts", cur.encode())
			if err != nil || !sameCursor(again, cur) {
				t.Fatalf("%q read as %+v, encoded as %s, read back as %+v (%v)", text, cur, cur.encode(), again, err)
			}
		}

		// A cursor as a pull makes one: times not negative, ids from
		// records, archive ids with their times, reject keys.
		made := cursor{TS: max(ts, 0), Arch: max(arch, 0), IDs: split(ids), Rej: split(rej)}
		for _, id := range split(aids) {
			if made.AIDs == nil {
				made.AIDs = map[string]int64{}
			}
			made.AIDs[id] = made.Arch
		}
		back, err := c.parseCursor("pull contacts", made.encode())
		if err != nil || !sameCursor(back, made) {
			t.Fatalf("%+v encoded as %s read back as %+v (%v)", made, made.encode(), back, err)
		}
	})
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// sameCursor compares cursors as JSON does: an empty list or map is the
// same as none, and text that is not UTF-8 reads back with U+FFFD.
func sameCursor(a, b cursor) bool {
	norm := func(c cursor) cursor {
		fix := func(ss []string) []string {
			var out []string
			for _, s := range ss {
				out = append(out, jsonText(s))
			}
			return out
		}
		c.IDs, c.Rej = fix(c.IDs), fix(c.Rej)
		if len(c.AIDs) == 0 {
			c.AIDs = nil
		} else {
			m := map[string]int64{}
			for k, v := range c.AIDs {
				m[jsonText(k)] = v
			}
			c.AIDs = m
		}
		return c
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// jsonText is s as JSON carries it: each byte that is not UTF-8 becomes
// U+FFFD.
func jsonText(s string) string {
	b, _ := json.Marshal(s)
	var out string
	json.Unmarshal(b, &out)
	return out
}
