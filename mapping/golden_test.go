package mapping

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenEntity is the contact of testdata/golden/tandem.yaml.
func goldenEntity(t testing.TB) *Entity {
	t.Helper()
	const file = "testdata/golden/tandem.yaml"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parse(file, data, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Entities[0]
}

// goldenOut is what Out gives one system, in a golden file.
type goldenOut struct {
	System  string          `json:"system"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Set     []string        `json:"set,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// TestGolden maps each testdata/golden/<system>-<name>.json in with its
// system, and compares the canonical values with <system>-<name>.in.golden;
// then maps those values out to every system, as a create, and compares
// the payloads with <system>-<name>.out.golden. -update rewrites both.
func TestGolden(t *testing.T) {
	e := goldenEntity(t)
	inputs, err := filepath.Glob("testdata/golden/*.json")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range inputs {
		base := strings.TrimSuffix(in, ".json")
		sys, _, _ := strings.Cut(filepath.Base(base), "-")
		t.Run(filepath.Base(base), func(t *testing.T) {
			s := e.System(sys)
			if s == nil {
				t.Fatalf("%s: no system %q in tandem.yaml", in, sys)
			}
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			v, err := s.In(raw)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, base+".in.golden", got)

			var outs []goldenOut
			for _, to := range e.Systems {
				o := goldenOut{System: to.Name}
				if o.Payload, o.Set, err = to.Out(v, e.Fields, true); err != nil {
					o.Error = err.Error()
				}
				outs = append(outs, o)
			}
			got, err = json.MarshalIndent(outs, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, base+".out.golden", got)
		})
	}
}

func checkGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./mapping -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./mapping -run TestGolden -update rewrites it)\n--- got\n%s--- want\n%s", file, got, want)
	}
}
