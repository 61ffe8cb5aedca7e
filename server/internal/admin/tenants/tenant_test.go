package tenants_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/reload"
)

func hours(h float64) *durationpb.Duration {
	return durationpb.New(time.Duration(h * float64(time.Hour)))
}

func acmePolicy(etag string) *pdpv1.TenantPolicy {
	return &pdpv1.TenantPolicy{Tenant: "acme", Plan: "Enterprise", Etag: etag, Environments: map[string]*pdpv1.SecurityPolicy{
		"production": {InactivityTimeout: hours(2), Roles: map[string]*pdpv1.Role{"member": {Actions: []string{"login"}}}},
	}}
}

func TestPutRefusesEveryProblemByField(t *testing.T) {
	t.Parallel()
	r := start(t, nil)
	ctx := admin("root")
	etag := r.etag(t, "acme")
	step := 1.5
	tests := []struct {
		name   string
		req    *pdpv1.PutTenantPolicyRequest
		code   fault.Code
		fields []string
	}{
		{"missing policy and reason", &pdpv1.PutTenantPolicyRequest{}, fault.InvalidArgument, []string{"policy", "reason"}},
		{"missing reason", &pdpv1.PutTenantPolicyRequest{Policy: acmePolicy(etag)}, fault.InvalidArgument, []string{"reason"}},
		{"invalid values", &pdpv1.PutTenantPolicyRequest{Reason: "r", Policy: &pdpv1.TenantPolicy{
			Tenant: "acme", Plan: "enterprise", Etag: etag, Environments: map[string]*pdpv1.SecurityPolicy{"production": {
				InactivityTimeout: hours(0.5),
				IpAllowlist:       []string{"203.0.113.0/33"},
				EmailDomains:      []*pdpv1.EmailDomain{{Domain: "not a domain"}},
				Risk:              &pdpv1.RiskPolicy{StepUpThreshold: &step},
				Countries:         &pdpv1.Countries{Blocked: []string{"ZZ"}},
			}}}}, fault.InvalidArgument, []string{
			"policy.environments.production.inactivity_timeout",
			"policy.environments.production.ip_allowlist[0]",
			"policy.environments.production.email_domains[0].domain",
			"policy.environments.production.risk.step_up_threshold",
			"policy.environments.production.countries.blocked[0]",
		}},
		{"beyond the plan", &pdpv1.PutTenantPolicyRequest{Reason: "r", Policy: &pdpv1.TenantPolicy{
			Tenant: "acme", Plan: "free", Etag: etag, Environments: map[string]*pdpv1.SecurityPolicy{"production": {
				InactivityTimeout: hours(2), Mfa: &pdpv1.MFAPolicy{Mode: "all"},
			}}}}, fault.FailedPrecondition, []string{
			"policy.environments.production.inactivity_timeout", "policy.environments.production.mfa",
		}},
		{"breaks a declared profile", &pdpv1.PutTenantPolicyRequest{Reason: "r", Policy: &pdpv1.TenantPolicy{
			Tenant: "acme", Plan: "enterprise", Etag: etag, Environments: map[string]*pdpv1.SecurityPolicy{"production": {
				InactivityTimeout: hours(8), Compliance: []string{"HIPAA"},
			}}}}, fault.FailedPrecondition, []string{"policy.environments.production.compliance"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.svc.PutTenantPolicy(ctx, tc.req)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := code(t, err); got != tc.code {
				t.Fatalf("code %v, want %v: %v", got, tc.code, err)
			}
			wantFields(t, err, tc.fields...)
		})
	}
	if plan, source := r.served("acme"); plan != "enterprise" || source != reload.SourceFile {
		t.Errorf("a refused policy changed what is served: %s from %s", plan, source)
	}
}

func TestComplianceRefusalListsEachControl(t *testing.T) {
	t.Parallel()
	r := start(t, nil)
	_, err := r.svc.PutTenantPolicy(admin("root"), &pdpv1.PutTenantPolicyRequest{Reason: "r", Policy: &pdpv1.TenantPolicy{
		Tenant: "acme", Plan: "enterprise", Etag: r.etag(t, "acme"), Environments: map[string]*pdpv1.SecurityPolicy{"production": {
			InactivityTimeout: hours(8), Compliance: []string{"HIPAA"},
		}}}})
	for _, control := range []string{"hipaa.inactivity_logout", "hipaa.corporate_sso", "hipaa.ip_restrictions"} {
		if !strings.Contains(err.Error(), control) {
			t.Errorf("refusal does not list %s: %v", control, err)
		}
	}
}

