package ipset

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
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
