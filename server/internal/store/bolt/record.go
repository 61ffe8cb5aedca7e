package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"time"

	"github.com/pdp-dev/pdp/server/internal/store"
)

// Profiles and IP failure records are stored in a compact binary form: the
// 8-byte write time every value starts with, the byte formatBinary, then
// the fields in the order encodeProfile and encodeIPRecord write them.
// Integers are varints (signed ones zigzag), strings and lists are
// prefixed by their length, and a time is the uvarint of its nanosecond
// plus one (0 for the zero time) followed, when not zero, by the varint of
// its Unix seconds minus the base's; times are UTC. The base is the first
// field, the record's UpdatedAt, written with a base of 0, so most times
// of a profile take 2 to 4 bytes. A profile leaves out its tenant and
// user id, which its key holds, and the hour slots that are empty.
//
// The cache keeps a profile in exactly this form, as a string, and decodes
// it on every read: a seeded profile takes a small fraction of a
// store.Profile's size (bench/README.md, "Memory per profile"), and the
// decoded strings are substrings of the cached one, so a read allocates
// nothing once dst has room.
//
// Files of schema 1 hold JSON after the write time; Open still reads them
// (a JSON value starts with '{'), and every write stores the binary form.

// formatBinary follows the write time of a value in the binary form.
const formatBinary byte = 1

var errShortRecord = errors.New("record ends early")

// encodeProfile returns the stored value of p written at written.
func encodeProfile(written int64, p *store.Profile) []byte {
	e := newEncoder(written, 192, p.UpdatedAt)
	e.seen(p.Devices)
	e.seen(p.Countries)
	e.seen(p.Actions)
	var mask uint32
	for h := range p.Hours {
		if p.Hours[h] != (store.HourSlot{}) {
			mask |= 1 << h
		}
	}
	e.uvarint(uint64(mask))
	for h := range p.Hours {
		if mask&(1<<h) != 0 {
			e.varint(p.Hours[h].Count)
			e.time(p.Hours[h].LastSeen)
		}
	}
	e.uvarint(uint64(len(p.LoginDays)))
	prev := int64(0)
	for _, d := range p.LoginDays {
		e.varint(d.Day - prev)
		e.varint(d.Count)
		prev = d.Day
	}
	e.varint(p.LoginCount)
	e.login(&p.LastLogin, p.Devices, p.Countries)
	e.time(p.LastActivity)
	e.uvarint(uint64(len(p.FailedLogins)))
	for _, t := range p.FailedLogins {
		e.time(t)
	}
	e.bool(p.Suspension.Suspended)
	e.str(p.Suspension.Reason)
	e.time(p.Suspension.At)
	e.str(p.Suspension.By)
	e.time(p.MFAResetAt)
	return e.b
}

// decodeProfile fills dst, reusing its slices, from a value encodeProfile
// wrote for the key k. dst's strings share v's memory.
func decodeProfile(k userKey, v string, dst *store.Profile) error {
	r, err := binaryBody(v)
	if err != nil {
		return err
	}
	dst.Reset()
	dst.Tenant, dst.UserID = k.tenant, k.user
	dst.UpdatedAt = r.base()
	dst.Devices = r.seen(dst.Devices)
	dst.Countries = r.seen(dst.Countries)
	dst.Actions = r.seen(dst.Actions)
	mask := r.uvarint()
	if mask >= 1<<len(dst.Hours) {
		r.fail(fmt.Errorf("hour mask %#x", mask))
	}
	for m := uint32(mask); m != 0 && r.err == nil; m &= m - 1 {
		h := &dst.Hours[bits.TrailingZeros32(m)]
		h.Count = r.varint()
		h.LastSeen = r.time()
	}
	prev := int64(0)
	for range r.count() {
		d := store.DayCount{Day: prev + r.varint()}
		d.Count = r.varint()
		dst.LoginDays = append(dst.LoginDays, d)
		prev = d.Day
	}
	dst.LoginCount = r.varint()
	r.login(&dst.LastLogin, dst.Devices, dst.Countries)
	dst.LastActivity = r.time()
	for range r.count() {
		dst.FailedLogins = append(dst.FailedLogins, r.time())
	}
	dst.Suspension.Suspended = r.bool()
	dst.Suspension.Reason = r.str()
	dst.Suspension.At = r.time()
	dst.Suspension.By = r.str()
	dst.MFAResetAt = r.time()
	return r.end()
}

