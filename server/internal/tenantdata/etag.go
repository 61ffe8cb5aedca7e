package tenantdata

import (
	"crypto/sha256"
	"encoding/hex"

	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// ETag returns a stable hash of p's content, ignoring its etag field: 32
// lowercase hex digits of the SHA-256 of the deterministic protobuf
// encoding. Two policies that mean the same thing to the proto (durations
// written "4h" or "240m", fields in another order, either field spelling)
// get the same etag. It returns "" only for a policy that cannot be encoded
// (a string that is not UTF-8), which Parse never produces.
func ETag(p *pdpv1.TenantPolicy) string {
	c := proto.Clone(p).(*pdpv1.TenantPolicy)
	if c == nil {
		c = &pdpv1.TenantPolicy{}
	}
	c.Etag = ""
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
