package ipset

import (
	"cmp"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
)

// Imported feeds are kept out of the prefix tables. A feed of a million
// CIDRs held in bart is a mass of small pointer-rich nodes that every
// garbage collection cycle has to mark, which made the collector, not the
// lookup, the cost of a large deny list (bench/README.md, "Pointer-free
// feeds"). A feed is instead a few sorted
// arrays of integers: the collector never looks inside them.
//
// Every entry whose source is an import source (ImportSource) lives in a
// feed, and no other entry does, so a source is in either layer, never in
// both. The entries of one list and one origin (source and expiry) make
// one feed; an import normally has one origin per list.

// importPrefix starts every import source.
const importPrefix = "import:"

func isImport(source string) bool { return strings.HasPrefix(source, importPrefix) }

// u128 is an IPv6 address or masked prefix as a pointer-free key.
type u128 struct{ hi, lo uint64 }

func cmp128(a, b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

// feed is the prefixes one origin lists on one list of one scope, per
// prefix length a sorted array of masked addresses without duplicates.
// A feed in a snapshot is immutable and its arrays may be shared with
// other feeds (a builder's copies): they are never written in place.
type feed struct {
	origin *origin
	n      int       // prefixes held
	lens4  uint64    // bit b is set when v4[b] is not empty
	lens6  [3]uint64 // bit b%64 of word b/64 is set when v6[b] is not empty
	v4     [33][]uint32
	v6     [129][]u128
	ix4    [33]index // of v4
	ix6    [129]index
}

// index narrows the search of a large sorted array: the span between its
// first and last key is cut into about len/4 buckets of equal width, and
// off says where each bucket's keys start. Without it a search of a
// million keys misses the cache at nearly every step; with it, twice.
type index struct {
	min   uint64   // position of the first key
	shift uint8    // a key at position p is in bucket (p-min)>>shift
	off   []uint32 // bucket t holds the keys at off[t] up to off[t+1]; nil for no index
}

// indexMin is the length from which an array gets an index.
const indexMin = 256

func pos4(k uint32) uint64 { return uint64(k) }
func pos6(k u128) uint64   { return k.hi }

func buildIndex[K any](a []K, pos func(K) uint64) index {
	if len(a) < indexMin {
		return index{}
	}
	lo, hi := pos(a[0]), pos(a[len(a)-1])
	want := uint64(len(a) / 4)
	shift := 0
	for (hi-lo)>>shift >= want {
		shift++
	}
	off := make([]uint32, (hi-lo)>>shift+2)
	for _, k := range a {
		off[(pos(k)-lo)>>shift+1]++
	}
	for i := 1; i < len(off); i++ {
		off[i] += off[i-1]
	}
	return index{min: lo, shift: uint8(shift), off: off}
}

// span returns the part of a that may hold a key at position p.
func span[K any](a []K, x *index, p uint64) []K {
	if x.off == nil {
		return a
	}
	if p < x.min {
		return nil
	}
	t := (p - x.min) >> x.shift
	if t+1 >= uint64(len(x.off)) {
		return nil
	}
	return a[x.off[t]:x.off[t+1]]
}

func (f *feed) has4(b int, k uint32) bool {
	_, ok := slices.BinarySearch(span(f.v4[b], &f.ix4[b], pos4(k)), k)
	return ok
}

func (f *feed) has6(b int, k u128) bool {
	a := span(f.v6[b], &f.ix6[b], pos6(k))
	lo, hi := 0, len(a)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if x := a[m]; x.hi < k.hi || x.hi == k.hi && x.lo < k.lo {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(a) && a[lo] == k
}

func mask32(b int) uint32 { return ^uint32(0) << (32 - b) } // 0 for b = 0
func mask64(b int) uint64 { return ^uint64(0) << (64 - b) } // 0 for b = 0

func key4(a netip.Addr, b int) uint32 {
	x := a.As4()
	return (uint32(x[0])<<24 | uint32(x[1])<<16 | uint32(x[2])<<8 | uint32(x[3])) & mask32(b)
}

func key6(a netip.Addr, b int) u128 {
	x := a.As16()
	var k u128
	for i := range 8 {
		k.hi = k.hi<<8 | uint64(x[i])
		k.lo = k.lo<<8 | uint64(x[8+i])
	}
	if b <= 64 {
		return u128{hi: k.hi & mask64(b)}
	}
	return u128{hi: k.hi, lo: k.lo & mask64(b-64)}
}

func prefix4(k uint32, b int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}), b)
}

