package compliance_test

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	pdp "github.com/pdp-dev/pdp"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/compliance"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// demoDir holds the demo tenants: acme (enterprise, declares SOX in
// production), globex (paid) and initech (free).
const demoDir = "../../demo/tenants"

// loadDemo returns an engine holding the demo tenants and the built-in
// library.
func loadDemo(t *testing.T) *engine.Engine {
	t.Helper()
	policies, err := tenantdata.LoadDir(demoDir)
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{})
	if _, err := e.Load(context.Background(), engine.Bundle{Tenants: tenantdata.Data(policies)}); err != nil {
		t.Fatal(err)
	}
	return e
}

// parsePolicy parses a tenant policy written as YAML and checks that it is
// valid, so that compliance is the only thing under test.
func parsePolicy(t *testing.T, src string) *pdpv1.TenantPolicy {
	t.Helper()
	p, err := tenantdata.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := tenantdata.Validate(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func controls(fs []compliance.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Control + ":" + f.Status
	}
	return out
}

func wantCode(t *testing.T, err error, code fault.Code) *fault.Error {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != code {
		t.Fatalf("error = %v, want a %s fault", err, code)
	}
	return fe
}

func TestComplianceFindingsDemo(t *testing.T) {
	t.Parallel()
	e := loadDemo(t)
	r := compliance.NewReporter(e)
	ctx := context.Background()

	tests := []struct {
		tenant, environment, framework string
		want                           []string
	}{
		{"acme", "production", "SOX", []string{
			"sox.audit_logging:pass", "sox.change_approval:pass", "sox.inactivity:pass",
			"sox.role_based_access:pass", "sox.separation_of_duties:pass",
		}},
		// Environment "" is production; the framework is case-insensitive.
		{"acme", "", "sox", []string{
			"sox.audit_logging:pass", "sox.change_approval:pass", "sox.inactivity:pass",
			"sox.role_based_access:pass", "sox.separation_of_duties:pass",
		}},
		// acme does not declare PCI DSS: the report still says where it
		// stands (4h is over the PCI DSS maximum of 2h).
		{"acme", "production", "pci-dss", []string{
			"pci_dss.direct_query_production:pass", "pci_dss.inactivity:fail", "pci_dss.mfa_privileged:pass",
			"pci_dss.network_segmentation:pass", "pci_dss.strong_auth:pass",
		}},
		// Development grants engineers everything.
		{"acme", "development", "SOX", []string{
			"sox.audit_logging:pass", "sox.change_approval:pass", "sox.inactivity:fail",
			"sox.role_based_access:fail", "sox.separation_of_duties:fail",
		}},
		// globex gives owner "*": not least privilege.
		{"globex", "production", "GDPR", []string{
			"gdpr.access_logging:pass", "gdpr.data_isolation:pass", "gdpr.eu_residency:fail", "gdpr.role_based_access:fail",
		}},
	}
	for _, tt := range tests {
		got, err := r.Findings(ctx, tt.tenant, tt.environment, tt.framework)
		if err != nil {
			t.Fatalf("%s/%s/%s: %v", tt.tenant, tt.environment, tt.framework, err)
		}
		if diff := cmp.Diff(tt.want, controls(got)); diff != "" {
			t.Errorf("%s/%s/%s findings (-want +got):\n%s", tt.tenant, tt.environment, tt.framework, diff)
		}
		for _, f := range got {
			if f.Finding == "" || f.Severity == "" {
				t.Errorf("%s: empty finding or severity: %+v", f.Control, f)
			}
			if f.Passed() != (f.Remediation == "") {
				t.Errorf("%s: status %s with remediation %q", f.Control, f.Status, f.Remediation)
			}
		}
	}
}

func TestComplianceFindingsEveryFramework(t *testing.T) {
	t.Parallel()
	e := loadDemo(t)
	r := compliance.NewReporter(e)
	got, err := r.Findings(context.Background(), "acme", "production", "")
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for i, f := range got {
		per[f.Framework()]++
		if i > 0 && got[i-1].Control > f.Control {
			t.Errorf("findings not sorted: %s before %s", got[i-1].Control, f.Control)
		}
	}
	if diff := cmp.Diff(map[string]int{"GDPR": 4, "HIPAA": 6, "PCI_DSS": 5, "SOX": 5}, per); diff != "" {
		t.Errorf("controls per framework (-want +got):\n%s", diff)
	}
	want := compliance.Finding{
		Control:     "pci_dss.inactivity",
		Severity:    "high",
		Status:      compliance.StatusFail,
		Finding:     "inactivity timeout 4h exceeds the PCI_DSS maximum of 2h",
		Remediation: "set inactivity_timeout to 2h or less",
	}
	var found bool
	for _, f := range got {
		if f.Control == want.Control {
			found = true
			if diff := cmp.Diff(want, f); diff != "" {
				t.Errorf("finding (-want +got):\n%s", diff)
			}
		}
	}
	if !found {
		t.Errorf("no %s finding", want.Control)
	}
}

func TestComplianceFindingsErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	_, err := compliance.NewReporter(engine.New(engine.Options{})).Findings(ctx, "acme", "", "")
	wantCode(t, err, fault.Unavailable)

	e := loadDemo(t)
	r := compliance.NewReporter(e)
	fe := wantCode(t, func() error { _, err := r.Findings(ctx, "acme", "", "ISO27001"); return err }(), fault.InvalidArgument)
	if len(fe.Fields) != 1 || fe.Fields[0].Field != "framework" || !strings.Contains(fe.Fields[0].Description, "GDPR, HIPAA, PCI_DSS, SOX") {
		t.Errorf("unknown framework: %+v", fe.Fields)
	}

	_, err = r.Findings(ctx, "umbrella", "", "")
	if fe := wantCode(t, err, fault.NotFound); fe.Message != `no policy for tenant "umbrella"` {
		t.Errorf("unknown tenant: %q", fe.Message)
	}
	_, err = r.Findings(ctx, "acme", "qa", "SOX")
	if fe := wantCode(t, err, fault.NotFound); fe.Message != `tenant "acme" declares no environment "qa" (it declares development, production, sandbox, staging)` {
		t.Errorf("unknown environment: %q", fe.Message)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = r.Findings(canceled, "acme", "", "")
	wantCode(t, err, fault.DeadlineExceeded)
	// A canceled first call does not spoil the set.
	if _, err := r.Findings(ctx, "acme", "", ""); err != nil {
		t.Errorf("after a canceled call: %v", err)
	}
}

func TestComplianceFindingsWithoutModule(t *testing.T) {
	t.Parallel()
	core, err := fs.ReadFile(pdp.Policies, "rego/core.rego")
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{Library: fstest.MapFS{"rego/core.rego": {Data: core}}})
	r := compliance.NewReporter(e)
	if _, err := e.Load(context.Background(), engine.Bundle{}); err != nil {
		t.Fatal(err)
	}
	_, err = r.Findings(context.Background(), "acme", "", "")
	wantCode(t, err, fault.Internal)
}

