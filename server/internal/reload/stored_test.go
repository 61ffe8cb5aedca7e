package reload_test

import (
	"context"
	"errors"
	"testing"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/reload"
)

func TestStoredPoliciesOverrideFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stored := map[string]*pdpv1.TenantPolicy{
		"acme":  {Tenant: "acme", Plan: "free", Environments: map[string]*pdpv1.SecurityPolicy{"production": {}}},
		"hooli": {Tenant: "hooli", Plan: "paid", Environments: map[string]*pdpv1.SecurityPolicy{"staging": {}}},
	}
	var (
		got     reload.Set
		failure error
	)
	l := reload.New(engine.New(engine.Options{}), reload.Options{
		TenantsDir: demoTenants,
		OnLoad:     func(s reload.Set) { got = s },
		Stored: func(context.Context) (map[string]*pdpv1.TenantPolicy, error) {
			return stored, failure
		},
	})
	if _, err := l.Load(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"acme": reload.SourceAPI, "hooli": reload.SourceAPI, "globex": reload.SourceFile, "initech": reload.SourceFile}
	for tenant, source := range want {
		if got.Sources[tenant] != source {
			t.Errorf("tenant %s from %q, want %q", tenant, got.Sources[tenant], source)
		}
		if got.Policies[tenant] == nil || got.Tenants[tenant] == nil {
			t.Errorf("tenant %s missing from the set", tenant)
		}
	}
	if plan := got.Tenants["acme"].(map[string]any)["plan"]; plan != "free" {
		t.Errorf("acme's plan is %v: the stored policy did not override the file", plan)
	}
	// A store that cannot be read rejects the set; the last good one stays.
	failure = errors.New("store down")
	rev := got.Revision
	if _, err := l.Load(ctx); err == nil {
		t.Fatal("a set was loaded without the stored policies")
	}
	if got.Revision != rev {
		t.Error("OnLoad ran for a rejected set")
	}
}