// encodeIPRecord returns the stored value of rec written at written.
func encodeIPRecord(written int64, rec *store.IPRecord) []byte {
	e := newEncoder(written, 64+16*len(rec.Failures), rec.UpdatedAt)
	e.uvarint(uint64(len(rec.Failures)))
	for _, f := range rec.Failures {
		e.time(f.Time)
		e.str(f.UserID)
	}
	e.seen(rec.Users)
	return e.b
}

// decodeIPRecord fills dst from a value encodeIPRecord wrote. dst's strings
// share v's memory.
func decodeIPRecord(v string, dst *store.IPRecord) error {
	r, err := binaryBody(v)
	if err != nil {
		return err
	}
	*dst = store.IPRecord{UpdatedAt: r.base()}
	for range r.count() {
		f := store.IPFailure{Time: r.time()}
		f.UserID = r.str()
		dst.Failures = append(dst.Failures, f)
	}
	dst.Users = r.seen(nil)
	return r.end()
}

// writtenOf returns the write time a value starts with; v has been decoded
// once, so it is long enough.
func writtenOf(v string) int64 {
	return int64(binary.BigEndian.Uint64([]byte(v[:8])))
}

// binaryBody checks the head of a binary value and returns a reader of
// what follows it.
func binaryBody(v string) (reader, error) {
	switch {
	case len(v) < 9:
		return reader{}, fmt.Errorf("value of %d bytes is too short", len(v))
	case v[8] != formatBinary:
		return reader{}, fmt.Errorf("unknown record format %#x", v[8])
	}
	return reader{s: v[9:]}, nil
}

// encoder appends the fields of a binary record.
type encoder struct {
	b    []byte
	base int64 // Unix seconds the times after the first are relative to
}

// newEncoder starts a value written at written whose first field is the
// time base, the record's newest time.
func newEncoder(written int64, size int, base time.Time) *encoder {
	e := &encoder{b: make([]byte, 0, size)}
	e.b = binary.BigEndian.AppendUint64(e.b, uint64(written))
	e.b = append(e.b, formatBinary)
	e.time(base)
	if !base.IsZero() {
		e.base = base.Unix()
	}
	return e
}

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }

func (e *encoder) varint(v int64) { e.b = binary.AppendVarint(e.b, v) }

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// time writes 0 for the zero time, else the nanosecond plus one and the
// Unix seconds minus the base (wrapping: every time survives).
func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.uvarint(uint64(t.Nanosecond()) + 1)
	e.varint(int64(uint64(t.Unix()) - uint64(e.base)))
}

func (e *encoder) seen(list []store.Seen) {
	e.uvarint(uint64(len(list)))
	for i := range list {
		s := &list[i]
		e.str(s.Key)
		e.time(s.FirstSeen)
		e.time(s.LastSeen)
		e.varint(s.Count)
	}
}

// The flags of a stored login.
const (
	loginHasLocation = 1 << iota
	loginCoordinates // Latitude and Longitude follow, as IEEE 754 bits
)

// login writes l; its country and device, usually keys of countries and
// devices, are written as references to them when they are.
func (e *encoder) login(l *store.Login, devices, countries []store.Seen) {
	e.time(l.Time)
	n := 0
	switch {
	case l.IP.Is4():
		n = 4
	case l.IP.Is6():
		n = 16 + len(l.IP.Zone())
	}
	e.uvarint(uint64(n))
	e.b, _ = l.IP.AppendBinary(e.b) // never fails
	e.key(l.Country, countries)
	e.str(l.City)
	var flags byte
	if l.HasLocation {
		flags |= loginHasLocation
	}
	lat, lon := math.Float64bits(l.Latitude), math.Float64bits(l.Longitude)
	if lat|lon != 0 {
		flags |= loginCoordinates
	}
	e.b = append(e.b, flags)
	if flags&loginCoordinates != 0 {
		e.b = binary.LittleEndian.AppendUint64(e.b, lat)
		e.b = binary.LittleEndian.AppendUint64(e.b, lon)
	}
	e.key(l.DeviceID, devices)
}

// key writes s as the uvarint of the index in list of the entry whose key
// it is, shifted left and or'ed with 1, or else as the uvarint of its
// length shifted left, followed by its bytes.
func (e *encoder) key(s string, list []store.Seen) {
	if s != "" {
		for i := range list {
			if list[i].Key == s {
				e.uvarint(uint64(i)<<1 | 1)
				return
			}
		}
	}
	e.uvarint(uint64(len(s)) << 1)
	e.b = append(e.b, s...)
}

// reader decodes a binary record. The first problem sticks in err, and
// from then on every method returns zero values.
type reader struct {
	s    string
	i    int // the next byte of s
	err  error
	secs int64 // the time base, as encoder.base
}

