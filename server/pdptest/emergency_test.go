package pdptest_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/pdptest"
)

const emergencyWindowTenant = `
tenant: sso-corp
plan: enterprise
environments:
  production:
    mfa: {mode: "off"}
    auth_providers:
      allowed: [google]
      emergency: {enabled: true, providers: [password], break_glass_users: [bg-admin], max_duration: 2h}
    roles:
      admin: {actions: ["*"]}
`

// TestEmergencyAccessExpires: with SSO marked down, a break-glass user
// gets in with a disallowed provider until max_duration has passed since
// SSO was marked down, and is then challenged with a message saying the
// emergency window ended, though nobody marked SSO up again.
func TestEmergencyAccessExpires(t *testing.T) {
	t.Parallel()
	root := pdptest.NewKey(t, "root", authn.RoleAdmin)
	s := pdptest.Start(t, pdptest.WithAPIKeys(t, root), pdptest.WithTenant("sso-corp.yaml", emergencyWindowTenant))
	admin := pdpv1.NewPolicyAdminServiceClient(s.DialAs(t, root.Key))
	ctx := secCtx(t)

	down, err := admin.SetSSOStatus(ctx, &pdpv1.SetSSOStatusRequest{Tenant: "sso-corp", Available: false, Reason: "IdP outage"})
	if err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) *pdpv1.CheckRequest {
		return &pdpv1.CheckRequest{
			Tenant: "sso-corp", Environment: "production",
			Subject:        &pdpv1.Subject{Id: "bg-admin", Roles: []string{"admin"}},
			Authentication: &pdpv1.Authentication{Provider: "password"},
			Action:         &pdpv1.Action{Name: "login"},
			Time:           timestamppb.New(down.GetChangedAt().AsTime().Add(d)),
		}
	}

	resp, err := s.Decisions.Check(ctx, at(2*time.Hour-time.Minute))
	if err != nil || resp.GetDecision() != pdpv1.Decision_DECISION_ALLOW || !slices.Contains(codesOf(resp), "authn.emergency_access") {
		t.Fatalf("within the window: %v %v, %v", resp.GetDecision(), codesOf(resp), err)
	}
	resp, err = s.Decisions.Check(ctx, at(2*time.Hour))
	if err != nil || resp.GetDecision() != pdpv1.Decision_DECISION_CHALLENGE || slices.Contains(codesOf(resp), "authn.emergency_access") {
		t.Fatalf("after the window: %v %v, %v", resp.GetDecision(), codesOf(resp), err)
	}
	ended := down.GetChangedAt().AsTime().Add(2 * time.Hour).UTC().Format(time.RFC3339Nano)
	want := "(SSO is down, but emergency access ended at " + ended + ", 2h after SSO was marked down)"
	if !slices.ContainsFunc(resp.GetReasons(), func(r *pdpv1.Reason) bool {
		return r.GetCode() == "authn.provider_not_allowed" && strings.HasSuffix(r.GetMessage(), want)
	}) {
		t.Errorf("after the window, no authn.provider_not_allowed ending in %q: %v", want, resp.GetReasons())
	}

	// Marking SSO down again starts a new window, which the same time is
	// inside of.
	again, err := admin.SetSSOStatus(ctx, &pdpv1.SetSSOStatusRequest{Tenant: "sso-corp", Available: false, Reason: "still down"})
	if err != nil || !again.GetChangedAt().AsTime().After(down.GetChangedAt().AsTime()) {
		t.Fatalf("marked down again: %v, %v", again, err)
	}
	if resp, err := s.Decisions.Check(ctx, at(2*time.Hour)); err != nil || resp.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Fatalf("in the new window: %v %v, %v", resp.GetDecision(), codesOf(resp), err)
	}
}
