package ipset

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The feed layer must answer exactly as the prefix tables would. These
// tests hold the same entries twice: with import sources, which go to
// feeds, and with the same sources renamed, which go to tables.

// asTable renames an import source so that its entries go to a table.
func asTable(source string) string {
	if name, ok := strings.CutPrefix(source, importPrefix); ok {
		return "table:" + name
	}
	return source
}

// randomClusteredPrefix returns a prefix in 10.0.0.0/14 or 2001:db8::/44
// (so that prefixes nest and collide) of any length up to the family's.
func randomClusteredPrefix(r *rand.Rand) netip.Prefix {
	if r.IntN(3) == 0 {
		var b [16]byte
		b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
		b[4], b[5] = byte(r.IntN(16)), byte(r.IntN(4))
		for i := 6; i < 16; i++ {
			if r.IntN(3) == 0 {
				b[i] = byte(r.Uint32())
			}
		}
		return netip.PrefixFrom(netip.AddrFrom16(b), r.IntN(129)).Masked()
	}
	b := [4]byte{10, byte(r.IntN(4)), byte(r.IntN(8)), byte(r.IntN(8))}
	if r.IntN(4) == 0 {
		b[3] = byte(r.Uint32())
	}
	return netip.PrefixFrom(netip.AddrFrom4(b), r.IntN(33)).Masked()
}

// randomAddr returns an address in or near the clustered prefixes.
func randomAddr(r *rand.Rand) netip.Addr {
	p := randomClusteredPrefix(r)
	a := p.Addr().AsSlice()
	for i := p.Bits(); i < len(a)*8; i++ {
		if r.IntN(2) == 0 {
			a[i/8] |= 0x80 >> (i % 8)
		}
	}
	x, _ := netip.AddrFromSlice(a)
	if r.IntN(8) == 0 && x.Is4() {
		return netip.AddrFrom16(x.As16()) // IPv4-mapped
	}
	return x
}

var propScopes = []Scope{global, acme, prod, {Tenant: "globex"}}

// randomEntries returns table entries (admin rules, auto-blocks) and then
// import entries in origin order: sorted by source and expiry, the order
// in which the feeds of one prefix answer.
func randomEntries(r *rand.Rand, n int) []Entry {
	exp := []time.Time{{}, now.Add(time.Hour), now.Add(2 * time.Hour)}
	var table, feeds []Entry
	for range n {
		e := Entry{
			Scope:  propScopes[r.IntN(len(propScopes))],
			List:   List(r.IntN(int(numLists))),
			Prefix: randomClusteredPrefix(r),
		}
		if r.IntN(3) == 0 {
			e.Source, e.ExpiresAt = fmt.Sprintf("admin rule r-%d", r.IntN(5)), exp[r.IntN(3)]
			table = append(table, e)
			continue
		}
		// One expiry per import source, but for "import:c" two.
		switch k := r.IntN(4); k {
		case 0, 1:
			e.Source, e.ExpiresAt = fmt.Sprintf("import:%c", 'a'+k), exp[k]
		default:
			e.Source, e.ExpiresAt = "import:c", exp[1+r.IntN(2)]
		}
		feeds = append(feeds, e)
	}
	// import:c may list a prefix with two expiries; the later Add wins.
	// Keep the last of each so both builds see the same entries.
	last := map[[4]any]Entry{}
	var order [][4]any
	for _, e := range feeds {
		k := [4]any{e.Scope, e.List, e.Prefix, e.Source}
		if _, ok := last[k]; !ok {
			order = append(order, k)
		}
		last[k] = e
	}
	feeds = feeds[:0]
	for _, k := range order {
		feeds = append(feeds, last[k])
	}
	slices.SortStableFunc(feeds, func(a, b Entry) int {
		if c := strings.Compare(a.Source, b.Source); c != 0 {
			return c
		}
		return a.ExpiresAt.Compare(b.ExpiresAt)
	})
	return append(table, feeds...)
}

