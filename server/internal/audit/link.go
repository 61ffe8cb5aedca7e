package audit

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"time"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Head is the end of a chain: what the next event links to. The zero Head
// is an empty chain.
type Head struct {
	// Seq is the last event's sequence number; 0 when the chain is empty.
	Seq uint64
	// Hash is the last event's hash; empty when the chain is empty.
	Hash string
	// ID is the last event's id; empty when the chain is empty.
	ID string
}

// HeadOf returns the head a chain ending at ev has.
func HeadOf(ev Event) Head { return Head{Seq: ev.Seq, Hash: ev.Hash, ID: ev.ID} }

// Header is implemented by logs that keep their head apart from their
// records; Verify then also checks that the last record is the head, which
// catches records cut off the end.
type Header interface {
	// Head returns the chain's head.
	Head(ctx context.Context) (Head, error)
}

// The bounds of an entry's text fields, in bytes.
const (
	// MaxFieldLen bounds Actor, Action, Tenant and Target.
	MaxFieldLen = 1024
	// MaxReasonLen bounds Reason.
	MaxReasonLen = 8192
)

// Check reports whether the log would take e: an actor and an action,
// text fields within MaxFieldLen and a reason within MaxReasonLen, a time
// (when set) within years 1..9999, and Before and After that are JSON. It
// is what Link checks, without a chain, so a caller can refuse a request
// before changing anything rather than after. Its fault is InvalidArgument
// with one violation per field, named actor, action, tenant, target,
// reason, time, before and after.
func Check(e Entry) error {
	_, err := checkEntry(e)
	return err
}

// checkEntry is Check returning e with Before and After normalised.
func checkEntry(e Entry) (Entry, error) {
	var v fault.Violations
	if e.Actor == "" {
		v.Add("actor", "is required")
	}
	if e.Action == "" {
		v.Add("action", "is required")
	}
	for _, f := range []struct{ name, val string }{
		{"actor", e.Actor}, {"action", e.Action}, {"tenant", e.Tenant}, {"target", e.Target},
	} {
		if len(f.val) > MaxFieldLen {
			v.Add(f.name, "is longer than %d bytes", MaxFieldLen)
		}
	}
	if len(e.Reason) > MaxReasonLen {
		v.Add("reason", "is longer than %d bytes", MaxReasonLen)
	}
	if !e.Time.IsZero() {
		if y := e.Time.UTC().Year(); y < 1 || y > 9999 {
			v.Add("time", "is outside years 1..9999")
		}
	}
	var err error
	if e.Before, err = normalizeValue(e.Before); err != nil {
		v.Add("before", "is not JSON: %v", err)
	}
	if e.After, err = normalizeValue(e.After); err != nil {
		v.Add("after", "is not JSON: %v", err)
	}
	return e, v.Err()
}

// Link builds the event that appends e to the chain ending at h: the next
// sequence number, h's hash as PrevHash, a UUIDv7 id ordered after h's,
// now as the time when e has none, every string made valid UTF-8, Before
// and After normalised (see Canonical) and the hash. Backends call it
// while they hold the chain, so that no other event takes the same place.
// An entry Check refuses is an InvalidArgument fault.
func Link(h Head, e Entry, now time.Time) (Event, error) {
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC().Round(0)
	e, err := checkEntry(e)
	if err != nil {
		return Event{}, err
	}
	e.Actor, e.Action, e.Tenant = validString(e.Actor), validString(e.Action), validString(e.Tenant)
	e.Target, e.Reason = validString(e.Target), validString(e.Reason)
	ev := Event{Entry: e, ID: NewID(now, h.ID), Seq: h.Seq + 1, PrevHash: h.Hash}
	if ev.Hash, err = ComputeHash(ev); err != nil {
		return Event{}, fault.Wrap(err, fault.Internal, "audit: hash the event")
	}
	return ev, nil
}

// NewID returns a UUIDv7 (RFC 9562) for time now that sorts after prev, a
// UUID string or empty: 48 bits of unix milliseconds, then 74 random
// bits. When now's millisecond is not after prev's (many events in one
// millisecond, or a clock stepped back), the id takes prev's time and
// random bits plus a random step instead, so ids along a chain always
// increase.
func NewID(now time.Time, prev string) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	var rnd [10]byte
	_, _ = rand.Read(rnd[:])
	hi := uint64(binary.BigEndian.Uint16(rnd[0:2])) & 0x0fff // rand_a, 12 bits
	lo := binary.BigEndian.Uint64(rnd[2:10]) & (1<<62 - 1)   // rand_b, 62 bits
	if pms, phi, plo, ok := parseID(prev); ok && ms <= pms {
		step := uint64(binary.BigEndian.Uint32(rnd[2:6]))>>8 + 1 // 1..2^24
		ms, hi, lo = pms, phi, plo+step
		if lo >= 1<<62 {
			lo -= 1 << 62
			hi++
		}
		if hi >= 1<<12 {
			hi = 0
			ms++
		}
	}
	binary.BigEndian.PutUint64(b[0:8], ms<<16|0x7000|hi)
	binary.BigEndian.PutUint64(b[8:16], 1<<63|lo)
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// parseID splits a UUIDv7 into its time and random bits.
func parseID(id string) (ms, hi, lo uint64, ok bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return 0, 0, 0, false
	}
	var b [16]byte
	hexPart := id[0:8] + id[9:13] + id[14:18] + id[19:23] + id[24:36]
	if _, err := hex.Decode(b[:], []byte(hexPart)); err != nil || b[6]>>4 != 7 {
		return 0, 0, 0, false
	}
	w0, w1 := binary.BigEndian.Uint64(b[0:8]), binary.BigEndian.Uint64(b[8:16])
	return w0 >> 16, w0 & 0x0fff, w1 & (1<<62 - 1), true
}

// The page sizes of List.
const (
	// DefaultLimit is the page size when Query.Limit is 0 or less.
	DefaultLimit = 100
	// MaxLimit caps Query.Limit.
	MaxLimit = 1000
)

// PageSize returns the number of events a page of q holds at most.
func (q Query) PageSize() int {
	if q.Limit <= 0 {
		return DefaultLimit
	}
	return min(q.Limit, MaxLimit)
}

// Match reports whether ev passes q's filters (Tenant, Tenants, Since and
// Target; After and Limit are paging and play no part).
func (q Query) Match(ev *Event) bool {
	if q.Tenant != "" && ev.Tenant != q.Tenant {
		return false
	}
	if q.Tenants != nil && !slices.Contains(q.Tenants, ev.Tenant) {
		return false
	}
	if !q.Since.IsZero() && ev.Time.Before(q.Since) {
		return false
	}
	return q.Target == "" || ev.Target == q.Target
}
