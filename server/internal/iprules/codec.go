package iprules

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"
)

// The stored form of a rule is compact and fast to read back, since a
// million imported rules are written in one go and read at every start:
// a version byte, then the string fields as uvarint length and bytes
// (id, tenant, list, source, reason, created_by), the prefix in its binary
// form (length-prefixed), and the two times as varint Unix nanoseconds
// (0 for the zero time).

const codecVersion = 1

var errCodec = errors.New("iprules: malformed stored rule")

// AppendBinary appends the stored form of r to b.
func (r Rule) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, codecVersion)
	for _, s := range [...]string{r.ID, r.Tenant, r.List, r.Source, r.Reason, r.CreatedBy} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	p, err := r.Prefix.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(p)))
	b = append(b, p...)
	b = binary.AppendVarint(b, unixNano(r.ExpiresAt))
	return binary.AppendVarint(b, unixNano(r.CreatedAt)), nil
}

// MarshalBinary returns the stored form of r.
func (r Rule) MarshalBinary() ([]byte, error) { return r.AppendBinary(make([]byte, 0, 96)) }

// UnmarshalBinary reads the stored form of a rule into r.
func (r *Rule) UnmarshalBinary(b []byte) error { return r.UnmarshalBinaryReusing(b, nil) }

// UnmarshalBinaryReusing is UnmarshalBinary, except that a string field
// equal to the same field of prev (when not nil) is prev's string rather
// than a copy: decoding the rules of one import in a row allocates their
// ids and nothing else. prev may be r.
func (r *Rule) UnmarshalBinaryReusing(b []byte, prev *Rule) error {
	return r.unmarshal(b, prev, true)
}

// UnmarshalBinaryWithoutID is UnmarshalBinaryReusing leaving r.ID empty,
// so decoding the rules of one import allocates nothing; WithID derives
// the id again.
func (r *Rule) UnmarshalBinaryWithoutID(b []byte, prev *Rule) error {
	return r.unmarshal(b, prev, false)
}

func (r *Rule) unmarshal(b []byte, prev *Rule, withID bool) error {
	if len(b) == 0 || b[0] != codecVersion {
		return errCodec
	}
	b = b[1:]
	var fields [7][]byte
	for i := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return errCodec
		}
		fields[i], b = b[k:k+int(n)], b[k+int(n):]
	}
	var p netip.Prefix
	if err := p.UnmarshalBinary(fields[6]); err != nil {
		return errCodec
	}
	exp, k := binary.Varint(b)
	if k <= 0 {
		return errCodec
	}
	created, k2 := binary.Varint(b[k:])
	if k2 <= 0 {
		return errCodec
	}
	var was Rule
	if prev != nil {
		was = *prev
	}
	id := ""
	if withID {
		id = reuse(fields[0], was.ID)
	}
	*r = Rule{
		ID: id, Tenant: reuse(fields[1], was.Tenant), List: reuse(fields[2], was.List),
		Source: reuse(fields[3], was.Source), Reason: reuse(fields[4], was.Reason), CreatedBy: reuse(fields[5], was.CreatedBy),
		Prefix: p, ExpiresAt: fromUnixNano(exp), CreatedAt: fromUnixNano(created),
	}
	return nil
}

// reuse returns s when it spells b, else a copy of b.
func reuse(b []byte, s string) string {
	if string(b) == s {
		return s
	}
	return string(b)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