func (r *rig) etag(t *testing.T, tenant string) string {
	t.Helper()
	got, err := r.svc.GetTenantPolicy(admin("root"), &pdpv1.GetTenantPolicyRequest{Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	return got.GetPolicy().GetEtag()
}

func TestPutCompareAndSetAndServe(t *testing.T) {
	t.Parallel()
	r := start(t, nil)
	ctx := admin("root")
	fileEtag := r.etag(t, "acme")
	put, err := r.svc.PutTenantPolicy(ctx, &pdpv1.PutTenantPolicyRequest{Policy: acmePolicy(fileEtag), Reason: "shorter sessions"})
	if err != nil {
		t.Fatal(err)
	}
	if put.GetPendingChange() != nil || put.GetPolicy().GetEtag() == "" || put.GetPolicy().GetEtag() == fileEtag {
		t.Fatalf("response %v", put)
	}
	if put.GetPolicy().GetPlan() != "enterprise" {
		t.Errorf("plan %q was not normalized", put.GetPolicy().GetPlan())
	}
	if plan, source := r.served("acme"); plan != "enterprise" || source != reload.SourceAPI {
		t.Errorf("served %s from %s, want the stored policy", plan, source)
	}
	if got := r.etag(t, "acme"); got != put.GetPolicy().GetEtag() {
		t.Errorf("Get returns etag %s, want %s", got, put.GetPolicy().GetEtag())
	}
	// The file's etag is stale now, and so is an empty one.
	for _, stale := range []string{fileEtag, ""} {
		p := acmePolicy(stale)
		p.Environments["production"].InactivityTimeout = hours(3)
		_, err = r.svc.PutTenantPolicy(ctx, &pdpv1.PutTenantPolicyRequest{Policy: p, Reason: "r"})
		if code(t, err) != fault.Aborted {
			t.Errorf("etag %q: %v, want ABORTED", stale, err)
		}
	}
	// A new tenant is created with an empty etag.
	hooli := proto.Clone(acmePolicy("")).(*pdpv1.TenantPolicy)
	hooli.Tenant = "hooli"
	if _, err := r.svc.PutTenantPolicy(ctx, &pdpv1.PutTenantPolicyRequest{Policy: hooli, Reason: "new customer"}); err != nil {
		t.Fatal(err)
	}
	if _, source := r.served("hooli"); source != reload.SourceAPI {
		t.Error("the new tenant is not served")
	}
	list, err := r.svc.ListTenants(ctx, &pdpv1.ListTenantsRequest{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetTenants()) != 2 || list.GetTenants()[0].GetTenant() != "acme" || list.GetTenants()[0].GetSource() != "api" ||
		list.GetNextPageToken() == "" {
		t.Fatalf("first page %v", list)
	}
	next, err := r.svc.ListTenants(ctx, &pdpv1.ListTenantsRequest{PageSize: 2, PageToken: list.GetNextPageToken()})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range next.GetTenants() {
		names = append(names, s.GetTenant()+":"+s.GetSource())
	}
	if strings.Join(names, ",") != "hooli:api,sso-corp:file" || next.GetNextPageToken() != "" {
		t.Fatalf("second page %v", names)
	}
	if got := r.actions(t); strings.Join(got, ",") != "tenant_policy.put,tenant_policy.put" {
		t.Errorf("audit actions %v", got)
	}
}

func TestTenantAdminSeesOnlyItsTenants(t *testing.T) {
	t.Parallel()
	r := start(t, nil)
	ctx := tenantAdmin("acme-admin", "acme")
	list, err := r.svc.ListTenants(ctx, &pdpv1.ListTenantsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetTenants()) != 1 || list.GetTenants()[0].GetTenant() != "acme" {
		t.Fatalf("tenant-admin of acme lists %v", list.GetTenants())
	}
	for name, call := range map[string]func(context.Context) error{
		"get": func(ctx context.Context) error {
			_, err := r.svc.GetTenantPolicy(ctx, &pdpv1.GetTenantPolicyRequest{Tenant: "globex"})
			return err
		},
		"put": func(ctx context.Context) error {
			p := acmePolicy("")
			p.Tenant = "globex"
			_, err := r.svc.PutTenantPolicy(ctx, &pdpv1.PutTenantPolicyRequest{Policy: p, Reason: "r"})
			return err
		},
		"sso": func(ctx context.Context) error {
			_, err := r.svc.SetSSOStatus(ctx, &pdpv1.SetSSOStatusRequest{Tenant: "globex", Reason: "r"})
			return err
		},
		"report": func(ctx context.Context) error {
			_, err := r.svc.ComplianceReport(ctx, &pdpv1.ComplianceReportRequest{Tenant: "globex"})
			return err
		},
		"audit": func(ctx context.Context) error {
			_, err := r.svc.ListAuditEvents(ctx, &pdpv1.ListAuditEventsRequest{Tenant: "globex"})
			return err
		},
	} {
		if err := call(ctx); err == nil || code(t, err) != fault.PermissionDenied {
			t.Errorf("%s on another tenant: %v, want PERMISSION_DENIED", name, err)
		}
		if err := call(pep()); err == nil || code(t, err) != fault.PermissionDenied {
			t.Errorf("%s by a pep key: %v, want PERMISSION_DENIED", name, err)
		}
	}
	if _, err := r.svc.GetTenantPolicy(ctx, &pdpv1.GetTenantPolicyRequest{Tenant: "acme"}); err != nil {
		t.Errorf("own tenant: %v", err)
	}
}

// brokenLog is an audit log that takes nothing: its store is down.
type brokenLog struct{ audit.Log }

func (brokenLog) Append(context.Context, audit.Entry) (audit.Event, error) {
	return audit.Event{}, errors.New("disk full")
}

func (brokenLog) Commit(context.Context, audit.Entry, func(context.Context, *audit.Entry) error) (audit.Event, error) {
	return audit.Event{}, errors.New("disk full")
}

func TestAuditFailureIsReportedAndNothingIsStored(t *testing.T) {
	t.Parallel()
	r := startAudited(t, nil, brokenLog{})
	_, err := r.svc.PutTenantPolicy(admin("root"), &pdpv1.PutTenantPolicyRequest{Policy: acmePolicy(r.etag(t, "acme")), Reason: "r"})
	if code(t, err) != fault.Unavailable || !strings.Contains(err.Error(), "audit log") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("with a failing audit log: %v, want UNAVAILABLE saying the audit log could not record it and nothing changed", err)
	}
	if _, source := r.served("acme"); source != reload.SourceFile {
		t.Errorf("a policy the audit log did not record is served from %q", source)
	}
	if _, err := r.svc.GetTenantPolicy(admin("root"), &pdpv1.GetTenantPolicyRequest{Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	if list, _ := r.store.List(context.Background()); len(list) != 0 {
		t.Errorf("a policy the audit log did not record is stored: %v", list)
	}
}
