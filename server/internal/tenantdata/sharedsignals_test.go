package tenantdata

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

func TestSharedSignalsSettingsAreCheckedFieldByField(t *testing.T) {
	p := &pdpv1.TenantPolicy{Tenant: "acme", Plan: "enterprise", Environments: map[string]*pdpv1.SecurityPolicy{
		"production": {SharedSignals: &pdpv1.SharedSignalsPolicy{
			SessionRevoked: "maybe", ClaimsChangeStepUp: "webauthn",
			ExternalRiskWeights: map[string]float64{"HIGH": 2, "SEVERE": 0.5},
			ExternalRiskTtl:     durationpb.New(40 * 24 * time.Hour),
		}},
	}}
	err := Validate(p)
	fe := fault.As(err)
	if fe == nil {
		t.Fatal("Validate accepted the policy")
	}
	var got []string
	for _, f := range fe.Fields {
		got = append(got, f.Field)
	}
	for _, want := range []string{
		"environments.production.shared_signals.session_revoked",
		"environments.production.shared_signals.claims_change_step_up",
		"environments.production.shared_signals.external_risk_weights.HIGH",
		"environments.production.shared_signals.external_risk_weights.SEVERE",
		"environments.production.shared_signals.external_risk_ttl",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no violation of %s in %v", want, got)
		}
	}
}

func TestSharedSignalsEffectiveDocumentOnlyWhenSet(t *testing.T) {
	plain := EffectiveEnvironment("production", &pdpv1.SecurityPolicy{})
	if _, ok := plain["shared_signals"]; ok {
		t.Fatal("a policy without shared_signals has them in its effective document")
	}
	eff := EffectiveEnvironment("production", &pdpv1.SecurityPolicy{
		ReportOnlyRules: []string{"risk.step_up", "account.disabled"},
		SharedSignals: &pdpv1.SharedSignalsPolicy{
			SessionRevoked: EffectReportOnly, Account: EffectReportOnly, ExternalRisk: EffectOff,
			ExternalRiskWeights: map[string]float64{"LOW": 0.1},
		},
	})
	ss := eff["shared_signals"].(map[string]any)
	if ss["session_revoked"] != EffectReportOnly || ss["external_risk"] != EffectOff || ss["credential_change"] != EffectEnforce ||
		ss["claims_change_step_up"] != "mfa" || ss["external_risk_ttl_ns"] != DefaultExternalRiskTTL.Nanoseconds() {
		t.Fatalf("shared_signals %v", ss)
	}
	w := ss["external_risk_weights"].(map[string]any)
	if w["LOW"] != 0.1 || w["HIGH"] != 0.8 {
		t.Fatalf("weights %v, want LOW overridden and HIGH defaulted", w)
	}
	var rules []string
	for _, r := range eff["report_only_rules"].([]any) {
		rules = append(rules, r.(string))
	}
	if strings.Join(rules, " ") != "risk.step_up account.disabled session.revoked account.purged" {
		t.Fatalf("report_only_rules %v, want the tenant's then the report-only effects' codes, each once", rules)
	}
}