// twin builds entries as feeds and as tables.
func twin(t *testing.T, entries []Entry) (feeds, tables *Snapshot) {
	t.Helper()
	fb, tb := NewBuilder(), NewBuilder()
	for _, e := range entries {
		if err := fb.Add(e); err != nil {
			t.Fatal(err)
		}
		e.Source = asTable(e.Source)
		if err := tb.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	return fb.Snapshot(), tb.Snapshot()
}

// renamed returns the entries of s with import sources renamed.
func renamed(s *Snapshot) []Entry {
	var out []Entry
	for e := range s.All() {
		e.Source = asTable(e.Source)
		out = append(out, e)
	}
	return out
}

// sameAnswers fails unless f (with feeds) and tb (with tables) agree on
// every lookup of addrs at several times, on All and on Len.
func sameAnswers(t *testing.T, f, tb *Snapshot, addrs []netip.Addr) {
	t.Helper()
	if f.Len() != tb.Len() {
		t.Errorf("Len: feeds %d, tables %d", f.Len(), tb.Len())
	}
	if want, got := renamed(tb), renamed(f); !slices.Equal(want, got) {
		t.Fatalf("All (-tables +feeds):\n%s", cmp.Diff(want, got, cmpNet))
	}
	fails := 0
	for _, at := range []time.Time{now, now.Add(time.Hour), now.Add(3 * time.Hour)} {
		for _, a := range addrs {
			for _, env := range [][2]string{{"", ""}, {"acme", "production"}, {"acme", "staging"}, {"globex", ""}} {
				got := f.Lookup(env[0], env[1], a, at)
				for _, m := range []*Match{&got.Allow, &got.Deny, &got.Suspicious} {
					m.Source = asTable(m.Source)
				}
				want := tb.Lookup(env[0], env[1], a, at)
				if got != want {
					t.Errorf("Lookup(%q, %q, %s) at %s (-tables +feeds):\n%s", env[0], env[1], a, at, cmp.Diff(want, got, cmpNet))
					if fails++; fails > 5 {
						t.FailNow()
					}
				}
			}
		}
	}
}

func lookupAddrs(r *rand.Rand, entries []Entry) []netip.Addr {
	var addrs []netip.Addr
	for _, e := range entries {
		addrs = append(addrs, e.Prefix.Addr(), netip.PrefixFrom(e.Prefix.Addr(), e.Prefix.Bits()).Masked().Addr())
	}
	for range 600 {
		addrs = append(addrs, randomAddr(r))
	}
	return addrs
}

func TestFeedsAnswerLikeTables(t *testing.T) {
	t.Parallel()
	for seed := range uint64(10) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 7))
			entries := randomEntries(r, 50+r.IntN(800))
			f, tb := twin(t, entries)
			sameAnswers(t, f, tb, lookupAddrs(r, entries))
		})
	}
}

// edit is one random change, applied alike to both snapshots.
type edit func(b *Builder, source func(string) string)

func randomEdits(r *rand.Rand, n int) []edit {
	var out []edit
	for range n {
		e := randomEntries(r, 1)[0]
		switch r.IntN(10) {
		case 0:
			scope, src := e.Scope, e.Source
			out = append(out, func(b *Builder, s func(string) string) { b.RemoveSource(scope, s(src)) })
		case 1:
			at := now.Add(time.Duration(r.IntN(3)) * time.Hour)
			out = append(out, func(b *Builder, _ func(string) string) { b.Prune(at) })
		case 2, 3, 4:
			out = append(out, func(b *Builder, s func(string) string) {
				b.Remove(e.Scope, e.List, e.Prefix, s(e.Source))
			})
		default:
			if !isImport(e.Source) {
				// A table entry added after a feed's entry of the same
				// prefix answers after it in a table, before it here.
				out = append(out, func(b *Builder, s func(string) string) {
					b.Remove(e.Scope, e.List, e.Prefix, s(e.Source))
				})
				continue
			}
			out = append(out, func(b *Builder, s func(string) string) {
				e := e
				e.Source = s(e.Source)
				_ = b.Add(e)
			})
		}
	}
	return out
}

