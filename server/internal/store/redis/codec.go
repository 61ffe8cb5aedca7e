package redis

import (
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"time"

	"github.com/pdp-dev/pdp/server/internal/store"
)

// Profiles and IP records are stored in a compact binary form rather than
// JSON: every Read decodes a profile and every event decodes and encodes
// both records, and profiling ApplyEvent showed JSON taking two thirds of
// the client's CPU on a saturated IP record (256 failures). The form is a
// version byte followed by the fields in declaration order: integers as
// varints, strings and lists prefixed by their length, times as Unix
// seconds and nanoseconds, floats as their IEEE bits. A reader meeting a
// version it does not know fails rather than guessing.
const (
	formatProfile  = 1
	formatIPRecord = 2
	// maxList bounds every list a decoder accepts, far above the store's
	// bounds, so that damaged data cannot make it allocate without limit.
	maxList = 1 << 16
)

var errDamaged = errors.New("damaged record")

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64)    { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)      { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) float(f float64)  { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(f)) }
func (e *encoder) time(t time.Time) { e.int(t.Unix()); e.uint(uint64(t.Nanosecond())) }

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) addr(a netip.Addr) {
	b, _ := a.MarshalBinary() // never fails
	e.uint(uint64(len(b)))
	e.b = append(e.b, b...)
}

func (e *encoder) seen(list []store.Seen) {
	e.uint(uint64(len(list)))
	for i := range list {
		e.str(list[i].Key)
		e.time(list[i].FirstSeen)
		e.time(list[i].LastSeen)
		e.int(list[i].Count)
	}
}

func encodeProfile(p *store.Profile) []byte {
	e := encoder{b: make([]byte, 0, 512)}
	e.b = append(e.b, formatProfile)
	e.str(p.Tenant)
	e.str(p.UserID)
	e.seen(p.Devices)
	e.seen(p.Countries)
	e.seen(p.Actions)
	for _, h := range p.Hours {
		e.int(h.Count)
		e.time(h.LastSeen)
	}
	e.uint(uint64(len(p.LoginDays)))
	for _, d := range p.LoginDays {
		e.int(d.Day)
		e.int(d.Count)
	}
	e.int(p.LoginCount)
	l := &p.LastLogin
	e.time(l.Time)
	e.addr(l.IP)
	e.str(l.Country)
	e.str(l.City)
	e.bool(l.HasLocation)
	e.float(l.Latitude)
	e.float(l.Longitude)
	e.str(l.DeviceID)
	e.time(p.LastActivity)
	e.uint(uint64(len(p.FailedLogins)))
	for _, t := range p.FailedLogins {
		e.time(t)
	}
	e.bool(p.Suspension.Suspended)
	e.str(p.Suspension.Reason)
	e.time(p.Suspension.At)
	e.str(p.Suspension.By)
	e.time(p.MFAResetAt)
	e.time(p.UpdatedAt)
	return e.b
}

func encodeIPRecord(r *store.IPRecord) []byte {
	e := encoder{b: make([]byte, 0, 64+24*len(r.Failures))}
	e.b = append(e.b, formatIPRecord)
	e.uint(uint64(len(r.Failures)))
	for _, f := range r.Failures {
		e.time(f.Time)
		e.str(f.UserID)
	}
	e.seen(r.Users)
	e.time(r.UpdatedAt)
	return e.b
}

// decoder reads what encoder wrote; after the first error every read
// returns zero values and err keeps that error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errDamaged, nil }

func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) list() int {
	n := d.uint()
	if n > maxList || n > uint64(len(d.b)) { // every element takes a byte at least
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bool() bool { return d.byte() != 0 }

func (d *decoder) float() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *decoder) time() time.Time {
	sec, nsec := d.int(), d.uint()
	if nsec >= 1e9 {
		d.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) addr() netip.Addr {
	var a netip.Addr
	if err := a.UnmarshalBinary(d.bytes()); err != nil {
		d.fail()
	}
	return a
}

func (d *decoder) seen(dst []store.Seen) []store.Seen {
	n := d.list()
	dst = dst[:0]
	for range n {
		dst = append(dst, store.Seen{Key: d.str(), FirstSeen: d.time(), LastSeen: d.time(), Count: d.int()})
	}
	return dst
}

// decodeProfile fills p, reusing its slices.
func decodeProfile(b []byte, p *store.Profile) error {
	d := decoder{b: b}
	if d.byte() != formatProfile {
		return errDamaged
	}
	p.Tenant, p.UserID = d.str(), d.str()
	p.Devices = d.seen(p.Devices)
	p.Countries = d.seen(p.Countries)
	p.Actions = d.seen(p.Actions)
	for h := range p.Hours {
		p.Hours[h] = store.HourSlot{Count: d.int(), LastSeen: d.time()}
	}
	n := d.list()
	p.LoginDays = p.LoginDays[:0]
	for range n {
		p.LoginDays = append(p.LoginDays, store.DayCount{Day: d.int(), Count: d.int()})
	}
	p.LoginCount = d.int()
	p.LastLogin = store.Login{Time: d.time(), IP: d.addr(), Country: d.str(), City: d.str(),
		HasLocation: d.bool(), Latitude: d.float(), Longitude: d.float(), DeviceID: d.str()}
	p.LastActivity = d.time()
	n = d.list()
	p.FailedLogins = p.FailedLogins[:0]
	for range n {
		p.FailedLogins = append(p.FailedLogins, d.time())
	}
	p.Suspension = store.Suspension{Suspended: d.bool(), Reason: d.str(), At: d.time(), By: d.str()}
	p.MFAResetAt = d.time()
	p.UpdatedAt = d.time()
	if d.err == nil && len(d.b) != 0 {
		return errDamaged
	}
	return d.err
}

// decodeIPRecord fills r, reusing its slices.
func decodeIPRecord(b []byte, r *store.IPRecord) error {
	d := decoder{b: b}
	if d.byte() != formatIPRecord {
		return errDamaged
	}
	n := d.list()
	r.Failures = r.Failures[:0]
	for range n {
		r.Failures = append(r.Failures, store.IPFailure{Time: d.time(), UserID: d.str()})
	}
	r.Users = d.seen(r.Users)
	r.UpdatedAt = d.time()
	if d.err == nil && len(d.b) != 0 {
		return errDamaged
	}
	return d.err
}
