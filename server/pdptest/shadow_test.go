package pdptest_test

import (
	"io"
	"regexp"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// soxCheck is an admin of globex reading, its session idle for idle.
func soxCheck(idle time.Duration) *pdpv1.CheckRequest {
	now := time.Now()
	return &pdpv1.CheckRequest{
		Tenant: "globex", Environment: "production",
		Subject: &pdpv1.Subject{Id: "u1", Roles: []string{"admin"}, MfaEnrolled: true},
		Authentication: &pdpv1.Authentication{Provider: "saml:okta", Methods: []string{"pwd", "otp"},
			AuthenticatedAt: timestamppb.New(now.Add(-10 * time.Minute)), MfaVerifiedAt: timestamppb.New(now.Add(-10 * time.Minute))},
		Action:  &pdpv1.Action{Name: "api.read"},
		Session: &pdpv1.Session{Id: "s1", StartedAt: timestamppb.New(now.Add(-5 * time.Hour)), LastActivityAt: timestamppb.New(now.Add(-idle))},
	}
}

// TestAPendingSOXChangeInShadowShowsItsImpactOnApproval puts a pending
// change (a shorter inactivity timeout) in shadow, sends traffic, and
// finds its observed impact in the pending list, the metric and the
// approval, while the live answers stay those of the live policy.
func TestAPendingSOXChangeInShadowShowsItsImpactOnApproval(t *testing.T) {
	t.Parallel()
	root := pdptest.NewKey(t, "root", authn.RoleAdmin)
	ops := pdptest.NewKey(t, "ops", authn.RoleTenantAdmin, "globex")
	pep := pdptest.NewKey(t, "edge-gateway", authn.RolePEP)
	s := pdptest.Start(t, pdptest.WithAPIKeys(t, pep, root, ops), pdptest.WithTenant("globex.yaml", adminSOXTenant),
		pdptest.WithConfig(func(c *config.Config) { c.ShadowSample = 1 }))
	asRoot := pdpv1.NewPolicyAdminServiceClient(s.DialAs(t, root.Key))
	asOps := pdpv1.NewPolicyAdminServiceClient(s.DialAs(t, ops.Key))
	decisions := pdpv1.NewDecisionServiceClient(s.DialAs(t, pep.Key))
	ctx := secCtx(t)

	cur, err := asOps.GetTenantPolicy(ctx, &pdpv1.GetTenantPolicyRequest{Tenant: "globex"})
	if err != nil {
		t.Fatal(err)
	}
	next := proto.Clone(cur.GetPolicy()).(*pdpv1.TenantPolicy)
	next.Environments["production"].InactivityTimeout = durationpb.New(2 * time.Hour)
	put, err := asOps.PutTenantPolicy(ctx, &pdpv1.PutTenantPolicyRequest{Policy: next, Reason: "SOX-10"})
	if err != nil || put.GetPendingChange().GetId() == "" {
		t.Fatalf("PutTenantPolicy = %v, %v", put, err)
	}
	id := put.GetPendingChange().GetId()
	shadow, err := asOps.PutShadowPolicy(ctx, &pdpv1.PutShadowPolicyRequest{
		Candidate: &pdpv1.PutShadowPolicyRequest_PendingChangeId{PendingChangeId: id}, Reason: "see its impact"})
	if err != nil {
		t.Fatal(err)
	}
	if shadow.GetImpact().GetPendingChangeId() != id || shadow.GetImpact().GetEvaluated() != 0 {
		t.Fatalf("PutShadowPolicy = %v", shadow.GetImpact())
	}

	// Sessions idle 3h are within the live 4h and beyond the pending 2h;
	// idle 1h is within both.
	const idle3h, idle1h = 6, 4
	for i := range idle3h + idle1h {
		idle := time.Hour
		if i < idle3h {
			idle = 3 * time.Hour
		}
		resp, err := decisions.Check(ctx, soxCheck(idle))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.GetReasons() {
			if r.GetCode() == "session.inactive" {
				t.Fatalf("a live answer has session.inactive: the shadow changed it")
			}
		}
	}

	// The shadow evaluates off the request path; wait until it has seen
	// every decision.
	var impact *pdpv1.ShadowImpact
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		got, err := asOps.GetShadowImpact(ctx, &pdpv1.GetShadowImpactRequest{Tenant: "globex"})
		if err != nil {
			t.Fatal(err)
		}
		if impact = got.GetImpact(); impact.GetEvaluated() == idle3h+idle1h || time.Now().After(deadline) {
			break
		}
	}
	if impact.GetEvaluated() != idle3h+idle1h || impact.GetChanged() != idle3h {
		t.Fatalf("impact %v: want %d evaluated, %d changed", impact, idle3h+idle1h, idle3h)
	}

	pending, err := asRoot.ListPendingChanges(ctx, &pdpv1.ListPendingChangesRequest{Tenant: "globex"})
	if err != nil || len(pending.GetChanges()) != 1 || pending.GetChanges()[0].GetObservedImpact().GetChanged() != idle3h {
		t.Fatalf("ListPendingChanges = %v, %v; want the observed impact", pending, err)
	}

	resp, err := s.HTTP.Get(s.HTTPURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`pdp_shadow_decisions_total\{from="[a-z]+",tenant="globex",to="challenge"\} ` + "6").Match(body) {
		t.Errorf("/metrics lacks the shadow's 6 challenges:\n%s", regexp.MustCompile(`(?m)^pdp_shadow.*$`).FindAll(body, -1))
	}

	approved, err := asRoot.ApproveChange(ctx, &pdpv1.ApproveChangeRequest{Id: id, Reason: "impact reviewed"})
	if err != nil {
		t.Fatal(err)
	}
	if got := approved.GetObservedImpact(); got.GetChanged() != idle3h || got.GetPendingChangeId() != id {
		t.Errorf("ApproveChange observed impact %v, want %d changed of change %s", got, idle3h, id)
	}
	if _, err := asOps.GetShadowImpact(ctx, &pdpv1.GetShadowImpactRequest{Tenant: "globex"}); err == nil {
		t.Error("the shadow outlived the approval of its change")
	}
	events, err := asRoot.ListAuditEvents(ctx, &pdpv1.ListAuditEventsRequest{Tenant: "globex"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events.GetEvents() {
		actions = append(actions, e.GetAction())
	}
	if len(actions) != 3 || actions[1] != "shadow_policy.put" {
		t.Errorf("audit actions %v, want the shadow recorded between the proposal and the approval", actions)
	}
}