func TestComplianceFindingsFollowReload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := loadDemo(t)
	r := compliance.NewReporter(e)
	if _, err := r.Findings(ctx, "acme", "", "SOX"); err != nil {
		t.Fatal(err)
	}
	p := parsePolicy(t, `
tenant: acme
plan: enterprise
environments:
  production:
    inactivity_timeout: 8h
    roles:
      admin: {actions: ["*"]}
`)
	if _, err := e.Load(ctx, engine.Bundle{Tenants: tenantdata.Data(map[string]*pdpv1.TenantPolicy{"acme": p})}); err != nil {
		t.Fatal(err)
	}
	got, err := r.Findings(ctx, "acme", "", "SOX")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sox.audit_logging:pass", "sox.change_approval:pass", "sox.inactivity:fail",
		"sox.role_based_access:pass", "sox.separation_of_duties:pass"}
	if diff := cmp.Diff(want, controls(got)); diff != "" {
		t.Errorf("after reload (-want +got):\n%s", diff)
	}
}

func TestComplianceFindingsConcurrent(t *testing.T) {
	t.Parallel()
	e := loadDemo(t)
	r := compliance.NewReporter(e)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			framework := []string{"HIPAA", "PCI_DSS", "SOX", "GDPR"}[i%4]
			if _, err := r.Findings(context.Background(), "acme", "production", framework); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// breaksSOXAndHIPAA declares SOX and HIPAA and keeps neither: an 8h
// timeout, an ops role that administers and writes, a support role granted
// everything, password sign-in, MFA for admins only and no IP allow list.
const breaksSOXAndHIPAA = `
tenant: acme
plan: enterprise
environments:
  production:
    inactivity_timeout: 8h
    mfa: {mode: privileged, privileged_roles: [admin]}
    auth_providers: {allowed: [password, google]}
    roles:
      admin: {actions: ["*"]}
      ops: {actions: ["admin.users.*", "db.write"]}
      support: {actions: ["*"]}
    compliance: [SOX, HIPAA]
  development:
    roles:
      admin: {actions: ["*"]}
`

func TestComplianceViolations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := parsePolicy(t, breaksSOXAndHIPAA)
	got, err := compliance.Violations(ctx, tenantdata.EffectiveEnvironment("production", p.Environments["production"]), "production")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"hipaa.corporate_sso:fail", "hipaa.inactivity_logout:fail", "hipaa.ip_restrictions:fail", "hipaa.mfa_all:fail",
		"sox.inactivity:fail", "sox.role_based_access:fail", "sox.separation_of_duties:fail",
	}
	if diff := cmp.Diff(want, controls(got)); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
	for _, f := range got {
		if f.Remediation == "" {
			t.Errorf("%s: no remediation", f.Control)
		}
	}

	// An environment that declares nothing has nothing to violate.
	got, err = compliance.Violations(ctx, tenantdata.EffectiveEnvironment("development", p.Environments["development"]), "development")
	if err != nil || len(got) != 0 {
		t.Errorf("development: %v, %v; want none", controls(got), err)
	}

	// The demo tenant keeps its SOX promise.
	acme, err := tenantdata.LoadFile(demoDir + "/acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, sp := range acme.Environments {
		got, err := compliance.Violations(ctx, tenantdata.EffectiveEnvironment(name, sp), name)
		if err != nil || len(got) != 0 {
			t.Errorf("acme %s: %v, %v; want none", name, controls(got), err)
		}
	}
}

func TestReviewerErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := compliance.Violations(ctx, nil, "")
	wantCode(t, err, fault.InvalidArgument)
	_, err = compliance.Violations(ctx, map[string]any{"x": make(chan int)}, "")
	wantCode(t, err, fault.InvalidArgument)

	if _, err := compliance.NewReviewer(ctx, fstest.MapFS{"rego/x.rego": {Data: []byte("package x\n\ny := 1\n")}}); err == nil {
		t.Error("a library without the compliance module was accepted")
	}
	if _, err := compliance.NewReviewer(ctx, fstest.MapFS{"rego/x.rego": {Data: []byte("package x\n\ny := \n")}}); err == nil || !strings.Contains(err.Error(), "rego/x.rego:") {
		t.Errorf("broken library: %v, want the file named", err)
	}
	c, err := compliance.NewReviewer(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.Violations(canceled, map[string]any{"compliance": []any{"SOX"}}, "")
	wantCode(t, err, fault.DeadlineExceeded)
}

func TestFrameworkNames(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"pci-dss": "PCI_DSS", " hipaa ": "HIPAA", "PCI DSS": "PCI_DSS", "Sox": "SOX"} {
		if got := compliance.CanonicalFramework(in); got != want {
			t.Errorf("CanonicalFramework(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (compliance.Finding{Control: "pci_dss.inactivity"}).Framework(); got != "PCI_DSS" {
		t.Errorf("Framework() = %q", got)
	}
}
