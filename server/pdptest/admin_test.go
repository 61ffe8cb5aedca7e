package pdptest_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/pdptest"
)

const adminSSOTenant = `
tenant: sso-corp
plan: enterprise
environments:
  production:
    mfa: {mode: "off"}
    auth_providers:
      allowed: [google]
      emergency: {enabled: true, providers: [password], break_glass_users: [bg-admin]}
    roles:
      admin: {actions: ["*"]}
`

const adminSOXTenant = `
tenant: globex
plan: enterprise
environments:
  production:
    inactivity_timeout: 4h
    mfa: {mode: all}
    auth_providers: {allowed: ["saml:okta"]}
    roles:
      admin: {actions: ["*"]}
    compliance: [SOX]
`

// TestAdminAPIEndToEnd calls PolicyAdminService over gRPC with real keys:
// who may call what, field-named refusals, emergency access driven by
// SetSSOStatus, and a SOX change approved by a second admin.
func TestAdminAPIEndToEnd(t *testing.T) {
	t.Parallel()
	pep := pdptest.NewKey(t, "edge-gateway", authn.RolePEP)
	root := pdptest.NewKey(t, "root", authn.RoleAdmin)
	ops := pdptest.NewKey(t, "ops", authn.RoleTenantAdmin, "sso-corp", "globex")
	s := pdptest.Start(t, pdptest.WithAPIKeys(t, pep, root, ops),
		pdptest.WithTenant("sso-corp.yaml", adminSSOTenant), pdptest.WithTenant("globex.yaml", adminSOXTenant))
	asPEP := pdpv1.NewPolicyAdminServiceClient(s.DialAs(t, pep.Key))
	asRoot := pdpv1.NewPolicyAdminServiceClient(s.DialAs(t, root.Key))
	asOps := pdpv1.NewPolicyAdminServiceClient(s.DialAs(t, ops.Key))
	ctx := secCtx(t)

	if _, err := asPEP.ListTenants(ctx, &pdpv1.ListTenantsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a pep key administering: %v, want PERMISSION_DENIED", err)
	}
	list, err := asRoot.ListTenants(ctx, &pdpv1.ListTenantsRequest{})
	if err != nil || len(list.GetTenants()) != 2 || list.GetTenants()[0].GetSource() != "file" {
		t.Fatalf("ListTenants = %v, %v", list, err)
	}

	// An invalid policy is refused naming the field.
	got, err := asOps.GetTenantPolicy(ctx, &pdpv1.GetTenantPolicyRequest{Tenant: "sso-corp"})
	if err != nil {
		t.Fatal(err)
	}
	bad := proto.Clone(got.GetPolicy()).(*pdpv1.TenantPolicy)
	bad.Environments["production"].IpAllowlist = []string{"10.0.0.0/33"}
	_, err = asOps.PutTenantPolicy(ctx, &pdpv1.PutTenantPolicyRequest{Policy: bad, Reason: "typo"})
	if status.Code(err) != codes.InvalidArgument || !badField(err, "policy.environments.production.ip_allowlist[0]") {
		t.Fatalf("invalid CIDR: %v", err)
	}

	// SSO down: the break-glass user gets in with password.
	check := &pdpv1.CheckRequest{
		Tenant: "sso-corp", Environment: "production",
		Subject:        &pdpv1.Subject{Id: "bg-admin", Roles: []string{"admin"}},
		Authentication: &pdpv1.Authentication{Provider: "password"},
		Action:         &pdpv1.Action{Name: "login"},
	}
	if resp, err := s.Decisions.Check(ctx, check); err != nil || resp.GetDecision() != pdpv1.Decision_DECISION_CHALLENGE {
		t.Fatalf("before the outage: %v, %v", resp.GetDecision(), err)
	}
	if _, err := asOps.SetSSOStatus(ctx, &pdpv1.SetSSOStatusRequest{Tenant: "sso-corp", Available: false, Reason: "IdP outage"}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Decisions.Check(ctx, check)
	if err != nil || resp.GetDecision() != pdpv1.Decision_DECISION_ALLOW || !slices.Contains(codesOf(resp), "authn.emergency_access") {
		t.Fatalf("during the outage: %v %v, %v", resp.GetDecision(), codesOf(resp), err)
	}

	// A SOX change waits for a second admin.
	sox, err := asOps.GetTenantPolicy(ctx, &pdpv1.GetTenantPolicyRequest{Tenant: "globex"})
	if err != nil {
		t.Fatal(err)
	}
	next := proto.Clone(sox.GetPolicy()).(*pdpv1.TenantPolicy)
	next.Environments["production"].InactivityTimeout = durationpb.New(2 * 3600e9)
	put, err := asOps.PutTenantPolicy(ctx, &pdpv1.PutTenantPolicyRequest{Policy: next, Reason: "SOX-9"})
	if err != nil || put.GetPendingChange().GetId() == "" {
		t.Fatalf("PutTenantPolicy = %v, %v", put, err)
	}
	id := put.GetPendingChange().GetId()
	if _, err := asOps.ApproveChange(ctx, &pdpv1.ApproveChangeRequest{Id: id, Reason: "self"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("the author approving: %v", err)
	}
	approved, err := asRoot.ApproveChange(ctx, &pdpv1.ApproveChangeRequest{Id: id, Reason: "reviewed"})
	if err != nil {
		t.Fatal(err)
	}
	now, err := asOps.GetTenantPolicy(ctx, &pdpv1.GetTenantPolicyRequest{Tenant: "globex"})
	if err != nil || now.GetPolicy().GetEtag() != approved.GetPolicy().GetEtag() {
		t.Fatalf("after approval: %v, %v", now, err)
	}
	events, err := asRoot.ListAuditEvents(ctx, &pdpv1.ListAuditEventsRequest{Tenant: "globex"})
	if err != nil || len(events.GetEvents()) != 2 || events.GetEvents()[1].GetActor() != "root" {
		t.Fatalf("audit events %v, %v", events, err)
	}
}

// badField reports whether err carries a BadRequest naming field.
func badField(err error, field string) bool {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return true
				}
			}
		}
	}
	return false
}

