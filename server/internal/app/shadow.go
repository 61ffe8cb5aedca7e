package app

import (
	"context"
	"fmt"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/replay"
)

// buildShadow starts shadow evaluation: always for the tenants'
// candidates of the admin API, and with the candidate of --shadow-policy-dir
// and --shadow-tenants when they are set (each defaulting to the live
// one). A candidate of files that does not load stops the start.
func (p *parts) buildShadow(ctx context.Context, cfg config.Config, o options) error {
	opts := replay.ShadowOptions{Sample: cfg.ShadowSample, Meter: p.metrics.MeterProvider(), Logger: o.logger, Now: o.now,
		Signals: p.state.enricher}
	if p.sec.dlog != nil {
		opts.Log = p.sec.dlog
	}
	s, err := replay.NewShadow(opts)
	if err != nil {
		return fmt.Errorf("shadow evaluation: %w", err)
	}
	p.shadow = s
	if !cfg.ShadowEnabled() {
		return nil
	}
	dirs, tenants := cfg.ShadowPolicyDirs, cfg.ShadowTenantsDir
	if len(dirs) == 0 {
		dirs = cfg.PolicyDirs
	}
	if tenants == "" {
		tenants = cfg.TenantsDir
	}
	c, err := replay.Load(ctx, dirs, tenants)
	if err != nil {
		return fmt.Errorf("the shadow candidate (--shadow-policy-dir, --shadow-tenants) does not load: %w", err)
	}
	s.SetGlobal(c, "--shadow-policy-dir/--shadow-tenants")
	o.logger.Info("shadow evaluation", "candidate_revision", c.Revision(), "sample", cfg.ShadowSample)
	return nil
}
