package ipset

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
)

// randomPrefix returns a random IPv4 (/16../32) or, one time in four, IPv6
// (/32../64) prefix.
func randomPrefix(r *rand.Rand) netip.Prefix {
	if r.IntN(4) == 0 {
		var b [16]byte
		b[0], b[1] = 0x20, 0x01
		for i := 2; i < 8; i++ {
			b[i] = byte(r.Uint32())
		}
		return netip.PrefixFrom(netip.AddrFrom16(b), 32+r.IntN(33)).Masked()
	}
	v := r.Uint32()
	a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return netip.PrefixFrom(a, 16+r.IntN(17)).Masked()
}

// benchSet builds a global suspicious list of n random prefixes plus a
// small tenant deny list, and returns addresses to look up: half inside
// listed prefixes, half random.
func benchSet(b *testing.B, n int) (*Snapshot, []netip.Addr) {
	b.Helper()
	r := rand.New(rand.NewPCG(1, uint64(n)))
	bl := NewBuilder()
	var hits []netip.Addr
	for i := range n {
		p := randomPrefix(r)
		if err := bl.Add(Entry{List: Suspicious, Prefix: p, Source: "import:bench"}); err != nil {
			b.Fatal(err)
		}
		if i%(n/512+1) == 0 {
			hits = append(hits, p.Addr())
		}
	}
	for i := range 100 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, byte(i), 0}), 24)
		if err := bl.Add(Entry{Scope: prod, List: Deny, Prefix: p, Source: "tenant policy"}); err != nil {
			b.Fatal(err)
		}
	}
	s := bl.Snapshot()
	addrs := make([]netip.Addr, 0, 1024)
	for i := range 1024 {
		if i%2 == 0 {
			addrs = append(addrs, hits[i/2%len(hits)])
		} else {
			addrs = append(addrs, randomPrefix(r).Addr())
		}
	}
	return s, addrs
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("prefixes=%d", n), func(b *testing.B) {
			s, addrs := benchSet(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				r := s.Lookup("acme", "production", addrs[i&1023], now)
				_ = r
				i++
			}
		})
	}
}

func BenchmarkLookupMiss(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("prefixes=%d", n), func(b *testing.B) {
			s, _ := benchSet(b, n)
			a := netip.MustParseAddr("127.0.0.1")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_ = s.Lookup("acme", "production", a, now)
			}
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("prefixes=%d", n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(2, 3))
			ps := make([]netip.Prefix, n)
			for i := range ps {
				ps[i] = randomPrefix(r)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				bl := NewBuilder()
				for _, p := range ps {
					_ = bl.Add(Entry{List: Deny, Prefix: p, Source: "import:bench"})
				}
				_ = bl.Snapshot()
			}
		})
	}
}

func BenchmarkAddOneToLargeSnapshot(b *testing.B) {
	s, _ := benchSet(b, 1_000_000)
	p := netip.MustParsePrefix("192.0.2.0/24")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		bl := s.Edit()
		_ = bl.Add(Entry{List: Suspicious, Prefix: p, Source: "admin rule r-1"})
		_ = bl.Snapshot()
	}
}

// feedSnapshot holds a global deny feed of n random prefixes.
func feedSnapshot(b *testing.B, n int) *Snapshot {
	b.Helper()
	r := rand.New(rand.NewPCG(4, uint64(n)))
	bl := NewBuilder()
	for range n {
		if err := bl.Add(Entry{List: Deny, Prefix: randomPrefix(r), Source: "import:bench"}); err != nil {
			b.Fatal(err)
		}
	}
	return bl.Snapshot()
}

// sink keeps the garbage of BenchmarkDecisionGarbage reachable until the
// next iteration.
var sink [][]*[64]byte

// BenchmarkGC times a full collection while a feed is held: the marking
// of the feed's memory is what a large feed adds to every cycle.
func BenchmarkGC(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("prefixes=%d", n), func(b *testing.B) {
			s := feedSnapshot(b, n)
			runtime.GC()
			b.ResetTimer()
			for b.Loop() {
				runtime.GC()
			}
			runtime.KeepAlive(s)
		})
	}
}

// BenchmarkDecisionGarbage looks an address up and allocates some 48 KB
// of pointer-rich garbage per operation, like a decision, while a feed is
// held: its time includes the share of collection cycles each decision
// causes, which grows with the memory the collector must mark.
func BenchmarkDecisionGarbage(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("prefixes=%d", n), func(b *testing.B) {
			s := feedSnapshot(b, n)
			a := netip.MustParseAddr("192.0.2.1")
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_ = s.Lookup("acme", "production", a, now)
				g := make([]*[64]byte, 0, 512)
				for range 512 {
					g = append(g, new([64]byte))
				}
				sink = append(sink[:0], g)
			}
			b.StopTimer()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.NumGC-before.NumGC)/float64(b.N)*1e3, "gc/1k-op")
			b.ReportMetric(float64(after.PauseTotalNs-before.PauseTotalNs)/float64(b.N), "stw-ns/op")
			runtime.KeepAlive(s)
		})
	}
}

// BenchmarkLookupBenchFeed looks addresses up in a global deny feed shaped
// like pdpbench's (IPv4 /32s and /24s, IPv6 /64s: three prefix lengths),
// half of them listed.
func BenchmarkLookupBenchFeed(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("prefixes=%d", n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(5, uint64(n)))
			bl := NewBuilder()
			addrs := make([]netip.Addr, 0, 1024)
			for i := range n {
				var p netip.Prefix
				switch i % 4 {
				case 0:
					var a [16]byte
					copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0xf0 | byte(r.IntN(16)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
					p = netip.PrefixFrom(netip.AddrFrom16(a), 64)
				case 1:
					p = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), 0}), 24)
				default:
					p = netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64 | byte(r.IntN(64)), byte(r.IntN(256)), byte(1 + r.IntN(254))}), 32)
				}
				if err := bl.Add(Entry{List: Deny, Prefix: p, Source: "import:bench"}); err != nil {
					b.Fatal(err)
				}
				if len(addrs) < 512 && i%(n/512+1) == 0 {
					addrs = append(addrs, p.Addr())
				}
			}
			for len(addrs) < 1024 {
				addrs = append(addrs, netip.AddrFrom4([4]byte{100, 64 | byte(r.IntN(64)), byte(r.IntN(256)), byte(r.IntN(256))}))
			}
			s := bl.Snapshot()
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				_ = s.Lookup("acme", "production", addrs[i&1023], now)
				i++
			}
		})
	}
}