func prefix6(k u128, b int) netip.Prefix {
	var x [16]byte
	for i := range 8 {
		x[i] = byte(k.hi >> (56 - 8*i))
		x[8+i] = byte(k.lo >> (56 - 8*i))
	}
	return netip.PrefixFrom(netip.AddrFrom16(x), b)
}

// longest returns the length of the longest prefix of f holding addr (an
// unmapped address without zone) that is longer than floor, or -1. It
// binary-searches the array of each length present, longest first.
func (f *feed) longest(addr netip.Addr, floor int) int {
	if addr.Is4() {
		m := f.lens4
		if floor >= 0 {
			m &^= 1<<(floor+1) - 1
		}
		if m == 0 {
			return -1
		}
		a := key4(addr, 32)
		for m != 0 {
			b := bits.Len64(m) - 1
			m &^= 1 << b
			if f.has4(b, a&mask32(b)) {
				return b
			}
		}
		return -1
	}
	a := key6(addr, 128)
	for w := 2; w >= 0; w-- {
		m := f.lens6[w]
		if lo := floor + 1 - 64*w; lo >= 64 {
			continue
		} else if lo > 0 {
			m &^= 1<<lo - 1
		}
		for m != 0 {
			i := bits.Len64(m) - 1
			m &^= 1 << i
			b := 64*w + i
			if f.has6(b, mask128(a, b)) {
				return b
			}
		}
	}
	return -1
}

func mask128(a u128, b int) u128 {
	if b <= 64 {
		return u128{hi: a.hi & mask64(b)}
	}
	return u128{hi: a.hi, lo: a.lo & mask64(b-64)}
}

// has reports whether f lists p (masked, unmapped).
func (f *feed) has(p netip.Prefix) bool {
	b := p.Bits()
	if p.Addr().Is4() {
		return f.has4(b, key4(p.Addr(), b))
	}
	return f.has6(b, key6(p.Addr(), b))
}

// recount sets n and the length masks from the arrays.
func (f *feed) recount() {
	f.n, f.lens4, f.lens6 = 0, 0, [3]uint64{}
	for b, s := range f.v4 {
		if len(s) > 0 {
			f.n += len(s)
			f.lens4 |= 1 << b
		}
	}
	for b, s := range f.v6 {
		if len(s) > 0 {
			f.n += len(s)
			f.lens6[b/64] |= 1 << (b % 64)
		}
	}
}

// each yields the prefixes of f, length by length.
func (f *feed) each(yield func(netip.Prefix) bool) bool {
	for b, s := range f.v4 {
		for _, k := range s {
			if !yield(prefix4(k, b)) {
				return false
			}
		}
	}
	for b, s := range f.v6 {
		for _, k := range s {
			if !yield(prefix6(k, b)) {
				return false
			}
		}
	}
	return true
}

// sameAs reports whether f and g list the same prefixes from equal origins.
func (f *feed) sameAs(g *feed) bool {
	if f == g {
		return true
	}
	if *f.origin != *g.origin || f.n != g.n || f.lens4 != g.lens4 || f.lens6 != g.lens6 {
		return false
	}
	for b := range f.v4 {
		if !slices.Equal(f.v4[b], g.v4[b]) {
			return false
		}
	}
	for b := range f.v6 {
		if !slices.Equal(f.v6[b], g.v6[b]) {
			return false
		}
	}
	return true
}

func cmpOrigin(a, b *origin) int {
	if c := strings.Compare(a.source, b.source); c != 0 {
		return c
	}
	return cmp.Compare(a.expires, b.expires)
}

// feedsHave reports whether any of fs lists p.
func feedsHave(fs []*feed, p netip.Prefix) bool {
	for _, f := range fs {
		if f.has(p) {
			return true
		}
	}
	return false
}

