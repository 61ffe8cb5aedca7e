package tenants_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin/tenants"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/compliance"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
	"github.com/pdp-dev/pdp/server/internal/tenantstore"
)

// files are the tenant files every test starts from: acme (enterprise,
// nothing declared), globex (SOX), sso-corp (emergency access).
var files = map[string]string{
	"acme.yaml": `
tenant: acme
plan: enterprise
environments:
  production:
    inactivity_timeout: 4h
    roles:
      member: {actions: [login, "api.*"]}
`,
	"globex.yaml": `
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
`,
	"sso-corp.yaml": `
tenant: sso-corp
plan: enterprise
environments:
  production:
    mfa: {mode: "off"}
    auth_providers:
      allowed: [microsoft, google, "saml:okta"]
      emergency:
        enabled: true
        providers: [password]
        break_glass_users: [breakglass@sso-corp.example, bg-admin]
    roles:
      member: {actions: [login, "api.*"]}
      admin: {actions: ["*"]}
`,
}

// rig is a service wired to a real engine and loader.
type rig struct {
	svc    *tenants.Service
	engine *engine.Engine
	state  *memory.Store
	log    audit.Log
	store  tenantstore.Store
	set    *atomic.Pointer[reload.Set]
}

// start wires a service over ps (a memory policy store when nil).
func start(t *testing.T, ps tenantstore.Store) *rig {
	t.Helper()
	return startAudited(t, ps, nil)
}

// startAudited is start with an audit log of its own (the state's when nil).
func startAudited(t *testing.T, ps tenantstore.Store, log audit.Log) *rig {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if ps == nil {
		ps = memory.NewPolicies()
	}
	r := &rig{engine: engine.New(engine.Options{}), store: ps, set: new(atomic.Pointer[reload.Set])}
	r.state = memory.New(memory.Options{SweepInterval: -1})
	t.Cleanup(func() { _ = r.state.Close() })
	r.log = log
	if log == nil {
		r.log = r.state.AuditLog()
	}
	loader := reload.New(r.engine, reload.Options{
		TenantsDir:   dir,
		OnLoad:       func(s reload.Set) { r.set.Store(&s) },
		Stored:       storedOf(ps),
		StoredTenant: reload.StoredTenantIn(ps),
	})
	if _, err := loader.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc, err := tenants.New(tenants.Options{
		Store: ps, Audit: r.log, State: r.state, Compliance: compliance.NewReporter(r.engine),
		Reload: func(ctx context.Context, tenant string) error {
			_, err := loader.LoadStoredTenants(ctx, tenant)
			return err
		},
		Current: func() reload.Set { return *r.set.Load() },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	return r
}

// storedOf adapts a policy store to reload.Options.Stored.
func storedOf(ps tenantstore.Store) func(context.Context) (map[string]*pdpv1.TenantPolicy, error) {
	return func(ctx context.Context) (map[string]*pdpv1.TenantPolicy, error) {
		list, err := ps.List(ctx)
		out := map[string]*pdpv1.TenantPolicy{}
		for _, p := range list {
			out[p.GetTenant()] = p
		}
		return out, err
	}
}

func admin(name string) context.Context {
	return authn.WithCaller(context.Background(), authn.Caller{Name: name, Role: authn.RoleAdmin})
}

func tenantAdmin(name string, tenants ...string) context.Context {
	return authn.WithCaller(context.Background(), authn.Caller{Name: name, Role: authn.RoleTenantAdmin, Tenants: tenants})
}

func pep() context.Context {
	return authn.WithCaller(context.Background(), authn.Caller{Name: "gateway", Role: authn.RolePEP})
}

// code returns the fault code of err, failing when it is not a fault.
func code(t *testing.T, err error) fault.Code {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a fault", err)
	}
	return fe.Code
}

// fields returns the field names of err's fault.
func fields(err error) []string {
	var fe *fault.Error
	if !errors.As(err, &fe) {
		return nil
	}
	var out []string
	for _, f := range fe.Fields {
		out = append(out, f.Field)
	}
	return out
}

func wantFields(t *testing.T, err error, want ...string) {
	t.Helper()
	got := fields(err)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("fields %q do not name %q (error %v)", got, w, err)
		}
	}
}

// served returns the plan the engine holds for tenant.
func (r *rig) served(tenant string) (plan, source string) {
	s := r.set.Load()
	doc, _ := s.Tenants[tenant].(map[string]any)
	plan, _ = doc["plan"].(string)
	return plan, s.Sources[tenant]
}

// actions lists the audit actions recorded, oldest first.
func (r *rig) actions(t *testing.T) []string {
	t.Helper()
	events, _, err := r.log.List(context.Background(), audit.Query{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range events {
		out = append(out, e.Action)
	}
	return out
}

var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
