package cli

import (
	"strings"
	"testing"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

func TestPrintDecisionNamesEachExplainedRuleByItsEffectInLowercase(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	printDecision(&b, &pdpv1.CheckResponse{
		Decision: pdpv1.Decision_DECISION_DENY, Enforced: true,
		Explanation: []*pdpv1.Explanation{
			{Rule: "pdp.network.ip_denied", Code: "network.ip_denied", Effect: pdpv1.Effect_EFFECT_DENY, Matched: true, Message: "203.0.113.9 is denied"},
			{Rule: "pdp.mfa.required", Code: "authn.mfa_required", Effect: pdpv1.Effect_EFFECT_CHALLENGE, Message: "mfa fresh"},
		},
	})
	for _, want := range []string{
		"  + pdp.network.ip_denied          deny       203.0.113.9 is denied\n",
		"  - pdp.mfa.required               challenge  mfa fresh\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
