package tenants_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/reload"
)

// globexChange is a SOX-compliant change of globex's policy: a shorter
// inactivity timeout.
func globexChange(t *testing.T, r *rig) *pdpv1.TenantPolicy {
	t.Helper()
	got, err := r.svc.GetTenantPolicy(admin("root"), &pdpv1.GetTenantPolicyRequest{Tenant: "globex"})
	if err != nil {
		t.Fatal(err)
	}
	p := proto.Clone(got.GetPolicy()).(*pdpv1.TenantPolicy)
	p.Environments["production"].InactivityTimeout = hours(2)
	return p
}

func TestSOXChangeWaitsForASecondAdmin(t *testing.T) {
	t.Parallel()
	r := start(t, nil)
	alice, bob := tenantAdmin("alice", "globex"), tenantAdmin("bob", "globex")
	proposed := globexChange(t, r)
	put, err := r.svc.PutTenantPolicy(alice, &pdpv1.PutTenantPolicyRequest{Policy: proposed, Reason: "SOX-114"})
	if err != nil {
		t.Fatal(err)
	}
	change := put.GetPendingChange()
	if change.GetId() == "" || change.GetAuthor() != "alice" || change.GetTenant() != "globex" || change.GetReason() != "SOX-114" {
		t.Fatalf("pending change %v", change)
	}
	if put.GetPolicy().GetEtag() != proposed.GetEtag() {
		t.Error("the response does not carry the policy still in force")
	}
	if _, source := r.served("globex"); source != reload.SourceFile {
		t.Fatal("a pending change is served")
	}
	list, err := r.svc.ListPendingChanges(bob, &pdpv1.ListPendingChangesRequest{})
	if err != nil || len(list.GetChanges()) != 1 || list.GetChanges()[0].GetId() != change.GetId() {
		t.Fatalf("ListPendingChanges = %v, %v", list, err)
	}
	// Other tenants' admins neither see nor touch it.
	other := tenantAdmin("mallory", "acme")
	if list, _ := r.svc.ListPendingChanges(other, &pdpv1.ListPendingChangesRequest{}); len(list.GetChanges()) != 0 {
		t.Errorf("acme's admin sees %v", list.GetChanges())
	}
	if _, err := r.svc.ApproveChange(other, &pdpv1.ApproveChangeRequest{Id: change.GetId(), Reason: "r"}); code(t, err) != fault.NotFound {
		t.Errorf("acme's admin approving: %v, want NOT_FOUND", err)
	}
	// The author cannot approve, nor can an anonymous caller.
	_, err = r.svc.ApproveChange(alice, &pdpv1.ApproveChangeRequest{Id: change.GetId(), Reason: "lgtm"})
	if code(t, err) != fault.PermissionDenied || !strings.Contains(err.Error(), "cannot approve") {
		t.Fatalf("author approving: %v, want PERMISSION_DENIED", err)
	}
	anon := authn.WithCaller(t.Context(), authn.Caller{Anonymous: true})
	if _, err := r.svc.ApproveChange(anon, &pdpv1.ApproveChangeRequest{Id: change.GetId(), Reason: "lgtm"}); code(t, err) != fault.PermissionDenied {
		t.Errorf("anonymous approving: %v, want PERMISSION_DENIED", err)
	}
	if _, err := r.svc.ApproveChange(bob, &pdpv1.ApproveChangeRequest{Id: change.GetId()}); code(t, err) != fault.InvalidArgument {
		t.Errorf("approving without a reason: %v", err)
	}
	approved, err := r.svc.ApproveChange(bob, &pdpv1.ApproveChangeRequest{Id: change.GetId(), Reason: "reviewed"})
	if err != nil {
		t.Fatal(err)
	}
	if _, source := r.served("globex"); source != reload.SourceAPI {
		t.Fatal("the approved change is not served")
	}
	got, _ := r.svc.GetTenantPolicy(bob, &pdpv1.GetTenantPolicyRequest{Tenant: "globex"})
	if got.GetPolicy().GetEtag() != approved.GetPolicy().GetEtag() ||
		got.GetPolicy().GetEnvironments()["production"].GetInactivityTimeout().AsDuration() != hours(2).AsDuration() {
		t.Errorf("served policy %v", got.GetPolicy())
	}
	if list, _ := r.svc.ListPendingChanges(bob, &pdpv1.ListPendingChangesRequest{}); len(list.GetChanges()) != 0 {
		t.Errorf("an approved change is still pending: %v", list.GetChanges())
	}
	if _, err := r.svc.ApproveChange(bob, &pdpv1.ApproveChangeRequest{Id: change.GetId(), Reason: "again"}); code(t, err) != fault.NotFound {
		t.Errorf("approving twice: %v", err)
	}
	if got := strings.Join(r.actions(t), ","); got != "tenant_policy.propose,tenant_policy.approve" {
		t.Errorf("audit actions %s", got)
	}
}

func TestApprovalOfAStaleChangeAborts(t *testing.T) {
	t.Parallel()
	r := start(t, nil)
	alice, bob := tenantAdmin("alice", "globex"), admin("bob")
	first, err := r.svc.PutTenantPolicy(alice, &pdpv1.PutTenantPolicyRequest{Policy: globexChange(t, r), Reason: "one"})
	if err != nil {
		t.Fatal(err)
	}
	second := globexChange(t, r)
	second.Environments["production"].InactivityTimeout = hours(3)
	pending2, err := r.svc.PutTenantPolicy(alice, &pdpv1.PutTenantPolicyRequest{Policy: second, Reason: "two"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.ApproveChange(bob, &pdpv1.ApproveChangeRequest{Id: first.GetPendingChange().GetId(), Reason: "ok"}); err != nil {
		t.Fatal(err)
	}
	_, err = r.svc.ApproveChange(bob, &pdpv1.ApproveChangeRequest{Id: pending2.GetPendingChange().GetId(), Reason: "ok"})
	if code(t, err) != fault.Aborted {
		t.Fatalf("approving a change of a policy that moved on: %v, want ABORTED", err)
	}
	// The author may withdraw it.
	rejected, err := r.svc.RejectChange(alice, &pdpv1.RejectChangeRequest{Id: pending2.GetPendingChange().GetId(), Reason: "superseded"})
	if err != nil || rejected.GetChange().GetId() != pending2.GetPendingChange().GetId() {
		t.Fatalf("RejectChange = %v, %v", rejected, err)
	}
	if list, _ := r.svc.ListPendingChanges(bob, &pdpv1.ListPendingChangesRequest{}); len(list.GetChanges()) != 0 {
		t.Errorf("pending after reject: %v", list.GetChanges())
	}
}

func TestDeclaringSOXNeedsApprovalToo(t *testing.T) {
	t.Parallel()
	r := start(t, nil)
	p := globexChange(t, r)
	p.Tenant, p.Etag = "acme", r.etag(t, "acme")
	put, err := r.svc.PutTenantPolicy(admin("root"), &pdpv1.PutTenantPolicyRequest{Policy: p, Reason: "adopt SOX"})
	if err != nil {
		t.Fatal(err)
	}
	if put.GetPendingChange() == nil {
		t.Fatal("a policy that declares SOX was applied without approval")
	}
}
