package tenantdata

import (
	"slices"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// The modes of a Shared Signals effect (SharedSignalsPolicy).
const (
	EffectEnforce    = "enforce"
	EffectReportOnly = "report_only"
	EffectOff        = "off"
)

// The defaults of SharedSignalsPolicy.
const (
	// DefaultExternalRiskTTL is how long a risk level counts after its
	// event.
	DefaultExternalRiskTTL = 24 * time.Hour
	// MaxExternalRiskTTL bounds external_risk_ttl.
	MaxExternalRiskTTL = 30 * 24 * time.Hour
)

// DefaultExternalRiskWeights are the weights of the external_risk factor
// per level: HIGH alone is above the default step-up threshold (0.7) and
// below the deny threshold (0.9).
var DefaultExternalRiskWeights = map[string]float64{"LOW": 0, "MEDIUM": 0.4, "HIGH": 0.8}

// sharedSignalsEffects are the effect fields of SharedSignalsPolicy with
// the reason code each makes report-only (none for the effects that are
// not a deny or a challenge).
var sharedSignalsEffects = []struct {
	name  string
	get   func(*pdpv1.SharedSignalsPolicy) string
	codes []string
}{
	{"session_revoked", (*pdpv1.SharedSignalsPolicy).GetSessionRevoked, []string{"session.revoked"}},
	{"credential_change", (*pdpv1.SharedSignalsPolicy).GetCredentialChange, []string{"ssf.credential_change"}},
	{"claims_change", (*pdpv1.SharedSignalsPolicy).GetClaimsChange, []string{"ssf.claims_change"}},
	{"device_compliance", (*pdpv1.SharedSignalsPolicy).GetDeviceCompliance, nil},
	{"external_risk", (*pdpv1.SharedSignalsPolicy).GetExternalRisk, nil},
	{"account", (*pdpv1.SharedSignalsPolicy).GetAccount, []string{"account.disabled", "account.purged"}},
	{"credential_compromise", (*pdpv1.SharedSignalsPolicy).GetCredentialCompromise, []string{"ssf.credential_compromise"}},
}

// sharedSignals checks a SharedSignalsPolicy.
func (c *checker) sharedSignals(path string, s *pdpv1.SharedSignalsPolicy) {
	if s == nil {
		return
	}
	for _, e := range sharedSignalsEffects {
		if m := e.get(s); m != "" && m != EffectEnforce && m != EffectReportOnly && m != EffectOff {
			c.v.Add(path+"."+e.name, "must be enforce, report_only or off, not %q", m)
		}
	}
	if k := s.GetClaimsChangeStepUp(); k != "" && k != "mfa" && k != "reauthenticate" {
		c.v.Add(path+".claims_change_step_up", "must be mfa or reauthenticate, not %q", k)
	}
	for _, k := range sortedKeys(s.GetExternalRiskWeights()) {
		wp := joinPath(path+".external_risk_weights", k)
		if _, ok := DefaultExternalRiskWeights[k]; !ok {
			c.v.Add(wp, "unknown risk level; the levels are LOW, MEDIUM, HIGH")
			continue
		}
		c.unit(wp, s.GetExternalRiskWeights()[k])
	}
	if d, ok := c.duration(path+".external_risk_ttl", s.GetExternalRiskTtl()); ok {
		c.within(path+".external_risk_ttl", d, time.Minute, MaxExternalRiskTTL)
	}
}

// effectiveSharedSignals is the shared_signals document of rego/README.md,
// every default filled in.
func effectiveSharedSignals(s *pdpv1.SharedSignalsPolicy) map[string]any {
	out := map[string]any{}
	for _, e := range sharedSignalsEffects {
		m := e.get(s)
		if m == "" {
			m = EffectEnforce
		}
		out[e.name] = m
	}
	step := s.GetClaimsChangeStepUp()
	if step == "" {
		step = "mfa"
	}
	out["claims_change_step_up"] = step
	weights := map[string]any{}
	for k, w := range DefaultExternalRiskWeights {
		weights[k] = w
	}
	for k, w := range s.GetExternalRiskWeights() {
		weights[k] = w
	}
	out["external_risk_weights"] = weights
	ttl := DefaultExternalRiskTTL.Nanoseconds()
	if d := s.GetExternalRiskTtl(); d != nil {
		ttl = d.AsDuration().Nanoseconds()
	}
	out["external_risk_ttl_ns"] = ttl
	return out
}

// reportOnlySharedSignals appends to rules the reason codes of the effects
// s makes report-only, each once.
func reportOnlySharedSignals(rules []any, s *pdpv1.SharedSignalsPolicy) []any {
	for _, e := range sharedSignalsEffects {
		if e.get(s) != EffectReportOnly {
			continue
		}
		for _, code := range e.codes {
			if !slices.Contains(rules, any(code)) {
				rules = append(rules, code)
			}
		}
	}
	return rules
}
