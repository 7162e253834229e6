package mapping_test

import (
	"tandem/mapping"
	"tandem/mapping/config"
)

// The mapping tests compile their mappings from YAML with the config
// loader, which imports package mapping: an external test file is the one
// place that can hand it to them.
func init() {
	mapping.ParseConfig = func(file string, data []byte, lookup func(string) (string, bool)) ([]*mapping.Entity, error) {
		cfg, err := config.Parse(file, data, lookup)
		if err != nil {
			return nil, err
		}
		return cfg.Entities, nil
	}
}
