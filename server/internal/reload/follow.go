package reload

import (
	"context"

	"github.com/pdp-dev/pdp/server/internal/follow"
)

// Watcher reports the tenant policies other replicas store: a backend
// shared between replicas provides one (tenantstore.Watcher).
type Watcher interface {
	WatchPolicies(ctx context.Context, changed func(tenant string)) (stop func())
}

// Follow loads the set again whenever w reports a change, on a worker of
// its own that coalesces bursts, until the returned stop is called; stop
// waits for a load in progress.
func (l *Loader) Follow(w Watcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	loop := follow.Start(ctx, func(ctx context.Context, _ follow.Changes) {
		if _, err := l.LoadStored(ctx); err != nil && ctx.Err() == nil {
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
