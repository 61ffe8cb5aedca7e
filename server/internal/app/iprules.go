package app

import (
	adminiplists "github.com/pdp-dev/pdp/server/internal/admin/iplists"
	"github.com/pdp-dev/pdp/server/internal/incident/autoblock"
	"github.com/pdp-dev/pdp/server/internal/iprules"
)

// ipRules are the IP rules of a state: admin rules, imported lists and
// auto-blocks, persisted by the backend's iprules.Store and kept in the
// state's IP lists (iprules.Applier.Keep: loaded at start, expired ones
// pruned, other replicas' changes reloaded). Each change made here is
// applied at once.
type ipRules struct {
	applier *iprules.Applier
	blocker *autoblock.Blocker
	stop    func() // nil until kept
}

// openIPRules loads the stored rules into the state's IP lists and keeps
// them there.
func (s *state) openIPRules(o options) error {
	r := &s.ipRules
	r.applier = iprules.NewApplier(s.ips, s.store.IPRules)
	r.blocker = autoblock.New(r.applier)
	stop, err := r.applier.Keep(s.store.RuleChanges, o.now, o.logger)
	r.stop = stop
	return err
}

// close stops the upkeep.
func (r *ipRules) close() {
	if r.stop != nil {
		r.stop()
	}
}

// ipRulesAdmin returns the IP-rule methods of PolicyAdminService over the
// state's rules and IP lists, recording changes in the state's audit log.
func (s *state) ipRulesAdmin(o options) (*adminiplists.Service, error) {
	return adminiplists.New(adminiplists.Options{
		Store: s.store.IPRules, Audit: s.audit, Applier: s.ipRules.applier, Now: o.now, Logger: o.logger,
	})
}
