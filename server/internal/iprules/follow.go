package iprules

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
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

const (
	// keepLoadTimeout bounds Keep's first load.
	keepLoadTimeout = time.Minute
	// keepPruneInterval is how often Keep drops expired entries and
	// deletes expired rules.
	keepPruneInterval = time.Minute
)

// Keep loads every stored rule into the lists, then, until the returned
// stop is called, drops expired entries and deletes expired rules from
// the store every minute and, with changes (nil when the store is not
// shared between replicas), reloads the scopes other replicas change. It
// returns once the rules are loaded and the watch is in place.
func (a *Applier) Keep(changes Watcher, now func() time.Time, logger *slog.Logger) (stop func(), err error) {
	ctx, cancel := context.WithTimeout(context.Background(), keepLoadTimeout)
	n, err := a.Load(ctx, now())
	cancel()
	if err != nil {
		return nil, fmt.Errorf("load IP rules: %w", err)
	}
	logger.Info("IP rules loaded", "live", n)
	life, end := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stop = func() {
		end()
		wg.Wait()
	}
	wg.Go(func() {
		a.RunPruner(life, keepPruneInterval, now, func(err error) {
			logger.Error("expired IP rules not deleted from the store; the next round retries", "error", err.Error())
		})
	})
	if changes != nil {
		loop, err := a.Follow(life, changes, now, logger)
		if err != nil {
			stop()
			return nil, err
		}
		wg.Go(loop.Wait)
	}
	return stop, nil
}