func TestFeedEditsAnswerLikeTables(t *testing.T) {
	t.Parallel()
	for seed := range uint64(10) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 11))
			// Entries of one prefix from two sources answer in the order
			// they were added to a table but in origin order from feeds;
			// the edits keep to one import source so the two agree.
			var entries []Entry
			for _, e := range randomEntries(r, 300+r.IntN(700)) {
				if !isImport(e.Source) || e.Source == "import:a" {
					entries = append(entries, e)
				}
			}
			f, tb := twin(t, entries)
			addrs := lookupAddrs(r, entries)
			fBefore, tBefore := slices.Collect(f.All()), slices.Collect(tb.All())
			fb, tbb := f.Edit(), tb.Edit()
			for i, e := range randomEdits(r, 1+r.IntN(200)) {
				e(fb, func(s string) string {
					if isImport(s) {
						return "import:a"
					}
					return s
				})
				e(tbb, func(s string) string {
					if isImport(s) {
						return "table:a"
					}
					return s
				})
				if i%50 == 49 { // some snapshots midway
					fb.Snapshot()
					tbb.Snapshot()
				}
			}
			f2, tb2 := fb.Snapshot(), tbb.Snapshot()
			sameAnswers(t, f2, tb2, addrs)
			if !slices.Equal(fBefore, slices.Collect(f.All())) {
				t.Error("editing changed the old snapshot")
			}
			if !slices.Equal(tBefore, slices.Collect(tb.All())) {
				t.Error("editing changed the old table snapshot")
			}
			// Syncing the edited state back into the first gives the same.
			fs, ts := f.Edit(), tb.Edit()
			fs.Sync(f2, func(Scope) bool { return true }, func(string) bool { return true })
			ts.Sync(tb2, func(Scope) bool { return true }, func(string) bool { return true })
			sameAnswers(t, fs.Snapshot(), ts.Snapshot(), addrs)
		})
	}
}

// TestLargeFeedsAnswerLikeTables covers arrays large enough to be indexed.
func TestLargeFeedsAnswerLikeTables(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 5))
	var entries []Entry
	for i := range 20_000 {
		var p netip.Prefix
		switch i % 4 {
		case 0:
			var b [16]byte
			b[0], b[1], b[2], b[3], b[4], b[5] = 0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(4)), byte(r.Uint32())
			b[6], b[7] = byte(r.Uint32()), byte(r.Uint32())
			p = netip.PrefixFrom(netip.AddrFrom16(b), []int{48, 64}[r.IntN(2)]).Masked()
		case 1:
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(r.IntN(64)), byte(r.Uint32()), 0}), 24)
		default:
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(r.IntN(64)), byte(r.Uint32()), byte(r.Uint32())}), 32)
		}
		entries = append(entries, Entry{List: Deny, Prefix: p, Source: "import:big"})
	}
	f, tb := twin(t, entries)
	var addrs []netip.Addr
	for _, e := range entries[:3000] {
		addrs = append(addrs, e.Prefix.Addr())
	}
	for range 3000 {
		b := [4]byte{10, byte(r.IntN(80)), byte(r.Uint32()), byte(r.Uint32())}
		addrs = append(addrs, netip.AddrFrom4(b), netip.MustParseAddr(fmt.Sprintf("2001:db8:%x:%x::1", r.IntN(5), r.IntN(1<<16))))
	}
	sameAnswers(t, f, tb, addrs)
}

