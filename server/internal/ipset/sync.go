package ipset

import (
	"iter"
	"net/netip"
	"slices"
	"strings"
)

// Sync makes the entries of the scopes in selects whose source mine
// selects the same as want's entries of those scopes; entries of other
// scopes and sources stay as they are. Entries of want outside those
// scopes or sources are ignored.
//
// It changes only what differs: a list that already matches keeps its
// table, one whose entries all come from mine's sources on both sides
// takes want's table as it is (want is immutable, so the two snapshots
// share it), and any other list gets the differences as single changes.
// Imported feeds are synced whole: a list keeps those of its feeds that
// list the same as want's and otherwise takes want's.
// So syncing a large list costs one pass over it, and loading one into an
// empty set costs no second copy.
func (b *Builder) Sync(want *Snapshot, in func(Scope) bool, mine func(source string) bool) {
	for _, scope := range b.syncScopes(want, in) {
		var wts *tables
		if wts = want.scopeTables(scope); wts == nil {
			wts = new(tables)
		}
		for l := range numLists {
			b.syncList(scope, l, wts.bart[l], mine)
			b.syncFeeds(scope, l, wts.feeds[l], mine)
		}
	}
}

// syncScopes returns the scopes of b and want that in selects.
func (b *Builder) syncScopes(want *Snapshot, in func(Scope) bool) []Scope {
	scopes := b.scopes()
	for tenant, tt := range want.tenants {
		scopes = append(scopes, Scope{Tenant: tenant})
		for env := range tt.envs {
			scopes = append(scopes, Scope{Tenant: tenant, Environment: env})
		}
	}
	slices.SortFunc(scopes, func(a, b Scope) int {
		if a.Tenant != b.Tenant {
			return strings.Compare(a.Tenant, b.Tenant)
		}
		return strings.Compare(a.Environment, b.Environment)
	})
	scopes = slices.Compact(scopes)
	return slices.DeleteFunc(scopes, func(s Scope) bool { return !in(s) })
}

// syncList makes the table entries of mine's sources on scope's list
// those of want (nil for none).
func (b *Builder) syncList(scope Scope, l List, want *table, mine func(string) bool) {
	cur := b.current(scope, l)
	if cur == nil && want == nil {
		return
	}
	curMine, wantMine := onlyFrom(cur, mine), onlyFrom(want, mine)
	if curMine && wantMine {
		if !sameEntries(cur, want) {
			b.rebase(scope, l, want)
		}
		return
	}
	// Some entries stay whatever want says: change the differences one by
	// one, collected first since changes may edit cur in place.
	var ops []op
	for pfx, set := range all(cur) {
		for _, o := range set.list {
			if mine(o.source) && !holds(want, pfx, o) {
				ops = append(ops, op{pfx: pfx, source: o.source})
			}
		}
	}
	for pfx, set := range all(want) {
		for _, o := range set.list {
			if mine(o.source) && !holds(cur, pfx, o) {
				ops = append(ops, op{pfx: pfx, add: b.origin(o.source, o.expiresAt())})
			}
		}
	}
	for _, o := range ops {
		b.change(scope, l, o)
	}
}

// all yields the prefixes of t and their origins; nothing for nil.
func all(t *table) iter.Seq2[netip.Prefix, *originSet] {
	return func(yield func(netip.Prefix, *originSet) bool) {
		if t == nil {
			return
		}
		for pfx, set := range t.All() {
			if !yield(pfx, set) {
				return
			}
		}
	}
}

// onlyFrom reports whether every entry of t (none for nil) has a source
// mine selects.
func onlyFrom(t *table, mine func(string) bool) bool {
	for _, set := range all(t) {
		for _, o := range set.list {
			if !mine(o.source) {
				return false
			}
		}
	}
	return true
}

// holds reports whether t lists pfx from o's source with o's expiry.
func holds(t *table, pfx netip.Prefix, o *origin) bool {
	if t == nil {
		return false
	}
	set, ok := t.Get(pfx)
	return ok && slices.ContainsFunc(set.list, func(x *origin) bool { return *x == *o })
}

// sameEntries reports whether a and b (nil for empty) list the same
// prefixes from the same sources with the same expiries.
func sameEntries(a, b *table) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || a.Size() != b.Size() {
		return false
	}
	for pfx, set := range a.All() {
		other, ok := b.Get(pfx)
		if !ok || len(other.list) != len(set.list) {
			return false
		}
		for _, o := range set.list {
			if !holds(b, pfx, o) {
				return false
			}
		}
	}
	return true
}

// syncFeeds makes the feeds of mine's sources on scope's list those of
// want: it keeps the list's feeds when they list the same, and otherwise
// takes want's (immutable, so shared).
func (b *Builder) syncFeeds(scope Scope, l List, want []*feed, mine func(string) bool) {
	cur := b.feedsOf(scope, l)
	if len(cur) == 0 && len(want) == 0 {
		return
	}
	isMine := func(f *feed) bool { return mine(f.origin.source) }
	var curMine []*feed
	for _, f := range cur {
		if isMine(f) {
			b.settleFeed(f)
			if f.n > 0 {
				curMine = append(curMine, f)
			}
		}
	}
	wantMine := slices.DeleteFunc(slices.Clone(want), func(f *feed) bool { return !isMine(f) })
	if slices.EqualFunc(curMine, wantMine, (*feed).sameAs) {
		return
	}
	next := slices.DeleteFunc(slices.Clone(cur), isMine)
	next = append(next, wantMine...)
	slices.SortStableFunc(next, func(a, b *feed) int { return cmpOrigin(a.origin, b.origin) })
	le := b.edit(scope, l)
	le.feedsSet, le.feeds = true, next
}
