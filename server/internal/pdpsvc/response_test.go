package pdpsvc

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/decision"
)

func TestFromDecision(t *testing.T) {
	t.Parallel()
	deadline := time.Date(2026, time.April, 1, 0, 0, 0, 0, time.UTC)
	expires := time.Date(2026, time.March, 4, 6, 0, 0, 0, time.UTC)
	warn := expires.Add(-5 * time.Minute)
	tests := []struct {
		name string
		in   *decision.Decision
		want *pdpv1.CheckResponse
	}{
		{
			name: "allow",
			in:   &decision.Decision{Kind: decision.KindAllow, ID: "d1", PolicyRevision: "r1", CacheTTL: 30 * time.Second, Enforced: true},
			want: &pdpv1.CheckResponse{Decision: pdpv1.Decision_DECISION_ALLOW, Allowed: true, DecisionId: "d1", PolicyRevision: "r1",
				CacheTtl: durationpb.New(30 * time.Second), Enforced: true, Risk: &pdpv1.Risk{}},
		},
		{
			name: "deny in report-only mode",
			in: &decision.Decision{Kind: decision.KindAllow, WouldDecide: decision.KindDeny,
				Reasons: []decision.Reason{{Code: "network.ip_denied", Message: "IP on deny list", Rule: "pdp.network.ip_denied"}}},
			want: &pdpv1.CheckResponse{Decision: pdpv1.Decision_DECISION_ALLOW, Allowed: true, WouldDecide: pdpv1.Decision_DECISION_DENY,
				CacheTtl: durationpb.New(0), Risk: &pdpv1.Risk{},
				Reasons: []*pdpv1.Reason{{Code: "network.ip_denied", Message: "IP on deny list", Rule: "pdp.network.ip_denied"}}},
		},
		{
			name: "deny is not allowed",
			in:   &decision.Decision{Kind: decision.KindDeny, Enforced: true, Risk: decision.Risk{Score: 0.95, Level: decision.RiskCritical}},
			want: &pdpv1.CheckResponse{Decision: pdpv1.Decision_DECISION_DENY, Enforced: true, CacheTtl: durationpb.New(0),
				Risk: &pdpv1.Risk{Score: 0.95, Level: pdpv1.RiskLevel_RISK_LEVEL_CRITICAL}},
		},
		{
			name: "challenge with everything",
			in: &decision.Decision{
				Kind: decision.KindChallenge, Enforced: true,
				StepUps: []decision.StepUp{
					{Kind: decision.StepUpMFA, MaxAge: 15 * time.Minute, ReasonCode: "authn.mfa_required"},
					{Kind: decision.StepUpReauthenticate, ReasonCode: "session.inactive"},
					{Kind: decision.StepUpEnrollMFA, Deadline: deadline, ReasonCode: "authn.mfa_enrollment_required"},
					{Kind: decision.StepUpUseProvider, AllowedProviders: []string{"google", "saml:okta"}, ReasonCode: "authn.provider_not_allowed"},
					{Kind: decision.StepUpVerifyDevice, ReasonCode: "risk.step_up"},
				},
				Risk: decision.Risk{Score: 0.8, Level: decision.RiskHigh, Factors: []decision.RiskFactor{
					{Name: "unusual_location", Weight: 0.3, Detail: "country BR not seen"},
					{Name: "impossible_travel", Weight: 0.5, Detail: "9000 km/h"},
				}},
				Session: decision.SessionControl{ExpiresAt: expires, WarnAt: warn, IdleTimeout: time.Hour},
				Obligations: []decision.Obligation{
					{Kind: decision.ObligationAudit},
					{Kind: decision.ObligationNotifySecurity},
					{Kind: decision.ObligationWarnSessionExpiry, Params: map[string]string{"at": "x"}},
					{Kind: decision.ObligationCacheNamespace, Params: map[string]string{"prefix": "acme:"}},
					{Kind: decision.ObligationRemindMFAEnrollment},
					{Kind: decision.ObligationSuspendUser},
					{Kind: decision.ObligationBlockIP},
				},
				Explanation: []decision.Explanation{{Rule: "pdp.authn.mfa_required", Code: "authn.mfa_required", Effect: "challenge", Matched: true, Message: "m"}},
			},
			want: &pdpv1.CheckResponse{
				Decision: pdpv1.Decision_DECISION_CHALLENGE, Enforced: true, CacheTtl: durationpb.New(0),
				StepUps: []*pdpv1.StepUp{
					{Kind: pdpv1.StepUpKind_STEP_UP_MFA, MaxAge: durationpb.New(15 * time.Minute), ReasonCode: "authn.mfa_required"},
					{Kind: pdpv1.StepUpKind_STEP_UP_REAUTHENTICATE, ReasonCode: "session.inactive"},
					{Kind: pdpv1.StepUpKind_STEP_UP_ENROLL_MFA, Deadline: timestamppb.New(deadline), ReasonCode: "authn.mfa_enrollment_required"},
					{Kind: pdpv1.StepUpKind_STEP_UP_USE_PROVIDER, AllowedProviders: []string{"google", "saml:okta"}, ReasonCode: "authn.provider_not_allowed"},
					{Kind: pdpv1.StepUpKind_STEP_UP_VERIFY_DEVICE, ReasonCode: "risk.step_up"},
				},
				Risk: &pdpv1.Risk{Score: 0.8, Level: pdpv1.RiskLevel_RISK_LEVEL_HIGH, Factors: []*pdpv1.RiskFactor{
					{Name: "unusual_location", Weight: 0.3, Detail: "country BR not seen"},
					{Name: "impossible_travel", Weight: 0.5, Detail: "9000 km/h"},
				}},
				Session: &pdpv1.SessionControl{ExpiresAt: timestamppb.New(expires), WarnAt: timestamppb.New(warn), IdleTimeout: durationpb.New(time.Hour)},
				Obligations: []*pdpv1.Obligation{
					{Kind: pdpv1.ObligationKind_OBLIGATION_AUDIT},
					{Kind: pdpv1.ObligationKind_OBLIGATION_NOTIFY_SECURITY},
					{Kind: pdpv1.ObligationKind_OBLIGATION_WARN_SESSION_EXPIRY, Params: map[string]string{"at": "x"}},
					{Kind: pdpv1.ObligationKind_OBLIGATION_CACHE_NAMESPACE, Params: map[string]string{"prefix": "acme:"}},
					{Kind: pdpv1.ObligationKind_OBLIGATION_REMIND_MFA_ENROLLMENT},
					{Kind: pdpv1.ObligationKind_OBLIGATION_SUSPEND_USER},
					{Kind: pdpv1.ObligationKind_OBLIGATION_BLOCK_IP},
				},
				Explanation: []*pdpv1.Explanation{{Rule: "pdp.authn.mfa_required", Code: "authn.mfa_required", Effect: pdpv1.Effect_EFFECT_CHALLENGE, Matched: true, Message: "m"}},
			},
		},
		{
			name: "risk levels low and medium",
			in:   &decision.Decision{Kind: decision.KindAllow, Risk: decision.Risk{Score: 0.1, Level: decision.RiskLow}, WouldDecide: decision.KindChallenge},
			want: &pdpv1.CheckResponse{Decision: pdpv1.Decision_DECISION_ALLOW, Allowed: true, CacheTtl: durationpb.New(0),
				WouldDecide: pdpv1.Decision_DECISION_CHALLENGE, Risk: &pdpv1.Risk{Score: 0.1, Level: pdpv1.RiskLevel_RISK_LEVEL_LOW}},
		},
		{
			name: "medium",
			in:   &decision.Decision{Kind: decision.KindDeny, Risk: decision.Risk{Level: decision.RiskMedium}},
			want: &pdpv1.CheckResponse{Decision: pdpv1.Decision_DECISION_DENY, CacheTtl: durationpb.New(0),
				Risk: &pdpv1.Risk{Level: pdpv1.RiskLevel_RISK_LEVEL_MEDIUM}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, FromDecision(tc.in), protocmp.Transform()); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromDecisionCopies(t *testing.T) {
	t.Parallel()
	d := &decision.Decision{Kind: decision.KindChallenge,
		StepUps:     []decision.StepUp{{Kind: decision.StepUpUseProvider, AllowedProviders: []string{"google"}}},
		Obligations: []decision.Obligation{{Kind: decision.ObligationAudit, Params: map[string]string{"k": "v"}}}}
	out := FromDecision(d)
	d.StepUps[0].AllowedProviders[0] = "changed"
	d.Obligations[0].Params["k"] = "changed"
	if got := out.GetStepUps()[0].GetAllowedProviders()[0]; got != "google" {
		t.Errorf("allowed provider = %q, want a copy", got)
	}
	if got := out.GetObligations()[0].GetParams()["k"]; got != "v" {
		t.Errorf("param = %q, want a copy", got)
	}
}

func TestFromDecisionNamesEveryExplainedEffect(t *testing.T) {
	t.Parallel()
	want := map[string]pdpv1.Effect{
		decision.EffectDeny: pdpv1.Effect_EFFECT_DENY, decision.EffectChallenge: pdpv1.Effect_EFFECT_CHALLENGE,
		decision.EffectAllow: pdpv1.Effect_EFFECT_ALLOW, decision.EffectInfo: pdpv1.Effect_EFFECT_INFO,
	}
	for word, e := range want {
		got := FromDecision(&decision.Decision{Explanation: []decision.Explanation{{Rule: "r", Effect: word}}})
		if g := got.GetExplanation()[0].GetEffect(); g != e {
			t.Errorf("effect %q answered %v, want %v", word, g, e)
		}
	}
}
