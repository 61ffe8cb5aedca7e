package ipset

import (
	"net/netip"
	"slices"
)

// A builder edits feeds copy-on-write: the first change to a feed of the
// starting snapshot copies the feed's header (its arrays stay shared),
// and changes are collected per array and applied at Snapshot with one
// sort and one merge into a new array. So loading a feed costs a sort of
// its prefixes, and adding or removing one entry of a large feed costs a
// copy of one array, O(n) in the prefixes of that length.

// feedsOf returns the feeds of scope's list as the builder sees them.
func (b *Builder) feedsOf(scope Scope, l List) []*feed {
	if e := b.edits[scope]; e != nil && e[l].feedsSet {
		return e[l].feeds
	}
	if ts := b.base.scopeTables(scope); ts != nil {
		return ts.feeds[l]
	}
	return nil
}

// editFeeds returns the edit of scope's list with a slice of feeds of
// the builder's own.
func (b *Builder) editFeeds(scope Scope, l List) *listEdit {
	cur := b.feedsOf(scope, l)
	le := b.edit(scope, l)
	if !le.feedsSet {
		le.feedsSet, le.feeds = true, slices.Clone(cur)
	}
	return le
}

// ownFeed makes le.feeds[i] a feed the builder may edit, copying a shared one.
func (b *Builder) ownFeed(le *listEdit, i int) (*feed, *pending) {
	f := le.feeds[i]
	if p := b.owned[f]; p != nil {
		return f, p
	}
	c := new(feed)
	*c = *f
	p := new(pending)
	b.own(c, p)
	le.feeds[i] = c
	return c, p
}

func (b *Builder) own(f *feed, p *pending) {
	if b.owned == nil {
		b.owned = make(map[*feed]*pending)
	}
	b.owned[f] = p
}

// addToFeed lists p on scope's list in the feed of o, unlisting it from
// the feeds of o's source with another expiry.
func (b *Builder) addToFeed(scope Scope, l List, p netip.Prefix, o *origin) {
	le := b.editFeeds(scope, l)
	at := -1
	for i, f := range le.feeds {
		switch {
		case *f.origin == *o:
			at = i
		case f.origin.source == o.source:
			b.removeFromFeed(le, i, p)
		}
	}
	if at < 0 {
		at, _ = slices.BinarySearchFunc(le.feeds, o, func(f *feed, o *origin) int { return cmpOrigin(f.origin, o) })
		f := &feed{origin: o}
		b.own(f, new(pending))
		le.feeds = slices.Insert(le.feeds, at, f)
	}
	f, pd := b.ownFeed(le, at)
	change(f, pd, p, false)
}

// removeFromFeeds unlists p from the feeds of scope's list whose origin
// sel selects.
func (b *Builder) removeFromFeeds(scope Scope, l List, p netip.Prefix, sel func(*origin) bool) {
	if l >= numLists {
		return
	}
	var le *listEdit
	for i, f := range b.feedsOf(scope, l) {
		if !sel(f.origin) || b.owned[f] == nil && !f.has(p) {
			continue
		}
		if le == nil {
			le = b.editFeeds(scope, l)
		}
		b.removeFromFeed(le, i, p)
	}
}

func (b *Builder) removeFromFeed(le *listEdit, i int, p netip.Prefix) {
	if b.owned[le.feeds[i]] == nil && !le.feeds[i].has(p) {
		return
	}
	f, pd := b.ownFeed(le, i)
	change(f, pd, p, true)
}

// change records adding (or with del, removing) p to f.
func change(f *feed, pd *pending, p netip.Prefix, del bool) {
	n := p.Bits()
	if p.Addr().Is4() {
		pd.d4 |= 1 << n
		push(&pd.v4[n], &f.v4[n], key4(p.Addr(), n), del, cmpU32)
		return
	}
	pd.d6[n/64] |= 1 << (n % 64)
	push(&pd.v6[n], &f.v6[n], key6(p.Addr(), n), del, cmp128)
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// dropFeeds removes the feeds of scope's list that drop selects.
func (b *Builder) dropFeeds(scope Scope, l List, drop func(*feed) bool) {
	if !slices.ContainsFunc(b.feedsOf(scope, l), drop) {
		return
	}
	le := b.editFeeds(scope, l)
	le.feeds = slices.DeleteFunc(le.feeds, drop)
}

// settleFeed applies the pending changes of f, if the builder owns it.
func (b *Builder) settleFeed(f *feed) {
	pd := b.owned[f]
	if pd == nil {
		return
	}
	for n := range pd.v4 {
		if pd.d4&(1<<n) != 0 {
			f.v4[n] = settle(f.v4[n], &pd.v4[n], cmpU32)
			f.ix4[n] = buildIndex(f.v4[n], pos4)
		}
	}
	for n := range pd.v6 {
		if pd.d6[n/64]&(1<<(n%64)) != 0 {
			f.v6[n] = settle(f.v6[n], &pd.v6[n], cmp128)
			f.ix6[n] = buildIndex(f.v6[n], pos6)
		}
	}
	pd.d4, pd.d6 = 0, [3]uint64{}
	f.recount()
}

// publish applies the pending changes of feeds and returns those that
// list something, in a new slice (nil for none).
func (b *Builder) publish(feeds []*feed) []*feed {
	var out []*feed
	for _, f := range feeds {
		b.settleFeed(f)
		if f.n > 0 {
			out = append(out, f)
		}
	}
	return out
}
