package tandem

import (
	"runtime"
	"runtime/debug"
)

// Build describes the running binary, as Go recorded it when building.
type Build struct {
	Version string `json:"version"` // the module version, "(devel)" from a work tree
	Commit  string `json:"commit"`  // the VCS revision, "" when unknown
	Dirty   bool   `json:"dirty"`   // built from a work tree with changes
	Go      string `json:"go"`
}

// BuildInfo reads what the Go toolchain stamped into the binary.
func BuildInfo() Build {
	b := Build{Version: "(unknown)", Go: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if info.Main.Version != "" {
		b.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.modified":
			b.Dirty = s.Value == "true"
		}
	}
	return b
}

// String is the one line `tandem version` prints.
func (b Build) String() string {
	s := "tandem " + b.Version
	if b.Commit != "" {
		c := b.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s += " commit " + c
		if b.Dirty {
			s += "+changes"
		}
	}
	return s + " " + b.Go
}
