//go:build tools

// Package bench pins OPA's command (built by pdpbench as the OPA REST
// server) in this module's requirements, at the version pdp uses.
package bench

import _ "github.com/open-policy-agent/opa"
