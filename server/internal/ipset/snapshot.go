package ipset

import (
	"iter"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/gaissmai/bart"
)

// origin is where one listing of a prefix came from. Entries imported
// together share one origin.
type origin struct {
	source  string
	expires int64 // unix nanoseconds; 0 for never
}

func (o *origin) live(now int64) bool { return o.expires == 0 || now < o.expires }

func (o *origin) expiresAt() time.Time {
	if o.expires == 0 {
		return time.Time{}
	}
	return time.Unix(0, o.expires).UTC()
}

// originSet is the immutable set of origins listing one prefix, in the
// order they were added. The common single-origin sets are shared.
type originSet struct {
	list []*origin
}

// live returns the first origin that has not expired, or nil.
func (s *originSet) live(now int64) *origin {
	for _, o := range s.list {
		if o.live(now) {
			return o
		}
	}
	return nil
}

func (s *originSet) has(source string) bool {
	return slices.ContainsFunc(s.list, func(o *origin) bool { return o.source == source })
}

type table = bart.Table[*originSet]

// tables are the three lists of one scope; nil means empty.
type tables [numLists]*table

func (t *tables) empty() bool {
	for _, x := range t {
		if x != nil {
			return false
		}
	}
	return true
}

type tenantTables struct {
	all  tables
	envs map[string]*tables
}

// Snapshot is an immutable view of every list. It is safe for concurrent
// use; derive changed snapshots with Edit.
type Snapshot struct {
	global  tables
	tenants map[string]*tenantTables
	size    int
}

var emptySnapshot = &Snapshot{tenants: map[string]*tenantTables{}}

// Empty returns a snapshot without entries.
func Empty() *Snapshot { return emptySnapshot }

// Len returns the number of listed prefixes, counting a prefix once per
// scope and list it is on.
func (s *Snapshot) Len() int { return s.size }

// Lookup returns the address's membership of every list that applies to
// the tenant's environment: the global lists, the tenant's and the
// environment's. For each list it reports the most specific live entry
// (on equal prefixes, the narrowest scope). now decides expiry. IPv4-mapped
// IPv6 addresses are looked up as IPv4; an invalid address matches nothing.
func (s *Snapshot) Lookup(tenant, env string, addr netip.Addr, now time.Time) Result {
	var r Result
	if !addr.IsValid() {
		return r
	}
	addr = addr.Unmap()
	if addr.Zone() != "" {
		addr = addr.WithZone("")
	}
	n := now.UnixNano()
	s.global.lookup(addr, n, Scope{}, &r)
	if tenant == "" {
		return r
	}
	tt := s.tenants[tenant]
	if tt == nil {
		return r
	}
	tt.all.lookup(addr, n, Scope{Tenant: tenant}, &r)
	if et := tt.envs[env]; et != nil {
		et.lookup(addr, n, Scope{Tenant: tenant, Environment: env}, &r)
	}
	return r
}

// lookup folds this scope's matches into r; scopes are visited from the
// widest to the narrowest, so on equal prefix lengths the narrower wins.
func (ts *tables) lookup(addr netip.Addr, now int64, scope Scope, r *Result) {
	for l, t := range ts {
		if t == nil {
			continue
		}
		pfx, o, ok := match(t, addr, now)
		if !ok {
			continue
		}
		m := r.slot(List(l))
		if m.Found() && m.Prefix.Bits() > pfx.Bits() {
			continue
		}
		*m = Match{Prefix: pfx, Source: o.source, Scope: scope, ExpiresAt: o.expiresAt()}
	}
}

// match finds the longest live prefix of t containing addr.
func match(t *table, addr netip.Addr, now int64) (netip.Prefix, *origin, bool) {
	set, ok := t.Lookup(addr)
	if !ok {
		return netip.Prefix{}, nil, false
	}
	host := netip.PrefixFrom(addr, addr.BitLen())
	if o := set.live(now); o != nil {
		pfx, _, _ := t.LookupPrefixLPM(host)
		return pfx, o, true
	}
	// The most specific entry expired: fall back to the covering ones.
	for pfx, set := range t.Supernets(host) {
		if o := set.live(now); o != nil {
			return pfx, o, true
		}
	}
	return netip.Prefix{}, nil, false
}

// All yields every entry, expired ones included: global scope first, then
// tenants and environments in name order, each list in prefix order.
func (s *Snapshot) All() iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		if !s.global.each(Scope{}, yield) {
			return
		}
		for _, tenant := range slices.Sorted(maps.Keys(s.tenants)) {
			tt := s.tenants[tenant]
			if !tt.all.each(Scope{Tenant: tenant}, yield) {
				return
			}
			for _, env := range slices.Sorted(maps.Keys(tt.envs)) {
				if !tt.envs[env].each(Scope{Tenant: tenant, Environment: env}, yield) {
					return
				}
			}
		}
	}
}

func (ts *tables) each(scope Scope, yield func(Entry) bool) bool {
	for l, t := range ts {
		if t == nil {
			continue
		}
		for pfx, set := range t.AllSorted() {
			for _, o := range set.list {
				if !yield(Entry{Scope: scope, List: List(l), Prefix: pfx, Source: o.source, ExpiresAt: o.expiresAt()}) {
					return false
				}
			}
		}
	}
	return true
}

// scopeTables returns the tables of scope, or nil.
func (s *Snapshot) scopeTables(scope Scope) *tables {
	if scope.Tenant == "" {
		return &s.global
	}
	tt := s.tenants[scope.Tenant]
	if tt == nil {
		return nil
	}
	if scope.Environment == "" {
		return &tt.all
	}
	return tt.envs[scope.Environment]
}
