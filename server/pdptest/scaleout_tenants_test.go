package pdptest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// TestScaleOutTenantAdminSeesOnlyItsTenant runs two replicas on one Redis
// with API keys: a login of a globex user reported to replica A is in the
// profile globex's admin reads on replica B, and acme's admin, asking
// replica B for the same profile, is refused.
func TestScaleOutTenantAdminSeesOnlyItsTenant(t *testing.T) {
	url := redistest.Start(t).URL(0)
	pep := pdptest.NewKey(t, "gateway", authn.RolePEP)
	acmeAdmin := pdptest.NewKey(t, "acme-admin", authn.RoleTenantAdmin, "so-acme")
	globexAdmin := pdptest.NewKey(t, "globex-admin", authn.RoleTenantAdmin, "so-globex")
	tenant := func(name string) string {
		return strings.ReplaceAll(soTenant, "tenant: so-e2e", "tenant: "+name)
	}
	opts := func() []pdptest.Option {
		return []pdptest.Option{
			pdptest.WithStore(url), pdptest.WithAPIKeys(t, pep, acmeAdmin, globexAdmin),
			pdptest.WithTenant("so-acme.yaml", tenant("so-acme")), pdptest.WithTenant("so-globex.yaml", tenant("so-globex")),
		}
	}
	a := pdptest.Start(t, opts()...)
	b := pdptest.Start(t, opts()...)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := a.Decisions.Report(ctx, &pdpv1.ReportRequest{
		Tenant:  "so-globex",
		Event:   pdpv1.Event_EVENT_LOGIN_SUCCEEDED,
		Subject: &pdpv1.Subject{Id: "g-user"},
		Network: &pdpv1.Network{Ip: "198.51.100.30", Country: "NL"},
	}); err != nil {
		t.Fatalf("report to A: %v", err)
	}

	read := func(key, tenant string) (*pdpv1.GetUserProfileResponse, error) {
		admin := pdpv1.NewPolicyAdminServiceClient(b.DialAs(t, key))
		return admin.GetUserProfile(ctx, &pdpv1.GetUserProfileRequest{Tenant: tenant, UserId: "g-user", Reason: "scale-out test"})
	}
	resp, err := read(globexAdmin.Key, "so-globex")
	if err != nil {
		t.Fatalf("globex's admin reading its user on B: %v", err)
	}
	if got := resp.GetProfile().GetLoginCount(); got != 1 {
		t.Fatalf("B's profile of g-user has %d logins, want the 1 reported to A", got)
	}
	if _, err := read(acmeAdmin.Key, "so-globex"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("acme's admin reading a globex profile on B: %v, want PermissionDenied", err)
	}
	if _, err := read(pep.Key, "so-globex"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a pep key reading a profile: %v, want PermissionDenied", err)
	}
}
