// Package version reports what `pdp version` prints: the build version, the
// Go toolchain, and the versions of OPA and grpc-go compiled in.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set at build time with -ldflags "-X ...version.Version=v1.2.3".
var Version = "dev"

// Info describes the running binary.
type Info struct {
	// Version is the build version.
	Version string `json:"version"`
	// Go is the Go toolchain version.
	Go string `json:"go"`
	// OPA is the version of the embedded OPA module.
	OPA string `json:"opa"`
	// GRPC is the version of grpc-go.
	GRPC string `json:"grpc"`
	// Revision is the VCS revision, when the build recorded one.
	Revision string `json:"revision,omitempty"`
}

// Get returns the build information of the running binary.
func Get() Info {
	info := Info{Version: Version, Go: runtime.Version(), OPA: "unknown", GRPC: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	for _, dep := range bi.Deps {
		switch dep.Path {
		case "github.com/open-policy-agent/opa":
			info.OPA = dep.Version
		case "google.golang.org/grpc":
			info.GRPC = dep.Version
		}
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			info.Revision = s.Value
		}
	}
	return info
}

// String renders the information on one line.
func (i Info) String() string {
	s := fmt.Sprintf("pdp %s (%s, opa %s, grpc %s)", i.Version, i.Go, i.OPA, i.GRPC)
	if i.Revision != "" {
		s += " revision " + i.Revision
	}
	return s
}
