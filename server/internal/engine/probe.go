package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// probeLimit bounds the probe evaluations of one load.
const probeLimit = 16

// tenantEnv names one environment of one tenant.
type tenantEnv struct{ tenant, env string }

// probeWindow returns the tenant environments a set with these tenants is
// probed with: the first probeLimit in name order.
func probeWindow(tenants map[string]any) []tenantEnv {
	var window []tenantEnv
	for _, tenant := range slices.Sorted(maps.Keys(tenants)) {
		t, _ := tenants[tenant].(map[string]any)
		envs, _ := t["environments"].(map[string]any)
		for _, env := range slices.Sorted(maps.Keys(envs)) {
			if len(window) == probeLimit {
				return window
			}
			window = append(window, tenantEnv{tenant, env})
		}
	}
	return window
}

// probe evaluates a new set's decision before it serves, for what
// CheckShapes cannot type: a contribution read from input or data. The
// requests are representative, not exhaustive: one per tenant environment
// of p.probed (see probeWindow), naming a subject of the tenant and
// asking for the explanation, so every check is listed too. A decision the
// server cannot read, or an evaluation error (the core fails on a value of
// the wrong shape before the decision is read), refuses the set: every
// Check like the probe would fail with INTERNAL. A tenant environment
// whose tenant change did not touch, and that the previous set was probed
// with, passed with the same modules and the same tenant data: it is not
// probed again.
func (e *Engine) probe(ctx context.Context, p *prepared, change tenantChange) error {
	for _, te := range p.probed {
		if !change.changed(te.tenant) && slices.Contains(change.previous.probed, te) {
			continue
		}
		req := &decision.Request{
			Tenant: te.tenant, Environment: te.env,
			Subject: decision.Subject{ID: "probe", Tenant: te.tenant},
			Action:  decision.Action{Name: "probe"},
			Explain: true,
		}
		input, err := buildInput(req, e.now)
		if err != nil {
			return err
		}
		rs, err := p.eval(ctx, input)
		if err == nil {
			_, err = parseResultSet(rs)
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if err != nil {
			return fmt.Errorf("the policy set cannot decide a probe Check for tenant %s, environment %s "+
				"(a module adds a value of the wrong shape, or fails on a plain request): %w", te.tenant, te.env, err)
		}
	}
	return nil
}
