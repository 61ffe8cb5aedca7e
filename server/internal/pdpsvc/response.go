package pdpsvc

import (
	"maps"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/decision"
)

// FromDecision converts an engine decision to a CheckResponse. allowed is
// true only for an allow. cache_ttl and risk are always set; zero times and
// durations elsewhere are left unset, and session is unset when no session
// control applies. The engine validates the words it emits, so an unknown
// word cannot reach here; it would map to the UNSPECIFIED value.
func FromDecision(d *decision.Decision) *pdpv1.CheckResponse {
	out := &pdpv1.CheckResponse{
		Decision:       decisionKind(d.Kind),
		Allowed:        d.Kind == decision.KindAllow,
		Risk:           risk(d.Risk),
		DecisionId:     d.ID,
		PolicyRevision: d.PolicyRevision,
		CacheTtl:       durationpb.New(d.CacheTTL),
		Enforced:       d.Enforced,
		WouldDecide:    decisionKind(d.WouldDecide),
	}
	out.StepUps = StepUps(d.StepUps)
	for _, r := range d.Reasons {
		out.Reasons = append(out.Reasons, &pdpv1.Reason{Code: r.Code, Message: r.Message, Rule: r.Rule})
	}
	if d.Session != (decision.SessionControl{}) {
		out.Session = &pdpv1.SessionControl{
			ExpiresAt:   timeOf(d.Session.ExpiresAt),
			WarnAt:      timeOf(d.Session.WarnAt),
			IdleTimeout: duration(d.Session.IdleTimeout),
		}
	}
	for _, o := range d.Obligations {
		out.Obligations = append(out.Obligations, &pdpv1.Obligation{
			Kind:   obligationKind(o.Kind),
			Params: maps.Clone(o.Params),
		})
	}
	for _, e := range d.Explanation {
		out.Explanation = append(out.Explanation, &pdpv1.Explanation{
			Rule: e.Rule, Code: e.Code, Effect: effect(e.Effect), Matched: e.Matched, Message: e.Message,
		})
	}
	return out
}

func effect(e string) pdpv1.Effect {
	switch e {
	case decision.EffectDeny:
		return pdpv1.Effect_EFFECT_DENY
	case decision.EffectChallenge:
		return pdpv1.Effect_EFFECT_CHALLENGE
	case decision.EffectAllow:
		return pdpv1.Effect_EFFECT_ALLOW
	case decision.EffectInfo:
		return pdpv1.Effect_EFFECT_INFO
	}
	return pdpv1.Effect_EFFECT_UNSPECIFIED
}

// StepUps converts the step-ups of a challenge, as FromDecision does; nil
// for none. The gateway doors use it for the RFC 9470 challenge, which
// the Go client writes from the same messages.
func StepUps(steps []decision.StepUp) []*pdpv1.StepUp {
	var out []*pdpv1.StepUp
	for _, s := range steps {
		out = append(out, &pdpv1.StepUp{
			Kind:             stepUpKind(s.Kind),
			MaxAge:           duration(s.MaxAge),
			AllowedProviders: cloneStrings(s.AllowedProviders),
			Deadline:         timeOf(s.Deadline),
			ReasonCode:       s.ReasonCode,
		})
	}
	return out
}

func risk(r decision.Risk) *pdpv1.Risk {
	out := &pdpv1.Risk{Score: r.Score, Level: riskLevel(r.Level)}
	for _, f := range r.Factors {
		out.Factors = append(out.Factors, &pdpv1.RiskFactor{Name: f.Name, Weight: f.Weight, Detail: f.Detail})
	}
	return out
}

func decisionKind(k decision.Kind) pdpv1.Decision {
	switch k {
	case decision.KindAllow:
		return pdpv1.Decision_DECISION_ALLOW
	case decision.KindDeny:
		return pdpv1.Decision_DECISION_DENY
	case decision.KindChallenge:
		return pdpv1.Decision_DECISION_CHALLENGE
	}
	return pdpv1.Decision_DECISION_UNSPECIFIED
}

func stepUpKind(k decision.StepUpKind) pdpv1.StepUpKind {
	switch k {
	case decision.StepUpMFA:
		return pdpv1.StepUpKind_STEP_UP_MFA
	case decision.StepUpReauthenticate:
		return pdpv1.StepUpKind_STEP_UP_REAUTHENTICATE
	case decision.StepUpEnrollMFA:
		return pdpv1.StepUpKind_STEP_UP_ENROLL_MFA
	case decision.StepUpUseProvider:
		return pdpv1.StepUpKind_STEP_UP_USE_PROVIDER
	case decision.StepUpVerifyDevice:
		return pdpv1.StepUpKind_STEP_UP_VERIFY_DEVICE
	}
	return pdpv1.StepUpKind_STEP_UP_KIND_UNSPECIFIED
}

func riskLevel(l decision.RiskLevel) pdpv1.RiskLevel {
	switch l {
	case decision.RiskLow:
		return pdpv1.RiskLevel_RISK_LEVEL_LOW
	case decision.RiskMedium:
		return pdpv1.RiskLevel_RISK_LEVEL_MEDIUM
	case decision.RiskHigh:
		return pdpv1.RiskLevel_RISK_LEVEL_HIGH
	case decision.RiskCritical:
		return pdpv1.RiskLevel_RISK_LEVEL_CRITICAL
	}
	return pdpv1.RiskLevel_RISK_LEVEL_UNSPECIFIED
}

func obligationKind(k decision.ObligationKind) pdpv1.ObligationKind {
	switch k {
	case decision.ObligationAudit:
		return pdpv1.ObligationKind_OBLIGATION_AUDIT
	case decision.ObligationNotifySecurity:
		return pdpv1.ObligationKind_OBLIGATION_NOTIFY_SECURITY
	case decision.ObligationWarnSessionExpiry:
		return pdpv1.ObligationKind_OBLIGATION_WARN_SESSION_EXPIRY
	case decision.ObligationCacheNamespace:
		return pdpv1.ObligationKind_OBLIGATION_CACHE_NAMESPACE
	case decision.ObligationRemindMFAEnrollment:
		return pdpv1.ObligationKind_OBLIGATION_REMIND_MFA_ENROLLMENT
	case decision.ObligationSuspendUser:
		return pdpv1.ObligationKind_OBLIGATION_SUSPEND_USER
	case decision.ObligationBlockIP:
		return pdpv1.ObligationKind_OBLIGATION_BLOCK_IP
	}
	return pdpv1.ObligationKind_OBLIGATION_KIND_UNSPECIFIED
}

// timeOf is nil for the zero time.
func timeOf(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// duration is nil for zero.
func duration(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}
