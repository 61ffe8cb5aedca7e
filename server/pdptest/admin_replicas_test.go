package pdptest_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// repTenant lets viewers read.
const repTenant = `
tenant: rep
plan: enterprise
environments:
  production:
    mfa: {mode: "off"}
    roles:
      viewer: {actions: [login, api.read]}
`

// TestPolicyPutOnOneReplicaIsServedByAnother stores a policy through
// replica A's admin API and waits for replica B, sharing A's Redis, to
// decide by it.
func TestPolicyPutOnOneReplicaIsServedByAnother(t *testing.T) {
	t.Parallel()
	url := redistest.Start(t).URL(0)
	a := pdptest.Start(t, pdptest.WithStore(url), pdptest.WithTenant("rep.yaml", repTenant))
	b := pdptest.Start(t, pdptest.WithStore(url), pdptest.WithTenant("rep.yaml", repTenant))
	ctx := secCtx(t)
	read := &pdpv1.CheckRequest{
		Tenant:  "rep",
		Subject: &pdpv1.Subject{Id: "u1", Roles: []string{"viewer"}},
		Device:  &pdpv1.Device{Id: "d1", Managed: true, Compliant: true},
		Action:  &pdpv1.Action{Name: "api.read"},
	}
	if resp, err := b.Decisions.Check(ctx, read); err != nil || resp.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Fatalf("before the change B answers %v, %v", resp.GetDecision(), err)
	}
	adminA := pdpv1.NewPolicyAdminServiceClient(a.Conn)
	got, err := adminA.GetTenantPolicy(ctx, &pdpv1.GetTenantPolicyRequest{Tenant: "rep"})
	if err != nil {
		t.Fatal(err)
	}
	next := proto.Clone(got.GetPolicy()).(*pdpv1.TenantPolicy)
	next.Environments["production"].Roles["viewer"].Actions = []string{"login"}
	if _, err := adminA.PutTenantPolicy(ctx, &pdpv1.PutTenantPolicyRequest{Policy: next, Reason: "read-only freeze"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		resp, err := b.Decisions.Check(ctx, read)
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetDecision() == pdpv1.Decision_DECISION_DENY {
			t.Logf("B serves A's policy %v after it was stored", time.Since(start))
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("B does not serve the policy stored through A within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	list, err := pdpv1.NewPolicyAdminServiceClient(b.Conn).ListTenants(ctx, &pdpv1.ListTenantsRequest{})
	if err != nil || len(list.GetTenants()) != 1 || list.GetTenants()[0].GetSource() != "api" {
		t.Fatalf("B lists %v, %v", list, err)
	}
}
