package app

import (
	"context"
	"sync"
	"sync/atomic"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin"
	"github.com/pdp-dev/pdp/server/internal/admin/policies"
	"github.com/pdp-dev/pdp/server/internal/admin/users"
	"github.com/pdp-dev/pdp/server/internal/policystore"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
	"github.com/pdp-dev/pdp/server/internal/store/redis"
)

// adminParts are what PolicyAdminService needs beyond the state: the
// store of policies set through the API, the set now served, and, with
// Redis, the watch that reloads what other replicas stored.
type adminParts struct {
	policies policystore.Store
	served   atomic.Pointer[reload.Set]
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// newAdminParts picks the policy store of st's backend: the same bolt
// file, the same Redis, or process memory.
func newAdminParts(st store.Store) *adminParts {
	a := &adminParts{}
	switch s := st.(type) {
	case *bolt.Store:
		a.policies = s.Policies()
	case *redis.Store:
		a.policies = s.Policies()
	default:
		a.policies = memory.NewPolicies()
	}
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
// on the gRPC server, and with Redis starts reloading the policy set
// whenever another replica stores a tenant policy.
func (p *parts) registerAdmin(o options) error {
	reloadSet := func(ctx context.Context) error {
		_, err := p.loader.Load(ctx)
		return err
	}
	pol, err := policies.New(policies.Options{
		Store: p.admin.policies, Audit: p.state.audit, State: p.state.store, Compliance: p.engine,
		Reload: reloadSet, Current: func() reload.Set { return *p.admin.served.Load() },
		Now: o.now, Logger: o.logger,
	})
	if err != nil {
		return err
	}
	usr, err := users.New(users.Options{Store: p.state.store, Audit: p.state.audit, Now: o.now, Logger: o.logger})
	if err != nil {
		return err
	}
	rules, err := p.state.ipRulesAdmin()
	if err != nil {
		return err
	}
	srv, err := admin.New(pol, rules, usr)
	if err != nil {
		return err
	}
	srv.Register(p.grpcServer)
	if w, ok := p.admin.policies.(policystore.Watcher); ok {
		p.admin.watch(w, func(ctx context.Context) {
			if err := reloadSet(ctx); err != nil && ctx.Err() == nil {
				o.logger.Error("tenant policies stored by another replica are not served", "error", err.Error())
			}
		})
	}
	return nil
}

// watch calls reloadSet after every change w reports, coalescing bursts,
// until close.
func (a *adminParts) watch(w policystore.Watcher, reloadSet func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	a.stop = cancel
	wake := make(chan struct{}, 1)
	stopWatch := w.WatchPolicies(ctx, func(string) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	a.wg.Go(func() {
		defer stopWatch()
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
				reloadSet(ctx)
			}
		}
	})
}

// close stops the watch; a nil a does nothing.
func (a *adminParts) close() {
	if a == nil {
		return
	}
	if a.stop != nil {
		a.stop()
	}
	a.wg.Wait()
}
