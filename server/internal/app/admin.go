package app

import (
	"context"
	"sync/atomic"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin"
	"github.com/pdp-dev/pdp/server/internal/admin/tenants"
	"github.com/pdp-dev/pdp/server/internal/admin/users"
	"github.com/pdp-dev/pdp/server/internal/compliance"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/tenantstore"
)

// adminParts are what PolicyAdminService needs beyond the state: the
// store of policies set through the API, the set now served, and, with a
// shared backend, the reloads of what other replicas stored.
type adminParts struct {
	policies tenantstore.Store
	served   atomic.Pointer[reload.Set]
	stop     func() // ends the reloads of other replicas' policies; nil without them
}

func newAdminParts(policies tenantstore.Store) *adminParts {
	a := &adminParts{policies: policies}
	a.served.Store(&reload.Set{})
	return a
}

// stored is reload.Options.Stored: the policies set through the API.
func (a *adminParts) stored(ctx context.Context) (map[string]*pdpv1.TenantPolicy, error) {
	list, err := a.policies.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*pdpv1.TenantPolicy, len(list))
	for _, p := range list {
		out[p.GetTenant()] = p
	}
	return out, nil
}

// loaded records the set now served; it runs in reload.Options.OnLoad.
func (a *adminParts) loaded(set reload.Set) { a.served.Store(&set) }

// registerAdmin builds PolicyAdminService over the state and registers it
// on the gRPC server, and with a shared backend starts reloading the
// policy set whenever another replica stores a tenant policy.
func (p *parts) registerAdmin(o options) error {
	reloadSet := func(ctx context.Context) error {
		_, err := p.loader.Load(ctx)
		return err
	}
	pol, err := tenants.New(tenants.Options{
		Store: p.admin.policies, Audit: p.state.audit, State: p.state.store.State, Compliance: compliance.NewReporter(p.engine),
		Reload: reloadSet, Current: func() reload.Set { return *p.admin.served.Load() },
		Now: o.now, Logger: o.logger,
	})
	if err != nil {
		return err
	}
	usr, err := users.New(users.Options{Store: p.state.store.State, Audit: p.state.audit, Now: o.now, Logger: o.logger})
	if err != nil {
		return err
	}
	rules, err := p.state.ipRulesAdmin(o)
	if err != nil {
		return err
	}
	srv, err := admin.New(pol, rules, usr)
	if err != nil {
		return err
	}
	srv.Register(p.grpcServer)
	if w := p.state.store.PolicyChanges; w != nil {
		p.admin.stop = p.loader.Follow(w)
	}
	return nil
}

// close stops the reloads; a nil a does nothing.
func (a *adminParts) close() {
	if a == nil || a.stop == nil {
		return
	}
	a.stop()
}
