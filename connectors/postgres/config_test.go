package postgres

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"tandem/connectors"
)

func section(t *testing.T, text string) connectors.Config {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	return connectors.Config{Name: "db", Type: "postgres", File: "tandem.yaml", Node: doc.Content[0]}
}

// Config errors name the file, the line and the key; the DSN comes from
// the environment only, and no error shows it.
func TestConfigErrors(t *testing.T) {
	const secret = "postgres://tandem:hunter2@db.example.com/crm"
	t.Setenv("PG_TEST_DSN", secret)
	t.Setenv("PG_BAD_DSN", "postgres://tandem:hunter2@db.example.com:notaport/crm")
	for _, tc := range []struct{ yaml, want string }{
		{"type: postgres\ndsn: " + secret + "\n", "tandem.yaml:2: systems.db.dsn: the connection string is read from the environment only"},
		{"type: postgres\ndsn_env: PG_UNSET_DSN\n", "tandem.yaml:2: systems.db.dsn_env: the environment variable PG_UNSET_DSN, which holds the connection string, is not set"},
		{"type: postgres\ndsn_env: PG_BAD_DSN\n", "tandem.yaml:2: systems.db.dsn_env: the connection string in PG_BAD_DSN does not parse"},
		{"type: postgres\ndsn_env: PG_TEST_DSN\ncapture: cdc\n", `tandem.yaml:3: systems.db.capture: must be poll or replication, got "cdc"`},
		{"type: postgres\ndsn_env: PG_TEST_DSN\nslot: My-Slot\n", `tandem.yaml:3: systems.db.slot: must be lower-case`},
		{"type: postgres\ndsn_env: PG_TEST_DSN\npage_size: 0\npage_size_x: 1\n", `tandem.yaml:4: systems.db.page_size_x: unknown key`},
		{"type: postgres\ndsn_env: PG_TEST_DSN\ntables:\n  public.contacts:\n    key: id\n    stamp: x\n", "tandem.yaml:6: systems.db.tables.public.contacts.stamp: unknown key (known: key, updated_at, tandem_id)"},
		{"type: postgres\ndsn_env: PG_TEST_DSN\ntables:\n  public.contacts:\n    key: \"id; drop\"\n", `tandem.yaml:5: systems.db.tables.public.contacts.key: must be a column name`},
		{"type: postgres\ndsn_env: PG_TEST_DSN\ntables:\n  a.b.c: {}\n", `tandem.yaml:4: systems.db.tables.a.b.c: "a.b.c" is not a table name`},
	} {
		_, err := New(section(t, tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.yaml, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("an error shows the password: %v", err)
		}
	}
	c, err := New(section(t, "type: postgres\ndsn_env: PG_TEST_DSN\ncapture: replication\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.(*Client).o.Slot; s != "tandem_db" {
		t.Errorf("default slot prefix %q", s)
	}
}
