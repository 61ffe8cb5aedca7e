package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	adminiplists "github.com/pdp-dev/pdp/server/internal/admin/iplists"
	"github.com/pdp-dev/pdp/server/internal/incident/autoblock"
	"github.com/pdp-dev/pdp/server/internal/iprules"
)

// The IP rules of a state: admin rules, imported lists and auto-blocks,
// persisted by the backend's iprules.Store and applied to the state's IP
// lists. At start every stored rule is loaded; each change made here is
// applied at once; with a shared backend the scopes another replica
// changes are reloaded (and everything after a reconnect), so a rule added
// on one replica is enforced by every replica well within a second.
// Expired entries are pruned, and expired rules deleted from the store,
// every ipRulesPruneInterval.

const (
	// ipRulesLoadTimeout bounds loading the rules at start.
	ipRulesLoadTimeout = time.Minute
	// ipRulesPruneInterval is how often expired entries and rules are
	// dropped.
	ipRulesPruneInterval = time.Minute
)

// ipRules is the IP-rule part of a state.
type ipRules struct {
	applier *iprules.Applier
	blocker *autoblock.Blocker
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// openIPRules loads the stored rules into the state's IP lists and starts
// the pruner and, with a shared backend, the reloads of other replicas'
// changes.
func (s *state) openIPRules(o options) error {
	r := &s.ipRules
	r.applier = iprules.NewApplier(s.ips, s.store.IPRules)
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
	if w := s.store.RuleChanges; w != nil {
		loop, err := r.applier.Follow(life, w, o.now, o.logger)
		if err != nil {
			r.close()
			return err
		}
		r.wg.Go(loop.Wait)
	}
	return nil
}

// close stops the pruner and the reloads.
func (r *ipRules) close() {
	if r.stop != nil {
		r.stop()
	}
	r.wg.Wait()
}

// ipRulesAdmin returns the IP-rule methods of PolicyAdminService over the
// state's rules and IP lists, recording changes in the state's audit log.
func (s *state) ipRulesAdmin(o options) (*adminiplists.Service, error) {
	return adminiplists.New(adminiplists.Options{
		Store: s.store.IPRules, Audit: s.audit, Applier: s.ipRules.applier, Now: o.now, Logger: o.logger,
	})
}
