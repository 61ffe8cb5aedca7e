package config

import (
	"flag"
	"os"
)

// DefaultShadowSample is the share of decisions a shadow candidate
// evaluates.
const DefaultShadowSample = 0.1

// Shadow holds the shadow evaluation settings: a candidate policy set
// evaluated beside the live one for a sampled share of decisions, off the
// request path (docs/policy-change.md).
type Shadow struct {
	// ShadowPolicyDirs are the candidate's directories of authors' Rego
	// modules (--shadow-policy-dir, repeatable; PDP_SHADOW_POLICY_DIR,
	// comma-separated); empty takes the live --policy-dir.
	ShadowPolicyDirs []string
	// ShadowTenantsDir is the candidate's directory of tenant files
	// (--shadow-tenants, PDP_SHADOW_TENANTS); empty takes the live
	// --tenants. With neither, no candidate runs but the tenants'
	// candidates of the admin API.
	ShadowTenantsDir string
	// ShadowSample is the share of decisions evaluated in shadow, 0..1
	// (--shadow-sample, PDP_SHADOW_SAMPLE).
	ShadowSample float64
}

// ShadowEnabled reports whether a candidate set of files is configured.
func (s Shadow) ShadowEnabled() bool { return len(s.ShadowPolicyDirs) > 0 || s.ShadowTenantsDir != "" }

func (c *Config) registerShadow(fs *flag.FlagSet) {
	fs.Var((*listFlag)(&c.ShadowPolicyDirs), "shadow-policy-dir", "directory of the shadow candidate's Rego modules (repeatable; default: --policy-dir); decisions are evaluated with it too, off the request path, and differences counted and logged")
	fs.StringVar(&c.ShadowTenantsDir, "shadow-tenants", c.ShadowTenantsDir, "directory of the shadow candidate's tenant files (default: --tenants)")
	fs.Float64Var(&c.ShadowSample, "shadow-sample", c.ShadowSample, "share of decisions evaluated in shadow, 0..1 (the file candidate and the admin API's)")
}

func (c Config) checkShadow(bad func(string, ...any)) {
	if c.ShadowSample < 0 || c.ShadowSample > 1 {
		bad("--shadow-sample %g: must be between 0 and 1", c.ShadowSample)
	}
	for _, d := range append(append([]string(nil), c.ShadowPolicyDirs...), c.ShadowTenantsDir) {
		if d == "" {
			continue
		}
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			bad("shadow candidate %s: not a directory", d)
		}
	}
}