func TestFeedEditsCopyOnWrite(t *testing.T) {
	t.Parallel()
	later := now.Add(time.Hour)
	feed := hostEntries(global, Deny, 1000, "import:feed")
	for i := range feed {
		feed[i].ExpiresAt = later
	}
	other := hostEntries(global, Deny, 10, "import:other")
	base := build(t, append(feed, other...)...)
	before := entries(base)
	if base.Len() != 1000 || len(base.global.feeds[Deny]) != 2 {
		t.Fatalf("Len() = %d in %d feeds, want 1000 in 2", base.Len(), len(base.global.feeds[Deny]))
	}

	b := base.Edit()
	b.Remove(global, Deny, pfx("10.0.0.5/32"), "import:feed")
	b.Remove(global, Deny, pfx("10.0.0.5/32"), "import:none")
	if err := b.Add(Entry{List: Deny, Prefix: pfx("192.0.2.0/24"), Source: "import:feed", ExpiresAt: later}); err != nil {
		t.Fatal(err)
	}
	edited := b.Snapshot()
	if edited.Len() != 1001 {
		t.Errorf("after one removal and one addition Len() = %d, want 1001", edited.Len())
	}
	if got := edited.Lookup("", "", addr("10.0.0.5"), now).Deny.Source; got != "import:other" {
		t.Errorf("10.0.0.5 is listed by %q, want only the other import", got)
	}
	if got := edited.Lookup("", "", addr("10.0.0.50"), now).Deny; got.Source != "import:feed" || !got.ExpiresAt.Equal(later) {
		t.Errorf("10.0.0.50 matched %+v, want the feed with its expiry", got)
	}
	if !edited.Lookup("", "", addr("192.0.2.1"), now).Deny.Found() {
		t.Error("the added prefix is not listed")
	}
	if base.Lookup("", "", addr("192.0.2.1"), now).Deny.Found() {
		t.Error("the old snapshot sees the added prefix")
	}

	b = edited.Edit()
	b.RemoveSource(global, "import:other")
	gone := b.Snapshot()
	if gone.Len() != 1000 || gone.Lookup("", "", addr("10.0.0.5"), now).Deny.Found() {
		t.Errorf("after RemoveSource: Len() = %d, 10.0.0.5 still listed: %v", gone.Len(),
			gone.Lookup("", "", addr("10.0.0.5"), now).Deny.Found())
	}
	b = gone.Edit()
	b.Prune(later)
	if pruned := b.Snapshot(); pruned.Len() != 0 || !pruned.global.empty() {
		t.Errorf("Prune kept %d prefixes", pruned.Len())
	}

	// The same source again with another expiry moves the prefix.
	b = base.Edit()
	if err := b.Add(Entry{List: Deny, Prefix: pfx("10.0.0.7/32"), Source: "import:feed"}); err != nil {
		t.Fatal(err)
	}
	moved := b.Snapshot()
	if m := moved.Lookup("", "", addr("10.0.0.7"), later); m.Deny.Source != "import:feed" || !m.Deny.ExpiresAt.IsZero() {
		t.Errorf("after the new expiry 10.0.0.7 matched %+v", m.Deny)
	}
	if moved.Len() != 1000 {
		t.Errorf("Len() = %d, want 1000", moved.Len())
	}

	if d := cmp.Diff(before, entries(base), cmpNet); d != "" {
		t.Errorf("the edits changed the old snapshot (-before +after):\n%s", d)
	}
}

func TestConcurrentReadersDuringFeedUpdates(t *testing.T) {
	t.Parallel()
	set := NewSet(build(t, hostEntries(global, Deny, 2000, "import:feed")...))
	readersNeverMiss(t, set, addr("10.0.7.0"), 100, func(b *Builder, i int) error {
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		b.Remove(global, Deny, pfx("10.0.0.1/32"), "import:feed")
		return b.Add(Entry{List: Deny, Prefix: netip.PrefixFrom(a, 32), Source: "import:feed"})
	})
	if n := set.Load().Len(); n != 2099 {
		t.Errorf("Len() = %d, want 2099", n)
	}
}

func TestSyncKeepsPendingFeedChangesOfOtherSources(t *testing.T) {
	t.Parallel()
	b := NewBuilder()
	if err := b.Add(Entry{List: Deny, Prefix: pfx("192.0.2.0/24"), Source: "import:kept"}); err != nil {
		t.Fatal(err)
	}
	want := build(t,
		Entry{List: Deny, Prefix: pfx("198.51.100.0/24"), Source: "admin rule r-1"},
		Entry{List: Deny, Prefix: pfx("203.0.113.0/24"), Source: "import:synced"},
	)
	b.Sync(want, func(Scope) bool { return true }, func(s string) bool { return s != "import:kept" })
	got := entries(b.Snapshot())
	wantEntries := []Entry{
		{List: Deny, Prefix: pfx("192.0.2.0/24"), Source: "import:kept"},
		{List: Deny, Prefix: pfx("198.51.100.0/24"), Source: "admin rule r-1"},
		{List: Deny, Prefix: pfx("203.0.113.0/24"), Source: "import:synced"},
	}
	if d := cmp.Diff(wantEntries, got, cmpNet); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
}
