package engine

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"net/netip"
	"reflect"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/open-policy-agent/opa/v1/ast"
)

// inputMemo shares objects of the input document between requests that
// build the same one. A user's subject, device and address, the action,
// the login and the profile signals repeat from one request to the next,
// and each is an object OPA's ast.NewObject makes in five allocations;
// the memo hands the one built last for the same content instead. Input
// terms are never modified by evaluation, so sharing them is safe, as
// input.caller and signals.ip already are (input.go).
//
// Each slot holds the last object built for the content that hashed to
// it, the plan it was built for and the whole content it was built from
// (its key): a hit compares both, so an object is only ever shared with
// a request that would have built an equal one. A content too long for
// a key is built every time.
var inputMemo objectMemo

// memoSlots is the number of objects the memo holds.
const memoSlots = 1024

type objectMemo [memoSlots]atomic.Pointer[memoEntry]

type memoEntry struct {
	plan inputPlan
	key  [memoKeyRoom]byte
	n    int
	term *ast.Term
}

// memoKeyRoom bounds the content of a memoised object.
const memoKeyRoom = 192

// What a key is the content of; the first byte of every key.
const (
	memoSubject byte = iota + 1
	memoAuthentication
	memoNetwork
	memoDevice
	memoAction
	memoProfile
)

var memoSeed = maphash.MakeSeed()

// memoKey is the content an object is built from, written field by
// field: strings with their length, numbers and flags in fixed widths.
// A content longer than the key's room is not memoised.
type memoKey struct {
	buf  [memoKeyRoom]byte
	n    int
	long bool
}

// room reports whether n more bytes fit, marking the key long if not.
func (k *memoKey) room(n int) bool {
	if k.long || k.n+n > memoKeyRoom {
		k.long = true
		return false
	}
	return true
}

// start begins the key of an object of kind, built for plan pl.
func (k *memoKey) start(kind byte, pl inputPlan) {
	k.n, k.long = 1, false
	k.buf[0] = kind
	k.int(int64(uintptr(planID(pl))))
}

// planID is the identity of a plan: the map, or nil for the whole
// input.
func planID(pl inputPlan) unsafe.Pointer { return reflect.ValueOf(pl).UnsafePointer() }

func (k *memoKey) str(s string) {
	if k.room(binary.MaxVarintLen64 + len(s)) {
		k.n += binary.PutUvarint(k.buf[k.n:], uint64(len(s)))
		k.n += copy(k.buf[k.n:], s)
	}
}

func (k *memoKey) strs(ss []string) {
	k.int(int64(len(ss)))
	for _, s := range ss {
		k.str(s)
	}
}

func (k *memoKey) flag(b bool) {
	if k.room(1) {
		k.buf[k.n] = byte(b2i(b))
		k.n++
	}
}

func (k *memoKey) int(i int64) {
	if k.room(8) {
		binary.LittleEndian.PutUint64(k.buf[k.n:], uint64(i))
		k.n += 8
	}
}

func (k *memoKey) float(f float64) { k.int(int64(math.Float64bits(f))) }

// time writes whether t is zero and the nanoseconds the input holds.
func (k *memoKey) time(t time.Time) {
	k.flag(t.IsZero())
	k.int(clampedNanos(t))
}

// addr writes what an address's text (as network builds it) is made of:
// its family and its bytes.
func (k *memoKey) addr(a netip.Addr) {
	k.flag(a.Is4())
	b := a.As16()
	if k.room(len(b)) {
		k.n += copy(k.buf[k.n:], b[:])
	}
}

func (k *memoKey) bytes() []byte { return k.buf[:k.n] }

// get is the object built for the key's content, or nil.
func (m *objectMemo) get(k *memoKey, pl inputPlan) *ast.Term {
	if k.long {
		return nil
	}
	e := m.slot(k).Load()
	if e == nil || planID(e.plan) != planID(pl) || string(e.key[:e.n]) != string(k.bytes()) {
		return nil
	}
	return e.term
}

// put keeps t as the object built for the key's content.
func (m *objectMemo) put(k *memoKey, pl inputPlan, t *ast.Term) {
	if k.long {
		return
	}
	e := &memoEntry{plan: pl, n: k.n, term: t}
	copy(e.key[:], k.bytes())
	m.slot(k).Store(e)
}

func (m *objectMemo) slot(k *memoKey) *atomic.Pointer[memoEntry] {
	return &m[maphash.Bytes(memoSeed, k.bytes())%memoSlots]
}

// memoised returns the object built for the key's content, building it
// with build when the memo has none; a nil memo always builds.
func (m *objectMemo) memoised(k *memoKey, pl inputPlan, build func() *ast.Term) *ast.Term {
	if m == nil {
		return build()
	}
	if t := m.get(k, pl); t != nil {
		return t
	}
	t := build()
	m.put(k, pl, t)
	return t
}
