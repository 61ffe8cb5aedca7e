package pdptest_test

import (
	"testing"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// TestAdminChangesOnRedisAreListedOnEveryReplicaOnceTheCallReturns makes
// changes through replica A's admin API and lists the audit log on replica
// B, sharing A's Redis, right after each call: the record was committed
// with the change and linked into the chain before A answered.
func TestAdminChangesOnRedisAreListedOnEveryReplicaOnceTheCallReturns(t *testing.T) {
	t.Parallel()
	url := redistest.Start(t).URL(0)
	a := pdptest.Start(t, pdptest.WithStore(url), pdptest.WithTenant("rep.yaml", repTenant))
	b := pdptest.Start(t, pdptest.WithStore(url), pdptest.WithTenant("rep.yaml", repTenant))
	ctx := secCtx(t)
	adminA, adminB := pdpv1.NewPolicyAdminServiceClient(a.Conn), pdpv1.NewPolicyAdminServiceClient(b.Conn)
	last := func() *pdpv1.AuditEvent {
		t.Helper()
		resp, err := adminB.ListAuditEvents(ctx, &pdpv1.ListAuditEventsRequest{Tenant: "rep", PageSize: 1000})
		if err != nil {
			t.Fatal(err)
		}
		evs := resp.GetEvents()
		if len(evs) == 0 {
			return nil
		}
		return evs[len(evs)-1]
	}
	got, err := adminA.GetTenantPolicy(ctx, &pdpv1.GetTenantPolicyRequest{Tenant: "rep"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adminA.PutTenantPolicy(ctx, &pdpv1.PutTenantPolicyRequest{Policy: got.GetPolicy(), Reason: "pin it"}); err != nil {
		t.Fatal(err)
	}
	if ev := last(); ev.GetAction() != "tenant_policy.put" || ev.GetReason() != "pin it" {
		t.Errorf("after PutTenantPolicy B lists %v last", ev)
	}
	if _, err := adminA.ResetUserMFA(ctx, &pdpv1.ResetUserMFARequest{Tenant: "rep", UserId: "u1", Reason: "lost phone"}); err != nil {
		t.Fatal(err)
	}
	if ev := last(); ev.GetAction() != "user.mfa_reset" || ev.GetTarget() != "u1" || ev.GetReason() != "lost phone" {
		t.Errorf("after ResetUserMFA B lists %v last", ev)
	}
}
