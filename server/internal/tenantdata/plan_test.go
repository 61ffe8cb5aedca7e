package tenantdata

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

func TestCheckPlan(t *testing.T) {
	t.Parallel()
	paidSettings := &pdpv1.SecurityPolicy{
		Preset:           "production",
		AllowDirectQuery: proto.Bool(false),
		KeyIsolation:     proto.Bool(true),
		Roles:            map[string]*pdpv1.Role{"admin": {Actions: []string{"*"}}},
		CacheTtl:         dur(time.Minute),
	}
	for _, tc := range []struct {
		name string
		plan string
		env  *pdpv1.SecurityPolicy
		want []string
	}{
		{"free with preset only", PlanFree, &pdpv1.SecurityPolicy{Preset: "staging"}, nil},
		{"free with nothing", PlanFree, nil, nil},
		{"free with paid settings", PlanFree, paidSettings, []string{
			P + "allow_direct_query", P + "key_isolation", P + "cache_ttl"}},
		{"free with a false bool still counts", PlanFree, &pdpv1.SecurityPolicy{AllowDirectQuery: proto.Bool(false)},
			[]string{P + "allow_direct_query"}},
		{"paid with paid settings", PlanPaid, paidSettings, nil},
		{"paid with enterprise settings", PlanPaid, loadExampleEnv(t), []string{
			P + "inactivity_timeout", P + "role_inactivity_timeouts", P + "session_warning", P + "mfa",
			P + "auth_providers", P + "email_domains", P + "ip_allowlist", P + "ip_denylist", P + "countries",
			P + "risk", P + "incident", P + "compliance", P + "report_only", P + "sensitive_actions", P + "report_only_rules"}},
		{"enterprise with everything", PlanEnterprise, loadExampleEnv(t), nil},
		{"unknown plan ranks as free", "gold", &pdpv1.SecurityPolicy{KeyIsolation: proto.Bool(true)}, []string{P + "key_isolation"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &pdpv1.TenantPolicy{Tenant: "acme", Plan: tc.plan, Environments: map[string]*pdpv1.SecurityPolicy{"production": tc.env}}
			err := CheckPlan(p)
			if diff := cmp.Diff(tc.want, fieldsOf(t, err, fault.FailedPrecondition)); diff != "" {
				t.Errorf("violations (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

func TestCheckPlanMessage(t *testing.T) {
	t.Parallel()
	p := &pdpv1.TenantPolicy{Tenant: "acme", Plan: PlanPaid, Environments: map[string]*pdpv1.SecurityPolicy{
		"production": {Mfa: &pdpv1.MFAPolicy{Mode: "all"}},
		"dev":        {IpAllowlist: []string{"10.0.0.0/8"}},
	}}
	err := CheckPlan(p)
	want := "tenant policy exceeds its plan: " +
		"environments.dev.ip_allowlist: requires the enterprise plan (tenant is on paid); " +
		"environments.production.mfa: requires the enterprise plan (tenant is on paid)"
	if err == nil || err.Error() != want {
		t.Errorf("CheckPlan() = %v\nwant %s", err, want)
	}
}

func TestRequiredPlanCoversEveryField(t *testing.T) {
	t.Parallel()
	fields := (&pdpv1.SecurityPolicy{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		name := string(fields.Get(i).Name())
		got := RequiredPlan(name)
		if name != "preset" && name != "roles" && got == PlanFree {
			t.Errorf("%s is free: only preset and roles may be set on the free plan", name)
		}
		if !strings.Contains(packageDoc(t), name) {
			t.Errorf("%s is missing from the plan table in doc.go", name)
		}
	}
}

// loadExampleEnv is the production environment of the complete example.
func loadExampleEnv(t *testing.T) *pdpv1.SecurityPolicy {
	t.Helper()
	return loadExample(t).GetEnvironments()["production"]
}
