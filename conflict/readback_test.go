package conflict

import (
	"reflect"
	"slices"
	"testing"

	"tandem"
	"tandem/conflict/policy"
	"tandem/mapping"
	"tandem/mapping/config"
)

// lossySystem is a system that holds a full name in one value and reads an
// email-like code lower-cased: neither round-trips.
func lossySystem(t *testing.T) *mapping.System {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(`systems:
  crm: { type: test }
entities:
  contact:
    fields: { first: string, last: string, code: string }
    systems:
      crm:
        object: person
        fields:
          name: { path: name, fields: [first, last], split: " ", join: " " }
          code: { path: code, transform: lower }
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Entities[0].System("crm")
}

func TestReadBackSnapshot(t *testing.T) {
	sm := lossySystem(t)
	got := readBack(sm, tandem.Values{"first": "Ann Marie", "last": "Lee", "code": "AB"})
	want := tandem.Values{"first": "Ann", "last": "Marie Lee", "code": "ab"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readBack = %v, want %v", got, want)
	}
}

func TestUnechoed(t *testing.T) {
	sm := lossySystem(t)
	golden := gold(map[string]tandem.Field{"first": {Value: "Ann Marie"}, "last": {Value: "Lee"}, "code": {Value: "AB"}})
	for _, tc := range []struct {
		name     string
		snapshot tandem.Values
		want     []string
	}{
		{"the system shows what the golden record reads back as", tandem.Values{"first": "Ann", "last": "Marie Lee", "code": "ab"}, nil},
		{"the last name differs from that", tandem.Values{"first": "Ann", "last": "Marie Leigh", "code": "ab"}, []string{"last"}},
		{"the code differs", tandem.Values{"first": "Ann", "last": "Marie Lee", "code": "xy"}, []string{"code"}},
		{"never seen there", tandem.Values{}, []string{"first", "last", "code"}},
	} {
		got := unechoed(sm, golden, tc.snapshot, []string{"first", "last", "code"})
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: unechoed = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMergeBaseOfALossySystem(t *testing.T) {
	sm := lossySystem(t)
	golden := gold(map[string]tandem.Field{"first": {Value: "Ann Marie", Source: "sf", Modified: t0}, "last": {Value: "Lee", Source: "sf", Modified: t0},
		"code": {Value: "AB", Source: "sf", Modified: t0}})
	snap := tandem.Values{"first": "Ann", "last": "Marie Lee", "code": "ab"}
	newest := policy.Conflict{Default: policy.MustParse("newest")}
	merge := func(view tandem.Values) Outcome {
		side := Side{System: "crm", View: view, Snapshot: mergeBase(sm, golden, view, snap), Modified: t1}
		return Merge("contact", "e1", golden, side, []string{"first", "last", "code"}, newest)
	}
	// The echo of Tandem's write: nothing changes.
	if out := merge(snap); out.Changed || len(out.Conflicts) != 0 {
		t.Errorf("the echo merged: %+v", out)
	}
	// The last part of the name edited there: the whole name is taken as
	// the system reads it, with no conflict (the golden record never moved).
	out := merge(tandem.Values{"first": "Ann", "last": "Marie Leigh", "code": "ab"})
	if got := out.Golden.Values(); got["first"] != "Ann" || got["last"] != "Marie Leigh" || got["code"] != "AB" || len(out.Conflicts) != 0 {
		t.Errorf("an edit of the name: golden %v, conflicts %v", got, out.Conflicts)
	}
	// The code edited there: taken, no conflict.
	out = merge(tandem.Values{"first": "Ann", "last": "Marie Lee", "code": "cd"})
	if got := out.Golden.Values(); got["code"] != "cd" || got["first"] != "Ann Marie" || len(out.Conflicts) != 0 {
		t.Errorf("an edit of the code: golden %v, conflicts %v", got, out.Conflicts)
	}
	// The golden value moved since (a write to the system pending) and the
	// system edited too: a conflict, as for any system.
	golden["code"] = tandem.Field{Value: "EF", Source: "sf", Modified: t2}
	side := Side{System: "crm", View: tandem.Values{"code": "cd"}, Modified: t1}
	side.Snapshot = mergeBase(sm, golden, side.View, snap)
	if out := Merge("contact", "e1", golden, side, []string{"code"}, newest); len(out.Conflicts) != 1 {
		t.Errorf("both changed: %d conflicts, want 1", len(out.Conflicts))
	}
}

func TestFirstLink(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(`systems:
  crm: { type: test }
  sf: { type: test }
entities:
  contact:
    fields: { first: string, last: string, code: string }
    systems:
      crm:
        object: person
        fields:
          name: { path: name, fields: [first, last], split: " ", join: " " }
          code: { path: code, transform: lower }
      sf:
        object: Contact
        fields: { first: FirstName, last: LastName, code: Code }
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ent := cfg.Entities[0]
	crm, sf := ent.System("crm"), ent.System("sf")
	from := func(src string, v tandem.Values) tandem.Golden {
		g := tandem.Golden{}
		for f, x := range v {
			g[f] = tandem.Field{Value: x, Source: src, Modified: t0}
		}
		return g
	}
	for _, tc := range []struct {
		name       string
		sm         *mapping.System
		golden     tandem.Golden
		view       tandem.Values
		wantView   tandem.Values // what the merge is given
		wantGolden tandem.Values // nil: unchanged
	}{
		{"the lossy system shows the golden value as it reads back", crm,
			from("sf", tandem.Values{"first": "Ann Marie", "last": "Lee", "code": "AB"}), tandem.Values{"first": "Ann", "last": "Marie Lee", "code": "ab"},
			tandem.Values{"first": "Ann Marie", "last": "Lee", "code": "AB"}, nil},
		{"half a name agreeing is no agreement", crm,
			from("sf", tandem.Values{"first": "Ann Marie", "last": "Lee"}), tandem.Values{"first": "Ann", "last": "Marie Leigh"},
			tandem.Values{"first": "Ann", "last": "Marie Leigh"}, nil},
		{"the golden value read from the lossy system, said more precisely", sf,
			from("crm", tandem.Values{"first": "Ann", "last": "Marie Lee", "code": "ab"}), tandem.Values{"first": "Ann Marie", "last": "Lee", "code": "AB"},
			tandem.Values{"first": "Ann Marie", "last": "Lee", "code": "AB"}, tandem.Values{"first": "Ann Marie", "last": "Lee", "code": "AB"}},
		{"another name is a difference for the merge", sf,
			from("crm", tandem.Values{"first": "Ann", "last": "Marie Lee"}), tandem.Values{"first": "Ann Marie", "last": "Leigh"},
			tandem.Values{"first": "Ann Marie", "last": "Leigh"}, nil},
	} {
		golden, view, moved := firstLink(ent, tc.sm, tc.golden, tc.view)
		if !reflect.DeepEqual(view, tc.wantView) {
			t.Errorf("%s: view %v, want %v", tc.name, view, tc.wantView)
		}
		want := tc.wantGolden
		if want == nil {
			want = tc.golden.Values()
		}
		if !reflect.DeepEqual(golden.Values(), want) || moved != (tc.wantGolden != nil) {
			t.Errorf("%s: golden %v (moved %v), want %v", tc.name, golden.Values(), moved, want)
		}
	}
}
