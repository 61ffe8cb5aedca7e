package authn_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

func TestGRPCRule(t *testing.T) {
	t.Parallel()
	all := []authn.Role{authn.RoleAdmin, authn.RoleTenantAdmin, authn.RolePEP}
	tests := []struct {
		method string
		public bool
		allow  []authn.Role
	}{
		{"/grpc.health.v1.Health/Check", true, all},
		{"/grpc.health.v1.Health/Watch", true, all},
		{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", false, all},
		{"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", false, all},
		{"/pdp.v1.DecisionService/Check", false, []authn.Role{authn.RoleAdmin, authn.RolePEP}},
		{"/pdp.v1.DecisionService/BatchCheck", false, []authn.Role{authn.RoleAdmin, authn.RolePEP}},
		{"/pdp.v1.DecisionService/Report", false, []authn.Role{authn.RoleAdmin, authn.RolePEP}},
		{"/envoy.service.auth.v3.Authorization/Check", false, []authn.Role{authn.RoleAdmin, authn.RolePEP}},
		{"/pdp.v1.PolicyAdminService/PutTenantPolicy", false, []authn.Role{authn.RoleAdmin, authn.RoleTenantAdmin}},
		{"/pdp.v1.PolicyAdminService/ImportIPList", false, []authn.Role{authn.RoleAdmin, authn.RoleTenantAdmin}},
		{"/some.Other/Method", false, []authn.Role{authn.RoleAdmin}},
		{"malformed", false, []authn.Role{authn.RoleAdmin}},
	}
	for _, tt := range tests {
		r := authn.GRPCRule(tt.method)
		if r.Public != tt.public {
			t.Errorf("%s: Public = %v, want %v", tt.method, r.Public, tt.public)
		}
		for _, role := range all {
			want := false
			for _, a := range tt.allow {
				want = want || a == role
			}
			if got := r.Allows(role); got != want {
				t.Errorf("%s: Allows(%s) = %v, want %v", tt.method, role, got, want)
			}
		}
	}
}

func TestHTTPRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path          string
		metricsPublic bool
		public        bool
		pep, tenant   bool
	}{
		{"/healthz", false, true, true, true},
		{"/readyz", false, true, true, true},
		{"/metrics", true, true, true, true},
		{"/metrics", false, false, true, true},
		{"/v1/check", true, false, true, false},
		{"/v1/report", true, false, true, false},
		{"/v1/forward-auth", true, false, true, false},
		{"/v1/forward-auth/app", true, false, true, false},
		{"/v1/forward-authx", true, false, false, false},
		{"/v1/admin/tenants", true, false, false, false},
		{"/", true, false, false, false},
		{"/access/v1/evaluation", false, false, true, false},
		{"/access/v1/search/subject", false, false, true, false},
		{"/tenants/acme/access/v1/evaluations", false, false, true, false},
		{"/tenants/acme/admin", false, false, false, false},
		{"/tenants/acme/x/access/v1/evaluation", false, false, false, false},
		{"/.well-known/authzen-configuration", false, true, true, true},
		{"/.well-known/authzen-configuration/tenants/acme", false, true, true, true},
		{"/.well-known/authzen-configurationx", false, false, false, false},
	}
	for _, tt := range tests {
		r := authn.HTTPRule(tt.path, tt.metricsPublic)
		if r.Public != tt.public || r.Allows(authn.RolePEP) != tt.pep || r.Allows(authn.RoleTenantAdmin) != tt.tenant || !r.Allows(authn.RoleAdmin) {
			t.Errorf("HTTPRule(%s, %v) = %+v", tt.path, tt.metricsPublic, r)
		}
	}
}

func TestAllowedTenant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		caller *authn.Caller
		tenant string
		want   bool
	}{
		{"no caller fails closed", nil, "acme", false},
		{"admin", &authn.Caller{Name: "root", Role: authn.RoleAdmin}, "globex", true},
		{"own tenant", &authn.Caller{Role: authn.RoleTenantAdmin, Tenants: []string{"acme"}}, "acme", true},
		{"other tenant", &authn.Caller{Role: authn.RoleTenantAdmin, Tenants: []string{"acme"}}, "globex", false},
		{"empty tenant", &authn.Caller{Role: authn.RoleTenantAdmin, Tenants: []string{"acme"}}, "", false},
		{"pep", &authn.Caller{Role: authn.RolePEP}, "acme", false},
		{"pep scoped to the tenant", &authn.Caller{Role: authn.RolePEP, Tenants: []string{"acme"}}, "acme", false},
		{"public call", &authn.Caller{}, "acme", false},
		{"server without keys", &authn.Caller{Anonymous: true}, "acme", true},
	}
	for _, tt := range tests {
		ctx := context.Background()
		if tt.caller != nil {
			ctx = authn.WithCaller(ctx, *tt.caller)
		}
		if got := authn.AllowedTenant(ctx, tt.tenant); got != tt.want {
			t.Errorf("%s: AllowedTenant = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDecisionTenant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		caller *authn.Caller
		tenant string
		want   bool
	}{
		{"no caller fails closed", nil, "acme", false},
		{"admin", &authn.Caller{Role: authn.RoleAdmin}, "globex", true},
		{"unscoped pep serves every tenant", &authn.Caller{Role: authn.RolePEP}, "globex", true},
		{"scoped pep, its tenant", &authn.Caller{Role: authn.RolePEP, Tenants: []string{"acme", "acme-eu"}}, "acme-eu", true},
		{"scoped pep, another tenant", &authn.Caller{Role: authn.RolePEP, Tenants: []string{"acme", "acme-eu"}}, "globex", false},
		{"scoped pep, no tenant", &authn.Caller{Role: authn.RolePEP, Tenants: []string{"acme"}}, "", false},
		{"tenant-admin", &authn.Caller{Role: authn.RoleTenantAdmin, Tenants: []string{"acme"}}, "acme", false},
		{"public call", &authn.Caller{}, "acme", false},
		{"server without keys", &authn.Caller{Anonymous: true}, "acme", true},
	}
	for _, tt := range tests {
		ctx := context.Background()
		if tt.caller != nil {
			ctx = authn.WithCaller(ctx, *tt.caller)
		}
		err := authn.DecisionTenant(ctx, tt.tenant)
		if (err == nil) != tt.want {
			t.Errorf("%s: DecisionTenant = %v, want allowed %v", tt.name, err, tt.want)
		}
		if err != nil && !errors.Is(err, fault.ErrPermissionDenied) {
			t.Errorf("%s: DecisionTenant = %v, want PERMISSION_DENIED", tt.name, err)
		}
	}
}

func TestDecisionCaller(t *testing.T) {
	t.Parallel()
	if got := authn.DecisionCaller(context.Background()); got != (decision.Caller{}) {
		t.Fatalf("no caller: %+v", got)
	}
	ctx := authn.WithCaller(context.Background(), authn.Caller{Name: "gw", Role: authn.RolePEP,
		CertIdentity: "spiffe://example.org/gw", SPIFFEID: "spiffe://example.org/gw"})
	want := decision.Caller{Name: "gw", Role: "pep", SPIFFEID: "spiffe://example.org/gw"}
	if got := authn.DecisionCaller(ctx); got != want {
		t.Fatalf("DecisionCaller = %+v, want %+v", got, want)
	}
}
