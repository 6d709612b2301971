// Package version is the identity of this rlhf build: its version and
// commit, stamped by the Makefile through -ldflags -X (a plain `go build`
// falls back to the module's build information). Manifests record it as
// their producer and `rlhf version` prints it.
package version

import (
	"fmt"
	"runtime/debug"
)

// Version and Commit are set at build time:
// -X github.com/rlhf-project/rlhf/version.Version=v1.2.3
// -X github.com/rlhf-project/rlhf/version.Commit=abc1234
var (
	Version = ""
	Commit  = ""
)

// Get returns the version and commit, from -ldflags or else from the
// binary's build information ("dev" and "unknown" when neither says).
func Get() (version, commit string) {
	version, commit = Version, Commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && commit == "" {
				commit = s.Value[:min(12, len(s.Value))]
			}
		}
	}
	if version == "" {
		version = "dev"
	}
	if commit == "" {
		commit = "unknown"
	}
	return version, commit
}

// Producer names this build in dataset manifests, e.g. "rlhf v0.1.0 (abc1234)".
func Producer() string {
	v, c := Get()
	return fmt.Sprintf("rlhf %s (%s)", v, c)
}
