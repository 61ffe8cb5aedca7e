package ipset_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/pdp-dev/pdp/server/internal/ipset"
)

func Example() {
	tenants := map[string]any{"acme": map[string]any{"environments": map[string]any{
		"production": map[string]any{"ip_allowlist": []any{"203.0.113.0/24"}},
	}}}
	set := ipset.NewSet(nil)
	if err := set.SetTenantPolicies(tenants); err != nil {
		panic(err)
	}
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	err := set.Update(func(b *ipset.Builder) error {
		return b.Add(ipset.Entry{
			Scope:     ipset.Scope{Tenant: "acme"},
			List:      ipset.Deny,
			Prefix:    netip.MustParsePrefix("203.0.113.66/32"),
			Source:    ipset.SourceAutoBlock,
			ExpiresAt: now.Add(time.Hour),
		})
	})
	if err != nil {
		panic(err)
	}
	for _, at := range []time.Time{now, now.Add(time.Hour)} {
		r := set.Lookup("acme", "production", netip.MustParseAddr("203.0.113.66"), at)
		fmt.Printf("allowed by %q, denied by %q\n", r.Allow.Description(), r.Deny.Description())
	}
	// Output:
	// allowed by "203.0.113.0/24 (tenant policy)", denied by "203.0.113.66/32 (auto-block)"
	// allowed by "203.0.113.0/24 (tenant policy)", denied by ""
}
