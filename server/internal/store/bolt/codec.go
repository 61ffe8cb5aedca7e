package bolt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// Keys of the profiles and ips buckets start with the tenant: its length as
// a uvarint, then its bytes. The profile key continues with the user id,
// the IP key with the 16-byte form of the (unmapped) address. The length
// prefix makes the encoding injective, whatever bytes a tenant holds.

func appendTenant(dst []byte, tenant string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(tenant)))
	return append(dst, tenant...)
}

func encodeUserKey(k userKey) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(k.tenant)+len(k.user))
	return append(appendTenant(b, k.tenant), k.user...)
}

func encodeIPKey(k ipKey) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(k.tenant)+16)
	a := k.ip.As16()
	return append(appendTenant(b, k.tenant), a[:]...)
}

func splitTenant(k []byte) (tenant string, rest []byte, err error) {
	n, w := binary.Uvarint(k)
	if w <= 0 || n > uint64(len(k)-w) {
		return "", nil, errors.New("bad tenant prefix")
	}
	end := w + int(n)
	return string(k[w:end]), k[end:], nil
}

func decodeUserKey(k []byte) (userKey, error) {
	tenant, rest, err := splitTenant(k)
	if err != nil {
		return userKey{}, err
	}
	return userKey{tenant: tenant, user: string(rest)}, nil
}

func decodeIPKey(k []byte) (ipKey, error) {
	tenant, rest, err := splitTenant(k)
	if err != nil {
		return ipKey{}, err
	}
	if len(rest) != 16 {
		return ipKey{}, fmt.Errorf("address of %d bytes, want 16", len(rest))
	}
	return ipKey{tenant: tenant, ip: netip.AddrFrom16([16]byte(rest)).Unmap()}, nil
}

// A value is the wall-clock write time (unix nanoseconds, big-endian)
// followed by the record: the JSON of the store type (its tags are the
// schema) for SSO statuses and for the profiles and IP records of schema 1
// files, the binary form of record.go for the profiles and IP records
// written since.

func encodeValue(written int64, v any) ([]byte, error) {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 512), uint64(written))
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, js...), nil
}

func decodeValue(b []byte, v any) (written int64, err error) {
	if len(b) < 8 {
		return 0, fmt.Errorf("value of %d bytes is too short", len(b))
	}
	if err := json.Unmarshal(b[8:], v); err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// isJSON reports whether a value holds JSON after its write time.
func isJSON(v []byte) bool {
	return len(v) > 8 && v[8] == '{'
}

// recordError names the record a load failed on.
func recordError(bucket, key []byte, err error) error {
	return &damagedRecord{fmt.Errorf("damaged record in bucket %s, key %s: %w", bucket, strconv.Quote(string(key)), err)}
}

// damagedRecord is recordError's error: Open reports it as a damaged file.
type damagedRecord struct{ err error }

func (e *damagedRecord) Error() string { return e.err.Error() }
func (e *damagedRecord) Unwrap() error { return e.err }
