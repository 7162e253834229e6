package salesforce

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"tandem"
)

// FuzzCursor: decodeCursor never panics on any text; what it takes has a
// stamp or rejected records (the empty cursor is "") and is a fixed point
// of encode; and any cursor a pull can make reads back as what was made:
// decodeCursor(encode(c)) == c, its stamp to the millisecond. Seeds: the
// f.Add calls; CI runs it for a bounded count (.ci/run).
func FuzzCursor(f *testing.F) {
	for _, s := range []string{
		``, `{"stamp":"2024-05-06T07:08:09.000Z","ids":["003000000000001AAA"]}`,
		`{"stamp":"2024-05-06T07:08:09.123+02:00","ids":[]}`, `{"stamp":"","ids":null,"rejected":["00112233aabbccdd"]}`,
		`{"stamp":"2024-05-06T07:08:09Z","ids":[]}`, `{"stamp":"2024-05-06 07:08:09.000Z"}`, `{"ids":["x"]}`, `{}`, `null`,
		`{"stamp":"9999-12-31T23:59:59.999Z","ids":["a"],"rejected":[]}`, `{"stamp":"0000-01-01T00:00:00.000Z"}`,
		`{"stamp":"2024-05-06T07:08:09.000-00:00"}`, `{"stamp":1714979289}`, `{"stamp":"2024-05-06T07:08:09.000Z"}x`,
	} {
		f.Add(s, int64(1714979289123), "003000000000001AAA,003000000000002AAA", "00112233aabbccdd")
	}
	f.Fuzz(func(t *testing.T, text string, ms int64, ids, rejected string) {
		cur, err := decodeCursor(tandem.Cursor(text))
		switch {
		case err != nil:
			if !strings.HasPrefix(err.Error(), "invalid cursor ") {
				t.Fatalf("%q: error %v does not say the cursor is invalid", text, err)
			}
		case text != "" && cur.Stamp.IsZero() && len(cur.Rejected) == 0:
			t.Fatalf("%q read as an empty cursor", text)
		default:
			again, err := decodeCursor(cur.encode())
			if err != nil || !sameCursor(again, cur) {
				t.Fatalf("%q read as %+v, encoded as %s, read back as %+v (%v)", text, cur, cur.encode(), again, err)
			}
		}

		// A cursor as a pull makes one: a SystemModstamp (milliseconds,
		// years 0 to 9999), the ids emitted at it, fingerprints.
		const lo, hi = -62167219200000, 253402300799999
		stamp := time.UnixMilli(lo + (ms%(hi-lo)+(hi-lo))%(hi-lo)).UTC()
		made := cursor{Stamp: stamp, IDs: split(ids), Rejected: split(rejected)}
		back, err := decodeCursor(made.encode())
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

// sameCursor compares cursors as JSON does: an empty list is the same as
// none, text that is not UTF-8 reads back with U+FFFD, and stamps are the
// same instant.
func sameCursor(a, b cursor) bool {
	norm := func(c cursor) cursor {
		fix := func(ss []string) []string {
			var out []string
			for _, s := range ss {
				b, _ := json.Marshal(s)
				var t string
				json.Unmarshal(b, &t)
				out = append(out, t)
			}
			return out
		}
		c.IDs, c.Rejected = fix(c.IDs), fix(c.Rejected)
		return c
	}
	a, b = norm(a), norm(b)
	return a.Stamp.Equal(b.Stamp) && reflect.DeepEqual(a.IDs, b.IDs) && reflect.DeepEqual(a.Rejected, b.Rejected)
}
