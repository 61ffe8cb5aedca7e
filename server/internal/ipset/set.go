package ipset

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Set publishes snapshots. Lookups load the current snapshot with one
// atomic read and never lock; updates are serialised and swap a whole new
// snapshot in.
type Set struct {
	cur atomic.Pointer[Snapshot]
	mu  sync.Mutex // serialises writers
}

// NewSet returns a set publishing s, or an empty snapshot when s is nil.
func NewSet(s *Snapshot) *Set {
	set := new(Set)
	if s == nil {
		s = Empty()
	}
	set.cur.Store(s)
	return set
}

// Load returns the current snapshot.
func (s *Set) Load() *Snapshot { return s.cur.Load() }

// Lookup looks addr up in the current snapshot; see Snapshot.Lookup.
func (s *Set) Lookup(tenant, env string, addr netip.Addr, now time.Time) Result {
	return s.cur.Load().Lookup(tenant, env, addr, now)
}

// Replace publishes snap as it is.
func (s *Set) Replace(snap *Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.Store(snap)
}

// Update derives a snapshot from the current one through fn and publishes
// it, unless fn fails: then nothing changes and fn's error is returned.
func (s *Set) Update(fn func(*Builder) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.cur.Load().Edit()
	if err := fn(b); err != nil {
		return err
	}
	s.cur.Store(b.Snapshot())
	return nil
}

// SetTenantPolicies replaces every entry whose source is
// SourceTenantPolicy with the CIDRs of the data.tenants document (see
// TenantPolicyEntries). Entries of other sources stay. A document with an
// invalid CIDR changes nothing and returns the error.
func (s *Set) SetTenantPolicies(tenants map[string]any) error {
	entries, err := TenantPolicyEntries(tenants)
	if err != nil {
		return err
	}
	return s.Update(func(b *Builder) error {
		ReplaceTenantPolicies(b, entries)
		return nil
	})
}

// SetTenantPoliciesOf is SetTenantPolicies of the document tenants when
// only the tenants named in changed differ from the document set last
// (added, changed or removed): only their environments' entries are
// replaced, at the cost of those tenants.
func (s *Set) SetTenantPoliciesOf(tenants map[string]any, changed map[string]bool) error {
	of := make(map[string]any, len(changed))
	for name := range changed {
		if t, ok := tenants[name]; ok {
			of[name] = t
		}
	}
	entries, err := TenantPolicyEntries(of)
	if err != nil {
		return err
	}
	return s.Update(func(b *Builder) error {
		replaceTenantPolicies(b, func(tenant string) bool { return changed[tenant] }, entries)
		return nil
	})
}

// ReplaceTenantPolicies removes what SourceTenantPolicy listed in every
// environment scope of b and adds entries instead.
func ReplaceTenantPolicies(b *Builder, entries []Entry) {
	replaceTenantPolicies(b, func(string) bool { return true }, entries)
}

// replaceTenantPolicies is ReplaceTenantPolicies of the environment scopes
// of the tenants of which is true.
func replaceTenantPolicies(b *Builder, of func(tenant string) bool, entries []Entry) {
	for _, scope := range b.scopes() {
		if scope.Environment != "" && of(scope.Tenant) {
			b.RemoveSource(scope, SourceTenantPolicy)
		}
	}
	for _, e := range entries {
		// Entries from TenantPolicyEntries are valid.
		_ = b.Add(e)
	}
}
