package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	adminiprules "github.com/pdp-dev/pdp/server/internal/admin/iprules"
	"github.com/pdp-dev/pdp/server/internal/incident"
	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/iprules/autoblock"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
	"github.com/pdp-dev/pdp/server/internal/store/redis"
)

// The IP rules of a state: admin rules, imported lists and auto-blocks,
// persisted by the backend's iprules.Store and applied to the state's IP
// lists. At start every stored rule is loaded; each change made here is
// applied at once; with Redis a subscriber reloads the scope another
// replica changed (and everything after a reconnect), so a rule added on
// one replica is enforced by every replica well within a second. Expired
// entries are pruned, and expired rules deleted from the store, every
// ipRulesPruneInterval.

const (
	// ipRulesLoadTimeout bounds loading the rules at start.
	ipRulesLoadTimeout = time.Minute
	// ipRulesPruneInterval is how often expired entries and rules are
	// dropped.
	ipRulesPruneInterval = time.Minute
	// ipRulesSubscribeWait bounds waiting for the change subscription at
	// start; changes made before it is in place are caught by no one.
	ipRulesSubscribeWait = 10 * time.Second
)

// ipRules is the IP-rule part of a state.
type ipRules struct {
	rules    iprules.Store
	applier  *iprules.Applier
	blocker  *autoblock.Blocker
	notifier *redis.Notifier // nil unless the store is Redis
	logger   *slog.Logger
	now      func() time.Time
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// ipRuleStore returns the IP-rule store of st's backend and, for Redis,
// the notifier its changes are announced on.
func ipRuleStore(st store.Store) (iprules.Store, *redis.Notifier) {
	switch s := st.(type) {
	case *bolt.Store:
		return s.IPRules(), nil
	case *redis.Store:
		n := s.Notifier()
		return s.IPRules(n), n
	}
	return memory.NewIPRules(), nil
}

// openIPRules loads the stored rules into the state's IP lists and starts
// the pruner and, with Redis, the change subscriber.
func (s *state) openIPRules(o options) error {
	rules, notifier := ipRuleStore(s.store)
	r := &s.ipRules
	r.rules, r.notifier, r.logger, r.now = rules, notifier, o.logger, o.now
	r.applier = iprules.NewApplier(s.ips, rules)
	r.blocker = autoblock.New(r.applier)
	ctx, cancel := context.WithTimeout(context.Background(), ipRulesLoadTimeout)
	n, err := r.applier.Load(ctx, o.now())
	cancel()
	if err != nil {
		return fmt.Errorf("load IP rules: %w", err)
	}
	o.logger.Info("IP rules loaded", "live", n)
	life, stop := context.WithCancel(context.Background())
	r.stop = stop
	r.wg.Go(func() {
		r.applier.RunPruner(life, ipRulesPruneInterval, o.now, func(err error) {
			o.logger.Error("expired IP rules not deleted from the store; the next round retries", "error", err.Error())
		})
	})
	if notifier != nil {
		if err := r.subscribe(life, o); err != nil {
			r.close()
			return err
		}
	}
	return nil
}

// subscribe reloads what other replicas change. Notifications are handed
// to one worker that coalesces them, so the subscription's connection is
// never held up by a reload.
func (r *ipRules) subscribe(ctx context.Context, o options) error {
	var mu sync.Mutex
	pending := map[string]bool{}
	resync := false
	wake := make(chan struct{}, 1)
	sub := r.notifier.Subscribe(ctx, func(c redis.Change) {
		mu.Lock()
		switch {
		case c.Kind == redis.KindResync:
			resync = true
		case c.Kind == redis.KindIPRules && c.Origin != r.notifier.Origin():
			pending[c.Tenant] = true
		default:
			mu.Unlock()
			return
		}
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	r.wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			mu.Lock()
			all, scopes := resync, pending
			resync, pending = false, map[string]bool{}
			mu.Unlock()
			r.reload(ctx, o, all, scopes)
		}
	})
	select {
	case <-sub.Ready():
		return nil
	case <-sub.Done():
		return fmt.Errorf("IP rule notifications: the subscription ended before it started")
	case <-time.After(ipRulesSubscribeWait):
		return fmt.Errorf("IP rule notifications: not subscribed within %s", ipRulesSubscribeWait)
	}
}

// reload reads everything (after a reconnect) or the changed scopes again.
func (r *ipRules) reload(ctx context.Context, o options, all bool, scopes map[string]bool) {
	if all {
		if _, err := r.applier.Load(ctx, o.now()); err != nil && ctx.Err() == nil {
			o.logger.Error("IP rules not reloaded after a reconnect; the previous lists stay", "error", err.Error())
		}
		return
	}
	for tenant := range scopes {
		if _, err := r.applier.LoadScope(ctx, tenant, o.now()); err != nil && ctx.Err() == nil {
			o.logger.Error("IP rules of a scope not reloaded; the previous lists stay", "tenant", tenant, "error", err.Error())
		}
	}
}

// close stops the pruner and the subscriber.
func (r *ipRules) close() {
	if r.stop != nil {
		r.stop()
	}
	r.wg.Wait()
}

// incidentBlocker is the Blocker of incident response: auto-blocks become
// stored deny rules with an expiry.
func (s *state) incidentBlocker() incident.Blocker { return s.ipRules.blocker }

// ipRulesAdmin returns the IP-rule methods of PolicyAdminService over the
// state's rules and IP lists, recording changes in the state's audit log.
func (s *state) ipRulesAdmin() (*adminiprules.Service, error) {
	return adminiprules.New(adminiprules.Options{
		Store: s.ipRules.rules, Audit: s.audit, Applier: s.ipRules.applier, Now: s.ipRules.now, Logger: s.ipRules.logger,
	})
}
