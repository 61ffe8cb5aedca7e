package app

import (
	"context"

	"github.com/pdp-dev/pdp/server/internal/admin"
	"github.com/pdp-dev/pdp/server/internal/admin/decisions"
	"github.com/pdp-dev/pdp/server/internal/admin/tenants"
	"github.com/pdp-dev/pdp/server/internal/admin/users"
	"github.com/pdp-dev/pdp/server/internal/compliance"
	"github.com/pdp-dev/pdp/server/internal/config"
)

// registerAdmin builds PolicyAdminService over the state and registers it
// on the gRPC server, and with a shared backend starts reloading the
// policy set whenever another replica stores a tenant policy.
func (p *parts) registerAdmin(cfg config.Config, o options) error {
	reloadSet := func(ctx context.Context, tenant string) error {
		_, err := p.loader.LoadStoredTenants(ctx, tenant)
		return err
	}
	pol, err := tenants.New(tenants.Options{
		Store: p.state.store.Policies, Audit: p.state.audit, State: p.state.store.State, Compliance: compliance.NewReporter(p.engine),
		Reload: reloadSet, Current: p.loader.Current, Shadow: p.shadow,
		Chain: p.state.store.Audit, LatestCheckpoint: p.state.latestCheckpoint(),
		Now: o.now, Logger: o.logger,
	})
	if err != nil {
		return err
	}
	usr, err := users.New(users.Options{Store: p.state.store.State, Audit: p.state.audit, SSF: p.state.store.SSF, Now: o.now, Logger: o.logger})
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
	dec, err := decisions.New(decisions.Options{Log: cfg.DecisionLog, Engine: p.engine,
		Tenants: func() map[string]any { return p.loader.Current().Tenants }, Audit: p.state.audit, Now: o.now, Logger: o.logger})
	if err != nil {
		return err
	}
	srv.SetDecisions(dec)
	srv.Register(p.grpcServer)
	if p.console != nil {
		srv.Register(p.console.server)
	}
	if w := p.state.store.PolicyChanges; w != nil {
		p.stopFollow = p.loader.Follow(w)
	}
	return nil
}
