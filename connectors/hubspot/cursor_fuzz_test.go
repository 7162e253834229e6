package hubspot

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/connectors"
)

// FuzzCursor: parseCursor never panics on any text; what it refuses is a
// *tandem.Error naming the pull; what it takes is one JSON value, has no
// negative time, and writes back as itself; and any cursor a pull can
// make reads back as what was made: encode(parseCursor(encode(c))) ==
// encode(c). Seeds: the f.Add calls; CI runs it for a bounded count
// (.ci/run).
func FuzzCursor(f *testing.F) {
	for _, s := range []string{
		``, `{"ts":0}`, `{"ts":1714979289123,"ids":["51","52"]}`,
		`{"live":{"v":1,"stamp":"2024-05-06T07:08:09.123Z","seen":{"2024-05-06T07:08:09.123Z":["51:00112233aabbccdd"]}},"arch":1714979200000,"aids":{"9":1714979250000},"rej":["id:7","sha256:00112233aabbccdd"]}`,
		`{"live":{"v":1,"floor":"2024-05-06T07:08:09.000Z"},"arch":1}`, `{"live":{"v":2}}`, `{"live":null,"ts":5}`,
		`{"ts":-1}`, `{"ts":1,"arch":-1}`, `{"ts":1.5}`, `{"ts":"1"}`, `{"ts":9223372036854775807,"arch":9223372036854775807}`,
		`null`, `[]`, `{}`, `{"stamp":"2024-05-06T07:08:09.000Z"}`, `{"ts":1,"ts":2}`, `{"ts":1}garbage`, `{"ts":1} {"ts":2}`,
		`{"arch":1,"aids":{"\u0000":1},"rej":["\ud800"]}`, "{\"arch\":1,\"rej\":[\"\xff\"]}",
	} {
		f.Add(s, int64(1714979289123), "51,52", int64(1714979200000), "9", "id:7")
	}
	c := &Client{name: "hs"}
	f.Fuzz(func(t *testing.T, text string, ms int64, ids string, arch int64, aids, rej string) {
		cur, err := c.parseCursor("pull contacts", tandem.Cursor(text))
		var te *tandem.Error
		switch {
		case err != nil:
			if !errors.As(err, &te) || te.Op != "pull contacts" || te.System != "hs" {
				t.Fatalf("%q: error %v does not name the pull", text, err)
			}
		case text != "" && !validJSON(text):
			t.Fatalf("%q is not one JSON value, and was read as %+v", text, cur)
		case cur.Arch < 0:
			t.Fatalf("%q read as %+v: a negative time", text, cur)
		default:
			checkRoundTrip(t, c, cur)
		}

		// A cursor as a pull makes one: a watermark of the versions it
		// emitted, the archive's time and ids, reject keys.
		const lo, hi = -62167219200000, 253402300799999
		at := time.UnixMilli(lo + (ms%(hi-lo)+(hi-lo))%(hi-lo)).UTC()
		made := cursor{Arch: max(arch, 0), Rej: split(rej), Live: connectors.Watermark{Stamp: at}}
		for _, id := range split(ids) {
			if id == "" {
				continue // a record without an id is set aside, never emitted
			}
			made.Live.Seen = append(made.Live.Seen, connectors.Version{ID: id, Stamp: at, Sum: connectors.Fingerprint([]byte(id))})
		}
		for _, id := range split(aids) {
			if made.AIDs == nil {
				made.AIDs = map[string]int64{}
			}
			made.AIDs[id] = made.Arch
		}
		// Versions of one stamp in the order the watermark reads them
		// back (by id and sum): the order a pull emitted them in means
		// nothing, and is not kept.
		slices.SortStableFunc(made.Live.Seen, func(a, b connectors.Version) int { return strings.Compare(a.ID+a.Sum, b.ID+b.Sum) })
		checkRoundTrip(t, c, made)
	})
}

// checkRoundTrip: a cursor written and read back writes as it did.
func checkRoundTrip(t *testing.T, c *Client, cur cursor) {
	t.Helper()
	text := cur.encode()
	back, err := c.parseCursor("pull contacts", text)
	if err == nil && strings.Contains(string(text), `\ufffd`) {
		// Text that was not UTF-8 went out as U+FFFD, escaped, and comes
		// back as U+FFFD, which goes out as it is: the same cursor, other
		// bytes. From there on the bytes stay put.
		text = back.encode()
		back, err = c.parseCursor("pull contacts", text)
	}
	if err != nil || back.encode() != text {
		t.Fatalf("%+v written as %s read back as %+v, written as %s (%v)", cur, text, back, back.encode(), err)
	}
}

func validJSON(s string) bool {
	var v any
	return json.Unmarshal([]byte(s), &v) == nil
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
