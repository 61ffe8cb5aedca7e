package iprules

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// expiring indexes the applied rules that have an expiry (auto-blocks and
// admin rules with expires_at; imports have none), so expired rules can be
// deleted from the store without reading all of it.
type expiring struct {
	mu sync.Mutex
	m  map[string]expiry // rule id →
}

type expiry struct {
	tenant string
	at     time.Time
}

// track records r's expiry, or forgets r when it has none.
func (x *expiring) track(r Rule) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.trackLocked(r)
}

func (x *expiring) trackLocked(r Rule) {
	if r.ExpiresAt.IsZero() {
		delete(x.m, r.ID)
		return
	}
	if x.m == nil {
		x.m = map[string]expiry{}
	}
	x.m[r.ID] = expiry{tenant: r.Tenant, at: r.ExpiresAt}
}

func (x *expiring) forget(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.m, id)
}

// reset forgets the rules of the tenants that in selects, then tracks
// exp (rule id → expiry).
func (x *expiring) reset(exp map[string]expiry, in func(tenant string) bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, e := range x.m {
		if in(e.tenant) {
			delete(x.m, id)
		}
	}
	if len(exp) == 0 {
		return
	}
	if x.m == nil {
		x.m = make(map[string]expiry, len(exp))
	}
	for id, e := range exp {
		x.m[id] = e
	}
}

// due forgets and returns the ids of the rules expired at now.
func (x *expiring) due(now time.Time) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var ids []string
	for id, e := range x.m {
		if !now.Before(e.at) {
			ids = append(ids, id)
			delete(x.m, id)
		}
	}
	return ids
}

// Expire drops the entries expired at now from the lists and deletes the
// expired rules from the store. A rule is read again before it is deleted,
// so one another replica has just extended (an address blocked again)
// stays. It returns how many rules it deleted.
func (a *Applier) Expire(ctx context.Context, now time.Time) (int, error) {
	a.Prune(now)
	n := 0
	var errs []error
	for _, id := range a.exp.due(now) {
		r, err := a.store.Get(ctx, id)
		switch {
		case errors.Is(err, fault.ErrNotFound):
			continue
		case err != nil:
			errs = append(errs, err)
			continue
		case r.Live(now):
			a.Added(r) // extended elsewhere: list it with its new expiry
			continue
		}
		if _, err := a.store.Remove(ctx, id); err != nil && !errors.Is(err, fault.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
