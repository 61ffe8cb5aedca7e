package ipset

import (
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// persistLimit is how many changes a list takes as copy-on-write path
// copies before the builder clones the whole table and edits it in place.
const persistLimit = 64

// Builder derives a new Snapshot from an old one. Tables it does not touch
// are shared with the old snapshot; a list with a few changes gets them as
// path copies, a list with many is cloned once and edited in place.
// Imported feeds are copied on write, array by array (see feedbuild.go).
// A Builder is not safe for concurrent use.
type Builder struct {
	base    *Snapshot
	edits   map[Scope]*[numLists]listEdit
	origins map[origin]*origin
	singles map[*origin]*originSet
	owned   map[*feed]*pending // the feeds this builder made or copied and may edit; nil for none
}

type listEdit struct {
	work    *table // owned by the builder, edited in place; nil while ops are pending
	ops     []op   // pending changes, applied as path copies by Snapshot
	rebased bool   // start replaces the base snapshot's table
	start   *table // with rebased, the (shared, immutable) table the changes start from

	feedsSet bool    // feeds replaces the starting snapshot's feeds of the list
	feeds    []*feed // with feedsSet, the builder's own slice; owned feeds may have pending changes
}

type op struct {
	pfx    netip.Prefix
	add    *origin // set for an addition
	source string  // for a removal
}

// NewBuilder returns a builder starting from an empty snapshot.
func NewBuilder() *Builder { return Empty().Edit() }

// Edit returns a builder starting from s; s itself never changes.
func (s *Snapshot) Edit() *Builder {
	return &Builder{
		base:    s,
		edits:   make(map[Scope]*[numLists]listEdit),
		origins: make(map[origin]*origin),
		singles: make(map[*origin]*originSet),
	}
}

// Add lists e.Prefix (masked to its network) on e.List for e.Scope. The
// same prefix from the same source replaces the earlier entry, so its
// expiry can be extended. It returns an InvalidArgument fault for an
// invalid prefix, list, source or scope.
func (b *Builder) Add(e Entry) error {
	if err := validate(e); err != nil {
		return err
	}
	o := b.origin(e.Source, e.ExpiresAt)
	if isImport(e.Source) {
		b.addToFeed(e.Scope, e.List, e.Prefix.Masked(), o)
		return nil
	}
	b.change(e.Scope, e.List, op{pfx: e.Prefix.Masked(), add: o})
	return nil
}

// Remove unlists prefix from list for scope, as far as source listed it.
func (b *Builder) Remove(scope Scope, list List, prefix netip.Prefix, source string) {
	if list >= numLists || !prefix.IsValid() {
		return
	}
	if isImport(source) {
		b.removeFromFeeds(scope, list, prefix.Masked(), func(o *origin) bool { return o.source == source })
		return
	}
	b.change(scope, list, op{pfx: prefix.Masked(), source: source})
}

// RemoveSource unlists everything source listed for scope, on every list.
// For an import source it drops the source's feeds; for any other it
// walks the scope's tables, so it suits tenant and environment scopes.
func (b *Builder) RemoveSource(scope Scope, source string) {
	if isImport(source) {
		for l := range numLists {
			b.dropFeeds(scope, l, func(f *feed) bool { return f.origin.source == source })
		}
		return
	}
	for l := range numLists {
		t := b.edit(scope, l).own(b.start(scope, l), b)
		var hit []netip.Prefix
		for pfx, set := range t.All() {
			if set.has(source) {
				hit = append(hit, pfx)
			}
		}
		for _, pfx := range hit {
			b.apply(t, op{pfx: pfx, source: source})
		}
	}
}

// Prune drops every entry expired at now, from every scope.
func (b *Builder) Prune(now time.Time) {
	n := now.UnixNano()
	for _, scope := range b.scopes() {
		for l := range numLists {
			b.dropFeeds(scope, l, func(f *feed) bool { return !f.origin.live(n) })
			cur := b.current(scope, l)
			if cur == nil || !hasExpired(cur, n) {
				continue
			}
			t := b.edit(scope, l).own(b.start(scope, l), b)
			var expired []op
			for pfx, set := range t.All() {
				for _, o := range set.list {
					if !o.live(n) {
						expired = append(expired, op{pfx: pfx, source: o.source})
					}
				}
			}
			for _, o := range expired {
				b.apply(t, o)
			}
		}
	}
}

// Snapshot returns the new snapshot. The builder then continues from it,
// so further changes derive yet another snapshot.
func (b *Builder) Snapshot() *Snapshot {
	if len(b.edits) == 0 {
		return b.base
	}
	s := &Snapshot{global: b.base.global, tenants: maps.Clone(b.base.tenants)}
	cloned := map[string]bool{}
	for scope, edits := range b.edits {
		ts := s.mutableTables(scope, cloned)
		for l := range numLists {
			le := &edits[l]
			if le.rebased {
				ts.bart[l] = le.start
			}
			switch {
			case le.work != nil:
				ts.bart[l] = le.work
			case len(le.ops) > 0 && ts.bart[l] == nil:
				ts.bart[l] = le.own(nil, b)
			case len(le.ops) > 0:
				t := ts.bart[l]
				for _, o := range le.ops {
					t = b.persist(t, o)
				}
				ts.bart[l] = t
			}
			if ts.bart[l] != nil && ts.bart[l].Size() == 0 {
				ts.bart[l] = nil
			}
			if le.feedsSet {
				ts.feeds[l] = b.publish(le.feeds)
				ts.feedN[l] = distinct(ts.feeds[l])
			}
			if le.rebased || le.work != nil || len(le.ops) > 0 || le.feedsSet {
				ts.sizes[l] = listSize(ts.bart[l], ts.feeds[l], ts.feedN[l])
			}
		}
	}
	s.compact(cloned)
	*b = *s.Edit()
	return s
}

// mutableTables returns the tables of scope in s, copying the tenant's
// containers the first time this snapshot changes them.
func (s *Snapshot) mutableTables(scope Scope, cloned map[string]bool) *tables {
	if scope.Tenant == "" {
		return &s.global
	}
	tt := s.tenants[scope.Tenant]
	if !cloned[scope.Tenant] {
		c := &tenantTables{envs: map[string]*tables{}}
		if tt != nil {
			c.all = tt.all
			for env, ts := range tt.envs {
				cp := *ts
				c.envs[env] = &cp
			}
		}
		s.tenants[scope.Tenant] = c
		cloned[scope.Tenant] = true
		tt = c
	}
	if scope.Environment == "" {
		return &tt.all
	}
	ts := tt.envs[scope.Environment]
	if ts == nil {
		ts = new(tables)
		tt.envs[scope.Environment] = ts
	}
	return ts
}

// compact drops the empty scopes of the tenants this snapshot changed,
// and counts the prefixes.
func (s *Snapshot) compact(changed map[string]bool) {
	s.size = s.global.size()
	for tenant, tt := range s.tenants {
		if changed[tenant] {
			for env, ts := range tt.envs {
				if ts.empty() {
					delete(tt.envs, env)
				}
			}
			if tt.all.empty() && len(tt.envs) == 0 {
				delete(s.tenants, tenant)
				continue
			}
		}
		s.size += tt.all.size()
		for _, ts := range tt.envs {
			s.size += ts.size()
		}
	}
}

func (ts *tables) size() int {
	n := 0
	for _, x := range ts.sizes {
		n += x
	}
	return n
}

func (b *Builder) edit(scope Scope, l List) *listEdit {
	e := b.edits[scope]
	if e == nil {
		e = new([numLists]listEdit)
		b.edits[scope] = e
	}
	return &e[l]
}

func (b *Builder) change(scope Scope, l List, o op) {
	le := b.edit(scope, l)
	if le.work != nil {
		b.apply(le.work, o)
		return
	}
	le.ops = append(le.ops, o)
	if len(le.ops) > persistLimit {
		le.own(b.start(scope, l), b)
	}
}

// start returns the table the changes to scope's list start from: the
// base snapshot's, unless the list was rebased.
func (b *Builder) start(scope Scope, l List) *table {
	if e := b.edits[scope]; e != nil && e[l].rebased {
		return e[l].start
	}
	if ts := b.base.scopeTables(scope); ts != nil {
		return ts.bart[l]
	}
	return nil
}

// rebase makes scope's list t (shared, never edited in place), dropping
// the changes made to it so far.
func (b *Builder) rebase(scope Scope, l List, t *table) {
	le := b.edit(scope, l)
	*le = listEdit{rebased: true, start: t, feedsSet: le.feedsSet, feeds: le.feeds}
}

// own makes le edit a private table in place, starting from start (a
// clone of it) and applying the pending ops.
func (le *listEdit) own(start *table, b *Builder) *table {
	if le.work != nil {
		return le.work
	}
	if start != nil {
		le.work = start.Clone()
	} else {
		le.work = new(table)
	}
	for _, o := range le.ops {
		b.apply(le.work, o)
	}
	le.ops = nil
	return le.work
}

// current returns the table of scope's list as the builder sees it now,
// applying pending ops into a private copy if there are any.
func (b *Builder) current(scope Scope, l List) *table {
	if e := b.edits[scope]; e != nil && (e[l].work != nil || len(e[l].ops) > 0) {
		return e[l].own(b.start(scope, l), b)
	}
	return b.start(scope, l)
}

func (b *Builder) scopes() []Scope {
	seen := map[Scope]bool{{}: true}
	for tenant, tt := range b.base.tenants {
		seen[Scope{Tenant: tenant}] = true
		for env := range tt.envs {
			seen[Scope{Tenant: tenant, Environment: env}] = true
		}
	}
	for scope := range b.edits {
		seen[scope] = true
	}
	return slices.Collect(maps.Keys(seen))
}

func hasExpired(t *table, now int64) bool {
	for _, set := range t.All() {
		for _, o := range set.list {
			if !o.live(now) {
				return true
			}
		}
	}
	return false
}

// apply makes one change to a table the builder owns.
func (b *Builder) apply(t *table, o op) {
	t.Modify(o.pfx, b.modifier(o))
}

// persist makes one change as a path copy of a shared table.
func (b *Builder) persist(t *table, o op) *table {
	return t.ModifyPersist(o.pfx, b.modifier(o))
}

func (b *Builder) modifier(o op) func(*originSet, bool) (*originSet, bool) {
	return func(set *originSet, found bool) (*originSet, bool) {
		if o.add != nil {
			return b.with(set, found, o.add), false
		}
		if !found {
			return nil, true
		}
		return b.without(set, o.source)
	}
}

// with returns set plus o, replacing the origin of the same source.
func (b *Builder) with(set *originSet, found bool, o *origin) *originSet {
	if !found || len(set.list) == 0 {
		return b.single(o)
	}
	if len(set.list) == 1 && set.list[0].source == o.source {
		return b.single(o)
	}
	list := make([]*origin, 0, len(set.list)+1)
	for _, x := range set.list {
		if x.source != o.source {
			list = append(list, x)
		}
	}
	return &originSet{list: append(list, o)}
}

// without returns set minus source, and whether nothing is left.
func (b *Builder) without(set *originSet, source string) (*originSet, bool) {
	if !set.has(source) {
		return set, false
	}
	list := make([]*origin, 0, len(set.list))
	for _, x := range set.list {
		if x.source != source {
			list = append(list, x)
		}
	}
	switch len(list) {
	case 0:
		return nil, true
	case 1:
		return b.single(list[0]), false
	}
	return &originSet{list: list}, false
}

func (b *Builder) origin(source string, expires time.Time) *origin {
	k := origin{source: source}
	if !expires.IsZero() {
		k.expires = expires.UnixNano()
	}
	if o := b.origins[k]; o != nil {
		return o
	}
	o := new(origin) // not &k: k would then be allocated at every call
	*o = k
	b.origins[k] = o
	return o
}

func (b *Builder) single(o *origin) *originSet {
	if s := b.singles[o]; s != nil {
		return s
	}
	s := &originSet{list: []*origin{o}}
	b.singles[o] = s
	return s
}

func validate(e Entry) error {
	var v fault.Violations
	if !e.Prefix.IsValid() {
		v.Add("cidr", "not a valid CIDR")
	}
	if e.List >= numLists {
		v.Add("list", "unknown list %d", int(e.List))
	}
	if e.Source == "" {
		v.Add("source", "required")
	}
	if e.Scope.Tenant == "" && e.Scope.Environment != "" {
		v.Add("tenant", "required with an environment")
	}
	return v.Err()
}
