package policy

import (
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in      string
		kind    Kind
		systems []string
		err     string
	}{
		{in: "newest", kind: Newest},
		{in: "manual", kind: Manual},
		{in: "prefer:sf", kind: Prefer, systems: []string{"sf"}},
		{in: "prefer: sf , hs", kind: Prefer, systems: []string{"sf", "hs"}},
		{in: "prefer:", err: `unknown policy "prefer:" (known: newest, manual, prefer:<system>[,<system>...])`},
		{in: "loudest", err: `unknown policy "loudest" (known: newest, manual, prefer:<system>[,<system>...])`},
		{in: "", err: `unknown policy "" (known: newest, manual, prefer:<system>[,<system>...])`},
	} {
		r, err := Parse(c.in)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("Parse(%q): error %v, want %s", c.in, err, c.err)
			}
			continue
		}
		if err != nil || r.Kind != c.kind || !slices.Equal(r.Systems, c.systems) {
			t.Errorf("Parse(%q) = %+v, %v", c.in, r, err)
		}
		if r.String() != c.in {
			t.Errorf("Parse(%q).String() = %q: a conflict records the rule as written", c.in, r.String())
		}
	}
}

func TestRankAndFor(t *testing.T) {
	p := Conflict{Default: MustParse("prefer: sf, hs"), Fields: map[string]Rule{"phone": MustParse("manual")}}
	if r := p.For("email"); r.Rank("sf") != 0 || r.Rank("hs") != 1 || r.Rank("db") != -1 {
		t.Errorf("ranks of %v: sf %d, hs %d, db %d", r, r.Rank("sf"), r.Rank("hs"), r.Rank("db"))
	}
	if p.For("phone").Kind != Manual {
		t.Errorf("phone's rule is %v, want manual", p.For("phone"))
	}
	if (Conflict{}).For("x").String() != "newest" {
		t.Error("the zero policy is not newest")
	}
}

func TestParseOnDelete(t *testing.T) {
	for _, s := range []string{"propagate", "ignore", "quarantine"} {
		if d, err := ParseOnDelete(s); err != nil || string(d) != s {
			t.Errorf("ParseOnDelete(%q) = %q, %v", s, d, err)
		}
	}
	if _, err := ParseOnDelete("shred"); err == nil || err.Error() != `unknown delete policy "shred" (known: propagate, ignore, quarantine)` {
		t.Errorf("ParseOnDelete(shred): %v", err)
	}
}
