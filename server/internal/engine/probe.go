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

// probe evaluates a new set's decision before it serves, for what
// CheckShapes cannot type: a contribution read from input or data. The
// requests are representative, not exhaustive: one per tenant environment
// (the first probeLimit in name order), naming a subject of the tenant and
// asking for the explanation, so every check is listed too. A decision the
// server cannot read, or an evaluation error (the core fails on a value of
// the wrong shape before the decision is read), refuses the set: every
// Check like the probe would fail with INTERNAL.
func (e *Engine) probe(ctx context.Context, p *prepared, tenants map[string]any) error {
	n := 0
	for _, tenant := range slices.Sorted(maps.Keys(tenants)) {
		t, _ := tenants[tenant].(map[string]any)
		envs, _ := t["environments"].(map[string]any)
		for _, env := range slices.Sorted(maps.Keys(envs)) {
			if n++; n > probeLimit {
				return nil
			}
			req := &decision.Request{
				Tenant: tenant, Environment: env,
				Subject: decision.Subject{ID: "probe", Tenant: tenant},
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
					"(a module adds a value of the wrong shape, or fails on a plain request): %w", tenant, env, err)
			}
		}
	}
	return nil
}
