package tenantdata

import (
	"slices"
	"strings"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// Plans, from least to most capable.
const (
	PlanFree       = "free"
	PlanPaid       = "paid"
	PlanEnterprise = "enterprise"
)

// Presets: the baselines an environment starts from.
const (
	PresetDevelopment = "development"
	PresetStaging     = "staging"
	PresetProduction  = "production"
)

// MFA modes.
const (
	MFAOff        = "off"
	MFAAll        = "all"
	MFAPrivileged = "privileged"
)

// Brute-force responses.
const (
	BruteForceChallenge = "challenge"
	BruteForceDeny      = "deny"
)

var (
	plans             = []string{PlanFree, PlanPaid, PlanEnterprise}
	presets           = []string{PresetDevelopment, PresetStaging, PresetProduction}
	mfaModes          = []string{MFAOff, MFAAll, MFAPrivileged}
	bruteForceActions = []string{BruteForceChallenge, BruteForceDeny}
	// complianceProfiles are the profiles a policy may declare.
	complianceProfiles = []string{"HIPAA", "PCI_DSS", "SOX", "GDPR"}
	// weekdays are the business-hours day names, Monday first.
	weekdays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	// fixedProviders are the providers without a name part.
	fixedProviders = []string{"password", "google", "github", "microsoft"}
	// riskFactors are the factors a weight may be given for (docs/api.md, section Risk scoring).
	riskFactors = []string{"unusual_time", "unusual_location", "unusual_behavior",
		"untrusted_device", "impossible_travel", "failed_logins", "ip_reputation"}
)

// Normalize rewrites, in place, the choice words of p that are written in
// another case or spelling to their canonical form, when the intended word is
// unambiguous: plan, preset, mfa.mode and brute_force_action to lowercase
// ("Enterprise" -> "enterprise"), compliance profiles to capitals with
// underscores ("pci-dss" -> "PCI_DSS"), business days to their three-letter
// lowercase form ("Monday" -> "mon") and the fixed provider words and the
// saml:/oidc: prefixes to lowercase ("Google" -> "google", "OIDC:okta" ->
// "oidc:okta"). Words that match nothing are left alone for Validate to
// report. Parse calls Normalize; callers that build a policy otherwise (the
// admin RPC) should call it before Validate. Normalize is idempotent.
func Normalize(p *pdpv1.TenantPolicy) {
	if p == nil {
		return
	}
	p.Plan = canonicalWord(p.Plan, plans)
	for _, sp := range p.GetEnvironments() {
		normalizeEnvironment(sp)
	}
}

func normalizeEnvironment(sp *pdpv1.SecurityPolicy) {
	if sp == nil {
		return
	}
	sp.Preset = canonicalWord(sp.Preset, presets)
	if m := sp.GetMfa(); m != nil {
		m.Mode = canonicalWord(m.Mode, mfaModes)
	}
	if in := sp.GetIncident(); in != nil {
		in.BruteForceAction = canonicalWord(in.BruteForceAction, bruteForceActions)
	}
	for i, c := range sp.Compliance {
		sp.Compliance[i] = canonicalProfile(c)
	}
	if bh := sp.GetRisk().GetBusinessHours(); bh != nil {
		for i, d := range bh.Days {
			bh.Days[i] = canonicalDay(d)
		}
	}
	if ap := sp.GetAuthProviders(); ap != nil {
		for i, p := range ap.Allowed {
			ap.Allowed[i] = canonicalProvider(p)
		}
		if em := ap.GetEmergency(); em != nil {
			for i, p := range em.Providers {
				em.Providers[i] = canonicalProvider(p)
			}
		}
	}
}

// canonicalWord returns the member of words that s spells in another case,
// or s unchanged.
func canonicalWord(s string, words []string) string {
	if w := strings.ToLower(strings.TrimSpace(s)); slices.Contains(words, w) {
		return w
	}
	return s
}

// canonicalProfile turns "pci-dss", "PCI DSS" or "hipaa" into the profile.
func canonicalProfile(s string) string {
	w := strings.NewReplacer("-", "_", " ", "_").Replace(strings.ToUpper(strings.TrimSpace(s)))
	if slices.Contains(complianceProfiles, w) {
		return w
	}
	return s
}

// canonicalDay turns "Mon", "MONDAY" or "monday" into "mon".
func canonicalDay(s string) string {
	w := strings.ToLower(strings.TrimSpace(s))
	for _, d := range weekdays {
		if w == d || (len(w) > 3 && strings.HasPrefix(w, d) && slices.Contains(fullDays, w)) {
			return d
		}
	}
	return s
}

var fullDays = []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

// canonicalProvider lowercases the fixed provider words and the kind prefix
// of saml:<name> and oidc:<name>; the name keeps its case.
func canonicalProvider(s string) string {
	w := strings.TrimSpace(s)
	if l := strings.ToLower(w); slices.Contains(fixedProviders, l) {
		return l
	}
	if kind, name, ok := strings.Cut(w, ":"); ok {
		if l := strings.ToLower(kind); l == "saml" || l == "oidc" {
			return l + ":" + name
		}
	}
	return s
}