// distinct counts the prefixes of fs, once each however many feeds list
// them.
func distinct(fs []*feed) int {
	switch len(fs) {
	case 0:
		return 0
	case 1:
		return fs[0].n
	}
	n := 0
	var s4 [][]uint32
	var s6 [][]u128
	for b := range 33 {
		s4 = s4[:0]
		for _, f := range fs {
			s4 = append(s4, f.v4[b])
		}
		n += countUnion(s4, cmp.Compare[uint32])
	}
	for b := range 129 {
		s6 = s6[:0]
		for _, f := range fs {
			s6 = append(s6, f.v6[b])
		}
		n += countUnion(s6, cmp128)
	}
	return n
}

// countUnion counts the distinct keys of sorted arrays without duplicates.
func countUnion[K any](arrays [][]K, c func(K, K) int) int {
	var parts [][]K
	for _, a := range arrays {
		if len(a) > 0 {
			parts = append(parts, a)
		}
	}
	switch len(parts) {
	case 0:
		return 0
	case 1:
		return len(parts[0])
	}
	n := 0
	for {
		lo := -1
		for i, p := range parts {
			if len(p) > 0 && (lo < 0 || c(p[0], parts[lo][0]) < 0) {
				lo = i
			}
		}
		if lo < 0 {
			return n
		}
		k := parts[lo][0]
		n++
		for i, p := range parts {
			if len(p) > 0 && c(p[0], k) == 0 {
				parts[i] = p[1:]
			}
		}
	}
}

// run is a builder's pending changes to one array of a feed: keys to add,
// or keys to remove, in the order they came. A run of one kind is applied
// with one sort and one merge; a change of the other kind first applies
// the run.
type run[K any] struct {
	keys []K
	del  bool
}

// pending is a builder's pending changes to a feed it owns.
type pending struct {
	v4 [33]run[uint32]
	v6 [129]run[u128]
	d4 uint64    // bit b is set when v4[b] changed
	d6 [3]uint64 // bit b%64 of word b/64 is set when v6[b] changed
}

// push records adding (or with del, removing) k to the array *sorted.
func push[K any](r *run[K], sorted *[]K, k K, del bool, c func(K, K) int) {
	if len(r.keys) > 0 && r.del != del {
		*sorted = settle(*sorted, r, c)
	}
	r.del = del
	r.keys = append(r.keys, k)
}

// settle returns sorted with r applied, in a new array unless nothing
// changed (sorted may be shared: it is never written), and empties r.
func settle[K any](sorted []K, r *run[K], c func(K, K) int) []K {
	keys, del := r.keys, r.del
	*r = run[K]{}
	if len(keys) == 0 {
		return sorted
	}
	slices.SortFunc(keys, c)
	keys = slices.CompactFunc(keys, func(a, b K) bool { return c(a, b) == 0 })
	if del {
		return difference(sorted, keys, c)
	}
	if len(sorted) == 0 {
		// keys is the builder's own array: hand it over, trimmed if
		// growing it left much room.
		if cap(keys)-len(keys) > len(keys)/8 {
			return slices.Clone(keys)
		}
		return keys
	}
	return union(sorted, keys, c)
}

// union merges two sorted arrays without duplicates into a new one.
func union[K any](a, b []K, c func(K, K) int) []K {
	out := make([]K, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		switch d := c(a[0], b[0]); {
		case d < 0:
			out, a = append(out, a[0]), a[1:]
		case d > 0:
			out, b = append(out, b[0]), b[1:]
		default:
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	out = append(append(out, a...), b...)
	if len(out) < cap(out)-cap(out)/8 {
		out = slices.Clone(out)
	}
	return out
}

// difference returns a minus the sorted keys: a itself when it holds
// none of them, else a new array (nil when empty).
func difference[K any](a, keys []K, c func(K, K) int) []K {
	var out []K
	start := 0 // a[start:] is not copied yet
	for _, k := range keys {
		i, ok := slices.BinarySearchFunc(a[start:], k, c)
		if !ok {
			continue
		}
		if out == nil {
			out = make([]K, 0, len(a)-1)
		}
		out = append(out, a[start:start+i]...)
		start += i + 1
	}
	if out == nil {
		return a
	}
	out = append(out, a[start:]...)
	if len(out) == 0 {
		return nil
	}
	return out
}
