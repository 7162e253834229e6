package connectors

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type opts struct {
	Token   string `yaml:"token"`
	BaseURL string `yaml:"base_url"`
}

func TestConfigDecode(t *testing.T) {
	var doc yaml.Node
	yaml.Unmarshal([]byte("type: x\ntoken: abc\nbase_url: http://h\n"), &doc)
	cfg := Config{Name: "sys", Type: "x", File: "t.yaml", Node: doc.Content[0]}
	var o opts
	if err := cfg.Decode(&o, "token"); err != nil || o.Token != "abc" || o.BaseURL != "http://h" {
		t.Fatalf("decode = %+v, %v", o, err)
	}
	yaml.Unmarshal([]byte("type: x\ntokn: abc\n"), &doc)
	cfg.Node = doc.Content[0]
	if err := cfg.Decode(&o); err == nil || err.Error() != "t.yaml:2: systems.sys.tokn: unknown key" {
		t.Errorf("unknown key: %v", err)
	}
	yaml.Unmarshal([]byte("type: x\nbase_url: h\n"), &doc)
	cfg.Node = doc.Content[0]
	o = opts{}
	if err := cfg.Decode(&o, "token"); err == nil || !strings.Contains(err.Error(), "systems.sys.token: required") {
		t.Errorf("missing required: %v", err)
	}
	if _, err := Open(Config{Name: "s", Type: "nope", File: "t.yaml", Node: doc.Content[0]}); err == nil ||
		!strings.Contains(err.Error(), `unknown connector type "nope"`) {
		t.Errorf("unknown type: %v", err)
	}
}

// A file the config names is found beside the config, wherever Tandem runs.
func TestConfigPath(t *testing.T) {
	cfg := Config{Name: "sys", File: "/etc/tandem/tandem.yaml"}
	for in, want := range map[string]string{
		"secret":           "/etc/tandem/secret",
		"secrets/hs-token": "/etc/tandem/secrets/hs-token",
		"../run/secret":    "/etc/run/secret",
		"/run/secrets/hs":  "/run/secrets/hs",
		"":                 "",
	} {
		if got := cfg.Path(in); got != want {
			t.Errorf("Path(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (Config{File: "tandem.yaml"}).Path("secret"); got != "secret" {
		t.Errorf("beside a config in the working directory: Path = %q", got)
	}
}
