package conflict

import (
	"testing"
	"time"

	"tandem"
	"tandem/conflict/policy"
)

var (
	t0 = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Minute)
	t2 = t0.Add(2 * time.Minute)
)

func gold(fields map[string]tandem.Field) tandem.Golden { return tandem.Golden(fields) }

func TestMerge(t *testing.T) {
	newest := policy.Conflict{Default: policy.MustParse("newest")}
	tests := []struct {
		name      string
		golden    tandem.Golden
		side      Side
		pol       policy.Conflict
		want      tandem.Values // golden values after
		wantFrom  map[string]string
		conflicts int
		decided   string
		held      bool // the field is held: the conflict is open
	}{
		{
			name:   "new entity takes every value",
			golden: nil,
			side:   Side{System: "hs", View: tandem.Values{"email": "a@x", "phone": "1"}, Modified: t1},
			want:   tandem.Values{"email": "a@x", "phone": "1"}, wantFrom: map[string]string{"email": "hs", "phone": "hs"},
		},
		{
			name:   "emptied on one side: cleared",
			golden: gold(map[string]tandem.Field{"phone": {Value: "1", Modified: t0, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": nil}, Snapshot: tandem.Values{"phone": "1"}, Modified: t1},
			pol:    newest,
			want:   tandem.Values{"phone": nil}, wantFrom: map[string]string{"phone": "hs"},
		},
		{
			name:   "emptied on one side with empty_never_overwrites: kept",
			golden: gold(map[string]tandem.Field{"phone": {Value: "1", Modified: t0, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": nil}, Snapshot: tandem.Values{"phone": "1"}, Modified: t1},
			pol:    policy.Conflict{Default: policy.MustParse("newest"), EmptyNeverOverwrites: true},
			want:   tandem.Values{"phone": "1"}, wantFrom: map[string]string{"phone": "sf"},
		},
		{
			name:   "only this side changed: take it",
			golden: gold(map[string]tandem.Field{"phone": {Value: "1", Modified: t0, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "2"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t1},
			want:   tandem.Values{"phone": "2"}, wantFrom: map[string]string{"phone": "hs"},
		},
		{
			name:   "golden moved, this side did not: keep golden (it will be written here)",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "1"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t2},
			want:   tandem.Values{"phone": "3"}, wantFrom: map[string]string{"phone": "sf"},
		},
		{
			name:   "echo of our own write changes nothing",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "3"}, Snapshot: tandem.Values{"phone": "3"}, Modified: t2},
			want:   tandem.Values{"phone": "3"}, wantFrom: map[string]string{"phone": "sf"},
		},
		{
			name:   "both changed to the same value: no conflict, the later assertion stands for it",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "3"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t2},
			want:   tandem.Values{"phone": "3"}, wantFrom: map[string]string{"phone": "hs"},
		},
		{
			name:   "both changed to the same value under prefer: the preferred system stands for it",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "3"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t2},
			pol:    policy.Conflict{Default: policy.MustParse("prefer:sf,hs")},
			want:   tandem.Values{"phone": "3"}, wantFrom: map[string]string{"phone": "sf"},
		},
		{
			name:   "both changed, this side newer: newest takes it and records the conflict",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "2"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t2},
			pol:    newest, want: tandem.Values{"phone": "2"}, wantFrom: map[string]string{"phone": "hs"},
			conflicts: 1, decided: "hs",
		},
		{
			name:   "both changed, golden newer: newest keeps golden and records the conflict",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t2, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "2"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t1},
			pol:    newest, want: tandem.Values{"phone": "3"}, wantFrom: map[string]string{"phone": "sf"},
			conflicts: 1, decided: "sf",
		},
		{
			name:   "prefer overrides newest per field",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t2, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "2"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t1},
			pol:    policy.Conflict{Default: policy.MustParse("newest"), Fields: map[string]policy.Rule{"phone": policy.MustParse("prefer:hs,sf")}},
			want:   tandem.Values{"phone": "2"}, wantFrom: map[string]string{"phone": "hs"},
			conflicts: 1, decided: "hs",
		},
		{
			name: "different fields changed on two sides are both kept",
			golden: gold(map[string]tandem.Field{
				"phone": {Value: "1", Modified: t0, Source: "hs"},
				"title": {Value: "CTO", Modified: t1, Source: "sf"}, // sf changed title before
			}),
			side: Side{System: "hs", View: tandem.Values{"phone": "2", "title": "Eng"},
				Snapshot: tandem.Values{"phone": "1", "title": "Eng"}, Modified: t2},
			want:     tandem.Values{"phone": "2", "title": "CTO"},
			wantFrom: map[string]string{"phone": "hs", "title": "sf"},
		},
		{
			name:   "absent field leaves golden alone",
			golden: gold(map[string]tandem.Field{"phone": {Value: "1", Modified: t0, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{}, Snapshot: tandem.Values{"phone": "1"}, Modified: t2},
			want:   tandem.Values{"phone": "1"}, wantFrom: map[string]string{"phone": "sf"},
		},
		{
			name:   "cleared field is a change like any other",
			golden: gold(map[string]tandem.Field{"phone": {Value: "1", Modified: t0, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": nil}, Snapshot: tandem.Values{"phone": "1"}, Modified: t2},
			want:   tandem.Values{"phone": nil}, wantFrom: map[string]string{"phone": "hs"},
		},
		{
			name:   "newly linked record with another value: a conflict, newest decides",
			golden: gold(map[string]tandem.Field{"phone": {Value: "1", Modified: t0, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "2"}, Modified: t1},
			pol:    newest, want: tandem.Values{"phone": "2"}, wantFrom: map[string]string{"phone": "hs"},
			conflicts: 1, decided: "hs",
		},
		{
			name:   "newly linked record fills an empty golden field without conflict",
			golden: gold(map[string]tandem.Field{"phone": {Value: nil, Modified: t2, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "2"}, Modified: t1},
			want:   tandem.Values{"phone": "2"}, wantFrom: map[string]string{"phone": "hs"},
		},
		{
			name:   "newly linked record lacking a value keeps the golden one",
			golden: gold(map[string]tandem.Field{"phone": {Value: "1", Modified: t0, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": nil}, Modified: t2},
			want:   tandem.Values{"phone": "1"}, wantFrom: map[string]string{"phone": "sf"},
		},
		{
			name: "three systems: a third side's stale value loses to the newer golden one",
			golden: gold(map[string]tandem.Field{
				"phone": {Value: "from-sf", Modified: t2, Source: "sf"},
			}),
			side: Side{System: "db", View: tandem.Values{"phone": "from-db"}, Snapshot: tandem.Values{"phone": "orig"}, Modified: t1},
			pol:  newest, want: tandem.Values{"phone": "from-sf"}, wantFrom: map[string]string{"phone": "sf"},
			conflicts: 1, decided: "sf",
		},
		{
			name:   "exact tie keeps golden",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "2"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t1},
			pol:    newest, want: tandem.Values{"phone": "3"}, wantFrom: map[string]string{"phone": "sf"},
			conflicts: 1, decided: "sf",
		},
		{
			name:   "manual holds the field: golden stays, conflict open",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "2"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t2},
			pol:    policy.Conflict{Default: policy.MustParse("newest"), Fields: map[string]policy.Rule{"phone": policy.MustParse("manual")}},
			want:   tandem.Values{"phone": "3"}, wantFrom: map[string]string{"phone": "sf"},
			conflicts: 1, decided: "held: manual policy", held: true,
		},
		{
			name:   "manual on one field leaves the others syncing",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf"}, "title": {Value: "CTO", Modified: t0, Source: "sf"}}),
			side: Side{System: "hs", View: tandem.Values{"phone": "2", "title": "CEO"},
				Snapshot: tandem.Values{"phone": "1", "title": "CTO"}, Modified: t2},
			pol:       policy.Conflict{Default: policy.MustParse("newest"), Fields: map[string]policy.Rule{"phone": policy.MustParse("manual")}},
			want:      tandem.Values{"phone": "3", "title": "CEO"},
			wantFrom:  map[string]string{"phone": "sf", "title": "hs"},
			conflicts: 1, decided: "held: manual policy", held: true,
		},
		{
			name:   "newest within clock tolerance: held",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "2"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t1.Add(1500 * time.Millisecond)},
			pol:    policy.Conflict{Default: policy.MustParse("newest"), ClockTolerance: 2 * time.Second},
			want:   tandem.Values{"phone": "3"}, wantFrom: map[string]string{"phone": "sf"},
			conflicts: 1, decided: "held: edits 1.5s apart, within clock_tolerance 2s", held: true,
		},
		{
			name:   "newest within clock tolerance, the other way round: held",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "2"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t1.Add(-2 * time.Second)},
			pol:    policy.Conflict{Default: policy.MustParse("newest"), ClockTolerance: 2 * time.Second},
			want:   tandem.Values{"phone": "3"}, wantFrom: map[string]string{"phone": "sf"},
			conflicts: 1, decided: "held: edits 2s apart, within clock_tolerance 2s", held: true,
		},
		{
			name:   "newest beyond clock tolerance: decided",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "2"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t1.Add(2001 * time.Millisecond)},
			pol:    policy.Conflict{Default: policy.MustParse("newest"), ClockTolerance: 2 * time.Second},
			want:   tandem.Values{"phone": "2"}, wantFrom: map[string]string{"phone": "hs"},
			conflicts: 1, decided: "hs",
		},
		{
			name:   "prefer decides inside the clock tolerance",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "2"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t1},
			pol:    policy.Conflict{Default: policy.MustParse("prefer:sf"), ClockTolerance: time.Minute},
			want:   tandem.Values{"phone": "3"}, wantFrom: map[string]string{"phone": "sf"},
			conflicts: 1, decided: "sf",
		},
		{
			name:   "prefer list: neither system listed falls back to newest",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf"}}),
			side:   Side{System: "hs", View: tandem.Values{"phone": "2"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t2},
			pol:    policy.Conflict{Default: policy.MustParse("prefer:db")},
			want:   tandem.Values{"phone": "2"}, wantFrom: map[string]string{"phone": "hs"},
			conflicts: 1, decided: "hs",
		},
		{
			name:   "prefer list: a listed system beats an unlisted one even when older",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t2, Source: "sf"}}),
			side:   Side{System: "db", View: tandem.Values{"phone": "2"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t1},
			pol:    policy.Conflict{Default: policy.MustParse("prefer:hs,db")},
			want:   tandem.Values{"phone": "2"}, wantFrom: map[string]string{"phone": "db"},
			conflicts: 1, decided: "db",
		},
		{
			name:   "per-field time beats the record's time",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf"}}),
			side: Side{System: "hs", View: tandem.Values{"phone": "2"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t2,
				FieldTimes: map[string]time.Time{"phone": t0}}, // the record was touched later, the phone earlier
			pol:  newest,
			want: tandem.Values{"phone": "3"}, wantFrom: map[string]string{"phone": "sf"},
			conflicts: 1, decided: "sf",
		},
		{
			name:   "held field: a side's new value joins the open conflict, golden stays",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf", Held: true}}),
			side:   Side{System: "db", View: tandem.Values{"phone": "9"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t2},
			pol:    newest,
			want:   tandem.Values{"phone": "3"}, wantFrom: map[string]string{"phone": "sf"},
			conflicts: 1, decided: "held: waiting for tandem resolve", held: true,
		},
		{
			name:   "held field: an unchanged side adds nothing",
			golden: gold(map[string]tandem.Field{"phone": {Value: "3", Modified: t1, Source: "sf", Held: true}}),
			side:   Side{System: "db", View: tandem.Values{"phone": "1"}, Snapshot: tandem.Values{"phone": "1"}, Modified: t2},
			pol:    newest,
			want:   tandem.Values{"phone": "3"}, wantFrom: map[string]string{"phone": "sf"},
			held: true, // still held, nothing added
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fields := []string{"email", "phone", "title"}
			before := tc.golden.Values()
			out := Merge("contact", "e1", tc.golden, tc.side, fields, tc.pol)
			got := out.Golden.Values()
			if len(got) != len(tc.want) {
				t.Fatalf("golden = %v, want %v", got, tc.want)
			}
			for f, v := range tc.want {
				if gv, ok := got[f]; !ok || !tandem.Equal(gv, v) {
					t.Errorf("golden[%s] = %v, want %v", f, gv, v)
				}
				if src := out.Golden[f].Source; src != tc.wantFrom[f] {
					t.Errorf("golden[%s] from %q, want %q", f, src, tc.wantFrom[f])
				}
			}
			if len(out.Conflicts) != tc.conflicts {
				t.Fatalf("%d conflicts, want %d: %+v", len(out.Conflicts), tc.conflicts, out.Conflicts)
			}
			if tc.conflicts > 0 {
				c := out.Conflicts[0]
				status := map[bool]string{false: tandem.ConflictAuto, true: tandem.ConflictOpen}[tc.held]
				if c.Decided != tc.decided || c.Kind != tandem.ConflictField || c.Status != status || len(c.Values) != 2 {
					t.Errorf("conflict = %+v, want %s, decided %q, with both sides' values", c, status, tc.decided)
				}
			}
			if g := out.Golden["phone"]; g.Held != tc.held {
				t.Errorf("phone held = %v, want %v", g.Held, tc.held)
			}
			// Merge is pure: the input golden record is untouched.
			if after := tc.golden.Values(); len(after) != len(before) {
				t.Errorf("input golden modified: %v -> %v", before, after)
			}
		})
	}
}

// Three systems changed one field since they agreed: merged one after
// another, the newest of the three wins whatever the order, and each
// later side's conflict names the value it met.
func TestMergeThreeSystems(t *testing.T) {
	base := gold(map[string]tandem.Field{"phone": {Value: "0", Modified: t0, Source: "hs"}})
	sides := []Side{
		{System: "hs", View: tandem.Values{"phone": "hs"}, Snapshot: tandem.Values{"phone": "0"}, Modified: t1},
		{System: "sf", View: tandem.Values{"phone": "sf"}, Snapshot: tandem.Values{"phone": "0"}, Modified: t2.Add(time.Second)}, // newest
		{System: "db", View: tandem.Values{"phone": "db"}, Snapshot: tandem.Values{"phone": "0"}, Modified: t2},
	}
	for _, order := range [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		g := base
		var conflicts []tandem.Conflict
		for _, i := range order {
			out := Merge("contact", "e1", g, sides[i], []string{"phone"}, policy.Conflict{Default: policy.MustParse("newest")})
			g, conflicts = out.Golden, append(conflicts, out.Conflicts...)
		}
		if f := g["phone"]; f.Value != "sf" || f.Source != "sf" {
			t.Errorf("order %v: phone = %+v, want sf's (the newest)", order, f)
		}
		if len(conflicts) != 2 {
			t.Errorf("order %v: %d conflicts, want 2 (the engine folds them into one per pass)", order, len(conflicts))
		}
		for _, c := range conflicts {
			if c.Base != "0" || len(c.Values) != 2 {
				t.Errorf("order %v: conflict %+v, want base 0 and both values", order, c)
			}
		}
	}
}

// Two systems set one value and a third another, in between: the later
// of the two equal edits is the newest, whatever order the merge sees them
// in (found by the property test: the first equal edit's time was kept).
func TestMergeEqualEditsKeepTheLatestTime(t *testing.T) {
	base := gold(map[string]tandem.Field{"title": {Value: "CTO", Modified: t0, Source: "a"}})
	sides := []Side{
		{System: "a", View: tandem.Values{"title": "CEO"}, Snapshot: tandem.Values{"title": "CTO"}, Modified: t1},
		{System: "s", View: tandem.Values{"title": "CFO"}, Snapshot: tandem.Values{"title": "CTO"}, Modified: t1.Add(time.Second)},
		{System: "b", View: tandem.Values{"title": "CEO"}, Snapshot: tandem.Values{"title": "CTO"}, Modified: t2},
	}
	for _, order := range [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		g := base
		for _, i := range order {
			g = Merge("contact", "e1", g, sides[i], []string{"title"}, policy.Conflict{Default: policy.MustParse("newest")}).Golden
		}
		if f := g["title"]; f.Value != "CEO" || !f.Modified.Equal(t2) {
			t.Errorf("order %v: title = %+v, want CEO as of b's edit", order, f)
		}
	}
}

// Three records created apart with one email, two of them with one value
// and the third with another, in between: linked with no base, the later
// of the two equal records is the newest, whatever order the merge sees
// them in (found by the model-based property test, seed 102: the outcome
// hung on the order of the systems in the config).
func TestMergeNewRecordsAgreeingKeepTheLatestTime(t *testing.T) {
	sides := []Side{
		{System: "a", View: tandem.Values{"first_name": "Ann"}, Modified: t1},
		{System: "s", View: tandem.Values{"first_name": "Anna"}, Modified: t1.Add(time.Second)},
		{System: "b", View: tandem.Values{"first_name": "Ann"}, Modified: t2},
	}
	for _, order := range [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		var g tandem.Golden
		for _, i := range order {
			g = Merge("contact", "e1", g, sides[i], []string{"first_name"}, policy.Conflict{Default: policy.MustParse("newest")}).Golden
		}
		if f := g["first_name"]; f.Value != "Ann" || !f.Modified.Equal(t2) {
			t.Errorf("order %v: first_name = %+v, want Ann as of b's record", order, f)
		}
	}
}

// TestDecideWithinPrecision: Salesforce stamps whole seconds, so its edit
// stamped 10:00:05 was made some time in [05.000, 06.000). A HubSpot edit
// at 05.131 falls in that span: the stamps cannot order the two edits, and
// newest compares the spans' middles (05.500 against 05.131) instead of
// letting the truncated stamp lose. Outside the span the stamps decide as
// they are; the merge order does not change the outcome.
func TestDecideWithinPrecision(t *testing.T) {
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	sf := func(ms int) tandem.Field {
		return tandem.Field{Value: "sf", Modified: at(ms), Source: "salesforce", Precision: time.Second}
	}
	hs := func(ms int) tandem.Field { return tandem.Field{Value: "hs", Modified: at(ms), Source: "hubspot"} }
	tests := []struct {
		name   string
		sf, hs tandem.Field
		want   string // the winner
	}{
		{"hubspot early in salesforce's second", sf(5000), hs(5131), "salesforce"},
		{"hubspot late in salesforce's second", sf(5000), hs(5900), "hubspot"},
		{"hubspot at the start of salesforce's second", sf(5000), hs(5000), "salesforce"},
		{"hubspot just before salesforce's second", sf(5000), hs(4999), "salesforce"},
		{"hubspot at the start of the next second", sf(5000), hs(6000), "hubspot"},
		{"both whole seconds, same stamp: a tie keeps the golden value", sf(5000), tandem.Field{Value: "sf2", Modified: at(5000), Source: "salesforce2", Precision: time.Second}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// golden from one side, the other side deciding; then the other way round
			for _, pair := range [][2]tandem.Field{{tc.sf, tc.hs}, {tc.hs, tc.sf}} {
				g, s := pair[0], pair[1]
				won, why := Decide(policy.MustParse("newest"), 0, g, s)
				if why != "" {
					t.Fatalf("held: %s", why)
				}
				got := g.Source
				if won {
					got = s.Source
				}
				want := tc.want
				if want == "" {
					want = g.Source
				}
				if got != want {
					t.Errorf("golden %s at %s, %s at %s: %s won, want %s", g.Source, g.Modified.Format("05.000"), s.Source, s.Modified.Format("05.000"), got, want)
				}
			}
		})
	}
}
