package mapping

import (
	"fmt"
	"testing"
)

// ParseConfig is the config loader's Parse (tandem/mapping/config),
// reduced to the entities it compiles. The loader imports this package,
// so these tests cannot import it; loader_test.go, an external test file,
// sets it.
var ParseConfig func(file string, data []byte, lookup func(string) (string, bool)) ([]*Entity, error)

// testConfig is what these tests look at in a config: its entities.
type testConfig struct{ Entities []*Entity }

// parse is ParseConfig, for a config that may be invalid.
func parse(file string, data []byte, lookup func(string) (string, bool)) (*testConfig, error) {
	ents, err := ParseConfig(file, data, lookup)
	if err != nil {
		return nil, err
	}
	return &testConfig{Entities: ents}, nil
}

// compile parses a config that must be valid.
func compile(t testing.TB, src string) *testConfig {
	t.Helper()
	cfg, err := parse("tandem.yaml", []byte(src), env(nil))
	if err != nil {
		t.Fatalf("config:\n%v\n---\n%s", err, src)
	}
	return cfg
}

// fieldSystem compiles an entity with one canonical field, f, of type typ
// (YAML), mapped to the system "crm" by entry (YAML; "" reads path v).
// The table tests put the system's value at v.
func fieldSystem(t testing.TB, typ, entry string) *System {
	t.Helper()
	if entry == "" {
		entry = "v"
	}
	return compile(t, fieldConfig(typ, entry)).Entities[0].System("crm")
}

// fieldConfig is fieldSystem's config: f's type on line 6, its entry on
// line 11.
func fieldConfig(typ, entry string) string {
	return fmt.Sprintf(fieldTemplate, typ, entry)
}

// fieldTemplate is fieldConfig's text (shared with package config's tests).
var fieldTemplate = readTestdata("testdata/field.yaml.tmpl")
