package tenantpolicy

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

func TestCheckCompliance(t *testing.T) {
	t.Parallel()
	// strict satisfies every profile.
	strict := func() *pdpv1.SecurityPolicy {
		return &pdpv1.SecurityPolicy{
			InactivityTimeout: dur(2 * time.Hour),
			AuthProviders:     &pdpv1.AuthProviders{Allowed: []string{"saml:corp", "microsoft"}},
			IpAllowlist:       []string{"203.0.113.0/24"},
			Roles:             map[string]*pdpv1.Role{"admin": {Actions: []string{"*"}}},
		}
	}
	for _, tc := range []struct {
		name string
		env  string
		sp   func() *pdpv1.SecurityPolicy
		want []string
	}{
		{"no profiles", "development", func() *pdpv1.SecurityPolicy { return &pdpv1.SecurityPolicy{} }, nil},
		{"strict production satisfies all", "production", func() *pdpv1.SecurityPolicy {
			sp := strict()
			sp.Compliance = []string{"HIPAA", "PCI_DSS", "SOX", "GDPR"}
			return sp
		}, nil},
		{"hipaa on a bare development environment", "development", func() *pdpv1.SecurityPolicy {
			return &pdpv1.SecurityPolicy{Compliance: []string{"HIPAA"}}
		}, []string{"inactivity_timeout", "mfa.mode", "auth_providers.allowed", "ip_allowlist", "allow_direct_query", "key_isolation"}},
		{"hipaa inactivity 4h is the limit", "production", func() *pdpv1.SecurityPolicy {
			sp := strict()
			sp.InactivityTimeout, sp.Compliance = dur(4*time.Hour), []string{"HIPAA"}
			return sp
		}, nil},
		{"pci inactivity 4h is too long", "production", func() *pdpv1.SecurityPolicy {
			sp := strict()
			sp.InactivityTimeout, sp.Compliance = dur(4*time.Hour), []string{"PCI_DSS"}
			return sp
		}, []string{"inactivity_timeout"}},
		{"pci accepts privileged mfa on staging", "staging", func() *pdpv1.SecurityPolicy {
			sp := strict()
			sp.Compliance = []string{"PCI_DSS"}
			return sp
		}, nil},
		{"hipaa refuses password and privileged mfa", "staging", func() *pdpv1.SecurityPolicy {
			sp := strict()
			sp.AuthProviders.Allowed = []string{"saml:corp", "password"}
			sp.Compliance = []string{"HIPAA"}
			return sp
		}, []string{"mfa.mode", "auth_providers.allowed"}},
		{"sox and gdpr need roles and isolation", "development", func() *pdpv1.SecurityPolicy {
			return &pdpv1.SecurityPolicy{Compliance: []string{"SOX", "GDPR"}, AllowDirectQuery: proto.Bool(false)}
		}, []string{"roles", "roles", "key_isolation"}},
		{"report only breaks every profile", "production", func() *pdpv1.SecurityPolicy {
			sp := strict()
			sp.ReportOnly, sp.Compliance = proto.Bool(true), []string{"SOX", "GDPR"}
			return sp
		}, []string{"report_only", "report_only"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &pdpv1.TenantPolicy{Tenant: "acme", Plan: PlanEnterprise, Environments: map[string]*pdpv1.SecurityPolicy{tc.env: tc.sp()}}
			var want []string
			for _, f := range tc.want {
				want = append(want, "environments."+tc.env+"."+f)
			}
			err := CheckCompliance(p)
			if diff := cmp.Diff(want, fieldsOf(t, err, fault.FailedPrecondition)); diff != "" {
				t.Errorf("violations (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

func TestCheckComplianceMessage(t *testing.T) {
	t.Parallel()
	p := &pdpv1.TenantPolicy{Plan: PlanEnterprise, Environments: map[string]*pdpv1.SecurityPolicy{
		"staging": {Compliance: []string{"HIPAA"}, AuthProviders: &pdpv1.AuthProviders{Allowed: []string{"password", "github"}}},
	}}
	err := CheckCompliance(p)
	for _, want := range []string{
		"environments.staging.inactivity_timeout: HIPAA requires an inactivity timeout of at most 4h, not 8h",
		`environments.staging.mfa.mode: HIPAA requires MFA for all users (mode all), not "privileged"`,
		"environments.staging.auth_providers.allowed: HIPAA requires corporate SSO only, but allows password and github",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
	if err := CheckCompliance(loadExample(t)); err != nil {
		t.Errorf("the complete example must satisfy its profiles: %v", err)
	}
}
