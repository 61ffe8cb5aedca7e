// Package follow turns change notifications into reloads. A notification
// only marks what changed and wakes one worker, which reloads everything
// marked since its last reload: the notifier (a Pub/Sub connection) is
// never held up by a reload, and a burst of notifications becomes one
// reload.
package follow

import (
	"context"
	"sync"
)

// Changes is what was marked changed since the last reload.
type Changes struct {
	// All is true when anything may have changed (a notifier reconnected
	// and may have missed some): reread everything.
	All bool
	// Scopes are the scopes (tenants) named since; "" is a scope too.
	Scopes map[string]bool
}

// Loop runs reloads as changes are marked. Its methods are safe for
// concurrent use.
type Loop struct {
	mu      sync.Mutex
	pending Changes
	wake    chan struct{}
	done    chan struct{}
}

// Start calls reload with what was marked, one call at a time, each time
// something was marked since the previous call, until ctx ends.
func Start(ctx context.Context, reload func(context.Context, Changes)) *Loop {
	l := &Loop{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.wake:
			}
			l.mu.Lock()
			c := l.pending
			l.pending = Changes{}
			l.mu.Unlock()
			reload(ctx, c)
		}
	}()
	return l
}

// Changed marks scope changed.
func (l *Loop) Changed(scope string) {
	l.mu.Lock()
	if l.pending.Scopes == nil {
		l.pending.Scopes = map[string]bool{}
	}
	l.pending.Scopes[scope] = true
	l.mu.Unlock()
	l.signal()
}

// ChangedAll marks everything changed.
func (l *Loop) ChangedAll() {
	l.mu.Lock()
	l.pending.All = true
	l.mu.Unlock()
	l.signal()
}

// signal wakes the worker; a wake-up already pending covers this one.
func (l *Loop) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Wait returns once the worker has stopped, after Start's ctx ended and
// the reload in progress returned.
func (l *Loop) Wait() { <-l.done }