const adminMFATenant = `
tenant: mfa-corp
plan: enterprise
environments:
  production:
    mfa: {mode: all}
    roles:
      member: {actions: [login, "api.*"]}
`

// TestResetUserMFAMakesTheUserEnrolAgain resets a user's MFA through the
// admin API and sees the next decision ask for enrollment.
func TestResetUserMFAMakesTheUserEnrolAgain(t *testing.T) {
	t.Parallel()
	s := pdptest.Start(t, pdptest.WithTenant("mfa-corp.yaml", adminMFATenant))
	ctx := secCtx(t)
	check := &pdpv1.CheckRequest{
		Tenant:         "mfa-corp",
		Subject:        &pdpv1.Subject{Id: "u7", Roles: []string{"member"}, MfaEnrolled: true},
		Authentication: &pdpv1.Authentication{MfaVerifiedAt: timestamppb.New(time.Now().Add(-time.Minute))},
		Device:         &pdpv1.Device{Id: "d1", Managed: true, Compliant: true},
		Action:         &pdpv1.Action{Name: "api.read"},
	}
	if resp, err := s.Decisions.Check(ctx, check); err != nil || resp.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Fatalf("before the reset: %v %v, %v", resp.GetDecision(), codesOf(resp), err)
	}
	reset, err := pdpv1.NewPolicyAdminServiceClient(s.Conn).ResetUserMFA(ctx, &pdpv1.ResetUserMFARequest{
		Tenant: "mfa-corp", UserId: "u7", Reason: "phone lost"})
	if err != nil || reset.GetProfile().GetMfaResetAt() == nil {
		t.Fatalf("ResetUserMFA = %v, %v", reset, err)
	}
	resp, err := s.Decisions.Check(ctx, check)
	if err != nil || resp.GetDecision() != pdpv1.Decision_DECISION_CHALLENGE || !slices.Contains(codesOf(resp), "authn.mfa_enrollment_required") {
		t.Fatalf("after the reset: %v %v, %v", resp.GetDecision(), codesOf(resp), err)
	}
}
