// Package pdp is the root of the policy decision point module. It holds the
// built-in Rego policy library, so that every binary and test embeds the
// same policies; the server itself lives under server/.
package pdp

import "embed"

// Policies is the built-in Rego policy library: the rego/ directory of this
// module, embedded at build time. Paths inside the file system keep the
// directory name ("rego/core.rego", "rego/core_test.rego", "rego/README.md").
// The engine compiles every *.rego file but the *_test.rego ones; `pdp test`
// runs the tests. The server always loads it, beside any --policy-dir.
//
//go:embed rego
var Policies embed.FS
