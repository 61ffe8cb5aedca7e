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
func (r *Rule) UnmarshalBinary(b []byte) error {
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
	*r = Rule{
		ID: string(fields[0]), Tenant: string(fields[1]), List: string(fields[2]), Source: string(fields[3]),
		Reason: string(fields[4]), CreatedBy: string(fields[5]), Prefix: p,
		ExpiresAt: fromUnixNano(exp), CreatedAt: fromUnixNano(created),
	}
	return nil
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
