package compliance_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/compliance"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

func parse(t *testing.T, src string) *pdpv1.TenantPolicy {
	t.Helper()
	p, err := tenantdata.Parse("acme.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// faults lists the faults joined in err, outermost first.
func faults(err error) []*fault.Error {
	var out []*fault.Error
	var walk func(error)
	walk = func(err error) {
		if fe, ok := err.(*fault.Error); ok {
			out = append(out, fe)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

func fieldsOf(fe *fault.Error) []string {
	out := make([]string, len(fe.Fields))
	for i, f := range fe.Fields {
		out[i] = f.Field + ": " + f.Description
	}
	return out
}

func TestDemoTenantsPass(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"acme.yaml", "globex.yaml", "initech.yaml"} {
		src, err := os.ReadFile("../../demo/tenants/" + name)
		if err != nil {
			t.Fatal(err)
		}
		p, err := tenantdata.Parse(name, src)
		if err != nil {
			t.Fatal(err)
		}
		if err := compliance.Check(context.Background(), p); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// breaksSOXAndHIPAAKeepsPCI declares SOX and HIPAA in production and keeps
// neither; staging declares PCI DSS and keeps it.
const breaksSOXAndHIPAAKeepsPCI = `
tenant: acme
plan: enterprise
environments:
  production:
    inactivity_timeout: 8h
    mfa: {mode: privileged, privileged_roles: [admin]}
    auth_providers: {allowed: [password, google]}
    ip_allowlist: [203.0.113.0/24]
    roles:
      admin: {actions: ["*"]}
      ops: {actions: ["admin.users.*", "db.write"]}
      viewer: {actions: [login, api.read]}
    compliance: [SOX, HIPAA]
  staging:
    inactivity_timeout: 2h
    mfa: {mode: all}
    ip_allowlist: [198.51.100.0/24]
    compliance: [PCI_DSS]
`

func TestComplianceRefusesEachControl(t *testing.T) {
	t.Parallel()
	err := compliance.Review(context.Background(), parse(t, breaksSOXAndHIPAAKeepsPCI))
	fe := faults(err)
	if len(fe) != 1 || fe[0].Code != fault.FailedPrecondition || fe[0].Message != compliance.Message {
		t.Fatalf("error = %v, want one compliance fault", err)
	}
	want := []string{
		"environments.production.compliance: breaks HIPAA control hipaa.corporate_sso (high severity): password sign-in is allowed; " +
			"to fix, set auth_providers.allowed to the corporate SSO providers only (saml:, oidc:, google, microsoft), without password",
		"environments.production.compliance: breaks HIPAA control hipaa.inactivity_logout (high severity): inactivity timeout 8h exceeds the HIPAA maximum of 4h; " +
			"to fix, set inactivity_timeout to 4h or less",
		"environments.production.compliance: breaks HIPAA control hipaa.mfa_all (high severity): MFA mode is privileged; " +
			"to fix, set mfa.mode to all: HIPAA requires a second factor for every user",
		"environments.production.compliance: breaks SOX control sox.inactivity (medium severity): inactivity timeout 8h exceeds the SOX maximum of 4h; " +
			"to fix, set inactivity_timeout to 4h or less",
		"environments.production.compliance: breaks SOX control sox.separation_of_duties (high severity): roles that both administer and change data: ops; " +
			"to fix, split administrative actions (admin.*) and data changes into separate roles",
	}
	if diff := cmp.Diff(want, fieldsOf(fe[0])); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
	if !errors.Is(err, fault.ErrFailedPrecondition) {
		t.Errorf("errors.Is(err, ErrFailedPrecondition) = false")
	}
}

func TestCheckReportsEverything(t *testing.T) {
	t.Parallel()
	// A paid tenant with an invalid timeout, enterprise-only settings and
	// a declared profile its roles break.
	p := parse(t, `
tenant: acme
plan: paid
environments:
  production:
    inactivity_timeout: 30m
    roles:
      admin: {actions: ["*"]}
      support: {actions: ["*"]}
    compliance: [SOX]
`)
	err := compliance.Check(context.Background(), p)
	fe := faults(err)
	if len(fe) != 3 {
		t.Fatalf("error = %v, want three faults", err)
	}
	codes := []fault.Code{fe[0].Code, fe[1].Code, fe[2].Code}
	if diff := cmp.Diff([]fault.Code{fault.InvalidArgument, fault.FailedPrecondition, fault.FailedPrecondition}, codes); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	if got := fieldsOf(fe[1]); len(got) != 2 || !strings.HasPrefix(got[0], "environments.production.inactivity_timeout: requires the enterprise plan") {
		t.Errorf("plan violations: %q", got)
	}
	var controls []string
	for _, f := range fe[2].Fields {
		controls = append(controls, strings.Fields(f.Description)[3])
	}
	// 30m is within SOX's 4h: only the roles break it (support may
	// both administer and change data, as "*" does both).
	if diff := cmp.Diff([]string{"sox.role_based_access", "sox.separation_of_duties"}, controls); diff != "" {
		t.Errorf("controls (-want +got):\n%s", diff)
	}
	if fault.As(err).Code != fault.InvalidArgument {
		t.Errorf("first fault is %v, want invalid argument", fault.As(err).Code)
	}

	if err := compliance.Check(context.Background(), nil); fault.As(err).Code != fault.InvalidArgument {
		t.Errorf("nil policy: %v", err)
	}
}

func TestComplianceNeedsAContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := compliance.Review(ctx, parse(t, breaksSOXAndHIPAAKeepsPCI))
	if fe := faults(err); len(fe) != 2 || fe[0].Code != fault.DeadlineExceeded {
		t.Fatalf("error = %v, want a deadline fault per reviewed environment", err)
	}
	if !strings.HasPrefix(err.Error(), "environments.production.compliance: ") {
		t.Errorf("error %q does not name the environment", err)
	}
	// Nothing declared, nothing reviewed.
	if err := compliance.Review(ctx, parse(t, "tenant: acme\nplan: free\nenvironments:\n  production: {}\n")); err != nil {
		t.Errorf("no profile declared: %v", err)
	}
}

func TestViolation(t *testing.T) {
	t.Parallel()
	got := compliance.Violation("staging", compliance.Finding{
		Control: "gdpr.eu_residency", Severity: "high", Status: compliance.StatusFail,
		Finding: "no country restriction: access from anywhere", Remediation: "set countries.allowed to EU/EEA countries only",
	})
	want := fault.FieldViolation{
		Field:       "environments.staging.compliance",
		Description: "breaks GDPR control gdpr.eu_residency (high severity): no country restriction: access from anywhere; to fix, set countries.allowed to EU/EEA countries only",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
