package app

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/signals"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

// state is what the server remembers and derives from the loaded set: the
// store, the IP lists and the per-tenant signal settings.
type state struct {
	store    store.Store
	ips      *ipset.Set
	settings atomic.Pointer[signals.SettingsFunc]
	enricher *signals.Enricher
	recorder *signals.Recorder
	logger   interface {
		Error(msg string, args ...any)
	}
}

func openState(cfg config.Config, o options) (*state, error) {
	var st store.Store
	switch cfg.Store {
	case "memory:":
		st = memory.New(memory.Options{})
	default:
		return nil, fmt.Errorf("store %q is not supported", cfg.Store)
	}
	s := &state{store: st, ips: ipset.NewSet(nil), logger: o.logger}
	def := signals.SettingsFunc(signals.DefaultSettings)
	s.settings.Store(&def)
	settings := func(tenant, env string) signals.Settings { return (*s.settings.Load())(tenant, env) }
	s.enricher = signals.NewEnricher(signals.Options{State: st, IPs: s.ips, Settings: settings, Now: o.now})
	s.recorder = signals.NewRecorder(signals.RecorderOptions{State: st, Settings: settings, Now: o.now})
	return s, nil
}

// onLoad derives the IP lists and signal settings of a newly loaded set.
// The tenant documents were validated before the engine accepted them, so
// an error here is a bug; it is logged and the previous lists stay.
func (s *state) onLoad(set reload.Set) {
	if err := s.ips.SetTenantPolicies(set.Tenants); err != nil {
		s.logger.Error("tenant IP lists rejected; the previous lists stay", "error", err.Error())
	}
	f := signals.PolicySettings(set.Tenants)
	s.settings.Store(&f)
}

func (s *state) ping(ctx context.Context) error { return s.store.Ping(ctx) }

func (s *state) close() { _ = s.store.Close() }

// pipeline is the Decider the services call: enrich the request with what
// the server knows, then evaluate, all within the check timeout.
type pipeline struct {
	state   *state
	engine  *engine.Engine
	timeout time.Duration
}

func (p pipeline) Decide(ctx context.Context, req *decision.Request) (*decision.Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if err := p.state.enricher.Enrich(ctx, req); err != nil {
		return nil, err
	}
	return p.engine.Decide(ctx, req)
}
