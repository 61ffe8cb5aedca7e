package reload

import (
	"context"
	"maps"
	"slices"

	"github.com/pdp-dev/pdp/server/internal/follow"
)

// Watcher reports the tenant policies other replicas store: a backend
// shared between replicas provides one (tenantstore.Watcher).
type Watcher interface {
	WatchPolicies(ctx context.Context, changed func(tenant string)) (stop func())
}

// Follow loads the set again whenever w reports a change, on a worker of
// its own that coalesces bursts, until the returned stop is called; stop
// waits for a load in progress. Changes of named tenants read those
// tenants' stored policies alone (LoadStoredTenants); a change that may
// have been missed reads them all.
func (l *Loader) Follow(w Watcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	loop := follow.Start(ctx, func(ctx context.Context, c follow.Changes) {
		var err error
		if c.All || c.Scopes[""] {
			_, err = l.LoadStored(ctx) // changes may have been missed
		} else {
			_, err = l.LoadStoredTenants(ctx, slices.Collect(maps.Keys(c.Scopes))...)
		}
		if err != nil && ctx.Err() == nil {
			l.opts.Logger.Error("tenant policies stored by another replica are not served", "error", err.Error())
		}
	})
	stopWatch := w.WatchPolicies(ctx, loop.Changed)
	return func() {
		cancel()
		stopWatch()
		loop.Wait()
	}
}
