package iprulestest

import (
	"math/rand/v2"
	"net/netip"

	"github.com/pdp-dev/pdp/server/internal/iprules"
)

// FeedPrefix returns the i-th network of a generated deny feed: half IPv4
// /32s in 100.64.0.0/10, a quarter IPv4 /24s in 10.0.0.0/8 and a quarter
// IPv6 /64s in 2001:db8:f000::/36. None covers the documentation ranges
// the benchmarks send requests from.
func FeedPrefix(r *rand.Rand, i int) netip.Prefix {
	switch i % 4 {
	case 0:
		var b [16]byte
		copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0xf0 | byte(r.IntN(16))})
		for j := 5; j < 8; j++ {
			b[j] = byte(r.IntN(256))
		}
		return netip.PrefixFrom(netip.AddrFrom16(b), 64)
	case 1:
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), 0}), 24)
	default:
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64 | byte(r.IntN(64)), byte(r.IntN(256)), byte(1 + r.IntN(254))}), 32)
	}
}

// FeedRules returns n distinct rules of FeedPrefix networks, the same
// ones for the same n: the imported feed that make bench's scaling runs
// and the memory benchmarks load.
func FeedRules(n int) []iprules.Rule {
	r := rand.New(rand.NewPCG(uint64(n), 11))
	seen := make(map[netip.Prefix]struct{}, n)
	rules := make([]iprules.Rule, 0, n)
	for i := 0; len(rules) < n; i++ {
		p := FeedPrefix(r, i)
		if _, dup := seen[p]; dup {
			continue
		}
		seen[p] = struct{}{}
		rules = append(rules, iprules.Rule{Prefix: p, Reason: "benchmark feed"})
	}
	return rules
}
