package iprules

import (
	"context"
	"net/netip"
	"time"

	"github.com/pdp-dev/pdp/server/internal/ipset"
)

// Applier keeps the stored rules in an ipset.Set: each rule becomes the
// entry Rule.Entry returns, scoped to its tenant (every environment).
// Entries of SourceTenantPolicy are left alone: they live in environment
// scopes, which rules never use. It is safe for concurrent use; the Set
// serialises the updates.
type Applier struct {
	set   *ipset.Set
	store Store
	exp   expiring
}

// NewApplier returns an applier loading rules from st into set.
func NewApplier(set *ipset.Set, st Store) *Applier { return &Applier{set: set, store: st} }

// Store returns the store the applier loads from.
func (a *Applier) Store() Store { return a.store }

// Set returns the IP lists the applier writes.
func (a *Applier) Set() *ipset.Set { return a.set }

// Added lists r, replacing an earlier entry of the same rule.
func (a *Applier) Added(r Rule) {
	a.exp.track(r)
	_ = a.set.Update(func(b *ipset.Builder) error { return b.Add(r.Entry()) })
}

// Removed unlists r.
func (a *Applier) Removed(r Rule) {
	a.exp.forget(r.ID)
	e := r.Entry()
	_ = a.set.Update(func(b *ipset.Builder) error {
		b.Remove(e.Scope, e.List, e.Prefix, e.Source)
		return nil
	})
}

// Imported lists every rule of rules.
func (a *Applier) Imported(rules []Rule) {
	_ = a.set.Update(func(b *ipset.Builder) error {
		for _, r := range rules {
			_ = b.Add(r.Entry())
		}
		return nil
	})
}

// Load replaces the entries of every rule scope with the store's rules
// that are live at now.
func (a *Applier) Load(ctx context.Context, now time.Time) (int, error) {
	rules, err := a.store.All(ctx)
	if err != nil {
		return 0, err
	}
	a.exp.reset(rules, func(string) bool { return true })
	return a.replace(rules, now, func(ipset.Scope) bool { return true }), nil
}

// scopeReader is a Store that reads one scope whole.
type scopeReader interface {
	Scope(ctx context.Context, tenant string) ([]Rule, error)
}

// LoadScope replaces the entries of one tenant's rules (the global ones
// when tenant is empty) with the store's.
func (a *Applier) LoadScope(ctx context.Context, tenant string, now time.Time) (int, error) {
	var rules []Rule
	if sr, ok := a.store.(scopeReader); ok {
		var err error
		if rules, err = sr.Scope(ctx, tenant); err != nil {
			return 0, err
		}
	} else {
		all, err := a.store.All(ctx)
		if err != nil {
			return 0, err
		}
		for _, r := range all {
			if r.Tenant == tenant {
				rules = append(rules, r)
			}
		}
	}
	a.exp.reset(rules, func(t string) bool { return t == tenant })
	return a.replace(rules, now, func(s ipset.Scope) bool { return s.Tenant == tenant }), nil
}

// entryKey identifies one entry of the lists.
type entryKey struct {
	scope  ipset.Scope
	list   ipset.List
	prefix netip.Prefix
	source string
}

// replace makes the rule entries of the scopes keep selects those of the
// live rules, in one published snapshot. It changes only what differs, so
// reloading a large scope in which one rule changed costs a pass over the
// lists, not their rebuilding.
func (a *Applier) replace(rules []Rule, now time.Time, keep func(ipset.Scope) bool) int {
	want := make(map[entryKey]time.Time, len(rules))
	for _, r := range rules {
		if !r.Live(now) || !keep(ipset.Scope{Tenant: r.Tenant}) || r.Validate() != nil {
			continue
		}
		e := r.Entry()
		want[entryKey{e.Scope, e.List, e.Prefix.Masked(), e.Source}] = e.ExpiresAt
	}
	n := len(want)
	_ = a.set.Update(func(b *ipset.Builder) error {
		for e := range a.set.Load().All() {
			if e.Scope.Environment != "" || e.Source == ipset.SourceTenantPolicy || !keep(e.Scope) {
				continue
			}
			k := entryKey{e.Scope, e.List, e.Prefix, e.Source}
			if exp, ok := want[k]; ok && exp.Equal(e.ExpiresAt) {
				delete(want, k) // listed as it should be
				continue
			}
			b.Remove(e.Scope, e.List, e.Prefix, e.Source)
		}
		for k, exp := range want {
			_ = b.Add(ipset.Entry{Scope: k.scope, List: k.list, Prefix: k.prefix, Source: k.source, ExpiresAt: exp})
		}
		return nil
	})
	return n
}

// Prune drops the entries expired at now from the lists.
func (a *Applier) Prune(now time.Time) {
	_ = a.set.Update(func(b *ipset.Builder) error {
		b.Prune(now)
		return nil
	})
}

// RunPruner calls Expire every interval, by the clock now, until ctx
// ends, passing its errors to onError.
func (a *Applier) RunPruner(ctx context.Context, interval time.Duration, now func() time.Time, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := a.Expire(ctx, now()); err != nil && ctx.Err() == nil && onError != nil {
				onError(err)
			}
		}
	}
}
