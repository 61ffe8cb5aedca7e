package iprules

import (
	"context"
	"log/slog"
	"time"

	"github.com/pdp-dev/pdp/server/internal/follow"
)

// Watcher is implemented by the stores shared between replicas (Redis):
// it reports the rule changes other replicas make.
type Watcher interface {
	// WatchRules calls changed with the scope (the tenant, "" for the
	// global rules) of every change another replica makes, and resync
	// when changes may have been missed (after a reconnect), until ctx
	// ends. It returns once changes are delivered, or an error when the
	// watch did not start.
	WatchRules(ctx context.Context, changed func(scope string), resync func()) error
}

// Follow reloads the scopes w reports changed (everything after a
// resync) until ctx ends, on a worker of its own that coalesces bursts, so
// the watch is never held up by a reload. It returns once the watch is in
// place; the returned loop's Wait waits for the worker after ctx ends. A
// failed reload is logged and the previous lists stay.
func (a *Applier) Follow(ctx context.Context, w Watcher, now func() time.Time, logger *slog.Logger) (*follow.Loop, error) {
	loop := follow.Start(ctx, func(ctx context.Context, c follow.Changes) {
		if c.All {
			if _, err := a.Load(ctx, now()); err != nil && ctx.Err() == nil {
				logger.Error("IP rules not reloaded after a reconnect; the previous lists stay", "error", err.Error())
			}
			return
		}
		for tenant := range c.Scopes {
			if _, err := a.LoadScope(ctx, tenant, now()); err != nil && ctx.Err() == nil {
				logger.Error("IP rules of a scope not reloaded; the previous lists stay", "tenant", tenant, "error", err.Error())
			}
		}
	})
	if err := w.WatchRules(ctx, loop.Changed, loop.ChangedAll); err != nil {
		return nil, err
	}
	return loop, nil
}
