package mapping

import (
	"testing"
)

// compile parses a config that must be valid.
func compile(t testing.TB, src string) *Config {
	t.Helper()
	cfg, err := Parse("tandem.yaml", []byte(src), env(nil))
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
