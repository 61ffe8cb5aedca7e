package ipset

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func entries(s *Snapshot) []Entry { return slices.Collect(s.All()) }

// hostEntries lists n /32s of 10.0.0.0/8 from source.
func hostEntries(scope Scope, list List, n int, source string) []Entry {
	var out []Entry
	for i := range n {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		out = append(out, Entry{Scope: scope, List: list, Prefix: netip.PrefixFrom(a, 32), Source: source})
	}
	return out
}

func TestEditLeavesOldSnapshotAlone(t *testing.T) {
	t.Parallel()
	// Few changes take the path-copy route, many the clone route; both
	// must leave the old snapshot untouched and agree on the result.
	for _, n := range []int{3, persistLimit + 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			base := build(t, hostEntries(acme, Deny, 100, "import:base")...)
			before := entries(base)
			b := base.Edit()
			for _, e := range hostEntries(acme, Deny, n, "admin rule r-1") {
				if err := b.Add(e); err != nil {
					t.Fatal(err)
				}
			}
			for _, e := range hostEntries(acme, Deny, n, "import:base") {
				b.Remove(e.Scope, e.List, e.Prefix, e.Source)
			}
			if err := b.Add(Entry{Scope: global, List: Suspicious, Prefix: pfx("192.0.2.0/24"), Source: "import:x"}); err != nil {
				t.Fatal(err)
			}
			next := b.Snapshot()
			if d := cmp.Diff(before, entries(base), cmpNet); d != "" {
				t.Fatalf("the old snapshot changed (-before +after):\n%s", d)
			}
			if next.Len() != 101 {
				t.Errorf("Len() = %d, want 101", next.Len())
			}
			first := next.Lookup("acme", "", addr("10.0.0.0"), now)
			if first.Deny.Source != "admin rule r-1" {
				t.Errorf("10.0.0.0 is listed by %q, want only the admin rule", first.Deny.Source)
			}
			last := next.Lookup("acme", "", addr("10.0.0.99"), now)
			if n < 100 && last.Deny.Source != "import:base" {
				t.Errorf("10.0.0.99 is listed by %q, want the import", last.Deny.Source)
			}
			if base.Lookup("globex", "", addr("192.0.2.1"), now).Suspicious.Found() {
				t.Error("the old snapshot sees the new global entry")
			}
			if !next.Lookup("globex", "", addr("192.0.2.1"), now).Suspicious.Found() {
				t.Error("the new snapshot misses the new global entry")
			}
		})
	}
}

func TestSourcesOfOnePrefix(t *testing.T) {
	t.Parallel()
	later := now.Add(time.Hour)
	b := NewBuilder()
	add := func(e Entry) {
		t.Helper()
		if err := b.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	add(Entry{Scope: acme, List: Deny, Prefix: pfx("198.51.100.7/32"), Source: SourceAutoBlock, ExpiresAt: now})
	add(Entry{Scope: acme, List: Deny, Prefix: pfx("198.51.100.7/32"), Source: "admin rule r-1"})
	// Same source again: replaces the expiry instead of adding a listing.
	add(Entry{Scope: acme, List: Deny, Prefix: pfx("198.51.100.7/32"), Source: SourceAutoBlock, ExpiresAt: later})
	// Host bits are masked.
	add(Entry{Scope: acme, List: Deny, Prefix: pfx("203.0.113.9/24"), Source: SourceAutoBlock})
	s := b.Snapshot()
	want := []Entry{
		{Scope: acme, List: Deny, Prefix: pfx("198.51.100.7/32"), Source: "admin rule r-1"},
		{Scope: acme, List: Deny, Prefix: pfx("198.51.100.7/32"), Source: SourceAutoBlock, ExpiresAt: later},
		{Scope: acme, List: Deny, Prefix: pfx("203.0.113.0/24"), Source: SourceAutoBlock},
	}
	if d := cmp.Diff(want, entries(s), cmpNet); d != "" {
		t.Fatalf("entries (-want +got):\n%s", d)
	}
	if s.Len() != 2 {
		t.Errorf("Len() = %d, want 2 prefixes", s.Len())
	}

	b = s.Edit()
	b.Remove(acme, Deny, pfx("198.51.100.7/32"), "admin rule r-1")
	b.Remove(acme, Deny, pfx("198.51.100.7/32"), "admin rule r-404")
	b.Remove(acme, Deny, pfx("192.0.2.0/24"), "admin rule r-1")
	s = b.Snapshot()
	if got := s.Lookup("acme", "", addr("198.51.100.7"), now).Deny.Source; got != SourceAutoBlock {
		t.Errorf("after removing the admin rule the prefix is listed by %q, want the auto-block", got)
	}
	b = s.Edit()
	b.RemoveSource(acme, SourceAutoBlock)
	s = b.Snapshot()
	if s.Len() != 0 || len(s.tenants) != 0 {
		t.Errorf("RemoveSource left %d prefixes in %d tenants", s.Len(), len(s.tenants))
	}
}

func TestSnapshotWithoutChangesIsTheSame(t *testing.T) {
	t.Parallel()
	s := build(t, Entry{Scope: global, List: Deny, Prefix: pfx("192.0.2.0/24"), Source: "x"})
	if s.Edit().Snapshot() != s {
		t.Error("an empty edit made a new snapshot")
	}
}

func TestSetUpdate(t *testing.T) {
	t.Parallel()
	set := NewSet(nil)
	err := set.Update(func(b *Builder) error {
		return b.Add(Entry{Scope: acme, List: Deny, Prefix: pfx("192.0.2.0/24"), Source: "admin rule r-1"})
	})
	if err != nil {
		t.Fatal(err)
	}
	failing := fmt.Errorf("boom")
	err = set.Update(func(b *Builder) error {
		b.RemoveSource(acme, "admin rule r-1")
		return failing
	})
	if err != failing {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	if !set.Lookup("acme", "production", addr("192.0.2.1"), now).Deny.Found() {
		t.Error("a failed update changed the set")
	}
	set.Replace(Empty())
	if set.Load().Len() != 0 {
		t.Error("Replace did not publish")
	}
}

func TestConcurrentReadersDuringUpdates(t *testing.T) {
	t.Parallel()
	set := NewSet(build(t, Entry{Scope: global, List: Deny, Prefix: pfx("203.0.113.0/24"), Source: "feed"}))
	readersNeverMiss(t, set, addr("203.0.113.1"), 200, func(b *Builder, i int) error {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		return b.Add(Entry{Scope: acme, List: Deny, Prefix: netip.PrefixFrom(a, 32), Source: SourceAutoBlock})
	})
	if n := set.Load().Len(); n != 201 {
		t.Errorf("Len() = %d, want 201", n)
	}
}

// readersNeverMiss runs n updates of set while four readers look up a,
// which every snapshot denies; a reader that sees it allowed fails t.
func readersNeverMiss(t *testing.T, set *Set, a netip.Addr, n int, update func(b *Builder, i int) error) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !set.Lookup("acme", "production", a, now).Deny.Found() {
					t.Errorf("a reader saw %s leave the deny list", a)
					return
				}
			}
		})
	}
	for i := range n {
		if err := set.Update(func(b *Builder) error { return update(b, i) }); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
