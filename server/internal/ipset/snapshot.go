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

// tables are the three lists of one scope. A list is a prefix table of
// the entries that are not imported and the feeds of the imported ones.
type tables struct {
	bart  [numLists]*table  // nil means empty
	feeds [numLists][]*feed // in origin order (cmpOrigin); never written in place
	feedN [numLists]int     // distinct prefixes of the feeds
	sizes [numLists]int     // distinct prefixes of the list
}

func (ts *tables) empty() bool {
	for l := range numLists {
		if ts.bart[l] != nil || len(ts.feeds[l]) > 0 {
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
// (on equal prefixes, the narrowest scope). A prefix listed in one scope
// by several sources reports the first live one: an entry that was not
// imported before an imported one, imports in source order, and entries
// that were not imported in the order they were added. now decides expiry.
// IPv4-mapped IPv6 addresses are looked up as IPv4; an invalid address
// matches nothing.
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
// Within a scope, the longest live prefix wins; on equal prefixes an
// entry of the table comes before the feeds, and the feeds come in
// origin order.
func (ts *tables) lookup(addr netip.Addr, now int64, scope Scope, r *Result) {
	for l := range numLists {
		t, fs := ts.bart[l], ts.feeds[l]
		if t == nil && len(fs) == 0 {
			continue
		}
		m := r.slot(List(l))
		var pfx netip.Prefix
		var o *origin
		ok := false
		if t != nil {
			pfx, o, ok = match(t, addr, now)
		}
		if len(fs) > 0 {
			// A feed's prefix must be longer than the table's, and no
			// shorter than a wider scope's match, to count.
			floor := -1
			if ok {
				floor = pfx.Bits()
			}
			if m.Found() {
				floor = max(floor, m.Prefix.Bits()-1)
			}
			for _, f := range fs {
				if !f.origin.live(now) {
					continue
				}
				if b := f.longest(addr, floor); b >= 0 {
					floor, o, ok = b, f.origin, true
					pfx = netip.PrefixFrom(addr, b).Masked()
				}
			}
		}
		if !ok {
			continue
		}
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
	for l := range numLists {
		t, fs := ts.bart[l], ts.feeds[l]
		if len(fs) == 0 {
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
			continue
		}
		for _, x := range listed(t, fs) {
			if !yield(Entry{Scope: scope, List: List(l), Prefix: x.pfx, Source: x.o.source, ExpiresAt: x.o.expiresAt()}) {
				return false
			}
		}
	}
	return true
}

type listing struct {
	pfx netip.Prefix
	o   *origin
}

// listed returns the entries of a table (nil for none) and feeds in
// prefix order (the table's: by address, then length); on equal prefixes
// the table's origins first, then the feeds' in origin order.
func listed(t *table, fs []*feed) []listing {
	var out []listing
	if t != nil {
		for pfx, set := range t.AllSorted() {
			for _, o := range set.list {
				out = append(out, listing{pfx, o})
			}
		}
	}
	for _, f := range fs {
		f.each(func(p netip.Prefix) bool {
			out = append(out, listing{p, f.origin})
			return true
		})
	}
	slices.SortStableFunc(out, func(a, b listing) int {
		if c := a.pfx.Addr().Compare(b.pfx.Addr()); c != 0 {
			return c
		}
		return a.pfx.Bits() - b.pfx.Bits()
	})
	return out
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

// listSize counts the distinct prefixes of a table (nil for none) and
// feeds, whose distinct prefixes number feedN.
func listSize(t *table, fs []*feed, feedN int) int {
	if t == nil {
		return feedN
	}
	n := t.Size() + feedN
	if len(fs) > 0 {
		for pfx := range t.All() {
			if feedsHave(fs, pfx) {
				n--
			}
		}
	}
	return n
}
