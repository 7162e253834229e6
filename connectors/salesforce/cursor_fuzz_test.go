package salesforce

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/connectors"
)

// FuzzCursor: decodeCursor never panics on any text; what it refuses says
// the cursor is invalid; what it takes is one JSON value, and writes back
// as itself;
// and any cursor a pull can make reads back as what was made:
// encode(decodeCursor(encode(c))) == encode(c). Seeds: the f.Add calls;
// CI runs it for a bounded count (.ci/run).
func FuzzCursor(f *testing.F) {
	for _, s := range []string{
		``, `{"mark":{"v":1,"stamp":"2024-05-06T07:08:09.000Z","seen":{"2024-05-06T07:08:09.000Z":["003000000000001AAA:00112233aabbccdd"]}}}`,
		`{"mark":{"v":1,"floor":"2024-05-06T07:08:00.000Z"},"rejected":["00112233aabbccdd"]}`, `{"rejected":["x"]}`, `{"mark":null}`,
		`{"stamp":"2024-05-06T07:08:09.000Z","ids":["003000000000001AAA"]}`, `{"stamp":"2024-05-06T07:08:09.123+02:00","ids":[]}`,
		`{"stamp":"2024-05-06 07:08:09.000Z"}`, `{"ids":["x"]}`, `{}`, `null`, `[]`, `{"mark":{"v":1}}`, `{"mark":{"v":3}}`,
		`{"stamp":"9999-12-31T23:59:59.999Z"}`, `{"stamp":"0000-01-01T00:00:00.000Z"}`, `{"stamp":1714979289}`,
		`{"stamp":"2024-05-06T07:08:09.000Z"}x`, `{"rejected":["a"]} {"rejected":["b"]}`, `{"live":{"v":1}}`,
	} {
		f.Add(s, int64(1714979289000), "003000000000001AAA,003000000000002AAA", "00112233aabbccdd")
	}
	f.Fuzz(func(t *testing.T, text string, ms int64, ids, rejected string) {
		cur, err := decodeCursor(tandem.Cursor(text))
		switch {
		case err != nil:
			if !strings.HasPrefix(err.Error(), "invalid cursor ") {
				t.Fatalf("%q: error %v does not say the cursor is invalid", text, err)
			}
		case text != "" && !json.Valid([]byte(text)):
			t.Fatalf("%q is not one JSON value, and was read as %+v", text, cur)
		default:
			checkRoundTrip(t, cur)
		}

		// A cursor as a pull makes one: a watermark of the versions it
		// emitted (whole seconds, years 0 to 9999), fingerprints set aside.
		const lo, hi = -62167219200, 253402300799
		at := time.Unix(lo+(ms%(hi-lo)+(hi-lo))%(hi-lo), 0).UTC()
		made := cursor{Mark: connectors.Watermark{Stamp: at}, Rejected: splitList(rejected)}
		for _, id := range splitList(ids) {
			if id == "" {
				continue // a record without an id is set aside, never emitted
			}
			made.Mark.Seen = append(made.Mark.Seen, connectors.Version{ID: id, Stamp: at, Sum: connectors.Fingerprint([]byte(id))})
		}
		// Versions of one stamp in the order the watermark reads them
		// back (by id and sum): the order a pull emitted them in means
		// nothing, and is not kept.
		slices.SortStableFunc(made.Mark.Seen, func(a, b connectors.Version) int { return strings.Compare(a.ID+a.Sum, b.ID+b.Sum) })
		checkRoundTrip(t, made)
	})
}

// checkRoundTrip: a cursor written and read back writes as it did.
func checkRoundTrip(t *testing.T, cur cursor) {
	t.Helper()
	text := cur.encode()
	back, err := decodeCursor(text)
	if err == nil && strings.Contains(string(text), `\ufffd`) {
		// Text that was not UTF-8 went out as U+FFFD, escaped, and comes
		// back as U+FFFD, which goes out as it is: the same cursor, other
		// bytes. From there on the bytes stay put.
		text = back.encode()
		back, err = decodeCursor(text)
	}
	if err != nil || back.encode() != text {
		t.Fatalf("%+v written as %s read back as %+v, written as %s (%v)", cur, text, back, back.encode(), err)
	}
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
