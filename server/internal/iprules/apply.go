package iprules

import (
	"context"
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

// Scanner is a Store that hands rules over one at a time instead of in
// one slice. The Applier loads through it when the store has one, so
// loading a million imported rules needs no slice or map of them: only
// the lists they make.
type Scanner interface {
	// ScanAll calls fn with every rule of every scope, in no particular
	// order, and stops at the first error fn returns, returning it. The
	// rules come without their ID, which most of them never need and
	// which would cost an allocation each: WithID derives it.
	ScanAll(ctx context.Context, fn func(Rule) error) error
	// ScanScope calls fn with every rule of one scope (the global rules
	// when tenant is empty), without its ID, in id order, and stops at the
	// first error fn returns, returning it.
	ScanScope(ctx context.Context, tenant string, fn func(Rule) error) error
}

// scopeReader is a Store that reads one scope whole.
type scopeReader interface {
	Scope(ctx context.Context, tenant string) ([]Rule, error)
}

// Load replaces the entries of every rule scope with the store's rules
// that are live at now.
func (a *Applier) Load(ctx context.Context, now time.Time) (int, error) {
	scan := func(fn func(Rule) error) error {
		if sc, ok := a.store.(Scanner); ok {
			return sc.ScanAll(ctx, fn)
		}
		return each(a.store.All(ctx))(fn)
	}
	return a.replace(scan, now, func(string) bool { return true })
}

// LoadScope replaces the entries of one tenant's rules (the global ones
// when tenant is empty) with the store's.
func (a *Applier) LoadScope(ctx context.Context, tenant string, now time.Time) (int, error) {
	scan := func(fn func(Rule) error) error {
		switch st := a.store.(type) {
		case Scanner:
			return st.ScanScope(ctx, tenant, fn)
		case scopeReader:
			return each(st.Scope(ctx, tenant))(fn)
		}
		return each(a.store.All(ctx))(fn)
	}
	return a.replace(scan, now, func(t string) bool { return t == tenant })
}

// each scans rules, or fails with err.
func each(rules []Rule, err error) func(fn func(Rule) error) error {
	return func(fn func(Rule) error) error {
		if err != nil {
			return err
		}
		for _, r := range rules {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// replace makes the rule entries of the tenants' scopes keep selects those
// of the live rules scan yields, in one published snapshot. The rules go
// one by one into lists of their own, which then replace the set's lists
// that differ (ipset.Builder.Sync): a list loaded into an empty set is
// taken as it is, and reloading a large scope in which one rule changed
// costs a pass over its lists, not their rebuilding. Nothing changes when
// scan fails.
func (a *Applier) replace(scan func(func(Rule) error) error, now time.Time, keep func(tenant string) bool) (int, error) {
	w := ipset.NewBuilder()
	exp := map[string]expiry{}
	var src entrySources
	n := 0
	err := scan(func(r Rule) error {
		if !keep(r.Tenant) {
			return nil
		}
		if r.ID == "" && (r.Source == SourceAdmin || !r.ExpiresAt.IsZero()) {
			r = r.WithID() // from a Scanner; the entry source or the expiry needs it
		}
		if !r.ExpiresAt.IsZero() {
			exp[r.ID] = expiry{tenant: r.Tenant, at: r.ExpiresAt}
		}
		if !r.Live(now) || r.Validate() != nil {
			return nil
		}
		if w.Add(r.entry(src.of(r))) == nil {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	want := w.Snapshot()
	a.exp.reset(exp, keep)
	_ = a.set.Update(func(b *ipset.Builder) error {
		b.Sync(want, func(s ipset.Scope) bool { return s.Environment == "" && keep(s.Tenant) },
			func(source string) bool { return source != ipset.SourceTenantPolicy })
		return nil
	})
	return n, nil
}

// entrySources derives the entry sources of a run of rules, reusing the
// previous one for the next rule of the same import or auto-block.
type entrySources struct{ rule, entry string }

func (s *entrySources) of(r Rule) string {
	if r.Source == SourceAdmin {
		return r.EntrySource() // one per rule
	}
	if r.Source != s.rule {
		s.rule, s.entry = r.Source, r.EntrySource()
	}
	return s.entry
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
