package app

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/audit/checkpoint"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/signals"
	"github.com/pdp-dev/pdp/server/internal/store/backend"
)

// state is what the server remembers and derives from the loaded set: the
// store, the IP lists and the per-tenant signal settings.
type state struct {
	store    *backend.Backend
	ips      *ipset.Set
	settings atomic.Pointer[signals.SettingsFunc]
	// derived holds what onLoad read from the last set, so that a set
	// loaded per tenant is read for its changed tenants only.
	derived  derived
	enricher *signals.Enricher
	recorder *signals.Recorder
	responders
	ipRules ipRules
	logger  interface {
		Error(msg string, args ...any)
	}
	// audit is the store's hash-chained audit log: admin handlers append
	// every change to it, incident response its actions.
	audit audit.Log
	// checkpoints signs the audit chain's head into --audit-checkpoints;
	// nil when off.
	checkpoints *checkpoint.Checkpointer
	// checkpointFile is --audit-checkpoints.
	checkpointFile string
	// ssf receives the Shared Signals events of --ssf-config; nil when off.
	ssf *sharedSignals
}

// openState opens the backend and what is kept beside it; on error it
// closes what it opened.
func openState(cfg config.Config, o options) (_ *state, err error) {
	spec, err := config.ParseStore(cfg.Store)
	if err != nil {
		return nil, fmt.Errorf("--store: %w", err)
	}
	st, err := backend.Open(spec, o.logger)
	if err != nil {
		return nil, err
	}
	s := &state{store: st, ips: ipset.NewSet(nil), logger: o.logger, checkpointFile: cfg.AuditCheckpoints}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.checkpoints, s.audit, err = openCheckpoints(cfg, o, st.Audit); err != nil {
		return nil, err
	}
	if err = s.openIPRules(o); err != nil {
		return nil, err
	}
	if err = s.openResponders(cfg, o); err != nil {
		return nil, err
	}
	if s.ssf, err = openSharedSignals(cfg, o, s); err != nil {
		return nil, err
	}
	def := signals.SettingsFunc(signals.DefaultSettings)
	s.settings.Store(&def)
	settings := func(tenant, env string) signals.Settings { return (*s.settings.Load())(tenant, env) }
	s.enricher = signals.NewEnricher(signals.Options{State: st.State, IPs: s.ips, Geo: s.geo(), SSF: s.ssf.reader(st.SSF), Settings: settings, Now: o.now})
	s.recorder = signals.NewRecorder(signals.RecorderOptions{State: st.State, Geo: s.geo(), Settings: settings, Now: o.now})
	return s, nil
}

// derived is what onLoad read from the last set loaded. onLoad runs for one
// set at a time (reload.Options.OnLoad).
type derived struct {
	// ipsAll is whether the IP lists hold every tenant's of the last set:
	// only then can a set loaded per tenant replace its changed tenants'.
	ipsAll  bool
	signals *signals.PolicyIndex
}

// onLoad derives the IP lists and signal settings of a newly loaded set,
// for its changed tenants only when it was loaded per tenant
// (reload.Set.Changed). The tenant documents were validated before the
// engine accepted them, so an error here is a bug; it is logged and the
// previous lists stay.
func (s *state) onLoad(set reload.Set) {
	var err error
	if set.Changed != nil && s.derived.ipsAll {
		err = s.ips.SetTenantPoliciesOf(set.Tenants, set.Changed)
	} else {
		err = s.ips.SetTenantPolicies(set.Tenants)
	}
	s.derived.ipsAll = err == nil
	if err != nil {
		s.logger.Error("tenant IP lists rejected; the previous lists stay", "error", err.Error())
	}
	if set.Changed != nil && s.derived.signals != nil {
		s.derived.signals = s.derived.signals.With(set.Tenants, set.Changed)
	} else {
		s.derived.signals = signals.NewPolicyIndex(set.Tenants)
	}
	f := signals.SettingsFunc(s.derived.signals.Settings)
	s.settings.Store(&f)
	s.onLoadResponders(set)
}

func (s *state) ping(ctx context.Context) error { return s.store.State.Ping(ctx) }

// close closes what openState opened, in reverse; parts never opened are
// skipped.
func (s *state) close() {
	s.ssf.stop()
	s.closeResponders()
	s.ipRules.close()
	s.closeCheckpoints()
	_ = s.store.Close()
}