// base reads the time base, the first field of a record.
func (r *reader) base() time.Time {
	t := r.time()
	if !t.IsZero() {
		r.secs = t.Unix()
	}
	return t
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.i = len(r.s)
}

// end returns the first problem, or an error when bytes are left over.
func (r *reader) end() error {
	if r.err == nil && r.i != len(r.s) {
		r.err = fmt.Errorf("%d bytes after the record", len(r.s)-r.i)
	}
	return r.err
}

// uvarint reads one; the one-byte case is inlined.
func (r *reader) uvarint() uint64 {
	if i := r.i; uint(i) < uint(len(r.s)) {
		if c := r.s[i]; c < 0x80 {
			r.i = i + 1
			return uint64(c)
		}
	}
	return r.uvarintSlow()
}

func (r *reader) uvarintSlow() uint64 {
	var x uint64
	var shift uint
	for i := r.i; i < len(r.s) && i-r.i < binary.MaxVarintLen64; i++ {
		c := r.s[i]
		if c < 0x80 {
			if i-r.i == binary.MaxVarintLen64-1 && c > 1 {
				break // overflows 64 bits
			}
			r.i = i + 1
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	r.fail(errShortRecord)
	return 0
}

func (r *reader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// count reads a list length. Every element takes at least one byte, so a
// length beyond what is left is damage, not a reason to allocate.
func (r *reader) count() int {
	n := r.uvarint()
	if left := len(r.s) - r.i; n > uint64(left) {
		r.fail(fmt.Errorf("list of %d elements in %d bytes", n, left))
		return 0
	}
	return int(n)
}

func (r *reader) bytes(n uint64) string {
	if n > uint64(len(r.s)-r.i) {
		r.fail(errShortRecord)
		return ""
	}
	v := r.s[r.i : r.i+int(n)]
	r.i += int(n)
	return v
}

func (r *reader) str() string { return r.bytes(r.uvarint()) }

func (r *reader) byte() byte {
	if v := r.bytes(1); v != "" {
		return v[0]
	}
	return 0
}

func (r *reader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail(errors.New("bad boolean"))
	return false
}

func (r *reader) time() time.Time {
	ns := r.uvarint()
	if ns == 0 {
		return time.Time{}
	}
	if ns > 1e9 {
		r.fail(fmt.Errorf("nanosecond %d", ns-1))
		return time.Time{}
	}
	sec := int64(uint64(r.varint()) + uint64(r.secs))
	return time.Unix(sec, int64(ns-1)).UTC()
}

func (r *reader) seen(dst []store.Seen) []store.Seen {
	dst = dst[:0]
	for range r.count() {
		e := store.Seen{Key: r.str()}
		e.FirstSeen = r.time()
		e.LastSeen = r.time()
		e.Count = r.varint()
		dst = append(dst, e)
	}
	return dst
}

func (r *reader) login(l *store.Login, devices, countries []store.Seen) {
	l.Time = r.time()
	switch a := r.str(); {
	case a == "":
		l.IP = netip.Addr{}
	case len(a) == 4:
		l.IP = netip.AddrFrom4([4]byte{a[0], a[1], a[2], a[3]})
	case len(a) >= 16:
		var b [16]byte
		copy(b[:], a)
		l.IP = netip.AddrFrom16(b)
		if len(a) > 16 {
			l.IP = l.IP.WithZone(a[16:])
		}
	default:
		r.fail(fmt.Errorf("address of %d bytes", len(a)))
	}
	l.Country = r.key(countries)
	l.City = r.str()
	flags := r.byte()
	l.HasLocation = flags&loginHasLocation != 0
	l.Latitude, l.Longitude = 0, 0
	if flags&loginCoordinates != 0 {
		if c := r.bytes(16); c != "" {
			l.Latitude = math.Float64frombits(binary.LittleEndian.Uint64([]byte(c[:8])))
			l.Longitude = math.Float64frombits(binary.LittleEndian.Uint64([]byte(c[8:])))
		}
	}
	if flags&^(loginHasLocation|loginCoordinates) != 0 {
		r.fail(fmt.Errorf("login flags %#x", flags))
	}
	l.DeviceID = r.key(devices)
}

// key reads what encoder.key wrote.
func (r *reader) key(list []store.Seen) string {
	x := r.uvarint()
	if x&1 == 0 {
		return r.bytes(x >> 1)
	}
	if i := x >> 1; i < uint64(len(list)) {
		return list[i].Key
	}
	r.fail(fmt.Errorf("key %d of a list of %d", x>>1, len(list)))
	return ""
}
